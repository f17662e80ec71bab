/*
 * api.c — the DRS API client a scan uses: URLs, headers and authentication
 * of DRS calls, the re-authentication on a 401, parsing of response bodies,
 * and the one place where failures become PostgreSQL errors (SQLSTATE,
 * message, detail, hint).  Nothing here knows about the planner.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "miscadmin.h"
#include "utils/memutils.h"


/* Per call bookkeeping, kept as the HTTP request's caller_data. */
typedef struct DrsCall
{
	void	   *caller_data;
	int			flags;			/* DRS_CALL_* */
	uint64		token_generation;	/* generation of the token it was sent with */
	bool		reauthenticated;
} DrsCall;

/* A response handed to the caller; listed so cleanup frees its JSON. */
typedef struct DrsLiveResponse
{
	dlist_node	node;
	DrsResponse resp;
} DrsLiveResponse;

struct DrsApi
{
	MemoryContext cxt;
	DrsConnInfo conn;
	DrsHttpSession *http;		/* the scan's DRS calls */
	DrsHttpSession *iam;		/* token requests */
	char	   *token;			/* current token (points into cache or options) */
	uint64		token_generation;
	char	  **headers;		/* headers of DRS calls with the current token */
	dlist_head	live;			/* responses not yet released */
	DrsHttpCounters synced;		/* counters already added to backend stats */
	DrsHttpCounters iam_synced;
	MemoryContextCallback cleanup_cb;
};

DrsBackendStats drs_backend_stats;

static void
drs_api_cleanup(void *arg)
{
	DrsApi	   *api = (DrsApi *) arg;
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &api->live)
	{
		DrsLiveResponse *lr = dlist_container(DrsLiveResponse, node, iter.cur);

		dlist_delete(&lr->node);
		if (lr->resp.root != NULL)
			json_object_put(lr->resp.root);
		lr->resp.root = NULL;
	}
}

static DrsHttpSettings
http_settings(const DrsServerOptions *opts)
{
	DrsHttpSettings s;

	s.connect_timeout_ms = opts->connect_timeout_ms;
	s.timeout_ms = opts->timeout_ms;
	s.max_retries = opts->max_retries;
	s.ssl_verify = opts->ssl_verify;
	s.ca_file = opts->ca_file;
	s.max_response_bytes = (size_t) drs_max_response_kb * 1024;
	return s;
}

DrsApi *
drs_api_create(MemoryContext cxt, const DrsConnInfo *conn)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	DrsApi	   *api = palloc0(sizeof(DrsApi));
	DrsHttpSettings settings = http_settings(&conn->server);

	api->cxt = cxt;
	api->conn = *conn;
	api->http = drs_http_session_create(cxt, &settings);
	api->iam = drs_http_session_create(cxt, &settings);
	dlist_init(&api->live);
	api->cleanup_cb.func = drs_api_cleanup;
	api->cleanup_cb.arg = api;
	MemoryContextRegisterResetCallback(cxt, &api->cleanup_cb);
	MemoryContextSwitchTo(old);
	return api;
}

const DrsConnInfo *
drs_api_conn(DrsApi *api)
{
	return &api->conn;
}

/* Add what the sessions counted since the last call to the backend totals. */
static void
sync_stats(DrsApi *api)
{
	const DrsHttpCounters *c = drs_http_counters(api->http);
	const DrsHttpCounters *i = drs_http_counters(api->iam);

	drs_backend_stats.requests += (c->requests - api->synced.requests) +
		(i->requests - api->iam_synced.requests);
	drs_backend_stats.retries += (c->retries - api->synced.retries) +
		(i->retries - api->iam_synced.retries);
	drs_backend_stats.bytes_received += (c->bytes_received - api->synced.bytes_received) +
		(i->bytes_received - api->iam_synced.bytes_received);
	api->synced = *c;
	api->iam_synced = *i;
}

/* A response handed to the caller, listed so that cleanup finds it. */
static DrsLiveResponse *
new_live_response(DrsApi *api, DrsHttpRequest *req, DrsCall *call)
{
	DrsLiveResponse *lr = MemoryContextAllocZero(api->cxt, sizeof(DrsLiveResponse));

	lr->resp.http = req;
	lr->resp.caller_data = call->caller_data;
	lr->resp.status = req->status;
	dlist_push_tail(&api->live, &lr->node);
	return lr;
}

/* Get a token (a new one if 'stale' is the current generation) and headers. */
static void
refresh_headers(DrsApi *api, uint64 stale_generation)
{
	MemoryContext old = MemoryContextSwitchTo(api->cxt);
	char	  **h = palloc0(sizeof(char *) * 6);

	api->token = drs_auth_token(&api->conn, api->iam, stale_generation,
								&api->token_generation);
	sync_stats(api);
	h[0] = "Content-Type: application/json";
	h[1] = "Accept: application/json";
	h[2] = psprintf("X-Language: %s", api->conn.server.language);
	h[3] = psprintf("X-Auth-Token: %s", api->token);
	api->headers = h;
	MemoryContextSwitchTo(old);
}

/*
 * Send POST /v3/{project_id}/{relpath} with a JSON body; the response comes
 * back from drs_api_wait with caller_data.
 */
void
drs_api_post(DrsApi *api, const char *relpath, const char *body, void *caller_data, int flags)
{
	MemoryContext old;
	DrsHttpRequest *req;
	DrsCall    *call;

	if (api->headers == NULL)
		refresh_headers(api, 0);

	old = MemoryContextSwitchTo(api->cxt);
	req = drs_http_request_new(api->http);
	call = palloc0(sizeof(DrsCall));
	call->caller_data = caller_data;
	call->flags = flags;
	call->token_generation = api->token_generation;
	req->caller_data = call;
	req->url = psprintf("%s/v3/%s/%s", api->conn.server.endpoint,
						api->conn.server.project_id, relpath);
	req->describe = psprintf("POST /v3/%s/%s", api->conn.server.project_id, relpath);
	req->body = pstrdup(body);
	req->body_len = strlen(body);
	req->headers = api->headers;
	MemoryContextSwitchTo(old);

	drs_http_submit(req);
}

static bool
is_json_content_type(const char *ct)
{
	/* application/json, application/json;charset=UTF-8, application/problem+json ... */
	return strstr(ct, "json") != NULL;
}

/*
 * Wait for the next finished DRS call.  Transport failures (after retries)
 * are raised here; any HTTP response is returned, parsed if it is JSON.
 * Returns NULL when nothing is in flight.
 */
DrsResponse *
drs_api_wait(DrsApi *api)
{
	for (;;)
	{
		DrsHttpRequest *req = drs_http_wait_any(api->http);
		DrsCall    *call;
		DrsLiveResponse *lr;
		MemoryContext old;

		sync_stats(api);
		if (req == NULL)
			return NULL;
		call = (DrsCall *) req->caller_data;

		if (req->outcome == DRS_HTTP_TOO_LARGE && (call->flags & DRS_CALL_MAY_BE_TOO_LARGE))
		{
			lr = new_live_response(api, req, call);
			lr->resp.too_large = true;
			return &lr->resp;
		}
		if (req->outcome != DRS_HTTP_OK)
		{
			drs_backend_stats.errors++;
			drs_raise_transport(req, "DRS", api->conn.server.timeout_ms);
		}

		/* A 401 with IAM authentication: get a new token and send it again, once. */
		if (req->status == 401 && api->conn.user.token == NULL && !call->reauthenticated)
		{
			refresh_headers(api, call->token_generation);
			call->reauthenticated = true;
			call->token_generation = api->token_generation;
			req->headers = api->headers;
			drs_http_resubmit(req);
			continue;
		}

		lr = new_live_response(api, req, call);
		old = MemoryContextSwitchTo(api->cxt);
		if (req->status >= 200 && req->status < 300 && (call->flags & DRS_CALL_RAW))
			;					/* the caller reads the body in pieces */
		else if (req->response_len > 0 &&
				 (is_json_content_type(req->content_type) ||
				  (req->status >= 200 && req->status < 300)))
			lr->resp.root = drs_json_parse(req->response, req->response_len,
										   &lr->resp.parse_error);
		else
			lr->resp.parse_error = pstrdup(req->response_len ? "not JSON" : "empty body");
		MemoryContextSwitchTo(old);

		/* A success must be JSON; anything else is not a DRS answer. */
		if (req->status >= 200 && req->status < 300)
		{
			if (req->content_type[0] != '\0' && !is_json_content_type(req->content_type))
				drs_api_raise_shape(api, &lr->resp,
									psprintf("unexpected content type \"%s\"", req->content_type));
			if (lr->resp.root == NULL && !(call->flags & DRS_CALL_RAW))
				drs_api_raise_shape(api, &lr->resp, lr->resp.parse_error);
		}
		return &lr->resp;
	}
}

void
drs_api_release(DrsApi *api, DrsResponse *resp)
{
	DrsLiveResponse *lr = (DrsLiveResponse *) ((char *) resp - offsetof(DrsLiveResponse, resp));

	DrsHttpRequest *req = resp->http;

	dlist_delete(&lr->node);
	if (resp->root != NULL)
		json_object_put(resp->root);
	if (resp->parse_error)
		pfree(resp->parse_error);
	pfree(req->url);
	pfree((char *) req->describe);
	pfree(req->body);
	pfree(req->caller_data);
	drs_http_request_free(req);
	pfree(lr);
}

/* Abandon all calls in flight and all responses not yet released. */
void
drs_api_abort(DrsApi *api)
{
	drs_http_abort_all(api->http);
	drs_api_cleanup(api);
}

void
drs_api_counters(DrsApi *api, DrsHttpCounters *out)
{
	const DrsHttpCounters *c = drs_http_counters(api->http);
	const DrsHttpCounters *i = drs_http_counters(api->iam);

	out->requests = c->requests + i->requests;
	out->retries = c->retries + i->retries;
	out->bytes_received = c->bytes_received + i->bytes_received;
}

/* ---------- errors ---------- */

/* A transport failure of a DRS or IAM call. */
void
drs_raise_transport(DrsHttpRequest *req, const char *service, int timeout_ms)
{
	/* a cancel that interrupted the transfer is reported as a cancel */
	CHECK_FOR_INTERRUPTS();

	switch (req->outcome)
	{
		case DRS_HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not connect to the %s API: %s", service, req->reason),
					 errdetail("%s failed after %d attempt%s: %s.", req->describe,
							   req->attempts, req->attempts == 1 ? "" : "s", req->error_text)));
			break;
		case DRS_HTTP_TLS_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not establish a TLS connection to the %s API: %s",
							service, req->reason),
					 errdetail("%s: %s.", req->describe, req->error_text),
					 errhint("Check the server options \"ssl_verify\" and \"ca_file\".")));
			break;
		case DRS_HTTP_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("%s API request timed out after %d ms", service, timeout_ms),
					 errdetail("%s did not finish within the server's timeout_ms.",
							   req->describe),
					 errhint("Raise the server option \"timeout_ms\" if the API is slow.")));
			break;
		case DRS_HTTP_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s API response exceeds the size limit of %d kB",
							service, drs_max_response_kb),
					 errdetail("%s returned a larger body.", req->describe),
					 errhint("Raise drs_fdw.max_response_size, or lower the server's batch_size or page_size.")));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("%s API request failed: %s", service,
							req->reason ? req->reason : "unknown error"),
					 errdetail("%s failed after %d attempt%s: %s.", req->describe,
							   req->attempts, req->attempts == 1 ? "" : "s", req->error_text)));
	}
	pg_unreachable();
}

static const char *
json_string_member(json_object *obj, const char *key)
{
	json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
		!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* An HTTP error response (or an error body) from DRS. */
void
drs_api_raise(DrsApi *api, DrsResponse *resp)
{
	const char *code = json_string_member(resp->root, "error_code");
	const char *msg = json_string_member(resp->root, "error_msg");
	DrsHttpRequest *req = resp->http;
	int			sqlstate = ERRCODE_FDW_ERROR;
	const char *hint = NULL;

	if (msg == NULL)
		msg = json_string_member(resp->root, "error_message");

	drs_backend_stats.errors++;
	if (resp->status == 401 || resp->status == 403)
	{
		sqlstate = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		if (api->conn.user.token != NULL)
			hint = "The token in the user mapping may have expired or may not be valid for this project: set a new one with ALTER USER MAPPING ... OPTIONS (SET token '...').";
		else
			hint = "Check that the IAM user may use DRS in the server's project_id.";
	}
	else if (resp->status == 404)
		hint = "Check the server options \"endpoint\" and \"project_id\".";
	else if (resp->status == 429)
		hint = "The API throttled the requests; lower the server's max_concurrency or retry later.";

	if (code != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("DRS API error %s: %s", code, msg ? msg : "(no message)"),
				 errdetail("HTTP status %ld from %s.", resp->status, req->describe),
				 hint ? errhint("%s", hint) : 0));
	else if (resp->root != NULL)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("DRS API request failed with HTTP status %ld", resp->status),
				 errdetail("%s returned a JSON body that is not a DRS error.", req->describe),
				 hint ? errhint("%s", hint) : 0));
	else
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("DRS API request failed with HTTP status %ld", resp->status),
				 errdetail("%s returned %s (%zu bytes) instead of a DRS error body.",
						   req->describe,
						   req->content_type[0] ? req->content_type : "no content type",
						   req->response_len),
				 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* A response that is not what the API documents. */
void
drs_api_raise_shape(DrsApi *api, DrsResponse *resp, const char *what)
{
	drs_backend_stats.errors++;
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("invalid response from the DRS API: %s", what),
			 errdetail("HTTP status %ld from %s.", resp->status, resp->http->describe)));
	pg_unreachable();
}
