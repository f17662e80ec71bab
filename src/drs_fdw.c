/*
 * drs_fdw.c — the foreign data wrapper callbacks: planning (sizes, paths,
 * costs, LIMIT/OFFSET pushdown), execution (begin, iterate, rescan, end),
 * EXPLAIN, and the SQL-callable helpers.  It talks to DRS only through the
 * scan driver (fetch.c); it never touches a curl handle or a JSON parser.
 */
#include "postgres.h"

#include <math.h>

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"


PG_MODULE_MAGIC;

/*
 * Cost model, in units of seq_page_cost.  A round trip to the API costs far
 * more than reading a page; parsing a job's JSON costs more than a tuple.
 */
#define DRS_REQUEST_COST	100.0
#define DRS_PARSE_ROW_COST	0.05
#define DRS_ROW_COST		(10 * cpu_tuple_cost)

/* Ids longer than this are no DRS job id: they match nothing. */
#define DRS_MAX_ID_LEN		255
/* EXPLAIN lists at most this many constant ids, else their number. */
#define DRS_EXPLAIN_MAX_IDS	10

/* Items of the private list of the final (LIMIT) path. */
enum DrsPathPrivateIndex
{
	DrsPathPrivWindow			/* Integer: LIMIT/OFFSET pushed down */
};

/* Execution state of one foreign scan. */
typedef struct DrsScanState
{
	const DrsResource *resource;
	MemoryContext scan_cxt;		/* holds everything below; deleted at end */
	MemoryContext spec_cxt;		/* the values of one execution */
	DrsApi	   *api;
	DrsFetcher *fetcher;
	DrsTupleMaker *maker;
	List	   *exprs;			/* ExprStates of fdw_exprs */
	List	   *keys;
	List	   *kinds;
	List	   *groups;
	int			flags;
	bool		started;
	DrsFetchSpec spec;			/* of the current execution */
	int64		rows;
} DrsScanState;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(drs_fdw_handler);
PG_FUNCTION_INFO_V1(drs_fdw_stats);
PG_FUNCTION_INFO_V1(drs_fdw_reset_stats);
PG_FUNCTION_INFO_V1(drs_fdw_version);

void
_PG_init(void)
{
	DefineCustomIntVariable("drs_fdw.max_response_size",
							"Largest DRS API response body drs_fdw accepts.",
							"A larger response ends the query with an error.",
							&drs_max_response_kb,
							64 * 1024,
							8,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("drs_fdw");
}

/* ---------- planning ---------- */

static double
ceil_div(double a, double b)
{
	return ceil(a / Max(b, 1));
}

/* Number of job-list calls a full scan needs for the given rows. */
static double
list_requests(DrsRelInfo *info, double rows)
{
	double		lists = info->server.n_db_use_types;

	return Max(lists, lists - 1 + ceil_div(rows, info->server.page_size));
}

/*
 * Costs of reading 'rows' jobs with 'requests' calls, of which 'serial'
 * must happen one after another before the first row.
 */
static void
estimate_costs(DrsRelInfo *info, double rows, double requests, int serial,
			   double first_batch_rows, Cost *startup, Cost *total)
{
	double		concurrency = Max(info->server.max_concurrency, 1);

	*startup = serial * DRS_REQUEST_COST + first_batch_rows * DRS_PARSE_ROW_COST;
	*total = *startup +
		Max(requests - serial, 0) / concurrency * DRS_REQUEST_COST +
		rows * (DRS_PARSE_ROW_COST + DRS_ROW_COST);
}

static void
drsGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	DrsRelInfo *info = drs_rel_info_create(root, baserel, foreigntableid);
	List	   *local = extract_actual_clauses(info->local_conds, false);
	double		rows = info->id_count >= 0 ? info->id_count : info->table_rows;
	Selectivity sel = clauselist_selectivity(root, local, baserel->relid, JOIN_INNER, NULL);

	baserel->fdw_private = info;
	baserel->rows = clamp_row_est(rows * sel);
}

/* Cost of one plain scan of the relation. */
static void
plain_scan_costs(DrsRelInfo *info, Cost *startup, Cost *total, double *fetched)
{
	double		rows;
	double		requests;

	if (info->id_count >= 0)
	{
		rows = info->id_count;
		requests = ceil_div(rows, info->server.batch_size);
		estimate_costs(info, rows, requests, rows > 0 ? 1 : 0,
					   Min(rows, info->server.batch_size), startup, total);
	}
	else
	{
		rows = info->table_rows;
		requests = list_requests(info, rows) + ceil_div(rows, info->server.batch_size);
		/* a list page, then a batch call, before the first row */
		estimate_costs(info, rows, requests, 2,
					   Min(rows, info->server.batch_size), startup, total);
	}
	*fetched = rows;
}

/* For generate_implied_equalities_for_column: is this member our id column? */
static bool
ec_member_is_id(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				EquivalenceMember *em, void *arg)
{
	Expr	   *e = em->em_expr;
	AttrNumber	id_attno = *(AttrNumber *) arg;

	while (e && IsA(e, RelabelType))
		e = ((RelabelType *) e)->arg;
	return e && IsA(e, Var) && (Index) ((Var *) e)->varno == rel->relid &&
		((Var *) e)->varattno == id_attno && ((Var *) e)->varlevelsup == 0;
}

/* A parameterized path that fetches the ids a join clause supplies. */
static void
add_id_param_path(PlannerInfo *root, RelOptInfo *baserel, DrsRelInfo *info,
				  RestrictInfo *rinfo, List **seen_outer)
{
	Relids		required_outer;
	ParamPathInfo *ppi;
	DrsCond		cond;
	Cost		startup,
				total;
	double		ids;
	ListCell   *lc;

	if (!join_clause_is_movable_to(rinfo, baserel))
		return;
	if (!drs_match_condition(root, baserel, info, rinfo->clause, &cond) ||
		cond.key != DRS_KEY_ID)
		return;
	required_outer = bms_union(bms_difference(rinfo->clause_relids, baserel->relids),
							   baserel->lateral_relids);
	if (bms_is_empty(required_outer))
		return;
	foreach(lc, *seen_outer)
		if (bms_equal(required_outer, (Relids) lfirst(lc)))
			return;
	*seen_outer = lappend(*seen_outer, required_outer);

	ppi = get_baserel_parampathinfo(root, baserel, required_outer);
	/* one batch call per outer row: the ids of one execution */
	ids = linitial_int(cond.kinds) == DRS_EXPR_SCALAR ? 1 : 10;
	estimate_costs(info, ppi->ppi_rows, ceil_div(ids, info->server.batch_size), 1,
				   Min(ids, info->server.batch_size), &startup, &total);
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, ppi->ppi_rows,
									 startup, total, NIL, required_outer,
									 NULL, NIL));
}

static void
drsGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	DrsRelInfo *info = (DrsRelInfo *) baserel->fdw_private;
	Cost		startup,
				total;
	double		fetched;
	List	   *seen_outer = NIL;
	ListCell   *lc;

	plain_scan_costs(info, &startup, &total, &fetched);
	total += baserel->baserestrictcost.per_tuple * fetched;
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
									 startup, total, NIL, baserel->lateral_relids,
									 NULL, NIL));

	/* joins on the id column: fetch by id per outer row instead of listing */
	if (info->key_attnos[DRS_KEY_ID] == 0 || info->id_count >= 0)
		return;
	if (baserel->has_eclass_joins)
	{
		List	   *clauses = generate_implied_equalities_for_column(
																	 root, baserel, ec_member_is_id,
																	 &info->key_attnos[DRS_KEY_ID],
																	 baserel->lateral_referencers);

		foreach(lc, clauses)
			add_id_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc), &seen_outer);
	}
	foreach(lc, baserel->joininfo)
		add_id_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc), &seen_outer);
}

/*
 * LIMIT/OFFSET become pagination when the query reads one drs_fdw table, no
 * condition is left for PostgreSQL, and there is no ORDER BY, grouping,
 * aggregate, window, DISTINCT or SRF: then no Limit node stays on top, and
 * the scan returns exactly the window.
 */
static bool
is_pushable_count(PlannerInfo *root, Node *expr)
{
	if (expr == NULL)
		return true;
	return !contain_var_clause(expr) && !contain_volatile_functions(expr) &&
		!contain_subplans(expr) && exprType(expr) == INT8OID;
}

static void
drsGetForeignUpperPaths(PlannerInfo *root, UpperRelationKind stage,
						RelOptInfo *input_rel, RelOptInfo *output_rel, void *extra)
{
	FinalPathExtraData *fextra = (FinalPathExtraData *) extra;
	Query	   *parse = root->parse;
	DrsRelInfo *info = (DrsRelInfo *) input_rel->fdw_private;
	double		offset_est,
				count_est,
				rows,
				need,
				requests;
	Cost		startup,
				total;

	if (stage != UPPERREL_FINAL || input_rel->reloptkind != RELOPT_BASEREL || info == NULL)
		return;
	if (parse->commandType != CMD_SELECT || parse->rowMarks || !fextra->limit_needed ||
		parse->hasTargetSRFs || parse->sortClause || parse->groupClause ||
		parse->groupingSets || parse->hasAggs || parse->hasWindowFuncs ||
		parse->distinctClause || parse->havingQual ||
		parse->limitOption == LIMIT_OPTION_WITH_TIES)
		return;
	if (info->local_conds != NIL)
		return;
	if (!is_pushable_count(root, parse->limitCount) ||
		!is_pushable_count(root, parse->limitOffset))
		return;
	/* a batch call without page_req cannot page an id list */
	if (info->id_count >= 0 && !info->resource->paged)
		return;

	offset_est = fextra->offset_est > 0 ? fextra->offset_est : 0;
	count_est = fextra->count_est > 0 ? fextra->count_est : input_rel->rows;
	rows = Max(0, Min(count_est, input_rel->rows - offset_est));
	if (info->id_count >= 0)
	{
		/* the rows before the window decide it: positions 1 .. offset+count */
		need = Min(info->id_count, offset_est + count_est);
		requests = ceil_div(need, info->server.batch_size);
		estimate_costs(info, need, requests, requests > 0 ? 1 : 0,
					   Min(need, info->server.batch_size), &startup, &total);
	}
	else
	{
		need = count_est;
		requests = ceil_div(need, info->server.page_size) +
			ceil_div(need, info->server.batch_size);
		estimate_costs(info, need, requests, 2, Min(need, info->server.batch_size),
					   &startup, &total);
	}
	total = Max(total, startup);

	add_path(output_rel, (Path *)
			 create_foreign_upper_path(root, input_rel,
									   root->upper_targets[UPPERREL_FINAL],
									   rows, startup, total, NIL, NULL,
									   list_make1(makeInteger(1))));
}

/* ---------- EXPLAIN text, built at plan time ---------- */

static void
append_value_text(StringInfo buf, PlannerInfo *root, Expr *e, int *nconst)
{
	while (e && IsA(e, RelabelType))
		e = ((RelabelType *) e)->arg;

	if (IsA(e, Const))
	{
		Const	   *c = (Const *) e;

		if (c->constisnull)
			appendStringInfoString(buf, "NULL");
		else if (c->consttype == TEXTARRAYOID)
		{
			ArrayType  *arr = DatumGetArrayTypeP(c->constvalue);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
			{
				if (i > 0)
					appendStringInfoString(buf, ", ");
				if (nulls[i])
					appendStringInfoString(buf, "NULL");
				else
					appendStringInfoString(buf, quote_literal_cstr(TextDatumGetCString(elems[i])));
			}
			*nconst += n;
		}
		else
		{
			appendStringInfoString(buf, quote_literal_cstr(TextDatumGetCString(c->constvalue)));
			(*nconst)++;
		}
	}
	else if (IsA(e, ArrayExpr))
	{
		ListCell   *lc;
		bool		first = true;

		foreach(lc, ((ArrayExpr *) e)->elements)
		{
			if (!first)
				appendStringInfoString(buf, ", ");
			append_value_text(buf, root, lfirst(lc), nconst);
			first = false;
		}
	}
	else if (IsA(e, Param))
	{
		Param	   *p = (Param *) e;

		appendStringInfo(buf, "$%d", p->paramid);
	}
	else if (IsA(e, Var))
	{
		Var		   *v = (Var *) e;
		RangeTblEntry *rte = planner_rt_fetch(v->varno, root);
		char	   *colname = get_rte_attribute_name(rte, v->varattno);

		appendStringInfo(buf, "%s.%s", quote_identifier(rte->eref->aliasname),
						 quote_identifier(colname));
	}
	else
		appendStringInfoString(buf, "(expression)");
}

/* "'a', 'b'" or "250 values" for one condition's values. */
static char *
values_text(PlannerInfo *root, DrsCond *cond)
{
	StringInfoData buf;
	int			nconst = 0;
	bool		all_const = true;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cond->values)
	{
		Expr	   *e = lfirst(lc);

		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		append_value_text(&buf, root, e, &nconst);
		all_const &= IsA(e, Const) || IsA(e, ArrayExpr);
	}
	if (all_const && nconst > DRS_EXPLAIN_MAX_IDS)
	{
		resetStringInfo(&buf);
		appendStringInfo(&buf, "%d values", nconst);
	}
	return buf.data;
}

static char *
count_text(PlannerInfo *root, Node *expr)
{
	if (expr == NULL)
		return pstrdup("");
	if (IsA(expr, Const))
		return ((Const *) expr)->constisnull ? pstrdup("ALL")
			: psprintf(INT64_FORMAT, DatumGetInt64(((Const *) expr)->constvalue));
	if (IsA(expr, Param))
		return psprintf("$%d", ((Param *) expr)->paramid);
	return pstrdup("(expression)");
}

/* ---------- plan ---------- */

static ForeignScan *
drsGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				  ForeignPath *best_path, List *tlist, List *scan_clauses,
				  Plan *outer_plan)
{
	DrsRelInfo *info = (DrsRelInfo *) baserel->fdw_private;
	bool		windowed = best_path->fdw_private != NIL &&
		intVal(list_nth(best_path->fdw_private, DrsPathPrivWindow)) != 0;
	List	   *fdw_exprs = NIL;
	List	   *keys = NIL,
			   *kinds = NIL,
			   *groups = NIL;
	List	   *local_exprs = NIL;
	List	   *recheck = NIL;
	List	   *retrieved = NIL;
	List	   *explain;
	List	   *fdw_private;
	StringInfoData ids_text,
				status_text,
				type_text;
	Bitmapset  *attrs = NULL;
	bool		has_ids = false;
	int			flags = 0;
	int			group = 0;
	Relation	rel;
	ListCell   *lc;

	initStringInfo(&ids_text);
	initStringInfo(&status_text);
	initStringInfo(&type_text);

	foreach(lc, scan_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		DrsCond		cond;
		ListCell   *lv,
				   *lk;
		StringInfo	text;

		if (rinfo->pseudoconstant)
			continue;
		if (!drs_match_condition(root, baserel, info, rinfo->clause, &cond))
		{
			local_exprs = lappend(local_exprs, rinfo->clause);
			continue;
		}
		forboth(lv, cond.values, lk, cond.kinds)
		{
			fdw_exprs = lappend(fdw_exprs, lfirst(lv));
			keys = lappend_int(keys, cond.key);
			kinds = lappend_int(kinds, lfirst_int(lk));
			groups = lappend_int(groups, group);
		}
		group++;
		if (cond.exact)
			recheck = lappend(recheck, rinfo->clause);
		else
			local_exprs = lappend(local_exprs, rinfo->clause);

		/* EXPLAIN: "'a', 'b'"; several conditions on a key are ANDed */
		text = cond.key == DRS_KEY_ID ? &ids_text
			: cond.key == DRS_KEY_STATUS ? &status_text : &type_text;
		if (text->len > 0)
			appendStringInfoString(text, " AND ");
		if (cond.key != DRS_KEY_ID)
			appendStringInfo(text, "IN (%s)", values_text(root, &cond));
		else
			appendStringInfoString(text, values_text(root, &cond));
		has_ids |= cond.key == DRS_KEY_ID;
	}

	/* id lists implied through joins: exact, and the join clause stays */
	foreach(lc, info->derived_conds)
	{
		DrsCond    *cond = (DrsCond *) lfirst(lc);

		fdw_exprs = lappend(fdw_exprs, linitial(cond->values));
		keys = lappend_int(keys, DRS_KEY_ID);
		kinds = lappend_int(kinds, DRS_EXPR_ARRAY);
		groups = lappend_int(groups, group++);
		if (ids_text.len > 0)
			appendStringInfoString(&ids_text, " AND ");
		appendStringInfo(&ids_text, "%s (from a join)", values_text(root, cond));
		has_ids = true;
	}

	if (windowed)
	{
		if (root->parse->limitCount)
		{
			fdw_exprs = lappend(fdw_exprs, root->parse->limitCount);
			keys = lappend_int(keys, -1);
			kinds = lappend_int(kinds, DRS_EXPR_LIMIT);
			groups = lappend_int(groups, -1);
		}
		if (root->parse->limitOffset)
		{
			fdw_exprs = lappend(fdw_exprs, root->parse->limitOffset);
			keys = lappend_int(keys, -1);
			kinds = lappend_int(kinds, DRS_EXPR_OFFSET);
			groups = lappend_int(groups, -1);
		}
		flags |= DRS_PLAN_WINDOW;
	}
	if (best_path->path.param_info != NULL)
		flags |= DRS_PLAN_PARAMETERIZED;

	/* the columns to convert: what the target list and local conditions read */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	pull_varattnos((Node *) local_exprs, baserel->relid, &attrs);
	rel = table_open(foreigntableid, NoLock);
	if (bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs))
	{
		for (int i = 1; i <= RelationGetDescr(rel)->natts; i++)
			retrieved = lappend_int(retrieved, i);
	}
	else
	{
		int			x = -1;

		while ((x = bms_next_member(attrs, x)) >= 0)
		{
			AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;

			if (attnum > 0)
				retrieved = lappend_int(retrieved, attnum);
		}
	}
	if (!has_ids && drs_attrs_list_only(info, rel, attrs))
		flags |= DRS_PLAN_LIST_ONLY;
	table_close(rel, NoLock);

	/* what EXPLAIN VERBOSE shows */
	if (!has_ids && type_text.len == 0)
	{
		appendStringInfoString(&type_text, "IN (");
		for (int i = 0; i < info->server.n_db_use_types; i++)
			appendStringInfo(&type_text, "%s%s", i ? ", " : "",
							 quote_literal_cstr(info->server.db_use_types[i]));
		appendStringInfoChar(&type_text, ')');
	}
	explain = list_make3(makeString(ids_text.data), makeString(type_text.data),
						 makeString(status_text.data));
	explain = lappend(explain, makeString(count_text(root, windowed ? root->parse->limitOffset : NULL)));
	explain = lappend(explain, makeString(count_text(root, windowed ? root->parse->limitCount : NULL)));

	fdw_private = list_make5(makeString((char *) info->resource->name),
							 keys, kinds, groups, retrieved);
	fdw_private = lappend(fdw_private, list_make1_int(flags));
	fdw_private = lappend(fdw_private, explain);

	return make_foreignscan(tlist, local_exprs, baserel->relid, fdw_exprs,
							fdw_private, NIL, recheck, outer_plan);
}

/* ---------- execution ---------- */

static void
drsBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	DrsScanState *st;
	MemoryContext old;
	DrsConnInfo conn;
	Oid			userid;

	st = palloc0(sizeof(DrsScanState));
	node->fdw_state = st;
	st->resource = drs_resource_lookup(strVal(list_nth(fsplan->fdw_private, DrsPrivResource)));
	st->keys = list_nth(fsplan->fdw_private, DrsPrivExprKeys);
	st->kinds = list_nth(fsplan->fdw_private, DrsPrivExprKinds);
	st->groups = list_nth(fsplan->fdw_private, DrsPrivExprGroups);
	st->flags = linitial_int((List *) list_nth(fsplan->fdw_private, DrsPrivFlags));
	if (st->resource == NULL)
		elog(ERROR, "unknown drs_fdw resource in plan");

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	/* the user whose mapping applies: the view owner's, or the current one */
#if PG_VERSION_NUM >= 160000
	userid = OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	{
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, estate);

		userid = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif

	st->scan_cxt = AllocSetContextCreate(estate->es_query_cxt, "drs_fdw scan",
										 ALLOCSET_DEFAULT_SIZES);
	st->spec_cxt = AllocSetContextCreate(st->scan_cxt, "drs_fdw scan values",
										 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(st->scan_cxt);
	drs_conn_info(GetForeignTable(RelationGetRelid(rel))->serverid, userid, &conn);
	st->api = drs_api_create(st->scan_cxt, &conn);
	st->fetcher = drs_fetcher_create(st->scan_cxt, st->api);
	st->maker = drs_tuple_maker_create(rel, list_nth(fsplan->fdw_private, DrsPrivRetrievedAttrs),
									   st->resource, conn.servername, conn.server.project_id);
	MemoryContextSwitchTo(old);

	st->exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);
}

/* Values of one key: a set built by union within a condition and
 * intersection across conditions, in first-seen order. */
typedef struct KeyValue
{
	char		value[DRS_MAX_ID_LEN + 1];
	int			last_group;
	int			hits;
	int			order;
} KeyValue;

typedef struct KeySet
{
	HTAB	   *hash;
	int			ngroups;		/* conditions on this key */
	int			last_group;
	int			next_order;
} KeySet;

static void
keyset_add(KeySet *ks, int group, const char *value, int len)
{
	char		key[DRS_MAX_ID_LEN + 1];
	KeyValue   *kv;
	bool		found;

	if (len > DRS_MAX_ID_LEN)
		return;					/* no job has such an id: matches nothing */
	memset(key, 0, sizeof(key));
	memcpy(key, value, len);
	if (ks->hash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(KeyValue);
		ctl.hcxt = CurrentMemoryContext;
		ks->hash = hash_create("drs_fdw values", 64, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	kv = hash_search(ks->hash, key, HASH_ENTER, &found);
	if (!found)
	{
		kv->last_group = -1;
		kv->hits = 0;
		kv->order = ks->next_order++;
	}
	if (kv->last_group != group)
	{
		kv->last_group = group;
		kv->hits++;
	}
}

static int
keyvalue_order_cmp(const void *a, const void *b)
{
	const KeyValue *x = *(KeyValue *const *) a;
	const KeyValue *y = *(KeyValue *const *) b;

	return x->order - y->order;
}

/* The values that every condition on the key allows, in first-seen order. */
static char **
keyset_result(KeySet *ks, int *n)
{
	HASH_SEQ_STATUS scan;
	KeyValue   *kv;
	KeyValue  **all;
	char	  **out;
	int			count = 0;

	*n = 0;
	if (ks->hash == NULL)
		return NULL;
	all = palloc(sizeof(KeyValue *) * hash_get_num_entries(ks->hash));
	hash_seq_init(&scan, ks->hash);
	while ((kv = hash_seq_search(&scan)) != NULL)
		if (kv->hits == ks->ngroups)
			all[count++] = kv;
	qsort(all, count, sizeof(KeyValue *), keyvalue_order_cmp);
	out = palloc(sizeof(char *) * Max(count, 1));
	for (int i = 0; i < count; i++)
		out[i] = pstrdup(all[i]->value);
	*n = count;
	return out;
}

static int64
count_value(Datum d, bool isnull, bool is_limit)
{
	int64		v;

	if (isnull)
		return is_limit ? -1 : 0;
	v = DatumGetInt64(d);
	if (v < 0)
		ereport(ERROR,
				is_limit ? (errcode(ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE),
							errmsg("LIMIT must not be negative"))
				: (errcode(ERRCODE_INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE),
				   errmsg("OFFSET must not be negative")));
	return v;
}

/*
 * Evaluate the pushed values (constants, parameters, init-plan results,
 * outer columns) and decide what this execution asks for.
 */
static void
build_fetch_spec(ForeignScanState *node, DrsScanState *st)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	DrsFetchSpec *spec = &st->spec;
	const DrsConnInfo *conn = drs_api_conn(st->api);
	KeySet		sets[DRS_NUM_KEYS];
	MemoryContext old;
	ListCell   *le,
			   *lk,
			   *lkind,
			   *lg;
	char	  **types = NULL;
	int			ntypes = 0;

	MemoryContextReset(st->spec_cxt);
	old = MemoryContextSwitchTo(st->spec_cxt);
	memset(spec, 0, sizeof(*spec));
	memset(sets, 0, sizeof(sets));
	spec->resource = st->resource;
	spec->limit = -1;
	spec->windowed = (st->flags & DRS_PLAN_WINDOW) != 0;
	spec->list_only = (st->flags & DRS_PLAN_LIST_ONLY) != 0;
	spec->cache_jobs = (st->flags & DRS_PLAN_PARAMETERIZED) != 0;

	for (int k = 0; k < DRS_NUM_KEYS; k++)
		sets[k].last_group = -1;
	forfour(le, st->exprs, lk, st->keys, lkind, st->kinds, lg, st->groups)
	{
		ExprState  *es = lfirst(le);
		int			key = lfirst_int(lk);
		int			kind = lfirst_int(lkind);
		int			group = lfirst_int(lg);
		bool		isnull;
		Datum		d = ExecEvalExpr(es, econtext, &isnull);

		if (kind == DRS_EXPR_LIMIT)
		{
			spec->limit = count_value(d, isnull, true);
			continue;
		}
		if (kind == DRS_EXPR_OFFSET)
		{
			spec->offset = count_value(d, isnull, false);
			continue;
		}
		if (sets[key].last_group != group)
		{
			sets[key].last_group = group;
			sets[key].ngroups++;
		}
		if (isnull)
			continue;			/* = NULL matches nothing */
		if (kind == DRS_EXPR_SCALAR)
		{
			text	   *t = DatumGetTextPP(d);

			keyset_add(&sets[key], group, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		}
		else
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
				if (!nulls[i])
				{
					text	   *t = DatumGetTextPP(elems[i]);

					keyset_add(&sets[key], group, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
		}
	}

	if (sets[DRS_KEY_ID].ngroups > 0)
	{
		spec->by_ids = true;
		spec->ids = keyset_result(&sets[DRS_KEY_ID], &spec->nids);
		/* a server showing only some scenarios shows only those by id too */
		if (conn->server.n_db_use_types < DRS_MAX_DB_USE_TYPES &&
			st->resource->db_use_type_path != NULL)
		{
			spec->restrict_types = true;
			for (int i = 0; i < conn->server.n_db_use_types; i++)
				spec->types[spec->ntypes++] = conn->server.db_use_types[i];
		}
	}
	else
	{
		/* the lists to read: configured db_use_types, narrowed by conditions */
		if (sets[DRS_KEY_DB_USE_TYPE].ngroups > 0)
			types = keyset_result(&sets[DRS_KEY_DB_USE_TYPE], &ntypes);
		for (int i = 0; i < conn->server.n_db_use_types; i++)
		{
			bool		wanted = sets[DRS_KEY_DB_USE_TYPE].ngroups == 0;

			for (int j = 0; !wanted && j < ntypes; j++)
				wanted = strcmp(types[j], conn->server.db_use_types[i]) == 0;
			if (wanted)
				spec->types[spec->ntypes++] = conn->server.db_use_types[i];
		}
		if (sets[DRS_KEY_STATUS].ngroups > 0)
		{
			spec->by_status = true;
			spec->statuses = keyset_result(&sets[DRS_KEY_STATUS], &spec->nstatuses);
			if (spec->nstatuses == 0)
				spec->ntypes = 0;	/* no status can match: nothing to list */
		}
	}
	MemoryContextSwitchTo(old);
}

static TupleTableSlot *
drsIterateForeignScan(ForeignScanState *node)
{
	DrsScanState *st = (DrsScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	json_object *job;

	if (!st->started)
	{
		build_fetch_spec(node, st);
		drs_fetcher_start(st->fetcher, &st->spec);
		st->started = true;
	}

	ExecClearTuple(slot);
	job = drs_fetcher_next(st->fetcher);
	if (job == NULL)
		return slot;

	/* IterateForeignScan runs in the per-tuple memory context */
	drs_tuple_fill(st->maker, job, slot->tts_values, slot->tts_isnull);
	ExecStoreVirtualTuple(slot);
	st->rows++;
	drs_backend_stats.rows_returned++;
	return slot;
}

static void
drsReScanForeignScan(ForeignScanState *node)
{
	DrsScanState *st = (DrsScanState *) node->fdw_state;

	/* values may have changed: evaluate them again on the next fetch */
	st->started = false;
}

static void
drsEndForeignScan(ForeignScanState *node)
{
	DrsScanState *st = (DrsScanState *) node->fdw_state;

	if (st == NULL || st->scan_cxt == NULL)
		return;
	/* reset callbacks release curl handles and JSON objects */
	MemoryContextDelete(st->scan_cxt);
	st->scan_cxt = NULL;
}

/* ---------- EXPLAIN ---------- */

static void
drsExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	DrsScanState *st = (DrsScanState *) node->fdw_state;
	List	   *explain = list_nth(fsplan->fdw_private, DrsPrivExplain);
	char	   *ids = strVal(list_nth(explain, 0));
	char	   *types = strVal(list_nth(explain, 1));
	char	   *statuses = strVal(list_nth(explain, 2));
	char	   *offset = strVal(list_nth(explain, 3));
	char	   *limit = strVal(list_nth(explain, 4));

	if (es->verbose)
	{
		ExplainPropertyText("DRS Resource", st->resource->name, es);
		if (ids[0])
			ExplainPropertyText("DRS Job Ids", ids, es);
		else
		{
			StringInfoData buf;

			initStringInfo(&buf);
			appendStringInfo(&buf, "db_use_type %s", types);
			if (statuses[0])
				appendStringInfo(&buf, ", status %s", statuses);
			ExplainPropertyText("DRS Job List", buf.data, es);
			if (st->flags & DRS_PLAN_LIST_ONLY)
				ExplainPropertyText("DRS Batch Calls", "none: the job list has every column", es);
		}
		if (st->flags & DRS_PLAN_WINDOW)
			ExplainPropertyText("DRS Page Window",
								psprintf("OFFSET %s LIMIT %s",
										 offset[0] ? offset : "0", limit[0] ? limit : "ALL"),
								es);
	}
	if (es->analyze && st->api != NULL)
	{
		DrsHttpCounters c;

		drs_api_counters(st->api, &c);
		ExplainPropertyInteger("DRS Requests", NULL, c.requests, es);
		ExplainPropertyInteger("DRS Retries", NULL, c.retries, es);
		ExplainPropertyInteger("DRS Bytes Received", "bytes", c.bytes_received, es);
	}
}

/* ---------- ANALYZE ---------- */

/*
 * Sample a full scan for ANALYZE, by reservoir: every job is fetched and
 * converted once (a full scan's calls), targrows of them are kept.  Its
 * row count then replaces the planner's default guess of the table's size.
 */
static int
drs_acquire_sample_rows(Relation relation, int elevel, HeapTuple *rows, int targrows,
						double *totalrows, double *totaldeadrows)
{
	TupleDesc	tupdesc = RelationGetDescr(relation);
	MemoryContext scan_cxt = AllocSetContextCreate(CurrentMemoryContext, "drs_fdw analyze",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext row_cxt = AllocSetContextCreate(scan_cxt, "drs_fdw analyze row",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext caller_cxt = CurrentMemoryContext;
	Datum	   *values = palloc(sizeof(Datum) * tupdesc->natts);
	bool	   *nulls = palloc(sizeof(bool) * tupdesc->natts);
	ReservoirStateData rstate;
	DrsConnInfo conn;
	DrsFetchSpec spec;
	DrsFetcher *fetcher;
	DrsTupleMaker *maker;
	List	   *attnums = NIL;
	json_object *job;
	double		seen = 0;
	double		skip = -1;
	int			numrows = 0;

	MemoryContextSwitchTo(scan_cxt);
	drs_conn_info(GetForeignTable(RelationGetRelid(relation))->serverid, GetUserId(), &conn);
	for (int i = 1; i <= tupdesc->natts; i++)
		attnums = lappend_int(attnums, i);
	memset(&spec, 0, sizeof(spec));
	spec.resource = drs_resource_for_table(RelationGetRelid(relation));
	spec.limit = -1;
	for (int i = 0; i < conn.server.n_db_use_types; i++)
		spec.types[spec.ntypes++] = conn.server.db_use_types[i];
	maker = drs_tuple_maker_create(relation, attnums, spec.resource, conn.servername,
								   conn.server.project_id);
	fetcher = drs_fetcher_create(scan_cxt, drs_api_create(scan_cxt, &conn));
	drs_fetcher_start(fetcher, &spec);
	reservoir_init_selection_state(&rstate, targrows);

	while ((job = drs_fetcher_next(fetcher)) != NULL)
	{
		int			slot = numrows;

		CHECK_FOR_INTERRUPTS();
		seen += 1;
		if (numrows >= targrows)
		{
			/* the reservoir is full: keep this row with falling probability */
			if (skip < 0)
				skip = reservoir_get_next_S(&rstate, seen - 1, targrows);
			if (skip-- > 0)
				continue;
			slot = (int) (targrows * sampler_random_fract(&rstate.randstate));
			heap_freetuple(rows[slot]);
		}
		MemoryContextReset(row_cxt);
		MemoryContextSwitchTo(row_cxt);
		drs_tuple_fill(maker, job, values, nulls);
		MemoryContextSwitchTo(caller_cxt);
		rows[slot] = heap_form_tuple(tupdesc, values, nulls);
		if (slot == numrows)
			numrows++;
		MemoryContextSwitchTo(scan_cxt);
	}
	MemoryContextSwitchTo(caller_cxt);
	MemoryContextDelete(scan_cxt);

	*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": table contains %.0f rows, %d rows in sample",
					RelationGetRelationName(relation), seen, numrows)));
	return numrows;
}

static bool
drsAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
					   BlockNumber *totalpages)
{
	*func = drs_acquire_sample_rows;
	*totalpages = 1;			/* no pages: a nominal one */
	return true;
}

/* ---------- IMPORT FOREIGN SCHEMA ---------- */

static List *
drsImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	return drs_import_foreign_schema(stmt, serverOid);
}

/* ---------- SQL-callable functions ---------- */

Datum
drs_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = drsGetForeignRelSize;
	routine->GetForeignPaths = drsGetForeignPaths;
	routine->GetForeignPlan = drsGetForeignPlan;
	routine->BeginForeignScan = drsBeginForeignScan;
	routine->IterateForeignScan = drsIterateForeignScan;
	routine->ReScanForeignScan = drsReScanForeignScan;
	routine->EndForeignScan = drsEndForeignScan;
	routine->ExplainForeignScan = drsExplainForeignScan;
	routine->GetForeignUpperPaths = drsGetForeignUpperPaths;
	routine->ImportForeignSchema = drsImportForeignSchema;
	routine->AnalyzeForeignTable = drsAnalyzeForeignTable;
	PG_RETURN_POINTER(routine);
}

Datum
drs_fdw_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Int64GetDatum(drs_backend_stats.requests);
	values[1] = Int64GetDatum(drs_backend_stats.retries);
	values[2] = Int64GetDatum(drs_backend_stats.errors);
	values[3] = Int64GetDatum(drs_backend_stats.bytes_received);
	values[4] = Int64GetDatum(drs_backend_stats.token_requests);
	values[5] = Int64GetDatum(drs_backend_stats.rows_returned);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

Datum
drs_fdw_reset_stats(PG_FUNCTION_ARGS)
{
	memset(&drs_backend_stats, 0, sizeof(drs_backend_stats));
	PG_RETURN_VOID();
}

Datum
drs_fdw_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(DRS_FDW_VERSION));
}
