/*
 * resource.c — the DRS resources a drs_fdw table can show, and IMPORT
 * FOREIGN SCHEMA, which creates their reference tables.
 *
 * A resource names its batch endpoint, the key of the job id in a result,
 * which columns the job-list filters and entries correspond to, and its
 * reference columns (the fields of the API's response object).
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"


/* QueryJobResp of POST /v3/{project_id}/jobs/batch-detail (SPEC.md §3). */
static const DrsColumnDef job_columns[] = {
	{"id", "text"},
	{"parent_id", "text"},
	{"name", "text"},
	{"status", "text"},
	{"description", "text"},
	{"create_time", "timestamptz"},
	{"task_type", "text"},
	{"source_endpoint", "jsonb"},
	{"dmq_endpoint", "jsonb"},
	{"source_sharding", "jsonb"},
	{"target_endpoint", "jsonb"},
	{"net_type", "text"},
	{"failed_reason", "text"},
	{"inst_info", "jsonb"},
	{"actual_start_time", "timestamptz"},
	{"full_transfer_complete_time", "timestamptz"},
	{"update_time", "timestamptz"},
	{"job_direction", "text"},
	{"db_use_type", "text"},
	{"need_restart", "boolean"},
	{"is_target_readonly", "boolean"},
	{"conflict_policy", "text"},
	{"filter_ddl_policy", "text"},
	{"speed_limit", "jsonb"},
	{"schema_type", "text"},
	{"node_num", "text"},
	{"object_switch", "boolean"},
	{"master_job_id", "text"},
	{"full_mode", "text"},
	{"struct_trans", "boolean"},
	{"index_trans", "boolean"},
	{"replace_definer", "boolean"},
	{"migrate_user", "boolean"},
	{"sync_database", "boolean"},
	{"error_code", "text"},
	{"error_message", "text"},
	{"target_root_db", "jsonb"},
	{"az_code", "text"},
	{"vpc_id", "text"},
	{"subnet_id", "text"},
	{"security_group_id", "text"},
	{"multi_write", "boolean"},
	{"support_ip_v6", "boolean"},
	{"inherit_id", "text"},
	{"gtid", "text"},
	{"alarm_notify", "jsonb"},
	{"is_multi_az", "boolean"},
	{"az_name", "text"},
	{"master_az", "text"},
	{"slave_az", "text"},
	{"node_role", "text"},
	{"incre_start_position", "text"},
};

/* Results of POST /v3/{project_id}/jobs/batch-status (SPEC.md §5). */
static const DrsColumnDef job_status_columns[] = {
	{"id", "text"},
	{"status", "text"},
	{"error_code", "text"},
	{"error_message", "text"},
};

/* QueryProgressResp of POST /v3/{project_id}/jobs/batch-progress (SPEC.md §6). */
static const DrsColumnDef job_progress_columns[] = {
	{"job_id", "text"},
	{"progress", "numeric"},
	{"incre_trans_delay", "bigint"},
	{"task_mode", "text"},
	{"transfer_status", "text"},
	{"process_time", "timestamptz"},
	{"remaining_time", "bigint"},
	{"progress_map", "jsonb"},
	{"error_code", "text"},
	{"error_msg", "text"},
};

/*
 * Fields of a job-list entry (JobInfo) that mean the same as in a batch
 * result.  Not create_time (a zone-less wall-clock string in the list),
 * engine_type (inst_info.engine_type in details) or net_type (documented
 * in details but often absent there).
 */
static const char *const job_list_paths[] = {
	"id", "name", "status", "description", "db_use_type", "task_type",
	"job_direction", NULL
};
static const char *const job_status_list_paths[] = {"id", "status", NULL};

static const DrsResource drs_resources[] = {
	{
		.name = "jobs",
		.table_name = "drs_jobs",
		.batch_path = "jobs/batch-detail",
		.key_path = "id",
		.error_text_key = "error_message",
		.row_marker = "status",
		.paged = true,
		.status_path = "status",
		.db_use_type_path = "db_use_type",
		.list_paths = job_list_paths,
		.columns = job_columns,
		.ncolumns = lengthof(job_columns),
	},
	{
		.name = "job_status",
		.table_name = "drs_job_status",
		.batch_path = "jobs/batch-status",
		.key_path = "id",
		.error_text_key = "error_message",
		.row_marker = "status",
		.paged = true,
		.status_path = "status",
		.db_use_type_path = NULL,
		.list_paths = job_status_list_paths,
		.columns = job_status_columns,
		.ncolumns = lengthof(job_status_columns),
	},
	{
		.name = "job_progress",
		.table_name = "drs_job_progress",
		.batch_path = "jobs/batch-progress",
		.key_path = "job_id",
		.error_text_key = "error_msg",
		.row_marker = "transfer_status",
		.paged = false,
		.status_path = NULL,
		.db_use_type_path = NULL,
		.list_paths = NULL,
		.columns = job_progress_columns,
		.ncolumns = lengthof(job_progress_columns),
	},
};

const DrsResource *
drs_resource_lookup(const char *name)
{
	for (int i = 0; i < (int) lengthof(drs_resources); i++)
		if (strcmp(drs_resources[i].name, name) == 0)
			return &drs_resources[i];
	return NULL;
}

/* The resource of a foreign table (option "resource", default "jobs"). */
const DrsResource *
drs_resource_for_table(Oid relid)
{
	char	   *name = drs_table_option(relid, "resource");
	const DrsResource *res = drs_resource_lookup(name ? name : "jobs");

	if (res == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("foreign table has unknown resource \"%s\"", name),
				 errhint("Valid resources are: %s.", drs_resource_names())));
	return res;
}

char *
drs_resource_names(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) lengthof(drs_resources); i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", drs_resources[i].name);
	return buf.data;
}

/* Is a table named in the LIMIT TO / EXCEPT list of the statement? */
static bool
table_listed(ImportForeignSchemaStmt *stmt, const char *name)
{
	ListCell   *lc;

	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);

		if (strcmp(rv->relname, name) == 0)
			return true;
	}
	return false;
}

/*
 * IMPORT FOREIGN SCHEMA drs FROM SERVER s INTO local_schema: one table per
 * resource, with the reference columns under their API names.
 */
List *
drs_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;

	if (strcmp(stmt->remote_schema, "drs") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("schema \"%s\" is not present on foreign server \"%s\"",
						stmt->remote_schema, server->servername),
				 errhint("drs_fdw offers one remote schema, \"drs\".")));

	for (int i = 0; i < (int) lengthof(drs_resources); i++)
	{
		const DrsResource *res = &drs_resources[i];
		StringInfoData buf;

		if (stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO &&
			!table_listed(stmt, res->table_name))
			continue;
		if (stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT &&
			table_listed(stmt, res->table_name))
			continue;

		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n",
						 quote_identifier(res->table_name));
		for (int c = 0; c < res->ncolumns; c++)
			appendStringInfo(&buf, "  %s %s%s\n",
							 quote_identifier(res->columns[c].name),
							 res->columns[c].type,
							 c + 1 < res->ncolumns ? "," : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (resource %s)",
						 quote_identifier(server->servername),
						 quote_literal_cstr(res->name));
		commands = lappend(commands, buf.data);
	}
	return commands;
}
