/*
 * http.c — libcurl transport for drs_fdw.
 *
 * One curl multi handle per backend holds the connection pool (keep-alive
 * connections and TLS sessions outlive a query); sessions (one per scan)
 * submit requests into it and wait for any of theirs to finish.  Curl
 * callbacks only copy bytes into malloc'd buffers and set flags: they never
 * palloc and never ereport.  Waiting polls in slices of at most 100 ms with
 * CHECK_FOR_INTERRUPTS between them, so a cancel is honoured promptly.
 */
#include "postgres.h"

#include <math.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/pmsignal.h"
#include "utils/timestamp.h"

#include "http.h"

/* Longest slice of a wait between two interrupt checks. */
#define DRS_POLL_SLICE_MS		100
/* Backoff of retry k (k >= 1) is BASE * 2^(k-1), jittered, at most CAP. */
#define DRS_BACKOFF_BASE_MS		200
#define DRS_BACKOFF_CAP_MS		10000
/* A Retry-After beyond this is not waited for in full. */
#define DRS_RETRY_AFTER_CAP_S	60.0
/* Headers that can be kept from a response are capped at this size. */
#define DRS_MAX_KEPT_HEADER		65536

struct DrsHttpSession
{
	MemoryContext cxt;
	DrsHttpSettings settings;
	dlist_head	in_flight;		/* added to the multi handle */
	dlist_head	waiting;		/* backing off before a retry */
	dlist_head	done;			/* finished, not yet collected */
	dlist_head	returned;		/* handed to the caller, not yet freed */
	DrsHttpCounters counters;
	MemoryContextCallback cleanup_cb;
};

/* Per-backend curl state: the pool that outlives queries. */
static CURLM *drs_multi = NULL;
static CURLSH *drs_share = NULL;

static void drs_http_backend_exit(int code, Datum arg);
static void drs_http_session_cleanup(void *arg);
static void release_transfer(DrsHttpRequest *req);
static void start_transfer(DrsHttpRequest *req);
static void collect_finished(void);
static void start_due_retries(DrsHttpSession *session, int64 now_us);

static int64
now_us(void)
{
	instr_time	t;

	INSTR_TIME_SET_CURRENT(t);
	return (int64) INSTR_TIME_GET_MICROSEC(t);
}

/* Create the per-backend multi handle the first time it is needed. */
static void
ensure_curl(void)
{
	if (drs_multi != NULL)
		return;

	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not initialize libcurl")));

	drs_share = curl_share_init();
	if (drs_share != NULL)
	{
		curl_share_setopt(drs_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
		curl_share_setopt(drs_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	}

	drs_multi = curl_multi_init();
	if (drs_multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl multi handle.")));
	/* Keep enough idle connections for several scans at full concurrency. */
	curl_multi_setopt(drs_multi, CURLMOPT_MAXCONNECTS, 64L);
	on_proc_exit(drs_http_backend_exit, (Datum) 0);
}

static void
drs_http_backend_exit(int code, Datum arg)
{
	if (drs_multi != NULL)
		curl_multi_cleanup(drs_multi);
	if (drs_share != NULL)
		curl_share_cleanup(drs_share);
	drs_multi = NULL;
	drs_share = NULL;
	curl_global_cleanup();
}

DrsHttpSession *
drs_http_session_create(MemoryContext cxt, const DrsHttpSettings *settings)
{
	DrsHttpSession *session;

	ensure_curl();

	session = MemoryContextAllocZero(cxt, sizeof(DrsHttpSession));
	session->cxt = cxt;
	session->settings = *settings;
	if (settings->ca_file)
		session->settings.ca_file = MemoryContextStrdup(cxt, settings->ca_file);
	dlist_init(&session->in_flight);
	dlist_init(&session->waiting);
	dlist_init(&session->done);
	dlist_init(&session->returned);

	session->cleanup_cb.func = drs_http_session_cleanup;
	session->cleanup_cb.arg = session;
	MemoryContextRegisterResetCallback(cxt, &session->cleanup_cb);
	return session;
}

DrsHttpRequest *
drs_http_request_new(DrsHttpSession *session)
{
	DrsHttpRequest *req = MemoryContextAllocZero(session->cxt, sizeof(DrsHttpRequest));

	req->session = session;
	req->retry_after_s = -1;
	return req;
}

bool
drs_http_is_retryable_status(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/*
 * Callbacks.  They run inside curl_multi_perform; they must not palloc or
 * ereport, so failures are reported by returning a short count.
 */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	DrsHttpRequest *req = (DrsHttpRequest *) userdata;
	size_t		n = size * nmemb;
	size_t		limit = req->session->settings.max_response_bytes;

	if (req->response_len + n > limit)
	{
		req->outcome = DRS_HTTP_TOO_LARGE;
		return 0;
	}
	if (req->response_len + n + 1 > req->response_cap)
	{
		size_t		newcap = req->response_cap ? req->response_cap : 16384;
		char	   *grown;

		/* the announced length, if it fits: one allocation, no copies */
		if (req->content_length > 0 && (size_t) req->content_length < limit &&
			(size_t) req->content_length >= req->response_len + n)
			newcap = (size_t) req->content_length + 1;
		while (newcap < req->response_len + n + 1)
			newcap += newcap / 2;
		grown = realloc(req->response, newcap);
		if (grown == NULL)
			return 0;
		req->response = grown;
		req->response_cap = newcap;
	}
	memcpy(req->response + req->response_len, ptr, n);
	req->response_len += n;
	req->response[req->response_len] = '\0';
	return n;
}

/* Copy a header value without leading/trailing blanks into a fixed buffer. */
static void
copy_header_value(const char *value, size_t len, char *dst, size_t dstsize)
{
	while (len > 0 && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len >= dstsize)
		len = dstsize - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static bool
header_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen)
{
	size_t		nlen = strlen(name);

	if (len <= nlen || line[nlen] != ':' || pg_strncasecmp(line, name, nlen) != 0)
		return false;
	*value = line + nlen + 1;
	*vlen = len - nlen - 1;
	return true;
}

static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	DrsHttpRequest *req = (DrsHttpRequest *) userdata;
	size_t		len = size * nitems;
	const char *value;
	size_t		vlen;

	/* A new status line (e.g. after "100 Continue") starts a new header set. */
	if (len >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		req->content_type[0] = '\0';
		req->content_length = -1;
		req->retry_after_seen = false;
		return len;
	}
	if (header_is(buffer, len, "Content-Type", &value, &vlen))
		copy_header_value(value, vlen, req->content_type, sizeof(req->content_type));
	else if (header_is(buffer, len, "Content-Length", &value, &vlen))
	{
		char		tmp[32];

		copy_header_value(value, vlen, tmp, sizeof(tmp));
		req->content_length = strtoll(tmp, NULL, 10);
	}
	else if (header_is(buffer, len, "Retry-After", &value, &vlen))
	{
		char		tmp[128];
		char	   *end;
		double		secs;

		copy_header_value(value, vlen, tmp, sizeof(tmp));
		secs = strtod(tmp, &end);
		if (end != tmp && *end == '\0' && secs >= 0)
			req->retry_after_s = secs;
		else
		{
			time_t		when = curl_getdate(tmp, NULL);

			req->retry_after_s = (when == -1) ? -1 : Max(0.0, difftime(when, time(NULL)));
		}
		req->retry_after_seen = (req->retry_after_s >= 0);
	}
	else if (req->want_subject_token &&
			 header_is(buffer, len, "X-Subject-Token", &value, &vlen))
	{
		char	   *copy;

		if (vlen > DRS_MAX_KEPT_HEADER)
			return 0;
		copy = malloc(vlen + 1);
		if (copy == NULL)
			return 0;
		copy_header_value(value, vlen, copy, vlen + 1);
		free(req->subject_token);
		req->subject_token = copy;
	}
	return len;
}

/* Drop the curl objects and response buffers of a request. */
static void
release_transfer(DrsHttpRequest *req)
{
	if (req->easy != NULL)
	{
		if (req->in_multi && drs_multi != NULL)
			curl_multi_remove_handle(drs_multi, (CURL *) req->easy);
		curl_easy_cleanup((CURL *) req->easy);
		req->easy = NULL;
	}
	req->in_multi = false;
	if (req->header_list != NULL)
	{
		curl_slist_free_all((struct curl_slist *) req->header_list);
		req->header_list = NULL;
	}
}

static void
release_buffers(DrsHttpRequest *req)
{
	free(req->response);
	req->response = NULL;
	req->response_len = 0;
	req->response_cap = 0;
	free(req->subject_token);
	req->subject_token = NULL;
}

static void
drs_http_session_cleanup(void *arg)
{
	DrsHttpSession *session = (DrsHttpSession *) arg;
	dlist_head *lists[] = {&session->in_flight, &session->waiting,
	&session->done, &session->returned};

	for (int i = 0; i < (int) lengthof(lists); i++)
	{
		dlist_mutable_iter iter;

		dlist_foreach_modify(iter, lists[i])
		{
			DrsHttpRequest *req = dlist_container(DrsHttpRequest, node, iter.cur);

			dlist_delete(&req->node);
			release_transfer(req);
			release_buffers(req);
		}
	}
}

/* Reset the response part of a request before (re)sending it. */
static void
reset_response(DrsHttpRequest *req)
{
	release_buffers(req);
	req->outcome = DRS_HTTP_PENDING;
	req->status = 0;
	req->content_type[0] = '\0';
	req->error_text[0] = '\0';
	req->reason = NULL;
	req->retry_after_s = -1;
	req->retry_after_seen = false;
}

#define SETOPT(h, opt, val) \
	do { if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) goto setup_failed; } while (0)

/* Build the easy handle for one attempt and hand it to the multi handle. */
static void
start_transfer(DrsHttpRequest *req)
{
	DrsHttpSettings *s = &req->session->settings;
	struct curl_slist *list = NULL;
	CURL	   *easy;
	CURLMcode	mrc;

	reset_response(req);
	/* The request is on the in-flight list first, so cleanup always finds it. */
	dlist_push_tail(&req->session->in_flight, &req->node);

	easy = curl_easy_init();
	if (easy == NULL)
		goto setup_failed;
	req->easy = easy;

	for (char **h = req->headers; h && *h; h++)
	{
		struct curl_slist *next = curl_slist_append(list, *h);

		if (next == NULL)
			goto setup_failed;
		list = next;
		req->header_list = list;
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	list = curl_slist_append(list, "Expect:");
	if (list == NULL)
		goto setup_failed;
	req->header_list = list;

	SETOPT(easy, CURLOPT_URL, req->url);
	SETOPT(easy, CURLOPT_POST, 1L);
	SETOPT(easy, CURLOPT_POSTFIELDS, req->body);
	SETOPT(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	SETOPT(easy, CURLOPT_HTTPHEADER, list);
	SETOPT(easy, CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(easy, CURLOPT_WRITEDATA, req);
	SETOPT(easy, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(easy, CURLOPT_HEADERDATA, req);
	SETOPT(easy, CURLOPT_PRIVATE, req);
	SETOPT(easy, CURLOPT_ERRORBUFFER, req->error_text);
	SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
	SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	SETOPT(easy, CURLOPT_TIMEOUT_MS, s->timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(easy, CURLOPT_SSL_VERIFYPEER, s->ssl_verify ? 1L : 0L);
	SETOPT(easy, CURLOPT_SSL_VERIFYHOST, s->ssl_verify ? 2L : 0L);
	if (s->ca_file)
		SETOPT(easy, CURLOPT_CAINFO, s->ca_file);
	SETOPT(easy, CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(easy, CURLOPT_DNS_CACHE_TIMEOUT, 300L);
	SETOPT(easy, CURLOPT_USERAGENT, "drs_fdw/1.0");
	if (drs_share != NULL)
		SETOPT(easy, CURLOPT_SHARE, drs_share);

	mrc = curl_multi_add_handle(drs_multi, easy);
	if (mrc != CURLM_OK)
		goto setup_failed;
	req->in_multi = true;
	req->attempts++;
	req->session->counters.requests++;
	return;

setup_failed:
	/* the request stays on the in-flight list; session cleanup frees it */
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("could not set up an HTTP request for %s", req->describe)));
}

void
drs_http_submit(DrsHttpRequest *req)
{
	Assert(req->url != NULL && req->describe != NULL);
	req->attempts = 0;
	req->not_before_us = 0;
	start_transfer(req);
}

/*
 * Send a request that was already returned by drs_http_wait_any once more,
 * e.g. with a fresh token.  Its retry budget starts again.
 */
void
drs_http_resubmit(DrsHttpRequest *req)
{
	dlist_delete(&req->node);
	release_transfer(req);
	drs_http_submit(req);
}

/* Delay before retry number 'attempt' (1-based), in microseconds. */
static int64
backoff_us(const DrsHttpRequest *req)
{
	double		ms;

	if (req->retry_after_seen)
	{
		double		s = Min(req->retry_after_s, DRS_RETRY_AFTER_CAP_S);

		/* honour the server's wish, with a little jitter to spread clients */
		ms = s * 1000.0 + pg_prng_double(&pg_global_prng_state) * 100.0;
	}
	else
	{
		double		cap = DRS_BACKOFF_BASE_MS * pow(2.0, req->attempts - 1);

		cap = Min(cap, DRS_BACKOFF_CAP_MS);
		/* "equal jitter": half fixed, half random */
		ms = cap / 2 + pg_prng_double(&pg_global_prng_state) * cap / 2;
	}
	return (int64) (ms * 1000.0);
}

static DrsHttpOutcome
classify_failure(CURLcode rc, CURL *easy)
{
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_CONNECT:
			return DRS_HTTP_CONNECT_FAILED;
		case CURLE_OPERATION_TIMEDOUT:
			{
				curl_off_t	connect_us = 0;

				/* a timeout before the connection was made is a connect failure */
				curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connect_us);
				return connect_us == 0 ? DRS_HTTP_CONNECT_FAILED : DRS_HTTP_TIMED_OUT;
			}
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_USE_SSL_FAILED:
			return DRS_HTTP_TLS_FAILED;
		default:
			return DRS_HTTP_TRANSFER_FAILED;
	}
}

static bool
should_retry(const DrsHttpRequest *req)
{
	bool		retryable;

	if (req->attempts > req->session->settings.max_retries)
		return false;
	switch (req->outcome)
	{
		case DRS_HTTP_CONNECT_FAILED:
		case DRS_HTTP_TRANSFER_FAILED:
			retryable = true;
			break;
		case DRS_HTTP_OK:
			retryable = drs_http_is_retryable_status(req->status);
			break;
		default:
			retryable = false;
	}
	return retryable;
}

/* Move finished transfers to their sessions' done or waiting lists. */
static void
collect_finished(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(drs_multi, &left)) != NULL)
	{
		DrsHttpRequest *req = NULL;
		CURL	   *easy = msg->easy_handle;
		CURLcode	rc = msg->data.result;
		DrsHttpSession *session;
		curl_off_t	downloaded = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &req);
		if (req == NULL)
			continue;
		session = req->session;

		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &req->status);
		curl_easy_getinfo(easy, CURLINFO_SIZE_DOWNLOAD_T, &downloaded);
		session->counters.bytes_received += downloaded;

		if (rc == CURLE_OK)
			req->outcome = DRS_HTTP_OK;
		else if (req->outcome != DRS_HTTP_TOO_LARGE)
		{
			req->outcome = classify_failure(rc, easy);
			req->reason = curl_easy_strerror(rc);
			if (req->error_text[0] == '\0')
				strlcpy(req->error_text, req->reason, sizeof(req->error_text));
		}
		else
		{
			req->reason = "response body too large";
			strlcpy(req->error_text, req->reason, sizeof(req->error_text));
		}

		dlist_delete(&req->node);
		release_transfer(req);

		if (should_retry(req))
		{
			session->counters.retries++;
			req->not_before_us = now_us() + backoff_us(req);
			dlist_push_tail(&session->waiting, &req->node);
		}
		else
			dlist_push_tail(&session->done, &req->node);
	}
}

static void
start_due_retries(DrsHttpSession *session, int64 now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &session->waiting)
	{
		DrsHttpRequest *req = dlist_container(DrsHttpRequest, node, iter.cur);

		if (req->not_before_us <= now)
		{
			dlist_delete(&req->node);
			start_transfer(req);
		}
	}
}

/* Microseconds until the earliest pending retry of the session, or -1. */
static int64
next_retry_in(DrsHttpSession *session, int64 now)
{
	dlist_iter	iter;
	int64		best = -1;

	dlist_foreach(iter, &session->waiting)
	{
		DrsHttpRequest *req = dlist_container(DrsHttpRequest, node, iter.cur);
		int64		d = Max(0, req->not_before_us - now);

		if (best < 0 || d < best)
			best = d;
	}
	return best;
}

/*
 * Wait until one of the session's requests is finished (after any retries)
 * and return it; NULL if the session has nothing in flight.  The caller
 * owns the result and frees it with drs_http_request_free.
 */
DrsHttpRequest *
drs_http_wait_any(DrsHttpSession *session)
{
	for (;;)
	{
		int			running;
		int64		now;
		int64		retry_in;
		int			timeout_ms;

		if (!dlist_is_empty(&session->done))
		{
			DrsHttpRequest *req = dlist_container(DrsHttpRequest, node,
												  dlist_pop_head_node(&session->done));

			dlist_push_tail(&session->returned, &req->node);
			return req;
		}
		if (dlist_is_empty(&session->in_flight) && dlist_is_empty(&session->waiting))
			return NULL;

		now = now_us();
		start_due_retries(session, now);

		curl_multi_perform(drs_multi, &running);
		collect_finished();
		if (!dlist_is_empty(&session->done))
			continue;

		timeout_ms = DRS_POLL_SLICE_MS;
		retry_in = next_retry_in(session, now_us());
		if (retry_in >= 0)
			timeout_ms = (int) Min((int64) timeout_ms, retry_in / 1000 + 1);

		CHECK_FOR_INTERRUPTS();
		pgstat_report_wait_start(PG_WAIT_EXTENSION);
		curl_multi_poll(drs_multi, NULL, 0, timeout_ms, NULL);
		pgstat_report_wait_end();
		CHECK_FOR_INTERRUPTS();
		if (!PostmasterIsAlive())
			ereport(FATAL,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("terminating connection due to unexpected postmaster exit")));
	}
}

void
drs_http_request_free(DrsHttpRequest *req)
{
	dlist_delete(&req->node);
	release_transfer(req);
	release_buffers(req);
	pfree(req);
}

/* Abandon everything the session has in flight; the session stays usable. */
void
drs_http_abort_all(DrsHttpSession *session)
{
	drs_http_session_cleanup(session);
}

const DrsHttpCounters *
drs_http_counters(DrsHttpSession *session)
{
	return &session->counters;
}
