/*
 * option.c — the option validator of drs_fdw and the parsing of server,
 * user mapping, table and column options into C structs.
 *
 * One table of {name, context, kind, bounds} drives both: the validator
 * checks every option a CREATE/ALTER sets, and the readers rely on that.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include <limits.h>

#include "access/reloptions.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"


typedef enum DrsOptKind
{
	OPT_URL,
	OPT_IDENT,					/* [A-Za-z0-9_-]+ : safe in a URL path */
	OPT_INT,
	OPT_BOOL,
	OPT_TEXT,					/* any non-empty text without control characters */
	OPT_SECRET,					/* like OPT_TEXT; its value is never shown */
	OPT_FILE,					/* absolute path */
	OPT_DB_USE_TYPES,
	OPT_LANGUAGE,
	OPT_RESOURCE,
	OPT_JSON_PATH
} DrsOptKind;

typedef struct DrsOptionDef
{
	const char *name;
	Oid			context;		/* catalog the option belongs to */
	DrsOptKind	kind;
	int			min;
	int			max;
	bool		superuser_only;
} DrsOptionDef;

static const DrsOptionDef drs_options[] = {
	{"endpoint", ForeignServerRelationId, OPT_URL},
	{"project_id", ForeignServerRelationId, OPT_IDENT},
	{"iam_endpoint", ForeignServerRelationId, OPT_URL},
	{"batch_size", ForeignServerRelationId, OPT_INT, 1, 100},
	{"page_size", ForeignServerRelationId, OPT_INT, 1, 100},
	{"max_concurrency", ForeignServerRelationId, OPT_INT, 1, 64},
	{"connect_timeout_ms", ForeignServerRelationId, OPT_INT, 1, 600000},
	{"timeout_ms", ForeignServerRelationId, OPT_INT, 1, 3600000},
	{"max_retries", ForeignServerRelationId, OPT_INT, 0, 10},
	{"ssl_verify", ForeignServerRelationId, OPT_BOOL},
	{"ca_file", ForeignServerRelationId, OPT_FILE, 0, 0, true},
	{"db_use_types", ForeignServerRelationId, OPT_DB_USE_TYPES},
	{"language", ForeignServerRelationId, OPT_LANGUAGE},
	{"token", UserMappingRelationId, OPT_SECRET},
	{"user", UserMappingRelationId, OPT_TEXT},
	{"password", UserMappingRelationId, OPT_SECRET},
	{"domain", UserMappingRelationId, OPT_TEXT},
	{"resource", ForeignTableRelationId, OPT_RESOURCE},
	{"json_path", AttributeRelationId, OPT_JSON_PATH},
	{NULL}
};

static const char *const drs_db_use_types[] = {"migration", "sync", "cloudDataGuard"};

/* The size cap of one response body, in kB (GUC drs_fdw.max_response_size). */
int			drs_max_response_kb = 64 * 1024;

PG_FUNCTION_INFO_V1(drs_fdw_validator);

static const DrsOptionDef *
find_option(const char *name, Oid context)
{
	for (const DrsOptionDef *opt = drs_options; opt->name; opt++)
		if (opt->context == context && strcmp(opt->name, name) == 0)
			return opt;
	return NULL;
}

static char *
valid_option_names(Oid context)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const DrsOptionDef *opt = drs_options; opt->name; opt++)
	{
		if (opt->context != context)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, opt->name);
	}
	return buf.data;
}

static void
invalid_value(const DrsOptionDef *opt, const char *value, const char *why)
{
	/* a secret's value is never repeated back */
	if (opt->kind == OPT_SECRET)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\"", opt->name),
				 errdetail("%s", why)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
			 errdetail("%s", why)));
}

static bool
has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/*
 * A base URL: http:// or https://, a host (name, IPv4 or [IPv6]), an
 * optional port and path; no user info, query or fragment, which could carry
 * credentials into messages or break the paths we append.
 */
static bool
check_url(const char *url, const char **why)
{
	const char *p;
	const char *host;

	if (pg_strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (pg_strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
	{
		*why = "The URL must start with https:// or http://.";
		return false;
	}
	host = p;
	if (strcspn(p, "/") > strcspn(p, "@"))
	{
		*why = "The URL must not contain a user name or password; use a user mapping.";
		return false;
	}
	if (*p == '[')
	{
		p++;
		while (*p && (isxdigit((unsigned char) *p) || *p == ':' || *p == '.'))
			p++;
		if (*p != ']' || p == host + 1)
		{
			*why = "The URL has an invalid IPv6 host.";
			return false;
		}
		p++;
	}
	else
	{
		while (*p && (isalnum((unsigned char) *p) || *p == '.' || *p == '-' || *p == '_'))
			p++;
		if (p == host)
		{
			*why = "The URL has no host name.";
			return false;
		}
	}
	if (*p == ':')
	{
		long		port = 0;
		const char *digits = ++p;

		while (isdigit((unsigned char) *p) && port <= 65535)
			port = port * 10 + (*p++ - '0');
		if (p == digits || port < 1 || port > 65535)
		{
			*why = "The URL has an invalid port.";
			return false;
		}
	}
	if (*p != '\0' && *p != '/')
	{
		*why = "The URL may contain only a scheme, a host, a port and a path.";
		return false;
	}
	for (; *p; p++)
	{
		if (*p == '?' || *p == '#' || *p == '@' || isspace((unsigned char) *p) ||
			(unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
		{
			*why = "The URL may contain only a scheme, a host, a port and a path.";
			return false;
		}
	}
	return true;
}

/* Split a comma-separated db_use_types value; NULL and *why on error. */
static int
parse_db_use_types(const char *value, char **out, const char **why)
{
	char	   *copy = pstrdup(value);
	List	   *items;
	ListCell   *lc;
	int			n = 0;

	if (!SplitIdentifierString(copy, ',', &items) || items == NIL)
	{
		*why = "Give a comma-separated list of migration, sync and cloudDataGuard.";
		return -1;
	}
	foreach(lc, items)
	{
		char	   *item = (char *) lfirst(lc);
		bool		known = false;

		/* SplitIdentifierString folds case; the API's values are case sensitive */
		for (int i = 0; i < (int) lengthof(drs_db_use_types); i++)
			if (pg_strcasecmp(item, drs_db_use_types[i]) == 0)
			{
				item = (char *) drs_db_use_types[i];
				known = true;
			}
		if (!known)
		{
			*why = "Each element must be one of migration, sync, cloudDataGuard.";
			return -1;
		}
		for (int i = 0; i < n; i++)
			if (strcmp(out[i], item) == 0)
			{
				*why = "An element is listed twice.";
				return -1;
			}
		out[n++] = pstrdup(item);
	}
	return n;
}

static void
validate_value(const DrsOptionDef *opt, const char *value)
{
	const char *why = NULL;

	switch (opt->kind)
	{
		case OPT_URL:
			if (!check_url(value, &why))
			{
				/* a URL with user information may hold a password: not echoed */
				if (strchr(value, '@'))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid value for option \"%s\"", opt->name),
							 errdetail("%s", why)));
				invalid_value(opt, value, why);
			}
			break;
		case OPT_IDENT:
			if (*value == '\0' || strspn(value, "abcdefghijklmnopqrstuvwxyz"
										 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(value))
				invalid_value(opt, value, "Only letters, digits, \"_\" and \"-\" are allowed.");
			break;
		case OPT_INT:
			{
				char	   *end;
				long		v;

				errno = 0;
				v = strtol(value, &end, 10);
				if (end == value || *end != '\0' || errno != 0 || v < opt->min || v > opt->max)
					invalid_value(opt, value,
								  psprintf("%s must be an integer between %d and %d.",
										   opt->name, opt->min, opt->max));
				break;
			}
		case OPT_BOOL:
			{
				bool		b;

				if (!parse_bool(value, &b))
					invalid_value(opt, value, psprintf("%s must be a Boolean value.", opt->name));
				break;
			}
		case OPT_TEXT:
		case OPT_SECRET:
			if (*value == '\0')
				invalid_value(opt, value, "The value must not be empty.");
			if (has_control_chars(value))
				invalid_value(opt, value, "The value must not contain control characters.");
			break;
		case OPT_FILE:
			if (!is_absolute_path(value))
				invalid_value(opt, value, "The file must be given as an absolute path.");
			break;
		case OPT_DB_USE_TYPES:
			{
				char	   *types[DRS_MAX_DB_USE_TYPES * 4];

				if (parse_db_use_types(value, types, &why) < 0)
					invalid_value(opt, value, why);
				break;
			}
		case OPT_LANGUAGE:
			if (strcmp(value, "en-us") != 0 && strcmp(value, "zh-cn") != 0)
				invalid_value(opt, value, "language must be en-us or zh-cn.");
			break;
		case OPT_RESOURCE:
			if (drs_resource_lookup(value) == NULL)
				invalid_value(opt, value,
							  psprintf("resource must be one of: %s.", drs_resource_names()));
			break;
		case OPT_JSON_PATH:
			{
				char	   *reason;

				if (!drs_json_path_is_valid(value, &reason))
					invalid_value(opt, value, reason);
				break;
			}
	}
}

/* Cross-option rules of a user mapping: exactly one kind of credential. */
static void
validate_user_mapping(List *options)
{
	bool		has[4] = {false, false, false, false};
	const char *names[4] = {"token", "user", "password", "domain"};
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		for (int i = 0; i < 4; i++)
			if (strcmp(def->defname, names[i]) == 0)
				has[i] = true;
	}
	if (has[0] && (has[1] || has[2] || has[3]))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("a drs_fdw user mapping takes either \"token\" or \"user\", \"password\" and \"domain\", not both"),
				 errdetail("Exactly one kind of credential is allowed per user mapping.")));
	if (!has[0] && !has[1] && !has[2] && !has[3])
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a drs_fdw user mapping needs credentials"),
				 errhint("Set either option \"token\", or options \"user\", \"password\" and \"domain\".")));
	if (!has[0])
		for (int i = 1; i < 4; i++)
			if (!has[i])
				ereport(ERROR,
						(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
						 errmsg("option \"%s\" is required for IAM password authentication",
								names[i]),
						 errhint("IAM password authentication needs options \"user\", \"password\" and \"domain\".")));
}

static void
validate_server(List *options)
{
	bool		has_endpoint = false;
	bool		has_project = false;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		has_endpoint |= strcmp(def->defname, "endpoint") == 0;
		has_project |= strcmp(def->defname, "project_id") == 0;
	}
	if (!has_endpoint || !has_project)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option \"%s\" is required for a drs_fdw server",
						has_endpoint ? "project_id" : "endpoint")));
}

/*
 * Validate the options of a CREATE/ALTER of a wrapper, server, user mapping,
 * foreign table or column.  PostgreSQL passes the complete resulting option
 * list, so rules that span several options can be checked here.
 */
Datum
drs_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const DrsOptionDef *opt = find_option(def->defname, catalog);

		if (opt == NULL)
		{
			char	   *valid = valid_option_names(catalog);

			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\"", def->defname),
					 valid[0] ? errhint("Valid options in this context are: %s.", valid)
					 : errhint("There are no valid options in this context.")));
		}
		if (opt->superuser_only && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set option \"%s\"", opt->name),
					 errdetail("Only superusers may set option \"%s\", because it names a file on the database server.",
							   opt->name)));
		validate_value(opt, defGetString(def));
	}

	if (catalog == UserMappingRelationId)
		validate_user_mapping(options);
	else if (catalog == ForeignServerRelationId)
		validate_server(options);

	PG_RETURN_VOID();
}

/* Strip trailing slashes so paths can be appended with one "/". */
static char *
base_url(const char *url)
{
	char	   *copy = pstrdup(url);
	size_t		len = strlen(copy);

	while (len > 0 && copy[len - 1] == '/')
		copy[--len] = '\0';
	return copy;
}

void
drs_server_options(ForeignServer *server, DrsServerOptions *opts)
{
	ListCell   *lc;
	const char *why;

	memset(opts, 0, sizeof(*opts));
	opts->batch_size = 100;
	opts->page_size = 100;
	opts->max_concurrency = 4;
	opts->connect_timeout_ms = 5000;
	opts->timeout_ms = 30000;
	opts->max_retries = 3;
	opts->ssl_verify = true;
	opts->language = "en-us";
	opts->n_db_use_types = parse_db_use_types("migration,sync,cloudDataGuard",
											  opts->db_use_types, &why);

	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const char *name = def->defname;
		char	   *value = defGetString(def);

		if (strcmp(name, "endpoint") == 0)
			opts->endpoint = base_url(value);
		else if (strcmp(name, "project_id") == 0)
			opts->project_id = pstrdup(value);
		else if (strcmp(name, "iam_endpoint") == 0)
			opts->iam_endpoint = base_url(value);
		else if (strcmp(name, "batch_size") == 0)
			opts->batch_size = atoi(value);
		else if (strcmp(name, "page_size") == 0)
			opts->page_size = atoi(value);
		else if (strcmp(name, "max_concurrency") == 0)
			opts->max_concurrency = atoi(value);
		else if (strcmp(name, "connect_timeout_ms") == 0)
			opts->connect_timeout_ms = atoi(value);
		else if (strcmp(name, "timeout_ms") == 0)
			opts->timeout_ms = atoi(value);
		else if (strcmp(name, "max_retries") == 0)
			opts->max_retries = atoi(value);
		else if (strcmp(name, "ssl_verify") == 0)
			opts->ssl_verify = defGetBoolean(def);
		else if (strcmp(name, "ca_file") == 0)
			opts->ca_file = pstrdup(value);
		else if (strcmp(name, "db_use_types") == 0)
			opts->n_db_use_types = parse_db_use_types(value, opts->db_use_types, &why);
		else if (strcmp(name, "language") == 0)
			opts->language = pstrdup(value);
	}

	/* the validator requires both; a catalog edited by hand might not */
	if (opts->endpoint == NULL || opts->project_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" lacks option \"%s\"", server->servername,
						opts->endpoint == NULL ? "endpoint" : "project_id")));
}

void
drs_conn_info(Oid serverid, Oid userid, DrsConnInfo *info)
{
	ForeignServer *server = GetForeignServer(serverid);
	UserMapping *um = GetUserMapping(userid, serverid);
	ListCell   *lc;

	memset(info, 0, sizeof(*info));
	info->serverid = serverid;
	info->umid = um->umid;
	info->servername = pstrdup(server->servername);
	drs_server_options(server, &info->server);

	foreach(lc, um->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		char	   *value = defGetString(def);

		if (strcmp(def->defname, "token") == 0)
			info->user.token = pstrdup(value);
		else if (strcmp(def->defname, "user") == 0)
			info->user.user = pstrdup(value);
		else if (strcmp(def->defname, "password") == 0)
			info->user.password = pstrdup(value);
		else if (strcmp(def->defname, "domain") == 0)
			info->user.domain = pstrdup(value);
	}

	if (info->user.token == NULL &&
		(info->user.user == NULL || info->user.password == NULL || info->user.domain == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("user mapping for server \"%s\" has no usable credentials",
						server->servername),
				 errhint("Set either option \"token\", or options \"user\", \"password\" and \"domain\".")));
	if (info->user.token == NULL && info->server.iam_endpoint == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" needs option \"iam_endpoint\" for IAM password authentication",
						server->servername)));
}

/* A table option's value, or NULL. */
char *
drs_table_option(Oid relid, const char *name)
{
	ForeignTable *table = GetForeignTable(relid);
	ListCell   *lc;

	foreach(lc, table->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/* The json_path of a column: its option, or the column's own name. */
char *
drs_column_json_path(Oid relid, AttrNumber attnum, const char *attname)
{
	List	   *options = GetForeignColumnOptions(relid, attnum);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "json_path") == 0)
			return defGetString(def);
	}
	return pstrdup(attname);
}
