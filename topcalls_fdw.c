/*-------------------------------------------------------------------------
 *
 * topcalls_fdw.c
 *		  The foreign-data wrapper handler: planner and executor callbacks,
 *		  EXPLAIN, ANALYZE and IMPORT FOREIGN SCHEMA.
 *
 * This file decides which requests a scan makes (lookups by id, or the
 * paginated list) and hands rows to the executor.  It does not build URLs
 * (api.c), talk HTTP (http.c), parse JSON or convert values (convert.c).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/topcalls_fdw.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/vacuum.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
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
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sampling.h"

#include "compat.h"
#include "topcalls_fdw.h"

PG_MODULE_MAGIC;

/* Ids looked up per round of concurrent requests; bounds a scan's bodies. */
#define TC_LOOKUP_BATCH			1024

/*
 * Ids a scan remembers across rescans, so that a nested loop fetches each
 * outer id once; past this the cache starts afresh, bounding its memory.
 */
#define TC_CACHE_MAX_IDS		10000

/* Row estimate of a table never analyzed and without a "rows" option. */
#define TC_DEFAULT_TABLE_ROWS	1000.0

/* Ids assumed for an array whose length the planner cannot see. */
#define TC_DEFAULT_ARRAY_IDS	10.0

/*
 * fdw_private of a ForeignScan plan, a List indexed by these.  The id
 * expressions themselves are in fdw_exprs, so that generic plans and rescans
 * evaluate the current parameter values.
 */
enum TcScanPrivateIndex
{
	TC_PRIV_EXPR_IS_ARRAY,		/* List of Boolean-as-Integer, one per expr */
	TC_PRIV_PAGE_LIMIT,			/* Integer: limit of a list request */
	TC_PRIV_LOOKUP,				/* Integer: 1 when the scan looks ids up */
};

/* Planner state of one foreign relation, in baserel->fdw_private. */
typedef struct TcRelInfo
{
	TcOptions	opts;
	AttrNumber	id_attnum;		/* the column holding "id", or 0 */
	List	   *id_clauses;		/* RestrictInfos usable for lookups */
	List	   *local_clauses;	/* the others */
	double		table_rows;		/* rows in the whole collection */
	double		lookup_ids;		/* ids the id_clauses name, estimated */
} TcRelInfo;

/* One id looked up in this scan: NULL tuple when the API said 404. */
typedef struct TcCacheEntry
{
	char		id[TC_ID_BUFSIZE];
	HeapTuple	tuple;
} TcCacheEntry;

/* Executor state of a scan. */
typedef struct TcScanState
{
	TcOptions	opts;
	TcConverter *conv;
	MemoryContext scancxt;		/* the scan's life */
	MemoryContext cachecxt;		/* the id cache and its tuples */
	MemoryContext batchcxt;		/* one list page or one round of lookups */

	bool		lookup;
	List	   *id_exprs;		/* ExprStates */
	List	   *id_is_array;	/* Integer per expr */
	int			page_limit;

	/* lookups */
	bool		ids_ready;
	char	  **ids;			/* distinct normalized ids, sorted */
	int			nids;
	int			next_id;
	HTAB	   *cache;			/* id -> TcCacheEntry, kept across rescans
								 * until it holds TC_CACHE_MAX_IDS */

	/* list */
	bool		list_started;
	TcPage		page;
	int			page_pos;

	/* what EXPLAIN ANALYZE reports */
	TcHttpStats stats;
	int64		pages;
	int64		not_found;
} TcScanState;

PG_FUNCTION_INFO_V1(topcalls_fdw_handler);

void		_PG_init(void);

static void tcGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
								Oid foreigntableid);
static void tcGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
							  Oid foreigntableid);
static ForeignScan *tcGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
									 Oid foreigntableid, ForeignPath *best_path,
									 List *tlist, List *scan_clauses,
									 Plan *outer_plan);
static void tcBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *tcIterateForeignScan(ForeignScanState *node);
static void tcReScanForeignScan(ForeignScanState *node);
static void tcEndForeignScan(ForeignScanState *node);
static void tcExplainForeignScan(ForeignScanState *node, ExplainState *es);
static bool tcAnalyzeForeignTable(Relation relation,
								  AcquireSampleRowsFunc *func,
								  BlockNumber *totalpages);
static List *tcImportForeignSchema(ImportForeignSchemaStmt *stmt,
								   Oid serverOid);
static void tc_cache_reset(TcScanState *state);

/*
 * Only catalog callbacks here: curl is initialised lazily by http.c in the
 * backend, never in the postmaster.
 */
void
_PG_init(void)
{
	tc_register_invalidation();
}

Datum
topcalls_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = tcGetForeignRelSize;
	routine->GetForeignPaths = tcGetForeignPaths;
	routine->GetForeignPlan = tcGetForeignPlan;
	routine->BeginForeignScan = tcBeginForeignScan;
	routine->IterateForeignScan = tcIterateForeignScan;
	routine->ReScanForeignScan = tcReScanForeignScan;
	routine->EndForeignScan = tcEndForeignScan;
	routine->ExplainForeignScan = tcExplainForeignScan;
	routine->AnalyzeForeignTable = tcAnalyzeForeignTable;
	routine->ImportForeignSchema = tcImportForeignSchema;

	PG_RETURN_POINTER(routine);
}

/* ------------------------------------------------------------------------
 * Planning
 * ------------------------------------------------------------------------
 */

/* The column whose JSON field is "id", or 0. */
static AttrNumber
tc_id_attnum(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	AttrNumber	result = 0;
	int			i;

	for (i = 0; i < tupdesc->natts && result == 0; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		char	   *field;

		if (att->attisdropped)
			continue;
		field = tc_column_field(relid, att->attnum);
		if (strcmp(field ? field : NameStr(att->attname), "id") == 0 &&
			(att->atttypid == UUIDOID || att->atttypid == TEXTOID ||
			 att->atttypid == VARCHAROID))
			result = att->attnum;
	}
	table_close(rel, AccessShareLock);
	return result;
}

/* Is node the id column of this relation (under a binary-compatible cast)? */
static bool
tc_is_id_var(Node *node, Index relid, AttrNumber id_attnum)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node && IsA(node, Var) &&
		((Var *) node)->varno == relid &&
		((Var *) node)->varattno == id_attnum &&
		((Var *) node)->varlevelsup == 0;
}

/* Can an expression give the id to look up: no own columns, not volatile. */
static bool
tc_is_id_value(Node *node, Index relid)
{
	Relids		varnos = tc_pull_varnos(NULL, node);

	return !bms_is_member(relid, varnos) &&
		!contain_volatile_functions(node);
}

/*
 * Is clause "id = value", "value = id" or "id = ANY(array)" with the uuid or
 * text equality?  If so, return the value expression and whether it is an
 * array.
 */
static bool
tc_id_clause(Expr *clause, Index relid, AttrNumber id_attnum,
			 Expr **value, bool *is_array)
{
	if (id_attnum == 0)
		return false;

	if (IsA(clause, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left;
		Node	   *right;

		if (list_length(op->args) != 2)
			return false;
		if (op->opfuncid != F_UUID_EQ && op->opfuncid != F_TEXTEQ &&
			get_opcode(op->opno) != F_UUID_EQ && get_opcode(op->opno) != F_TEXTEQ)
			return false;
		left = linitial(op->args);
		right = lsecond(op->args);
		if (tc_is_id_var(left, relid, id_attnum) && tc_is_id_value(right, relid))
		{
			*value = (Expr *) right;
			*is_array = false;
			return true;
		}
		if (tc_is_id_var(right, relid, id_attnum) && tc_is_id_value(left, relid))
		{
			*value = (Expr *) left;
			*is_array = false;
			return true;
		}
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;

		if (!saop->useOr || list_length(saop->args) != 2)
			return false;
		if (get_opcode(saop->opno) != F_UUID_EQ && get_opcode(saop->opno) != F_TEXTEQ)
			return false;
		if (tc_is_id_var(linitial(saop->args), relid, id_attnum) &&
			tc_is_id_value(lsecond(saop->args), relid))
		{
			*value = (Expr *) lsecond(saop->args);
			*is_array = true;
			return true;
		}
	}
	return false;
}

/* How many ids a value expression names, as far as the planner can tell. */
static double
tc_estimate_ids(Expr *value, bool is_array)
{
	if (!is_array)
		return 1.0;
	if (IsA(value, Const))
	{
		Const	   *c = (Const *) value;

		if (c->constisnull)
			return 0.0;
		return (double) ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(c->constvalue)),
									   ARR_DIMS(DatumGetArrayTypeP(c->constvalue)));
	}
	if (IsA(value, ArrayExpr))
		return (double) list_length(((ArrayExpr *) value)->elements);
	return TC_DEFAULT_ARRAY_IDS;
}

/* The user whose mapping applies: the view owner's under a view. */
static Oid
tc_planner_userid(PlannerInfo *root, RelOptInfo *baserel)
{
	Oid			userid = tc_planner_rel_userid(root, baserel);

	return OidIsValid(userid) ? userid : GetUserId();
}

static void
tcGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	TcRelInfo  *info = palloc0(sizeof(TcRelInfo));
	Oid			userid = tc_planner_userid(root, baserel);
	ListCell   *lc;
	double		rows;

	baserel->fdw_private = info;
	tc_get_options(foreigntableid, userid, &info->opts);
	info->id_attnum = tc_id_attnum(foreigntableid);
	info->lookup_ids = -1;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		is_array;

		if (!ri->pseudoconstant &&
			tc_id_clause(ri->clause, baserel->relid, info->id_attnum,
						 &value, &is_array))
		{
			double		n = tc_estimate_ids(value, is_array);

			info->id_clauses = lappend(info->id_clauses, ri);
			if (info->lookup_ids < 0 || n < info->lookup_ids)
				info->lookup_ids = n;
		}
		else
			info->local_clauses = lappend(info->local_clauses, ri);
	}

	/*
	 * Size of the whole collection: ANALYZE's count when there is one
	 * (reltuples is -1 until the first ANALYZE), else the table option,
	 * else a guess.
	 */
	if (baserel->tuples >= 0 && baserel->pages > 0)
		info->table_rows = baserel->tuples;
	else if (info->opts.rows >= 0)
		info->table_rows = info->opts.rows;
	else
		info->table_rows = TC_DEFAULT_TABLE_ROWS;

	if (info->id_clauses)
		rows = Min(info->lookup_ids, info->table_rows);
	else
		rows = info->table_rows;
	rows *= clauselist_selectivity(root, info->local_clauses, baserel->relid,
								   JOIN_INNER, NULL);
	baserel->rows = clamp_row_est(rows);
	baserel->tuples = Max(baserel->tuples, info->table_rows);
}

/* Requests of a scan and the rows they bring, priced with the options. */
static void
tc_cost_lookups(const TcRelInfo *info, double nids, double rows,
				Cost *startup, Cost *total)
{
	double		rounds = ceil(nids / info->opts.max_concurrency);

	/* no ids (id = ANY('{}')) means no request at all */
	*startup = nids > 0 ? info->opts.request_cost : 0;
	*total = rounds * info->opts.request_cost +
		nids * info->opts.row_cost + rows * cpu_tuple_cost;
}

static void
tc_cost_list(const TcRelInfo *info, double rows, Cost *startup, Cost *total)
{
	double		pages = Max(1.0, ceil(info->table_rows / info->opts.page_size));

	*startup = info->opts.request_cost;
	*total = pages * info->opts.request_cost +
		info->table_rows * (info->opts.row_cost + cpu_operator_cost) +
		rows * cpu_tuple_cost;
}

static ForeignPath *
tc_make_path(PlannerInfo *root, RelOptInfo *baserel, double rows,
			 Cost startup, Cost total, Relids required_outer)
{
	return tc_create_foreignscan_path(root, baserel, rows, startup, total,
									  required_outer, NIL);
}

/* For generate_implied_equalities_for_column: is this EC member our id? */
static bool
tc_ec_member_is_id(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
				   EquivalenceMember *em, void *arg)
{
	TcRelInfo  *info = (TcRelInfo *) arg;

	return tc_is_id_var((Node *) em->em_expr, rel->relid, info->id_attnum);
}

/* Add one path parameterized by the outer relations of a join clause. */
static void
tc_add_param_path(PlannerInfo *root, RelOptInfo *baserel, TcRelInfo *info,
				  RestrictInfo *ri, List **seen_outer)
{
	Relids		required_outer;
	ParamPathInfo *ppi;
	Expr	   *value;
	bool		is_array;
	Cost		startup;
	Cost		total;
	ListCell   *lc;

	if (!join_clause_is_movable_to(ri, baserel))
		return;
	if (!tc_id_clause(ri->clause, baserel->relid, info->id_attnum,
					  &value, &is_array))
		return;

	required_outer = bms_union(ri->clause_relids, baserel->lateral_relids);
	required_outer = bms_del_member(required_outer, baserel->relid);
	if (bms_is_empty(required_outer))
		return;
	foreach(lc, *seen_outer)
	{
		if (bms_equal((Relids) lfirst(lc), required_outer))
			return;
	}
	*seen_outer = lappend(*seen_outer, required_outer);

	ppi = get_baserel_parampathinfo(root, baserel, required_outer);
	tc_cost_lookups(info, tc_estimate_ids(value, is_array), ppi->ppi_rows,
					&startup, &total);
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, ppi->ppi_rows, startup, total,
						  required_outer));
}

static void
tcGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	Cost		startup;
	Cost		total;
	List	   *seen_outer = NIL;
	List	   *ec_clauses;
	ListCell   *lc;

	if (info->id_clauses)
		tc_cost_lookups(info, info->lookup_ids, baserel->rows, &startup, &total);
	else
		tc_cost_list(info, baserel->rows, &startup, &total);
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, baserel->rows, startup, total,
						  baserel->lateral_relids));

	if (info->id_attnum == 0)
		return;

	/*
	 * Parameterized paths, so that a nested loop sends one lookup per outer
	 * row instead of reading the whole list: from join clauses naming id,
	 * and from equivalence classes (a.x = b.x AND b.x = id).
	 */
	foreach(lc, baserel->joininfo)
		tc_add_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc),
						  &seen_outer);

	ec_clauses = generate_implied_equalities_for_column(root, baserel,
														tc_ec_member_is_id,
														info,
														baserel->lateral_referencers);
	foreach(lc, ec_clauses)
		tc_add_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc),
						  &seen_outer);
}

/*
 * The page size of a list scan: a plain "LIMIT n" on this one table, with
 * nothing that filters, sorts or groups its rows, needs no bigger page.
 */
static int
tc_page_limit(PlannerInfo *root, RelOptInfo *baserel, TcRelInfo *info)
{
	int			limit = info->opts.page_size;

	if (root->limit_tuples > 0 &&
		root->parse->sortClause == NIL &&
		root->parse->setOperations == NULL &&
		bms_membership(root->all_baserels) == BMS_SINGLETON &&
		baserel->baserestrictinfo == NIL &&
		root->limit_tuples < limit)
		limit = Max(1, (int) ceil(root->limit_tuples));
	return limit;
}

static ForeignScan *
tcGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	List	   *id_exprs = NIL;
	List	   *id_is_array = NIL;
	List	   *fdw_private;
	ListCell   *lc;

	/*
	 * Every clause stays in the local quals, the id clauses too: rows are
	 * checked against them whatever the API answers.  The id clauses (of the
	 * table, or of this path's join) also choose the requests.
	 */
	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		is_array;

		if (!ri->pseudoconstant &&
			tc_id_clause(ri->clause, baserel->relid, info->id_attnum,
						 &value, &is_array))
		{
			id_exprs = lappend(id_exprs, value);
			id_is_array = lappend_int(id_is_array, is_array ? 1 : 0);
		}
	}

	fdw_private = list_make3(id_is_array,
							 makeInteger(tc_page_limit(root, baserel, info)),
							 makeInteger(id_exprs != NIL ? 1 : 0));

	return make_foreignscan(tlist,
							extract_actual_clauses(scan_clauses, false),
							baserel->relid,
							id_exprs,
							fdw_private,
							NIL,
							NIL,
							outer_plan);
}

/* ------------------------------------------------------------------------
 * Execution
 * ------------------------------------------------------------------------
 */

static Oid
tc_scan_userid(ForeignScanState *node)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Oid			userid = tc_plan_userid(fsplan, node->ss.ps.state);

	return OidIsValid(userid) ? userid : GetUserId();
}

static void
tcBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	TcScanState *state;
	
	/* plain EXPLAIN contacts nothing and needs no state */
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	state = palloc0(sizeof(TcScanState));
	node->fdw_state = state;
	state->scancxt = AllocSetContextCreate(estate->es_query_cxt,
										   "topcalls_fdw scan",
										   ALLOCSET_DEFAULT_SIZES);
	state->batchcxt = AllocSetContextCreate(state->scancxt,
											"topcalls_fdw batch",
											ALLOCSET_DEFAULT_SIZES);

	tc_get_options(RelationGetRelid(rel), tc_scan_userid(node), &state->opts);
	state->conv = tc_converter_create(rel, state->scancxt);

	state->id_is_array = (List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_IS_ARRAY);
	state->page_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_PAGE_LIMIT));
	state->lookup = intVal(list_nth(fsplan->fdw_private, TC_PRIV_LOOKUP)) != 0;
	state->id_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);

	state->cachecxt = AllocSetContextCreate(state->scancxt,
											"topcalls_fdw id cache",
											ALLOCSET_DEFAULT_SIZES);
	tc_cache_reset(state);
}

/*
 * Start the scan's id cache afresh, freeing the tuples it held.  Nothing
 * returned from the cache may be in use: callers clear the scan slot first.
 */
static void
tc_cache_reset(TcScanState *state)
{
	HASHCTL		hctl;

	MemoryContextReset(state->cachecxt);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = TC_ID_BUFSIZE;
	hctl.entrysize = sizeof(TcCacheEntry);
	hctl.hcxt = state->cachecxt;
	state->cache = hash_create("topcalls_fdw ids", 64, &hctl,
							   HASH_ELEM | TC_HASH_STRINGS | HASH_CONTEXT);
}

/* A value of the id column's type as a normalized id, or an ERROR. */
static void
tc_datum_to_id(Datum value, Oid type, char *out)
{
	Oid			outfunc;
	bool		isvarlena;
	char	   *text;

	getTypeOutputInfo(type, &outfunc, &isvarlena);
	text = OidOutputFunctionCall(outfunc, value);
	if (!tc_api_normalize_id(text, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid TopCalls id: \"%s\"", tc_shorten(text, TC_QUOTE_LEN)),
				 errdetail("TopCalls ids are UUIDs; no request was sent.")));
}

static int
tc_cmp_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort and deduplicate ids in place; returns the new count. */
static int
tc_unique_ids(char **ids, int n)
{
	int			i;
	int			out = 0;

	if (n == 0)
		return 0;
	qsort(ids, n, sizeof(char *), tc_cmp_ids);
	for (i = 0; i < n; i++)
	{
		if (out == 0 || strcmp(ids[out - 1], ids[i]) != 0)
			ids[out++] = ids[i];
	}
	return out;
}

/* Keep in a only the ids also in b (both sorted and distinct). */
static int
tc_intersect_ids(char **a, int na, char **b, int nb)
{
	int			i = 0;
	int			j = 0;
	int			out = 0;

	while (i < na && j < nb)
	{
		int			c = strcmp(a[i], b[j]);

		if (c == 0)
		{
			a[out++] = a[i];
			i++;
			j++;
		}
		else if (c < 0)
			i++;
		else
			j++;
	}
	return out;
}

/*
 * Evaluate the id expressions with the current parameter values: the ids
 * this scan reads, distinct, sorted, and meeting every id condition.  NULLs
 * name nothing; an id that is not a UUID is an ERROR before any request.
 */
static void
tc_compute_ids(ForeignScanState *node, TcScanState *state)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext oldcxt;
	ListCell   *lc_expr;
	ListCell   *lc_arr;
	bool		first = true;

	MemoryContextReset(state->batchcxt);
	oldcxt = MemoryContextSwitchTo(state->batchcxt);
	state->ids = NULL;
	state->nids = 0;
	state->next_id = 0;

	forboth(lc_expr, state->id_exprs, lc_arr, state->id_is_array)
	{
		ExprState  *expr = (ExprState *) lfirst(lc_expr);
		Oid			type = exprType((Node *) expr->expr);
		bool		isnull;
		Datum		value;
		char	  **ids;
		int			n = 0;

		value = ExecEvalExpr(expr, econtext, &isnull);
		if (isnull)
			ids = NULL;
		else if (lfirst_int(lc_arr))
		{
			ArrayType  *arr = DatumGetArrayTypeP(value);
			Oid			elemtype = ARR_ELEMTYPE(arr);
			int16		typlen;
			bool		typbyval;
			char		typalign;
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int			i;

			get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
			deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
							  &elems, &nulls, &nelems);
			ids = palloc(sizeof(char *) * Max(nelems, 1));
			for (i = 0; i < nelems; i++)
			{
				if (nulls[i])
					continue;
				ids[n] = palloc(TC_ID_BUFSIZE);
				tc_datum_to_id(elems[i], elemtype, ids[n]);
				n++;
			}
		}
		else
		{
			ids = palloc(sizeof(char *));
			ids[0] = palloc(TC_ID_BUFSIZE);
			tc_datum_to_id(value, type, ids[0]);
			n = 1;
		}
		n = tc_unique_ids(ids, n);

		if (first)
		{
			state->ids = ids;
			state->nids = n;
			first = false;
		}
		else
			state->nids = tc_intersect_ids(state->ids, state->nids, ids, n);
	}
	MemoryContextSwitchTo(oldcxt);
	state->ids_ready = true;
}

typedef struct TcLookupRound
{
	TcScanState *state;
	char	  **ids;			/* the ids of the requests, by index */
} TcLookupRound;

/* tc_http_run's callback: one lookup answered. */
static bool
tc_lookup_done(TcHttpRequest *req, void *arg)
{
	TcLookupRound *round = (TcLookupRound *) arg;
	TcScanState *state = round->state;
	TcCacheEntry *entry;
	HeapTuple	tuple = NULL;
	bool		found;

	if (tc_api_check_answer(req, true, &state->opts))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(state->cachecxt);

		tuple = tc_convert_single(state->conv, req);
		MemoryContextSwitchTo(oldcxt);
	}
	else
		state->not_found++;

	entry = hash_search(state->cache, round->ids[req->index], HASH_ENTER, &found);
	entry->tuple = tuple;
	if (req->body)
		pfree(req->body);
	req->body = NULL;
	if (req->content_type)
		pfree(req->content_type);
	req->content_type = NULL;
	return true;
}

/* Look up, concurrently, the next round of ids not already in the cache. */
static void
tc_fetch_by_ids(TcScanState *state, TupleTableSlot *slot, int from)
{
	TcHttpRequest *reqs;
	TcLookupRound round;
	int			nreqs = 0;
	int			i;
	MemoryContext oldcxt;

	if (hash_get_num_entries(state->cache) + TC_LOOKUP_BATCH > TC_CACHE_MAX_IDS)
	{
		ExecClearTuple(slot);
		tc_cache_reset(state);
	}

	oldcxt = MemoryContextSwitchTo(state->batchcxt);
	reqs = palloc(sizeof(TcHttpRequest) * Min(TC_LOOKUP_BATCH, state->nids - from));
	round.state = state;
	round.ids = palloc(sizeof(char *) * Min(TC_LOOKUP_BATCH, state->nids - from));
	for (i = from; i < state->nids && nreqs < TC_LOOKUP_BATCH; i++)
	{
		if (hash_search(state->cache, state->ids[i], HASH_FIND, NULL) != NULL)
			continue;
		tc_api_lookup_request(&state->opts, state->ids[i], &reqs[nreqs]);
		reqs[nreqs].index = nreqs;
		round.ids[nreqs] = state->ids[i];
		nreqs++;
	}
	if (nreqs > 0)
	{
		tc_require_api_key(&state->opts);
		tc_http_run(reqs, nreqs, &state->opts, &state->stats,
					tc_lookup_done, &round);
	}
	for (i = 0; i < nreqs; i++)
	{
		pfree(reqs[i].url);
		pfree(reqs[i].what);
	}
	pfree(reqs);
	pfree(round.ids);
	MemoryContextSwitchTo(oldcxt);
}

static TupleTableSlot *
tc_iterate_lookups(ForeignScanState *node, TcScanState *state)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!state->ids_ready)
		tc_compute_ids(node, state);

	while (state->next_id < state->nids)
	{
		TcCacheEntry *entry;
		const char *id = state->ids[state->next_id];

		entry = hash_search(state->cache, id, HASH_FIND, NULL);
		if (entry == NULL)
		{
			tc_fetch_by_ids(state, slot, state->next_id);
			entry = hash_search(state->cache, id, HASH_FIND, NULL);
			Assert(entry != NULL);
		}
		state->next_id++;
		if (entry && entry->tuple)
		{
			ExecStoreHeapTuple(entry->tuple, slot, false);
			return slot;
		}
	}
	return ExecClearTuple(slot);
}

/* tc_http_run's callback for a list page. */
static bool
tc_page_done(TcHttpRequest *req, void *arg)
{
	TcScanState *state = (TcScanState *) arg;

	(void) tc_api_check_answer(req, false, &state->opts);
	tc_convert_page(state->conv, req, &state->page);
	state->pages++;
	return true;
}

/* Fetch the next list page into batchcxt; false when the list is done. */
static bool
tc_fetch_page(TcScanState *state)
{
	char	   *cursor = NULL;
	TcHttpRequest req;
	MemoryContext oldcxt;

	if (state->list_started)
	{
		if (state->page.next_cursor == NULL)
			return false;
		cursor = pstrdup(state->page.next_cursor);	/* survives the reset */
	}
	MemoryContextReset(state->batchcxt);
	oldcxt = MemoryContextSwitchTo(state->batchcxt);

	memset(&state->page, 0, sizeof(state->page));
	tc_require_api_key(&state->opts);
	tc_api_list_request(&state->opts, state->page_limit, cursor, &req);
	tc_http_run(&req, 1, &state->opts, &state->stats, tc_page_done, state);
	if (cursor && state->page.next_cursor &&
		strcmp(cursor, state->page.next_cursor) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", req.what),
				 errdetail("Its \"next_cursor\" is the cursor of the request: the list would never end.")));
	if (req.body)
		pfree(req.body);
	state->page_pos = 0;
	state->list_started = true;
	MemoryContextSwitchTo(oldcxt);
	if (cursor)
		pfree(cursor);
	return true;
}

static TupleTableSlot *
tc_iterate_list(ForeignScanState *node, TcScanState *state)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	while (!state->list_started || state->page_pos >= state->page.ntuples)
	{
		if (!tc_fetch_page(state))
			return ExecClearTuple(slot);
	}
	ExecStoreHeapTuple(state->page.tuples[state->page_pos++], slot, false);
	return slot;
}

static TupleTableSlot *
tcIterateForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state->lookup)
		return tc_iterate_lookups(node, state);
	return tc_iterate_list(node, state);
}

static void
tcReScanForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state == NULL)
		return;
	if (state->lookup)
	{
		/* new parameter values name new ids; the cache stays */
		if (node->ss.ps.chgParam != NULL)
			state->ids_ready = false;
		state->next_id = 0;
	}
	else
	{
		/* read the list again from its first page */
		state->list_started = false;
		memset(&state->page, 0, sizeof(state->page));
		MemoryContextReset(state->batchcxt);
	}
}

static void
tcEndForeignScan(ForeignScanState *node)
{
	/*
	 * Nothing to release by hand: memory goes with the query's context, and
	 * http.c owns its handles.  After an ERROR this is not even called.
	 */
}

static void
tcExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	TcScanState *state = (TcScanState *) node->fdw_state;
	Relation	rel = node->ss.ss_currentRelation;
	TcOptions	opts;
	bool		lookup = intVal(list_nth(fsplan->fdw_private, TC_PRIV_LOOKUP)) != 0;
	int			page_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_PAGE_LIMIT));

	tc_get_options(RelationGetRelid(rel), GetUserId(), &opts);
	ExplainPropertyText("TopCalls Request",
						lookup ? tc_api_lookup_summary(&opts) :
						tc_api_list_summary(&opts, page_limit),
						es);

	if (es->analyze && state)
	{
		ExplainPropertyInteger("TopCalls Requests", NULL, state->stats.requests, es);
		if (!lookup)
			ExplainPropertyInteger("TopCalls Pages", NULL, state->pages, es);
		else
			ExplainPropertyInteger("TopCalls Not Found", NULL, state->not_found, es);
		ExplainPropertyInteger("TopCalls Retries", NULL, state->stats.retries, es);
		ExplainPropertyInteger("TopCalls Bytes Received", "bytes",
							   state->stats.bytes_received, es);
		if (es->timing)
			ExplainPropertyFloat("TopCalls HTTP Wait", "ms",
								 state->stats.wait_ms, 3, es);
	}
}

/* ------------------------------------------------------------------------
 * ANALYZE: a reservoir sample of the whole list
 * ------------------------------------------------------------------------
 */

static HeapTuple
tc_copy_tuple_to(MemoryContext cxt, HeapTuple tuple)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	HeapTuple	copy = heap_copytuple(tuple);

	MemoryContextSwitchTo(oldcxt);
	return copy;
}

static int
tc_acquire_sample_rows(Relation relation, int elevel, HeapTuple *rows,
					   int targrows, double *totalrows, double *totaldeadrows)
{
	TcScanState state;
	ReservoirStateData rstate;
	MemoryContext samplecxt = CurrentMemoryContext;
	double		seen = 0;
	double		rowstoskip = -1;
	int			nsampled = 0;
	int			i;

	memset(&state, 0, sizeof(state));
	state.scancxt = AllocSetContextCreate(CurrentMemoryContext,
										  "topcalls_fdw analyze",
										  ALLOCSET_DEFAULT_SIZES);
	state.batchcxt = AllocSetContextCreate(state.scancxt,
										   "topcalls_fdw analyze page",
										   ALLOCSET_DEFAULT_SIZES);
	tc_get_options(RelationGetRelid(relation), GetUserId(), &state.opts);
	state.conv = tc_converter_create(relation, state.scancxt);
	state.page_limit = state.opts.page_size;
	reservoir_init_selection_state(&rstate, targrows);

	while (tc_fetch_page(&state))
	{
		for (i = 0; i < state.page.ntuples; i++)
		{
			HeapTuple	tuple = state.page.tuples[i];

			if (nsampled < targrows)
				rows[nsampled++] = tc_copy_tuple_to(samplecxt, tuple);
			else
			{
				/* Vitter's algorithm: draw how many rows to skip, not a coin per row */
				if (rowstoskip < 0)
					rowstoskip = reservoir_get_next_S(&rstate, seen, targrows);
				if (rowstoskip <= 0)
				{
					int			k = (int) (targrows * tc_reservoir_random_fract(&rstate));

					heap_freetuple(rows[k]);
					rows[k] = tc_copy_tuple_to(samplecxt, tuple);
				}
				rowstoskip -= 1;
			}
			seen += 1;
		}
		tc_analyze_delay_point();
	}

	*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": read %.0f rows in %ld pages of the TopCalls API, sampled %d",
					RelationGetRelationName(relation), seen, (long) state.pages,
					nsampled)));
	MemoryContextDelete(state.scancxt);
	return nsampled;
}

static bool
tcAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
					  BlockNumber *totalpages)
{
	*func = tc_acquire_sample_rows;
	*totalpages = 1;
	return true;
}

/* ------------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA topcalls
 * ------------------------------------------------------------------------
 */

static List *
tcImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;
	const TcResource *r;

	if (stmt->options != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\"",
						((DefElem *) linitial(stmt->options))->defname),
				 errhint("IMPORT FOREIGN SCHEMA of topcalls_fdw takes no options.")));

	if (strcmp(stmt->remote_schema, "topcalls") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("schema \"%s\" is not present on foreign server \"%s\"",
						stmt->remote_schema, server->servername),
				 errhint("The only schema is \"topcalls\".")));

	for (r = tc_resources; r->name; r++)
	{
		StringInfoData buf;
		const TcResourceColumn *col;

		/* LIMIT TO and EXCEPT are applied by the caller, on table names */
		initStringInfo(&buf);
		appendStringInfo(&buf, "CREATE FOREIGN TABLE %s (\n",
						 quote_identifier(r->name));
		for (col = r->columns; col->name; col++)
			appendStringInfo(&buf, "  %s %s%s\n", quote_identifier(col->name),
							 col->type, col[1].name ? "," : "");
		appendStringInfo(&buf, ") SERVER %s OPTIONS (resource %s)",
						 quote_identifier(server->servername),
						 quote_literal_cstr(r->name));
		commands = lappend(commands, buf.data);
	}
	return commands;
}
