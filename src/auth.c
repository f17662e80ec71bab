/*
 * auth.c — the token a DRS call carries.
 *
 * A user mapping holds either a ready token or IAM password credentials.
 * For the latter this file asks IAM for a project-scoped token
 * (POST /v3/auth/tokens) and caches it per backend and per user mapping
 * until shortly before it expires; a change of any user mapping or server
 * drops the cache.  Neither the password nor the token is ever logged.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"


/* Renew a token this long before it expires at most ... */
#define DRS_TOKEN_MARGIN_MAX_S	600
/* ... and assume this lifetime when IAM does not say. */
#define DRS_TOKEN_DEFAULT_LIFE_S	600

typedef struct DrsTokenEntry
{
	Oid			umid;			/* hash key: the user mapping */
	char	   *token;			/* in TopMemoryContext */
	TimestampTz refresh_after;
	uint64		generation;		/* changes with every new token */
	bool		valid;
} DrsTokenEntry;

static HTAB *token_cache = NULL;
static uint64 token_generation_counter = 0;

static void
forget_token(DrsTokenEntry *entry)
{
	if (entry->token != NULL)
	{
		explicit_bzero(entry->token, strlen(entry->token));
		pfree(entry->token);
	}
	entry->token = NULL;
	entry->valid = false;
}

/* A user mapping or server changed: drop every cached token. */
static void
token_cache_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	DrsTokenEntry *entry;

	if (token_cache == NULL)
		return;
	hash_seq_init(&scan, token_cache);
	while ((entry = hash_seq_search(&scan)) != NULL)
		forget_token(entry);
}

static void
token_cache_init(void)
{
	HASHCTL		ctl;

	if (token_cache != NULL)
		return;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(DrsTokenEntry);
	token_cache = hash_create("drs_fdw tokens", 8, &ctl, HASH_ELEM | HASH_BLOBS);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, token_cache_invalidate, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, token_cache_invalidate, (Datum) 0);
}

/* "2015-11-09T01:42:57.527363Z" (UTC) to a timestamp; false if malformed. */
static bool
parse_iam_time(const char *s, TimestampTz *result)
{
	struct pg_tm tm;
	int			year,
				mon,
				mday,
				hour,
				min;
	double		sec;
	fsec_t		fsec;
	char		tail = '\0';

	if (s == NULL ||
		sscanf(s, "%4d-%2d-%2dT%2d:%2d:%lf%c", &year, &mon, &mday, &hour, &min, &sec, &tail) < 6 ||
		(tail != '\0' && tail != 'Z') || sec < 0 || sec >= 61)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = (int) sec;
	fsec = (fsec_t) ((sec - tm.tm_sec) * 1000000.0);
	return tm2timestamp(&tm, fsec, NULL, result) == 0;
}

static const char *
token_member(json_object *root, const char *key)
{
	json_object *token;
	json_object *v;

	if (root == NULL || !json_object_object_get_ex(root, "token", &token) ||
		!json_object_object_get_ex(token, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The "message" of a Keystone error body, if there is one. */
static const char *
iam_error_message(json_object *root)
{
	json_object *err;
	json_object *msg;

	if (root != NULL && json_object_object_get_ex(root, "error", &err) &&
		json_object_object_get_ex(err, "message", &msg) &&
		json_object_is_type(msg, json_type_string))
		return json_object_get_string(msg);
	if (root != NULL && json_object_object_get_ex(root, "error_msg", &msg) &&
		json_object_is_type(msg, json_type_string))
		return json_object_get_string(msg);
	return NULL;
}

static void
append_json_member(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "\"%s\": ", key);
	drs_json_append_string(buf, value, strlen(value));
}

/* Ask IAM for a project-scoped token and store it in the cache entry. */
static void
fetch_token(const DrsConnInfo *conn, DrsHttpSession *session, DrsTokenEntry *entry)
{
	static char *headers[] = {
		"Content-Type: application/json;charset=utf8",
		"Accept: application/json",
		NULL
	};
	StringInfoData body;
	DrsHttpRequest *req;
	json_object *root = NULL;
	char	   *parse_error = NULL;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz expires;
	TimestampTz issued;
	int64		life_us;
	int64		margin_us;

	/* sized up front: a reallocation would leave a copy of the password behind */
	initStringInfo(&body);
	enlargeStringInfo(&body, 512 + 6 * (strlen(conn->user.user) + strlen(conn->user.password) +
										strlen(conn->user.domain) + strlen(conn->server.project_id)));
	appendStringInfoString(&body, "{\"auth\": {\"identity\": {\"methods\": [\"password\"], "
						   "\"password\": {\"user\": {");
	append_json_member(&body, "name", conn->user.user);
	appendStringInfoString(&body, ", ");
	append_json_member(&body, "password", conn->user.password);
	appendStringInfoString(&body, ", \"domain\": {");
	append_json_member(&body, "name", conn->user.domain);
	appendStringInfoString(&body, "}}}}, \"scope\": {\"project\": {");
	append_json_member(&body, "id", conn->server.project_id);
	appendStringInfoString(&body, "}}}}");

	req = drs_http_request_new(session);
	req->url = psprintf("%s/v3/auth/tokens?nocatalog=true", conn->server.iam_endpoint);
	req->describe = "POST /v3/auth/tokens";
	req->body = body.data;
	req->body_len = body.len;
	req->headers = headers;
	req->want_subject_token = true;

	drs_backend_stats.token_requests++;
	drs_http_submit(req);
	req = drs_http_wait_any(session);
	/* the password is not needed any more, whatever happened */
	explicit_bzero(body.data, body.len);

	if (req->outcome != DRS_HTTP_OK)
	{
		drs_backend_stats.errors++;
		drs_raise_transport(req, "IAM", conn->server.timeout_ms);
	}
	if (req->response_len > 0)
		root = drs_json_parse(req->response, req->response_len, &parse_error);

	if (req->status < 200 || req->status >= 300)
	{
		const char *msg = iam_error_message(root);

		/* the message lives in the JSON tree: copy it before freeing that */
		if (msg)
			msg = pstrdup(msg);
		drs_backend_stats.errors++;
		if (root)
			json_object_put(root);
		if (req->status == 401)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("IAM authentication failed for user \"%s\" of domain \"%s\"",
							conn->user.user, conn->user.domain),
					 errdetail("HTTP status 401 from %s%s%s", req->describe,
							   msg ? ": " : ".", msg ? msg : ""),
					 errhint("Check the options \"user\", \"password\" and \"domain\" of the user mapping for server \"%s\".",
							 conn->servername)));
		ereport(ERROR,
				(errcode(req->status == 403 ? ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION
						 : ERRCODE_FDW_ERROR),
				 errmsg("IAM token request failed with HTTP status %ld", req->status),
				 errdetail("%s%s%s", req->describe, msg ? ": " : ".", msg ? msg : "")));
	}
	if (req->subject_token == NULL || req->subject_token[0] == '\0')
	{
		drs_backend_stats.errors++;
		if (root)
			json_object_put(root);
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("invalid response from the IAM API: no X-Subject-Token header"),
				 errdetail("HTTP status %ld from %s.", req->status, req->describe)));
	}

	forget_token(entry);
	entry->token = MemoryContextStrdup(TopMemoryContext, req->subject_token);
	entry->generation = ++token_generation_counter;
	entry->valid = true;

	/* renew before expires_at, by a quarter of the lifetime but at most 10 min */
	if (parse_iam_time(token_member(root, "expires_at"), &expires))
	{
		if (!parse_iam_time(token_member(root, "issued_at"), &issued))
			issued = now;
		life_us = Max(expires - issued, 0);
		margin_us = Min(life_us / 4, (int64) DRS_TOKEN_MARGIN_MAX_S * USECS_PER_SEC);
		entry->refresh_after = expires - margin_us;
	}
	else
		entry->refresh_after = now + (int64) DRS_TOKEN_DEFAULT_LIFE_S * USECS_PER_SEC;

	if (root)
		json_object_put(root);
	explicit_bzero(req->subject_token, strlen(req->subject_token));
	drs_http_request_free(req);
}

/*
 * The token for DRS calls of a user mapping.  'stale_generation' names a
 * token DRS refused (0: none); if it is still the cached one, a new token is
 * fetched.  *generation tells which token was returned (0 for a static one).
 */
char *
drs_auth_token(const DrsConnInfo *conn, DrsHttpSession *session,
			   uint64 stale_generation, uint64 *generation)
{
	DrsTokenEntry *entry;
	bool		found;

	if (conn->user.token != NULL)
	{
		*generation = 0;
		return conn->user.token;
	}

	token_cache_init();
	entry = hash_search(token_cache, &conn->umid, HASH_ENTER, &found);
	if (!found)
	{
		entry->token = NULL;
		entry->valid = false;
		entry->generation = 0;
	}
	if (!entry->valid || entry->token == NULL ||
		(stale_generation != 0 && stale_generation == entry->generation) ||
		GetCurrentTimestamp() >= entry->refresh_after)
		fetch_token(conn, session, entry);

	*generation = entry->generation;
	return entry->token;
}
