/*
 * http.h — the narrow interface to libcurl.
 *
 * Owns nothing of the planner or of DRS: it sends HTTP POST requests, many at
 * once, over a per-backend connection pool, retries the retryable failures
 * with backoff, and hands back finished requests.  Every curl object it
 * allocates is released by a memory-context reset callback of the session
 * that created it, so an ERROR never leaks a handle or a socket.
 */
#ifndef DRS_HTTP_H
#define DRS_HTTP_H

#include "lib/ilist.h"
#include "utils/palloc.h"

/* How a request ended, as far as the transport is concerned. */
typedef enum DrsHttpOutcome
{
	DRS_HTTP_PENDING = 0,		/* not finished yet */
	DRS_HTTP_OK,				/* an HTTP response arrived (any status) */
	DRS_HTTP_CONNECT_FAILED,	/* could not resolve or connect */
	DRS_HTTP_TLS_FAILED,		/* TLS handshake or certificate failure */
	DRS_HTTP_TIMED_OUT,			/* timeout_ms elapsed */
	DRS_HTTP_TRANSFER_FAILED,	/* connection dropped, truncated body... */
	DRS_HTTP_TOO_LARGE,			/* body exceeded the size cap */
	DRS_HTTP_ABORTED			/* removed before it finished */
} DrsHttpOutcome;

/* Transport settings, taken from the server options. */
typedef struct DrsHttpSettings
{
	long		connect_timeout_ms;
	long		timeout_ms;
	int			max_retries;
	bool		ssl_verify;
	const char *ca_file;		/* NULL: system store */
	size_t		max_response_bytes;
} DrsHttpSettings;

typedef struct DrsHttpSession DrsHttpSession;

/*
 * One HTTP request and, once finished, its response.  Allocated by
 * drs_http_request_new in the session's memory context; the buffers that
 * curl callbacks fill are malloc'd and freed by drs_http_request_free or by
 * the session cleanup.
 */
typedef struct DrsHttpRequest
{
	dlist_node	node;			/* in the session's in-flight/done/wait lists */
	DrsHttpSession *session;

	/* what to send (set by the caller before drs_http_submit) */
	char	   *url;
	char	   *body;			/* palloc'd JSON text */
	size_t		body_len;
	const char *describe;		/* "POST /v3/.../jobs", for messages; no secrets */
	char	  **headers;		/* NULL-terminated "Name: value" strings */
	void	   *caller_data;	/* opaque to this layer */
	bool		want_subject_token; /* keep the X-Subject-Token header */

	/* what came back */
	DrsHttpOutcome outcome;
	long		status;			/* HTTP status, 0 if none */
	char	   *response;		/* malloc'd, NUL-terminated */
	size_t		response_len;
	char		content_type[128];
	char	   *subject_token;	/* malloc'd, when want_subject_token */
	char		error_text[256];	/* curl's description of a failure */
	const char *reason;			/* short, stable text of the failure */
	int			attempts;		/* how many times it was sent */
	double		retry_after_s;	/* Retry-After of the last response, or -1 */
	bool		retry_after_seen;

	/* transport bookkeeping; not for callers */
	void	   *easy;			/* CURL * while in flight */
	void	   *header_list;	/* struct curl_slist * */
	size_t		response_cap;
	long long	content_length; /* announced by the response, or -1 */
	bool		in_multi;
	int64		not_before_us;	/* backoff: earliest time of the next attempt */
} DrsHttpRequest;

/* Counters a session accumulates; the caller reads them for EXPLAIN ANALYZE. */
typedef struct DrsHttpCounters
{
	int64		requests;		/* attempts sent, retries included */
	int64		retries;
	int64		bytes_received;
} DrsHttpCounters;

extern DrsHttpSession *drs_http_session_create(MemoryContext cxt,
											   const DrsHttpSettings *settings);
extern DrsHttpRequest *drs_http_request_new(DrsHttpSession *session);
extern void drs_http_submit(DrsHttpRequest *req);
extern void drs_http_resubmit(DrsHttpRequest *req);
extern DrsHttpRequest *drs_http_wait_any(DrsHttpSession *session);
extern void drs_http_request_free(DrsHttpRequest *req);
extern void drs_http_abort_all(DrsHttpSession *session);
extern const DrsHttpCounters *drs_http_counters(DrsHttpSession *session);
extern bool drs_http_is_retryable_status(long status);

#endif							/* DRS_HTTP_H */
