/*
 * pushdown.c — which conditions of a query the DRS API can answer.
 *
 * A condition on the job id (id = v, id = ANY(array), id IN (...), ORs of
 * those) becomes the jobs list of the batch call and is exact: it needs no
 * recheck.  Conditions on db_use_type and status narrow the job-list calls
 * and stay as local conditions too, because the list's view of a job and
 * the batch call's may differ in time.  Also: the per-page arithmetic of
 * LIMIT/OFFSET pagination.
 */
#include "postgres.h"

#include "drs_fdw.h"		/* first: see the note on json_object there */

#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"


/* Rows a full scan is assumed to return before the table is analyzed. */
#define DRS_DEFAULT_TABLE_ROWS	1000.0
/* Ids assumed to come from an array whose length is known only at run time. */
#define DRS_DEFAULT_ARRAY_IDS	10.0

static Expr *
strip_relabel(Expr *e)
{
	while (e && IsA(e, RelabelType))
		e = ((RelabelType *) e)->arg;
	return e;
}

/* The key a Var of this relation stands for, or -1. */
static int
var_key(RelOptInfo *baserel, DrsRelInfo *info, Expr *e)
{
	Var		   *var = (Var *) strip_relabel(e);

	if (var == NULL || !IsA(var, Var) || (Index) var->varno != baserel->relid ||
		var->varlevelsup != 0 || var->varattno <= 0)
		return -1;
	for (int k = 0; k < DRS_NUM_KEYS; k++)
		if (info->key_attnos[k] == var->varattno)
			return k;
	return -1;
}

/*
 * A value the executor can compute before asking the API: no Var of this
 * relation, nothing volatile, no sub-plan; of the given type.
 */
static bool
is_pushable_value(PlannerInfo *root, RelOptInfo *baserel, Expr *e, Oid type)
{
	if (exprType((Node *) e) != type)
		return false;
	if (contain_volatile_functions((Node *) e) || contain_subplans((Node *) e))
		return false;
	if (bms_is_member(baserel->relid, pull_varnos(root, (Node *) e)))
		return false;
	return true;
}

/* Equality that compares bytes: texteq under a deterministic collation. */
static bool
is_text_equality(Oid opfuncid, Oid inputcollid)
{
	if (opfuncid != F_TEXTEQ)
		return false;
	return !OidIsValid(inputcollid) || get_collation_isdeterministic(inputcollid);
}

/*
 * Does a clause restrict one key to a set of values?  If so, fill *cond.
 * The clause may be an equality, = ANY(array) (which IN lists become) or an
 * OR of such on the same key.
 */
bool
drs_match_condition(PlannerInfo *root, RelOptInfo *baserel, DrsRelInfo *info,
					Expr *clause, DrsCond *cond)
{
	memset(cond, 0, sizeof(*cond));
	cond->clause = clause;

	if (IsA(clause, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) clause;
		Expr	   *left,
				   *right;
		int			key;

		if (list_length(op->args) != 2)
			return false;
		set_opfuncid(op);
		if (!is_text_equality(op->opfuncid, op->inputcollid))
			return false;
		left = linitial(op->args);
		right = lsecond(op->args);
		if ((key = var_key(baserel, info, left)) < 0)
		{
			Expr	   *tmp = left;

			left = right;
			right = tmp;
			key = var_key(baserel, info, left);
		}
		if (key < 0 || !is_pushable_value(root, baserel, right, TEXTOID))
			return false;
		cond->key = key;
		cond->values = list_make1(right);
		cond->kinds = list_make1_int(DRS_EXPR_SCALAR);
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		int			key;

		set_sa_opfuncid(saop);
		if (!saop->useOr || list_length(saop->args) != 2 ||
			!is_text_equality(saop->opfuncid, saop->inputcollid))
			return false;
		key = var_key(baserel, info, linitial(saop->args));
		if (key < 0 || !is_pushable_value(root, baserel, lsecond(saop->args), TEXTARRAYOID))
			return false;
		cond->key = key;
		cond->values = list_make1(lsecond(saop->args));
		cond->kinds = list_make1_int(DRS_EXPR_ARRAY);
	}
	else if (is_orclause(clause))
	{
		ListCell   *lc;
		bool		first = true;

		foreach(lc, ((BoolExpr *) clause)->args)
		{
			DrsCond		arm;

			if (!drs_match_condition(root, baserel, info, lfirst(lc), &arm))
				return false;
			if (!first && arm.key != cond->key)
				return false;
			cond->key = arm.key;
			cond->values = list_concat(cond->values, arm.values);
			cond->kinds = list_concat(cond->kinds, arm.kinds);
			first = false;
		}
		cond->clause = clause;
	}
	else
		return false;

	/* the batch call returns exactly the ids asked for: no recheck needed */
	cond->exact = (cond->key == DRS_KEY_ID);
	return true;
}

/* How many ids a condition can let through, as far as the planner knows. */
static double
estimate_cond_ids(DrsCond *cond)
{
	double		n = 0;
	ListCell   *lv,
			   *lk;

	forboth(lv, cond->values, lk, cond->kinds)
	{
		Expr	   *v = lfirst(lv);

		if (lfirst_int(lk) == DRS_EXPR_SCALAR)
			n += 1;
		else if (IsA(v, Const) && !((Const *) v)->constisnull)
			n += ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(((Const *) v)->constvalue)),
								ARR_DIMS(DatumGetArrayTypeP(((Const *) v)->constvalue)));
		else if (IsA(v, ArrayExpr))
			n += list_length(((ArrayExpr *) v)->elements);
		else
			n += DRS_DEFAULT_ARRAY_IDS;
	}
	return n;
}

/*
 * Ids implied through a join: in "j JOIN p ON p.job_id = j.id WHERE j.id =
 * ANY(list)", p.job_id is in the list too, but PostgreSQL derives that only
 * for single constants.  For each equivalence class holding our id column,
 * an id-list condition (= ANY of a value without Vars) on another member
 * is copied for us, so both scans ask for the same ids in batches instead
 * of one scanning everything.  Members of one equivalence class are equal
 * in every row the query returns, so the copy removes no row it needs.
 */
static void
derive_id_conditions(PlannerInfo *root, RelOptInfo *baserel, DrsRelInfo *info)
{
	ListCell   *lc;

	foreach(lc, root->eq_classes)
	{
		EquivalenceClass *ec = (EquivalenceClass *) lfirst(lc);
		bool		ours = false;
		ListCell   *lm;

		if (ec->ec_has_volatile || ec->ec_has_const || ec->ec_members == NIL)
			continue;
		foreach(lm, ec->ec_members)
		{
			EquivalenceMember *em = (EquivalenceMember *) lfirst(lm);

			if (!em->em_is_child && var_key(baserel, info, em->em_expr) == DRS_KEY_ID)
				ours = true;
		}
		if (!ours)
			continue;
		foreach(lm, ec->ec_members)
		{
			EquivalenceMember *em = (EquivalenceMember *) lfirst(lm);
			Var		   *v = (Var *) strip_relabel(em->em_expr);
			RelOptInfo *other;
			ListCell   *lr;

			if (em->em_is_child || !IsA(v, Var) || v->varlevelsup != 0 ||
				(Index) v->varno == baserel->relid || v->varno >= root->simple_rel_array_size)
				continue;
			other = root->simple_rel_array[v->varno];
			if (other == NULL || other->reloptkind != RELOPT_BASEREL)
				continue;
			foreach(lr, other->baserestrictinfo)
			{
				RestrictInfo *ri = lfirst_node(RestrictInfo, lr);
				ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) ri->clause;
				Var		   *arg;
				DrsCond    *cond;

				if (!IsA(saop, ScalarArrayOpExpr) || !saop->useOr ||
					list_length(saop->args) != 2)
					continue;
				set_sa_opfuncid(saop);
				arg = (Var *) strip_relabel(linitial(saop->args));
				if (!is_text_equality(saop->opfuncid, saop->inputcollid) || !IsA(arg, Var) ||
					arg->varno != v->varno || arg->varattno != v->varattno ||
					arg->varlevelsup != 0 ||
					exprType(lsecond(saop->args)) != TEXTARRAYOID ||
					contain_var_clause(lsecond(saop->args)) ||
					contain_volatile_functions(lsecond(saop->args)) ||
					contain_subplans(lsecond(saop->args)))
					continue;
				cond = palloc0(sizeof(DrsCond));
				cond->key = DRS_KEY_ID;
				cond->values = list_make1(lsecond(saop->args));
				cond->kinds = list_make1_int(DRS_EXPR_ARRAY);
				cond->clause = ri->clause;
				cond->exact = true;
				info->derived_conds = lappend(info->derived_conds, cond);
			}
		}
	}
}

/*
 * Build the planner state of a base relation: the resource, the columns of
 * the pushable keys, and the split of baserestrictinfo into pushed and local
 * conditions.
 */
DrsRelInfo *
drs_rel_info_create(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	DrsRelInfo *info = palloc0(sizeof(DrsRelInfo));
	ForeignTable *table = GetForeignTable(foreigntableid);
	Relation	rel;
	TupleDesc	tupdesc;
	ListCell   *lc;

	info->resource = drs_resource_for_table(foreigntableid);
	drs_server_options(GetForeignServer(table->serverid), &info->server);

	/* which columns are the id, status and db_use_type of a job? */
	rel = table_open(foreigntableid, NoLock);
	tupdesc = RelationGetDescr(rel);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	   *path;
		const char *key_paths[DRS_NUM_KEYS];

		if (att->attisdropped)
			continue;
		key_paths[DRS_KEY_ID] = info->resource->key_path;
		key_paths[DRS_KEY_DB_USE_TYPE] = info->resource->db_use_type_path;
		key_paths[DRS_KEY_STATUS] = info->resource->status_path;
		path = drs_column_json_path(foreigntableid, att->attnum, NameStr(att->attname));
		for (int k = 0; k < DRS_NUM_KEYS; k++)
			if (info->key_attnos[k] == 0 && key_paths[k] != NULL &&
				strcmp(path, key_paths[k]) == 0 &&
				(att->atttypid == TEXTOID || att->atttypid == VARCHAROID))
				info->key_attnos[k] = att->attnum;
	}
	table_close(rel, NoLock);

	info->id_count = -1;
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		DrsCond    *cond = palloc(sizeof(DrsCond));
		bool		matched = drs_match_condition(root, baserel, info, ri->clause, cond);

		if (matched)
		{
			info->conds = lappend(info->conds, cond);
			if (cond->key == DRS_KEY_ID)
			{
				double		n = estimate_cond_ids(cond);

				info->id_count = info->id_count < 0 ? n : Min(info->id_count, n);
			}
		}
		if (!matched || !cond->exact)
			info->local_conds = lappend(info->local_conds, ri);
	}

	/* with no id condition of its own, a join may imply one */
	if (info->id_count < 0 && info->key_attnos[DRS_KEY_ID] != 0)
	{
		derive_id_conditions(root, baserel, info);
		foreach(lc, info->derived_conds)
		{
			double		n = estimate_cond_ids(lfirst(lc));

			info->id_count = info->id_count < 0 ? n : Min(info->id_count, n);
		}
	}

	/* the columns the query reads: target list and local conditions */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &info->attrs_used);
	foreach(lc, info->local_conds)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, baserel->relid,
					   &info->attrs_used);

	info->table_rows = baserel->tuples > 0 ? baserel->tuples : DRS_DEFAULT_TABLE_ROWS;
	return info;
}

/*
 * Can job-list entries alone supply these columns (attnos offset by
 * FirstLowInvalidHeapAttributeNumber)?  Then the batch calls can be skipped.
 */
bool
drs_attrs_list_only(DrsRelInfo *info, Relation rel, Bitmapset *attrs)
{
	int			x = -1;

	if (info->resource->list_paths == NULL)
		return false;
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att;
		char	   *path;
		bool		found = false;

		if (attnum == InvalidAttrNumber)
			return false;		/* whole-row reference */
		if (attnum < 0)
			continue;			/* system column */
		att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		path = drs_column_json_path(RelationGetRelid(rel), attnum, NameStr(att->attname));
		found = path[0] == '@';	/* not from the job at all */
		for (const char *const *p = info->resource->list_paths; *p; p++)
			found |= strcmp(*p, path) == 0;
		if (!found)
			return false;
	}
	return true;
}

/*
 * Pages that cover rows [start, start + count) of a paged listing (0-based
 * rows, 1-based pages), with per_page at most max_per_page: the fewest
 * requests first, then the fewest rows fetched.
 */
void
drs_page_cover(int64 start, int64 count, int max_per_page,
			   int *per_page, int64 *first_page, int64 *last_page)
{
	int64		best_pages = -1;
	int64		best_rows = -1;

	Assert(count > 0 && max_per_page > 0);
	for (int p = 1; p <= max_per_page; p++)
	{
		int64		first = start / p + 1;
		int64		last = (start + count - 1) / p + 1;
		int64		pages = last - first + 1;
		int64		rows = pages * p;

		if (best_pages < 0 || pages < best_pages ||
			(pages == best_pages && rows < best_rows))
		{
			best_pages = pages;
			best_rows = rows;
			*per_page = p;
			*first_page = first;
			*last_page = last;
		}
	}
}
