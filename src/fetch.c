/*
 * fetch.c — the scan driver: which DRS calls one scan makes, in what order
 * and how many at once, and the job objects they yield.
 *
 * With ids, it sends batch calls of at most batch_size ids.  Without, it
 * pages through the job list of each db_use_type (and status) and sends
 * batch calls for the ids found as soon as a batch is full, unless the
 * job-list entries already carry every column the query needs.  A pushed
 * LIMIT/OFFSET asks only for the pages that decide the window.  Up to
 * max_concurrency calls are in flight; rows are handed out as responses
 * arrive, so memory holds only the responses in flight or being emitted.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"


/* Per-id error codes that mean "no such job" (INCONSISTENCIES.md, B1/B2). */
static const char *const not_found_codes[] = {"DRS.M05003", "DRS.M05004", "DRS.M00289"};

/* Jobs kept for rescans of one scan at most. */
#define DRS_CACHE_MAX		2000
/* Longest job id the cache keys hold. */
#define DRS_ID_KEYLEN		128

typedef enum TaskKind
{
	TASK_LIST,					/* one page of the job list */
	TASK_BATCH,					/* one batch call for a list of ids */
	TASK_CACHED					/* rows served from the rescan cache */
} TaskKind;

typedef struct FetchTask
{
	dlist_node	node;
	TaskKind	kind;

	/* TASK_LIST */
	int			combo;			/* which (db_use_type, status) list */
	int64		page;			/* cur_page */
	int			per_page;
	bool		window_first;	/* first page of a window step */

	/* TASK_BATCH */
	char	  **ids;			/* the jobs list sent */
	int			nids;
	int			per_page_req;	/* page_req.per_page (cur_page is 1) */
	int			nexpect;		/* results expected: ids[0 .. nexpect) */
	int64		pos;			/* id window: position of ids[0] in the id list */

	/* rows to hand out */
	DrsResponse *resp;
	json_object **items;
	int			nitems;
	int			next;
	bool		streaming;		/* rows are the elements of a raw job list */
	DrsJsonStream stream;
} FetchTask;

typedef struct ListCombo
{
	const char *type;
	const char *status;			/* NULL: no status filter */
	int64		total;			/* total_record, once known */
	bool		total_known;
} ListCombo;

typedef struct CacheEntry
{
	char		id[DRS_ID_KEYLEN];
	json_object *job;			/* NULL: known not to exist */
} CacheEntry;

struct DrsFetcher
{
	MemoryContext cxt;			/* as long as the scan */
	MemoryContext run_cxt;		/* one execution; reset by drs_fetcher_start */
	DrsApi	   *api;
	int			max_concurrency;
	int			batch_size;
	int			page_size;
	DrsFetchSpec spec;

	dlist_head	pending_batches;
	dlist_head	pending_lists;
	dlist_head	ready;
	dlist_head	held;			/* id window: finished before their turn */
	int			n_pending_batches;
	int			n_ready;
	int			in_flight;
	FetchTask  *current;

	/* list mode */
	ListCombo  *combos;
	int			ncombos;
	int			lists_open;		/* list pages pending or in flight */
	char	  **idbuf;			/* ids waiting for a batch */
	int			nidbuf;
	HTAB	   *seen;			/* hashes of ids already listed */

	/* list mode with a window: a walk over the lists in order */
	int			w_combo;		/* list being walked */
	int64		w_pos;			/* next unread position in it */
	int64		w_skip;			/* rows still to skip */
	int64		w_need;			/* rows still to take */
	int64		w_step_start;	/* window of the running step */
	int64		w_step_count;
	int			w_step_per_page;
	int64		w_step_last;	/* last page of the step */
	int64		w_taken;		/* rows taken by the running step */
	int			w_pages_open;	/* pages of the running step not finished */

	/* id mode with a window: positions processed in order */
	int64		i_next_pos;
	int64		i_requested;
	int64		i_skip;
	int64		i_need;
	int			i_open;			/* window batch calls not processed yet */

	json_object *stream_elem;	/* the element of a streamed list handed out last */

	HTAB	   *cache;			/* id -> job, kept across executions */
	int			ncached;
	json_object **cached_jobs;	/* the same jobs, for cleanup: the hash table's
								 * memory is gone when the callback runs */
	MemoryContextCallback cleanup_cb;
};

static void release_task(DrsFetcher *f, FetchTask *t);
static void whole_list_finished(DrsFetcher *f, FetchTask *t, DrsResponse *resp);
static void queue_list_page(DrsFetcher *f, int combo, int64 page, int per_page,
							bool window_first);
static void window_step(DrsFetcher *f);
static void id_window_request(DrsFetcher *f);

static void
drop_stream_elem(DrsFetcher *f)
{
	if (f->stream_elem != NULL)
		json_object_put(f->stream_elem);
	f->stream_elem = NULL;
}

static void
fetcher_cleanup(void *arg)
{
	DrsFetcher *f = (DrsFetcher *) arg;

	for (int i = 0; i < f->ncached; i++)
		if (f->cached_jobs[i] != NULL)
			json_object_put(f->cached_jobs[i]);
	f->ncached = 0;
	f->cache = NULL;
	drop_stream_elem(f);
}

DrsFetcher *
drs_fetcher_create(MemoryContext cxt, DrsApi *api)
{
	DrsFetcher *f = MemoryContextAllocZero(cxt, sizeof(DrsFetcher));
	const DrsServerOptions *opts = &drs_api_conn(api)->server;

	f->cxt = cxt;
	f->run_cxt = AllocSetContextCreate(cxt, "drs_fdw fetch", ALLOCSET_DEFAULT_SIZES);
	f->api = api;
	f->max_concurrency = opts->max_concurrency;
	f->batch_size = opts->batch_size;
	f->page_size = opts->page_size;
	f->cleanup_cb.func = fetcher_cleanup;
	f->cleanup_cb.arg = f;
	MemoryContextRegisterResetCallback(cxt, &f->cleanup_cb);
	return f;
}

/* ---------- the rescan cache ---------- */

static CacheEntry *
cache_lookup(DrsFetcher *f, const char *id)
{
	char		key[DRS_ID_KEYLEN];

	if (f->cache == NULL || strlen(id) >= DRS_ID_KEYLEN)
		return NULL;
	strlcpy(key, id, sizeof(key));
	return hash_search(f->cache, key, HASH_FIND, NULL);
}

static void
cache_store(DrsFetcher *f, const char *id, json_object *job)
{
	char		key[DRS_ID_KEYLEN];
	CacheEntry *e;
	bool		found;

	if (!f->spec.cache_jobs || strlen(id) >= DRS_ID_KEYLEN || f->ncached >= DRS_CACHE_MAX)
		return;
	if (f->cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = DRS_ID_KEYLEN;
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = f->cxt;
		f->cache = hash_create("drs_fdw job cache", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		f->cached_jobs = MemoryContextAlloc(f->cxt, sizeof(json_object *) * DRS_CACHE_MAX);
	}
	strlcpy(key, id, sizeof(key));
	e = hash_search(f->cache, key, HASH_ENTER, &found);
	if (found)
		return;
	e->job = job ? json_object_get(job) : NULL;
	f->cached_jobs[f->ncached++] = e->job;
}

/* ---------- sending ---------- */

static FetchTask *
new_task(DrsFetcher *f, TaskKind kind)
{
	FetchTask  *t = MemoryContextAllocZero(f->run_cxt, sizeof(FetchTask));

	t->kind = kind;
	return t;
}

static void
send_task(DrsFetcher *f, FetchTask *t)
{
	StringInfoData body;
	MemoryContext old = MemoryContextSwitchTo(f->run_cxt);

	initStringInfo(&body);
	if (t->kind == TASK_LIST)
	{
		ListCombo  *c = &f->combos[t->combo];

		/* engine_type "" explicitly: its documented default is "mysql" */
		appendStringInfo(&body, "{\"cur_page\": " INT64_FORMAT ", \"per_page\": %d, "
						 "\"db_use_type\": \"%s\", \"engine_type\": \"\"",
						 t->page, t->per_page, c->type);
		if (c->status)
		{
			appendStringInfoString(&body, ", \"status\": ");
			drs_json_append_string(&body, c->status, strlen(c->status));
		}
		appendStringInfoChar(&body, '}');
		/* the whole list comes raw, to be read element by element */
		drs_api_post(f->api, "jobs", body.data, t,
					 t->page == 0 ? DRS_CALL_RAW | DRS_CALL_MAY_BE_TOO_LARGE : 0);
	}
	else
	{
		appendStringInfoString(&body, "{\"jobs\": [");
		for (int i = 0; i < t->nids; i++)
		{
			if (i > 0)
				appendStringInfoString(&body, ", ");
			drs_json_append_string(&body, t->ids[i], strlen(t->ids[i]));
		}
		appendStringInfoChar(&body, ']');
		/* the API's default page is 5 jobs: always say what we want */
		if (f->spec.resource->paged)
			appendStringInfo(&body, ", \"page_req\": {\"cur_page\": 1, \"per_page\": %d}",
							 t->per_page_req);
		appendStringInfoChar(&body, '}');
		drs_api_post(f->api, f->spec.resource->batch_path, body.data, t, 0);
	}
	pfree(body.data);
	MemoryContextSwitchTo(old);
	f->in_flight++;
}

/* Queue a batch call for ids[0..nids), of which the first nexpect count. */
static FetchTask *
queue_batch(DrsFetcher *f, char **ids, int nids, int nexpect, int64 pos, bool front)
{
	FetchTask  *t = new_task(f, TASK_BATCH);

	/* a resource without page_req gets exactly the ids it must answer */
	if (!f->spec.resource->paged)
		nids = nexpect;
	t->ids = ids;
	t->nids = nids;
	t->nexpect = nexpect;
	t->per_page_req = nexpect;
	t->pos = pos;
	if (front)
		dlist_push_head(&f->pending_batches, &t->node);
	else
		dlist_push_tail(&f->pending_batches, &t->node);
	f->n_pending_batches++;
	return t;
}

static void
queue_list_page(DrsFetcher *f, int combo, int64 page, int per_page, bool window_first)
{
	FetchTask  *t = new_task(f, TASK_LIST);

	t->combo = combo;
	t->page = page;
	t->per_page = per_page;
	t->window_first = window_first;
	dlist_push_tail(&f->pending_lists, &t->node);
	f->lists_open++;
}

/* Turn buffered ids into batch calls: full batches, or all if 'flush'. */
static void
batch_buffered_ids(DrsFetcher *f, bool flush)
{
	int			start = 0;

	while (f->nidbuf - start >= f->batch_size || (flush && f->nidbuf > start))
	{
		int			n = Min(f->batch_size, f->nidbuf - start);
		char	  **ids = MemoryContextAlloc(f->run_cxt, sizeof(char *) * n);

		memcpy(ids, f->idbuf + start, sizeof(char *) * n);
		queue_batch(f, ids, n, n, 0, false);
		start += n;
	}
	if (start > 0)
	{
		memmove(f->idbuf, f->idbuf + start, sizeof(char *) * (f->nidbuf - start));
		f->nidbuf -= start;
	}
}

static void
buffer_id(DrsFetcher *f, const char *id)
{
	f->idbuf[f->nidbuf++] = MemoryContextStrdup(f->run_cxt, id);
	if (f->nidbuf >= f->batch_size)
		batch_buffered_ids(f, false);
}

/*
 * Send what is pending, batch calls first (they yield rows), while calls in
 * flight plus results not yet handed out stay within max_concurrency; list
 * pages stop when enough batch calls are waiting.
 */
static void
fill_slots(DrsFetcher *f)
{
	while (f->in_flight < f->max_concurrency &&
		   f->in_flight + f->n_ready < 2 * f->max_concurrency)
	{
		FetchTask  *t;

		if (!dlist_is_empty(&f->pending_batches))
		{
			t = dlist_container(FetchTask, node, dlist_pop_head_node(&f->pending_batches));
			f->n_pending_batches--;
		}
		else if (!dlist_is_empty(&f->pending_lists) &&
				 f->n_pending_batches < f->max_concurrency)
			t = dlist_container(FetchTask, node, dlist_pop_head_node(&f->pending_lists));
		else
			break;
		send_task(f, t);
	}
}

/* ---------- responses ---------- */

static json_object *
member(json_object *obj, const char *key)
{
	json_object *v = NULL;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return NULL;
	json_object_object_get_ex(obj, key, &v);
	return v;
}

static const char *
string_member(json_object *obj, const char *key)
{
	json_object *v = member(obj, key);

	return (v && json_object_is_type(v, json_type_string)) ? json_object_get_string(v) : NULL;
}

static bool
is_not_found_code(const char *code)
{
	for (int i = 0; i < (int) lengthof(not_found_codes); i++)
		if (strcmp(code, not_found_codes[i]) == 0)
			return true;
	return false;
}

/* Is the job's db_use_type one the server shows? */
static bool
type_wanted(DrsFetcher *f, json_object *job)
{
	const char *t = string_member(job, f->spec.resource->db_use_type_path);

	for (int i = 0; t != NULL && i < f->spec.ntypes; i++)
		if (strcmp(t, f->spec.types[i]) == 0)
			return true;
	return false;
}

/* Split a batch whose answer does not say which id is unknown, and retry. */
static void
bisect_batch(DrsFetcher *f, FetchTask *t)
{
	int			half = t->nexpect / 2;

	/* pushed to the front in reverse, so the first half goes first */
	queue_batch(f, t->ids + half, t->nexpect - half, t->nexpect - half, t->pos + half, true);
	queue_batch(f, t->ids, half, half, t->pos, true);
	if (f->spec.windowed)
		f->i_open += 2;
}

/*
 * Check a batch response and return the job of each expected id (NULL where
 * the API says the job does not exist).  Returns NULL after a bisection.
 */
static json_object **
batch_results(DrsFetcher *f, FetchTask *t, DrsResponse *resp)
{
	const DrsResource *res = f->spec.resource;
	json_object *root = resp->root;
	json_object *results = member(root, "results");
	json_object **found;
	bool	   *seen;
	size_t		n;

	if (resp->status < 200 || resp->status >= 300)
	{
		const char *code = string_member(root, "error_code");

		/* unknown ids: 400 with a top-level code names none of them */
		if (resp->status == 400 && results == NULL && code && is_not_found_code(code))
		{
			if (t->nexpect > 1)
			{
				bisect_batch(f, t);
				return NULL;
			}
			return MemoryContextAllocZero(f->run_cxt, sizeof(json_object *));
		}
		/* a 400 that lists per-id errors is answered below; anything else fails */
		if (resp->status != 400 || results == NULL)
			drs_api_raise(f->api, resp);
	}

	if (root == NULL || !json_object_is_type(root, json_type_object))
		drs_api_raise_shape(f->api, resp, "the body is not a JSON object");
	if (results == NULL || !json_object_is_type(results, json_type_array))
		drs_api_raise_shape(f->api, resp, "\"results\" is missing or not an array");
	if (!json_object_is_type(member(root, "count"), json_type_int))
		drs_api_raise_shape(f->api, resp, "\"count\" is missing or not an integer");

	found = MemoryContextAllocZero(f->run_cxt, sizeof(json_object *) * Max(t->nexpect, 1));
	seen = MemoryContextAllocZero(f->run_cxt, sizeof(bool) * Max(t->nexpect, 1));
	n = json_object_array_length(results);
	for (size_t i = 0; i < n; i++)
	{
		json_object *job = json_object_array_get_idx(results, i);
		const char *id = string_member(job, res->key_path);
		const char *code;
		int			j;

		if (id == NULL)
			drs_api_raise_shape(f->api, resp,
								psprintf("a result has no string \"%s\"", res->key_path));
		for (j = 0; j < t->nexpect; j++)
			if (strcmp(t->ids[j], id) == 0)
				break;
		if (j == t->nexpect)
			drs_api_raise_shape(f->api, resp,
								psprintf("job \"%s\" is in the results but was not asked for", id));
		if (seen[j])
			drs_api_raise_shape(f->api, resp,
								psprintf("job \"%s\" appears twice in the results", id));
		seen[j] = true;

		/*
		 * An entry with an error code is a per-id error, unless it carries
		 * the fields of a row: a failed job has error_code too.
		 */
		code = string_member(job, "error_code");
		if (code != NULL && code[0] != '\0' &&
			(is_not_found_code(code) || member(job, res->row_marker) == NULL))
		{
			const char *text = string_member(job, res->error_text_key);

			if (is_not_found_code(code))
				continue;
			drs_backend_stats.errors++;
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("DRS API error %s for job \"%s\": %s", code, id,
							text ? text : "(no message)"),
					 errdetail("HTTP status %ld from %s.", resp->status, resp->http->describe)));
		}
		if (f->spec.restrict_types && !type_wanted(f, job))
			continue;			/* not one of the scenarios this server shows */
		found[j] = job;
	}
	/* a 400 whose entries are all rows is not an answer we understand */
	if (resp->status >= 300)
	{
		bool		any_error = false;

		for (int j = 0; j < t->nexpect; j++)
			any_error |= (seen[j] && found[j] == NULL);
		if (!any_error)
			drs_api_raise(f->api, resp);
	}
	pfree(seen);
	return found;
}

/* Collect the rows of a finished batch call (outside an id window). */
static void
batch_finished(DrsFetcher *f, FetchTask *t, DrsResponse *resp)
{
	json_object **found = batch_results(f, t, resp);
	int			missing = 0;

	if (found == NULL)
	{
		drs_api_release(f->api, resp);
		return;
	}
	t->resp = resp;
	t->items = found;
	t->nitems = 0;
	for (int j = 0; j < t->nexpect; j++)
	{
		cache_store(f, t->ids[j], found[j]);
		if (found[j] != NULL)
			t->items[t->nitems++] = found[j];
		else
			missing++;
	}
	dlist_push_tail(&f->ready, &t->node);
	f->n_ready++;

	/* a window lost rows to jobs that vanished after listing: read further */
	if (f->spec.windowed && missing > 0 && !f->spec.by_ids)
	{
		f->w_need += missing;
		window_step(f);
	}
}

/* Id window: process finished calls in the order of their positions. */
static void
id_window_finished(DrsFetcher *f, FetchTask *t, DrsResponse *resp)
{
	json_object **found = batch_results(f, t, resp);
	dlist_mutable_iter iter;
	bool		progressed = true;

	f->i_open--;
	if (found == NULL)
	{
		drs_api_release(f->api, resp);
		return;
	}
	t->resp = resp;
	t->items = found;			/* aligned with positions for now */

	/* keep 'held' sorted by position */
	dlist_foreach_modify(iter, &f->held)
	{
		FetchTask  *h = dlist_container(FetchTask, node, iter.cur);

		if (h->pos > t->pos)
		{
			dlist_insert_before(&h->node, &t->node);
			t = NULL;
			break;
		}
	}
	if (t != NULL)
		dlist_push_tail(&f->held, &t->node);

	while (progressed && !dlist_is_empty(&f->held))
	{
		FetchTask  *h = dlist_container(FetchTask, node, dlist_head_node(&f->held));
		json_object **pos_items = h->items;
		int			n = 0;

		progressed = false;
		if (h->pos != f->i_next_pos)
			break;
		dlist_delete(&h->node);
		h->items = MemoryContextAlloc(f->run_cxt, sizeof(json_object *) * Max(h->nexpect, 1));
		for (int j = 0; j < h->nexpect; j++)
		{
			if (pos_items[j] != NULL)
			{
				if (f->i_skip > 0)
					f->i_skip--;
				else if (f->i_need > 0)
				{
					h->items[n++] = pos_items[j];
					f->i_need--;
				}
			}
		}
		f->i_next_pos += h->nexpect;
		h->nitems = n;
		dlist_push_tail(&f->ready, &h->node);
		f->n_ready++;
		progressed = true;
	}
	if (f->i_open == 0)
		id_window_request(f);
}

/* Has this id been listed before?  Pages can shift while they are read. */
static bool
already_listed(DrsFetcher *f, const char *id)
{
	uint64		h = hash_bytes_extended((const unsigned char *) id, strlen(id), 0);
	bool		dup;

	hash_search(f->seen, &h, HASH_ENTER, &dup);
	return dup;
}

/*
 * A whole job list (cur_page 0), unparsed: read it element by element.  If
 * only list columns are needed, its elements are the rows, handed out as
 * they are parsed; otherwise its ids go to batch calls and the body is
 * freed at once.  A list over the size cap is read page by page instead.
 */
static void
whole_list_finished(DrsFetcher *f, FetchTask *t, DrsResponse *resp)
{
	json_object *others;
	json_object *total;
	const char *text;
	size_t		len;
	char	   *error;

	f->lists_open--;
	if (resp->too_large)
	{
		drs_api_release(f->api, resp);
		queue_list_page(f, t->combo, 1, f->page_size, false);
		return;
	}
	if (resp->status < 200 || resp->status >= 300)
		drs_api_raise(f->api, resp);

	others = drs_json_stream_open(&t->stream, resp->http->response, resp->http->response_len,
								  "jobs", &error);
	if (others == NULL)
		drs_api_raise_shape(f->api, resp, error);
	total = member(others, "total_record");
	if (!json_object_is_type(total, json_type_int) || json_object_get_int64(total) < 0)
	{
		json_object_put(others);
		drs_api_raise_shape(f->api, resp, "\"total_record\" is missing or not a non-negative integer");
	}
	f->combos[t->combo].total = json_object_get_int64(total);
	f->combos[t->combo].total_known = true;
	json_object_put(others);

	if (f->spec.list_only)
	{
		t->resp = resp;
		t->streaming = true;
		dlist_push_tail(&f->ready, &t->node);
		f->n_ready++;
		return;
	}
	/* only the ids are needed: take them without parsing whole entries */
	while (drs_json_stream_next_raw(&t->stream, &text, &len, &error))
	{
		char	   *id = drs_json_object_string_member(text, len, "id");

		if (id == NULL)
			drs_api_raise_shape(f->api, resp, "a job-list entry has no string \"id\"");
		if (!already_listed(f, id))
			buffer_id(f, id);
		pfree(id);
	}
	if (error != NULL)
		drs_api_raise_shape(f->api, resp, error);
	drs_api_release(f->api, resp);
	if (f->lists_open == 0)
		batch_buffered_ids(f, true);
}

/* The next row of a streamed job list, or NULL at its end. */
static json_object *
next_streamed_row(DrsFetcher *f, FetchTask *t)
{
	json_object *elem;
	char	   *error;

	drop_stream_elem(f);
	while (drs_json_stream_next(&t->stream, &elem, &error))
	{
		const char *id = string_member(elem, "id");

		if (id == NULL)
		{
			json_object_put(elem);
			drs_api_raise_shape(f->api, t->resp, "a job-list entry has no string \"id\"");
		}
		if (already_listed(f, id))
		{
			json_object_put(elem);
			continue;
		}
		f->stream_elem = elem;
		return elem;
	}
	if (error != NULL)
		drs_api_raise_shape(f->api, t->resp, error);
	return NULL;
}

/* Take the ids (or entries) of one list page. */
static void
list_finished(DrsFetcher *f, FetchTask *t, DrsResponse *resp)
{
	json_object *root = resp->root;
	json_object *jobs = member(root, "jobs");
	json_object *total_obj = member(root, "total_record");
	ListCombo  *c = &f->combos[t->combo];
	int64		total;
	size_t		n;
	bool		keep = false;

	if (t->page == 0)
	{
		whole_list_finished(f, t, resp);
		return;
	}
	if (resp->status < 200 || resp->status >= 300)
		drs_api_raise(f->api, resp);
	if (!json_object_is_type(total_obj, json_type_int) ||
		(total = json_object_get_int64(total_obj)) < 0)
		drs_api_raise_shape(f->api, resp, "\"total_record\" is missing or not a non-negative integer");
	if (jobs == NULL || !json_object_is_type(jobs, json_type_array))
		drs_api_raise_shape(f->api, resp, "\"jobs\" is missing or not an array");
	c->total = total;
	c->total_known = true;
	n = json_object_array_length(jobs);
	f->lists_open--;

	if (f->spec.list_only)
	{
		t->items = MemoryContextAlloc(f->run_cxt, sizeof(json_object *) * Max(n, 1));
		t->nitems = 0;
	}

	if (!f->spec.windowed)
	{
		/* the first page tells how many pages there are */
		if (t->page == 1)
			for (int64 p = 2; (p - 1) * t->per_page < total; p++)
				queue_list_page(f, t->combo, p, t->per_page, false);

		for (size_t i = 0; i < n; i++)
		{
			json_object *job = json_object_array_get_idx(jobs, i);
			const char *id = string_member(job, "id");

			if (id == NULL)
				drs_api_raise_shape(f->api, resp, "a job-list entry has no string \"id\"");
			/* pages can shift while we read them: never return a job twice */
			if (already_listed(f, id))
				continue;
			if (f->spec.list_only)
				t->items[t->nitems++] = job;
			else
				buffer_id(f, id);
		}
		if (f->lists_open == 0)
			batch_buffered_ids(f, true);
	}
	else
	{
		int64		base = (t->page - 1) * t->per_page;
		int64		start = f->w_step_start;

		f->w_pages_open--;
		if (t->window_first)
		{
			if (start >= total)
			{
				/* the window starts beyond this list: go on with the next */
				f->w_skip = start - total;
				f->w_combo++;
				f->w_pos = 0;
			}
			else
			{
				/* now the list's length is known: ask for the other pages */
				int64		last = Min(f->w_step_last,
									   (total + f->w_step_per_page - 1) / f->w_step_per_page);

				for (int64 p = t->page + 1; p <= last; p++)
				{
					queue_list_page(f, t->combo, p, f->w_step_per_page, false);
					f->w_pages_open++;
				}
			}
		}
		for (size_t i = 0; i < n && start < total; i++)
		{
			int64		gpos = base + (int64) i;
			json_object *job = json_object_array_get_idx(jobs, i);
			const char *id = string_member(job, "id");

			if (id == NULL)
				drs_api_raise_shape(f->api, resp, "a job-list entry has no string \"id\"");
			if (gpos < start || gpos >= start + f->w_step_count)
				continue;
			f->w_taken++;
			if (f->spec.list_only)
				t->items[t->nitems++] = job;
			else
				buffer_id(f, id);
		}
		if (f->w_pages_open == 0 && start < total)
		{
			/* the step is over: what it took, and where the walk goes on */
			f->w_need -= f->w_taken;
			f->w_skip = 0;
			f->w_pos = start + f->w_taken;
			if (f->w_taken < f->w_step_count)
			{
				/* this list has no more rows */
				f->w_combo++;
				f->w_pos = 0;
			}
			batch_buffered_ids(f, true);
		}
		if (f->w_pages_open == 0)
			window_step(f);
	}

	if (f->spec.list_only && t->nitems > 0)
	{
		t->resp = resp;
		keep = true;
		dlist_push_tail(&f->ready, &t->node);
		f->n_ready++;
	}
	if (!keep)
		drs_api_release(f->api, resp);
}

/*
 * List mode with a window: start the next step of the walk, i.e. ask for
 * the pages of the current list that cover the rows still wanted.
 */
static void
window_step(DrsFetcher *f)
{
	if (f->w_pages_open > 0)
		return;
	while (f->w_need > 0 && f->w_combo < f->ncombos)
	{
		ListCombo  *c = &f->combos[f->w_combo];
		int64		start = f->w_pos + f->w_skip;
		int			per_page;
		int64		first,
					last;

		if (c->total_known && start >= c->total)
		{
			f->w_skip = start - c->total;
			f->w_combo++;
			f->w_pos = 0;
			continue;
		}
		/* an OFFSET without LIMIT is read in steps of ten pages */
		f->w_step_count = Min(f->w_need, (int64) f->page_size * 10);
		drs_page_cover(start, f->w_step_count, f->page_size, &per_page, &first, &last);
		f->w_step_start = start;
		f->w_step_per_page = per_page;
		f->w_step_last = last;
		f->w_taken = 0;
		/* the first page tells the list's length; the rest follow it */
		queue_list_page(f, f->w_combo, first, per_page, true);
		f->w_pages_open = 1;
		return;
	}
}

/* Id mode with a window: ask for the next positions that can decide it. */
static void
id_window_request(DrsFetcher *f)
{
	int64		from = f->i_requested;
	int64		upto;

	if (f->i_need <= 0 || from >= f->spec.nids)
		return;
	/* rows before the window must exist to count, so positions 0..m+n decide */
	upto = f->spec.nids;
	if (f->i_skip + f->i_need < upto - from)
		upto = from + f->i_skip + f->i_need;
	while (from < upto)
	{
		int64		batch_start = (from / f->batch_size) * f->batch_size;
		int64		batch_end = Min((int64) f->spec.nids, batch_start + f->batch_size);
		int64		hi = Min(upto, batch_end);

		if (from == batch_start)
			/* the batch's ids with page_req selecting the rows needed */
			queue_batch(f, f->spec.ids + batch_start, (int) (batch_end - batch_start),
						(int) (hi - from), from, false);
		else
			queue_batch(f, f->spec.ids + from, (int) (hi - from), (int) (hi - from),
						from, false);
		f->i_open++;
		from = hi;
	}
	f->i_requested = upto;
}

/* ---------- driving ---------- */

static void
plan_ids(DrsFetcher *f)
{
	char	  **todo = MemoryContextAlloc(f->run_cxt, sizeof(char *) * Max(f->spec.nids, 1));
	int			ntodo = 0;
	FetchTask  *cached = NULL;

	for (int i = 0; i < f->spec.nids; i++)
	{
		CacheEntry *e = cache_lookup(f, f->spec.ids[i]);

		if (e == NULL)
		{
			todo[ntodo++] = f->spec.ids[i];
			continue;
		}
		if (e->job == NULL)
			continue;
		if (cached == NULL)
		{
			cached = new_task(f, TASK_CACHED);
			cached->items = MemoryContextAlloc(f->run_cxt, sizeof(json_object *) * f->spec.nids);
		}
		cached->items[cached->nitems++] = e->job;
	}
	if (cached != NULL)
	{
		dlist_push_tail(&f->ready, &cached->node);
		f->n_ready++;
	}
	for (int i = 0; i < ntodo; i += f->batch_size)
	{
		int			n = Min(f->batch_size, ntodo - i);

		queue_batch(f, todo + i, n, n, 0, false);
	}
}

/*
 * Start (or restart, for a rescan) an execution.  Whatever the previous one
 * had in flight is abandoned; the rescan cache is kept.
 */
void
drs_fetcher_start(DrsFetcher *f, const DrsFetchSpec *spec)
{
	MemoryContext old;

	drs_fetcher_stop(f);
	MemoryContextReset(f->run_cxt);
	old = MemoryContextSwitchTo(f->run_cxt);

	f->spec = *spec;
	dlist_init(&f->pending_batches);
	dlist_init(&f->pending_lists);
	dlist_init(&f->ready);
	dlist_init(&f->held);
	f->n_pending_batches = f->n_ready = f->in_flight = 0;
	f->current = NULL;
	f->lists_open = 0;
	f->nidbuf = 0;
	f->idbuf = palloc(sizeof(char *) * f->batch_size);

	if (spec->windowed && spec->limit == 0)
		;						/* LIMIT 0: nothing to ask */
	else if (spec->by_ids)
	{
		if (spec->windowed)
		{
			f->i_next_pos = f->i_requested = 0;
			f->i_skip = spec->offset;
			f->i_need = spec->limit < 0 ? PG_INT64_MAX / 4 : spec->limit;
			f->i_open = 0;
			if (spec->offset < spec->nids)
				id_window_request(f);
		}
		else
			plan_ids(f);
	}
	else
	{
		int			nstatus = spec->by_status ? spec->nstatuses : 1;

		f->ncombos = 0;
		f->combos = palloc0(sizeof(ListCombo) * Max(spec->ntypes * nstatus, 1));
		for (int t = 0; t < spec->ntypes; t++)
			for (int s = 0; s < nstatus; s++)
			{
				ListCombo  *c = &f->combos[f->ncombos++];

				c->type = spec->types[t];
				c->status = spec->by_status ? spec->statuses[s] : NULL;
			}

		if (spec->windowed)
		{
			f->w_combo = 0;
			f->w_pos = 0;
			f->w_skip = spec->offset;
			f->w_need = spec->limit < 0 ? PG_INT64_MAX / 4 : spec->limit;
			f->w_pages_open = 0;
			window_step(f);
		}
		else
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(uint64);
			ctl.entrysize = sizeof(uint64);
			ctl.hcxt = f->run_cxt;
			f->seen = hash_create("drs_fdw listed ids", 1024, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			/* each list whole, in one call (cur_page 0); paged if too large */
			for (int i = 0; i < f->ncombos; i++)
				queue_list_page(f, i, 0, f->page_size, false);
		}
	}
	MemoryContextSwitchTo(old);
}

static void
release_task(DrsFetcher *f, FetchTask *t)
{
	if (t->resp != NULL)
		drs_api_release(f->api, t->resp);
	t->resp = NULL;
	if (t->items != NULL)
		pfree(t->items);
	pfree(t);
}

/*
 * The next job object of the scan, or NULL at the end.  The object stays
 * valid until the next call.
 */
json_object *
drs_fetcher_next(DrsFetcher *f)
{
	for (;;)
	{
		DrsResponse *resp;
		FetchTask  *t;

		if (f->current != NULL)
		{
			if (f->current->streaming)
			{
				json_object *row = next_streamed_row(f, f->current);

				if (row != NULL)
					return row;
			}
			else if (f->current->next < f->current->nitems)
				return f->current->items[f->current->next++];
			release_task(f, f->current);
			f->current = NULL;
		}
		if (!dlist_is_empty(&f->ready))
		{
			f->current = dlist_container(FetchTask, node, dlist_pop_head_node(&f->ready));
			f->n_ready--;
			continue;
		}

		fill_slots(f);
		if (f->in_flight == 0)
			return NULL;

		resp = drs_api_wait(f->api);
		if (resp == NULL)
			return NULL;
		f->in_flight--;
		t = (FetchTask *) resp->caller_data;
		if (t->kind == TASK_LIST)
			list_finished(f, t, resp);
		else if (f->spec.windowed && f->spec.by_ids)
			id_window_finished(f, t, resp);
		else
			batch_finished(f, t, resp);
	}
}

/* Abandon the current execution's calls and responses. */
void
drs_fetcher_stop(DrsFetcher *f)
{
	drop_stream_elem(f);
	drs_api_abort(f->api);
	f->in_flight = 0;
	f->current = NULL;
	dlist_init(&f->ready);
	dlist_init(&f->held);
	dlist_init(&f->pending_batches);
	dlist_init(&f->pending_lists);
	f->n_ready = f->n_pending_batches = 0;
}
