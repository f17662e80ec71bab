/*
 * drs_fdw.h — declarations shared by the parts of drs_fdw.
 *
 * Options (option.c), the DRS resources a table can show (resource.c), the
 * planner's pushdown state (pushdown.c), the DRS API client over the HTTP
 * transport (api.c, auth.c), the scan driver (fetch.c) and the JSON-to-tuple
 * conversion (convert.c).  The libcurl boundary has its own header, http.h.
 */
#ifndef DRS_FDW_H
#define DRS_FDW_H

/*
 * PostgreSQL declares the SQL function json_object() in fmgrprotos.h and
 * json-c a type of the same name.  We never call the former: hide it, and
 * include this header before any other that pulls in fmgrprotos.h.
 */
#define json_object pg_sql_function_json_object
#include "utils/fmgrprotos.h"
#undef json_object
#include <json.h>

#include "access/tupdesc.h"
#include "fmgr.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/relcache.h"

#include "http.h"

#define DRS_FDW_VERSION "1.0"

/* The three scenarios a DRS job can belong to; the list API needs one per call. */
#define DRS_MAX_DB_USE_TYPES 3

/* ---------- option.c ---------- */

typedef struct DrsServerOptions
{
	char	   *endpoint;		/* base URL, no trailing slash */
	char	   *project_id;
	char	   *iam_endpoint;	/* base URL or NULL */
	int			batch_size;
	int			page_size;
	int			max_concurrency;
	int			connect_timeout_ms;
	int			timeout_ms;
	int			max_retries;
	bool		ssl_verify;
	char	   *ca_file;
	int			n_db_use_types;
	char	   *db_use_types[DRS_MAX_DB_USE_TYPES];
	char	   *language;
} DrsServerOptions;

typedef struct DrsUserOptions
{
	char	   *token;			/* static token, or NULL */
	char	   *user;			/* IAM password authentication, or NULL */
	char	   *password;
	char	   *domain;
} DrsUserOptions;

/* Everything needed to talk to DRS for one foreign table and one user. */
typedef struct DrsConnInfo
{
	Oid			serverid;
	Oid			umid;			/* user mapping OID: the token cache key */
	char	   *servername;
	DrsServerOptions server;
	DrsUserOptions user;
} DrsConnInfo;

extern void drs_server_options(ForeignServer *server, DrsServerOptions *opts);
extern void drs_conn_info(Oid serverid, Oid userid, DrsConnInfo *info);
extern char *drs_table_option(Oid relid, const char *name);
extern char *drs_column_json_path(Oid relid, AttrNumber attnum, const char *attname);
extern int	drs_max_response_kb;

/* ---------- resource.c ---------- */

typedef struct DrsColumnDef
{
	const char *name;
	const char *type;
} DrsColumnDef;

/* One DRS resource that a foreign table can show (table option "resource"). */
typedef struct DrsResource
{
	const char *name;			/* option value: "jobs" */
	const char *table_name;		/* table IMPORT FOREIGN SCHEMA creates */
	const char *batch_path;		/* path after /v3/{project_id}/ */
	const char *key_path;		/* key of the job id in a result */
	const char *error_text_key; /* per-id error text: error_message/error_msg */
	const char *row_marker;		/* a field every row has and an error entry lacks */
	bool		paged;			/* the batch call takes page_req */
	const char *status_path;	/* column path the list's status filter matches */
	const char *db_use_type_path;	/* column path the list's db_use_type matches */
	const char *const *list_paths;	/* paths a job-list entry has with the same meaning */
	const DrsColumnDef *columns;	/* reference columns */
	int			ncolumns;
} DrsResource;

extern const DrsResource *drs_resource_lookup(const char *name);
extern const DrsResource *drs_resource_for_table(Oid relid);
extern char *drs_resource_names(void);
extern List *drs_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid);

/* ---------- convert.c ---------- */

typedef struct DrsTupleMaker DrsTupleMaker;

/* The elements of one array of a large JSON document, one at a time. */
typedef struct DrsJsonStream
{
	const char *text;
	size_t		len;			/* end of the array's contents */
	size_t		pos;			/* next element */
	size_t		end;
	bool		first;
} DrsJsonStream;

extern json_object *drs_json_stream_open(DrsJsonStream *s, const char *text, size_t len,
										 const char *array_key, char **error);
extern bool drs_json_stream_next(DrsJsonStream *s, json_object **elem, char **error);
extern bool drs_json_stream_next_raw(DrsJsonStream *s, const char **text, size_t *len,
									 char **error);
extern char *drs_json_object_string_member(const char *text, size_t len, const char *key);

extern json_object *drs_json_parse(const char *text, size_t len, char **error);
extern bool drs_is_secret_key(const char *key);
extern void drs_json_append(StringInfo buf, json_object *obj);
extern void drs_json_append_string(StringInfo buf, const char *s, int len);
extern bool drs_json_path_is_valid(const char *path, char **reason);
extern DrsTupleMaker *drs_tuple_maker_create(Relation rel, List *attnums,
											 const DrsResource *resource,
											 const char *servername, const char *project_id);
extern DrsTupleMaker *drs_tuple_maker_new(int natts, const char *relname, const char *key_path);
extern void drs_tuple_maker_add_column(DrsTupleMaker *maker, AttrNumber attnum, const char *name,
									   const char *path, Oid typid, int32 typmod);
extern void drs_tuple_fill(DrsTupleMaker *maker, json_object *job,
						   Datum *values, bool *isnull);

/* ---------- api.c / auth.c ---------- */

typedef struct DrsApi DrsApi;

/* A finished DRS call, as the scan driver sees it. */
typedef struct DrsResponse
{
	DrsHttpRequest *http;		/* transport result; freed by drs_api_release */
	void	   *caller_data;
	long		status;			/* HTTP status */
	json_object *root;			/* parsed body, or NULL if not JSON (or raw) */
	char	   *parse_error;	/* why root is NULL */
	bool		too_large;		/* the body exceeded the size cap (see flags) */
} DrsResponse;

/* Flags of drs_api_post. */
#define DRS_CALL_RAW			0x01	/* leave a 2xx body unparsed: the caller
										 * reads it in pieces */
#define DRS_CALL_MAY_BE_TOO_LARGE 0x02	/* a body over the cap is a response
										 * with too_large set, not an ERROR */

/* Backend-wide counters, reported by drs_fdw_stats(). */
typedef struct DrsBackendStats
{
	int64		requests;
	int64		retries;
	int64		errors;
	int64		bytes_received;
	int64		token_requests;
	int64		rows_returned;
} DrsBackendStats;

extern DrsBackendStats drs_backend_stats;

extern DrsApi *drs_api_create(MemoryContext cxt, const DrsConnInfo *conn);
extern void drs_api_post(DrsApi *api, const char *relpath, const char *body,
						 void *caller_data, int flags);
extern DrsResponse *drs_api_wait(DrsApi *api);
extern void drs_api_release(DrsApi *api, DrsResponse *resp);
extern void drs_api_abort(DrsApi *api);
extern void drs_api_counters(DrsApi *api, DrsHttpCounters *out);
extern void drs_api_raise(DrsApi *api, DrsResponse *resp) pg_attribute_noreturn();
extern void drs_api_raise_shape(DrsApi *api, DrsResponse *resp, const char *what) pg_attribute_noreturn();
extern const DrsConnInfo *drs_api_conn(DrsApi *api);
extern void drs_raise_transport(DrsHttpRequest *req, const char *service,
								int timeout_ms) pg_attribute_noreturn();

extern char *drs_auth_token(const DrsConnInfo *conn, DrsHttpSession *session,
							uint64 stale_generation, uint64 *generation);

/* ---------- pushdown.c ---------- */

/* The job properties that conditions can push to the API. */
typedef enum DrsKey
{
	DRS_KEY_ID = 0,				/* batch call's jobs list */
	DRS_KEY_DB_USE_TYPE,		/* job list's db_use_type */
	DRS_KEY_STATUS,				/* job list's status filter */
	DRS_NUM_KEYS
} DrsKey;

/* What one entry of the plan's fdw_exprs is. */
typedef enum DrsExprKind
{
	DRS_EXPR_SCALAR = 0,		/* one text value of a key */
	DRS_EXPR_ARRAY,				/* a text[] of values of a key */
	DRS_EXPR_LIMIT,				/* LIMIT count */
	DRS_EXPR_OFFSET				/* OFFSET count */
} DrsExprKind;

/* A pushed condition: key IN (union of the values). */
typedef struct DrsCond
{
	DrsKey		key;
	List	   *values;			/* Exprs */
	List	   *kinds;			/* IntList of DrsExprKind, parallel to values */
	Expr	   *clause;			/* the original clause */
	bool		exact;			/* no local recheck needed */
} DrsCond;

/* Planner state of a drs_fdw base relation (baserel->fdw_private). */
typedef struct DrsRelInfo
{
	const DrsResource *resource;
	DrsServerOptions server;
	AttrNumber	key_attnos[DRS_NUM_KEYS];	/* column of each key, or 0 */
	List	   *conds;			/* DrsCond pushed from baserestrictinfo */
	List	   *derived_conds;	/* DrsCond implied through joins (see pushdown.c) */
	List	   *local_conds;	/* RestrictInfos PostgreSQL evaluates */
	Bitmapset  *attrs_used;		/* columns the query reads (offset by
								 * FirstLowInvalidHeapAttributeNumber) */
	double		id_count;		/* estimated ids, -1 if no id condition */
	double		table_rows;		/* estimated rows of a full scan */
} DrsRelInfo;

/* Items of the ForeignScan's fdw_private list. */
enum DrsScanPrivateIndex
{
	DrsPrivResource,			/* String: resource name */
	DrsPrivExprKeys,			/* IntList: DrsKey of each fdw_expr (-1 if none) */
	DrsPrivExprKinds,			/* IntList: DrsExprKind of each fdw_expr */
	DrsPrivExprGroups,			/* IntList: condition number of each fdw_expr */
	DrsPrivRetrievedAttrs,		/* IntList: attnums to convert */
	DrsPrivFlags,				/* IntList: DrsPlanFlags */
	DrsPrivExplain,				/* List of Strings: ids, db_use_types, statuses,
								 * offset, limit, as EXPLAIN shows them */
	DrsPrivCount
};

#define DRS_PLAN_WINDOW			0x01	/* LIMIT/OFFSET is pushed down */
#define DRS_PLAN_PARAMETERIZED	0x02	/* rescans with new values expected */
#define DRS_PLAN_LIST_ONLY		0x04	/* job-list entries carry every needed column */

extern DrsRelInfo *drs_rel_info_create(PlannerInfo *root, RelOptInfo *baserel,
									   Oid foreigntableid);
extern bool drs_match_condition(PlannerInfo *root, RelOptInfo *baserel,
								 DrsRelInfo *info, Expr *clause, DrsCond *cond);
extern bool drs_attrs_list_only(DrsRelInfo *info, Relation rel, Bitmapset *attrs);
extern void drs_page_cover(int64 start, int64 count, int max_per_page,
						   int *per_page, int64 *first_page, int64 *last_page);

/* ---------- fetch.c ---------- */

/* What one execution of a scan asks for, once all values are known. */
typedef struct DrsFetchSpec
{
	const DrsResource *resource;
	bool		by_ids;
	char	  **ids;			/* deduplicated, in first-seen order */
	int			nids;
	int			ntypes;			/* list mode: db_use_types to list */
	bool		restrict_types; /* id mode: drop jobs of other db_use_types */
	const char *types[DRS_MAX_DB_USE_TYPES];
	bool		by_status;
	char	  **statuses;
	int			nstatuses;
	bool		windowed;
	int64		offset;
	int64		limit;			/* -1: no limit */
	bool		list_only;
	bool		cache_jobs;		/* keep fetched jobs for rescans */
} DrsFetchSpec;

typedef struct DrsFetcher DrsFetcher;

extern DrsFetcher *drs_fetcher_create(MemoryContext cxt, DrsApi *api);
extern void drs_fetcher_start(DrsFetcher *f, const DrsFetchSpec *spec);
extern json_object *drs_fetcher_next(DrsFetcher *f);
extern void drs_fetcher_stop(DrsFetcher *f);

#endif							/* DRS_FDW_H */
