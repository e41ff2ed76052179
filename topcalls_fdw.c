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
#include "optimizer/plancat.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "storage/bufpage.h"
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

TC_MODULE_MAGIC;

/*
 * Row estimate of a table never analyzed and without a "rows" option.  It
 * errs on the large side on purpose: guessing too large costs a join from a
 * few hundred local rows some lookups where one list read would have done,
 * while guessing too small makes a join from a handful of rows read the
 * whole list of a large account.
 */
#define TC_DEFAULT_TABLE_ROWS	10000.0

/* Ids assumed for an array whose length the planner cannot see. */
#define TC_DEFAULT_ARRAY_IDS	10.0

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
static bool tcAnalyzeForeignTable(Relation relation,
								  AcquireSampleRowsFunc *func,
								  BlockNumber *totalpages);
static List *tcImportForeignSchema(ImportForeignSchemaStmt *stmt,
								   Oid serverOid);

/*
 * _PG_init
 *		Library load.  Only catalog callbacks here: curl is initialised lazily by http.c in the
 * backend, never in the postmaster.
 */
void
_PG_init(void)
{
	tc_register_invalidation();
}

/*
 * topcalls_fdw_handler
 *		The foreign-data wrapper handler: the callbacks of a TopCalls table.
 *		Read-only: no modify, join or upper-relation pushdown callbacks.
 */
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
tc_is_id_value(PlannerInfo *root, Node *node, Index relid)
{
	Relids		varnos = tc_pull_varnos(root, node);

	return !bms_is_member(relid, varnos) &&
		!contain_volatile_functions(node);
}

/*
 * Is clause "id = value", "value = id" or "id = ANY(array)" with the uuid or
 * text equality?  If so, return the value expression and whether it is an
 * array.
 */
static bool
tc_id_clause(PlannerInfo *root, Expr *clause, Index relid, AttrNumber id_attnum,
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
		if (tc_is_id_var(left, relid, id_attnum) && tc_is_id_value(root, right, relid))
		{
			*value = (Expr *) right;
			*is_array = false;
			return true;
		}
		if (tc_is_id_var(right, relid, id_attnum) && tc_is_id_value(root, left, relid))
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
			tc_is_id_value(root, lsecond(saop->args), relid))
		{
			*value = (Expr *) lsecond(saop->args);
			*is_array = true;
			return true;
		}
	}
	return false;
}

/* The rows a subquery's plan is expected to return. */
static double
tc_subplan_rows(PlannerInfo *root, SubPlan *subplan)
{
	Plan	   *plan = (Plan *) list_nth(root->glob->subplans, subplan->plan_id - 1);

	return plan->plan_rows;
}

/*
 * How many ids a value expression names, as far as the planner can tell:
 * the length of a constant array or an ARRAY[...], the row estimate of an
 * ARRAY(SELECT ...) (a SubPlan, or the Param an uncorrelated one became
 * as an initplan), and a guess for anything else.
 */
static double
tc_estimate_ids(PlannerInfo *root, Expr *value, bool is_array)
{
	if (!is_array)
		return 1.0;
	while (IsA(value, RelabelType))
		value = ((RelabelType *) value)->arg;
	if (IsA(value, SubPlan))
		return tc_subplan_rows(root, (SubPlan *) value);
	if (IsA(value, Param) && ((Param *) value)->paramkind == PARAM_EXEC)
	{
		int			paramid = ((Param *) value)->paramid;
		PlannerInfo *level;
		ListCell   *lc;

		for (level = root; level != NULL; level = level->parent_root)
		{
			foreach(lc, level->init_plans)
			{
				SubPlan    *initplan = lfirst_node(SubPlan, lc);

				if (list_member_int(initplan->setParam, paramid))
					return tc_subplan_rows(level, initplan);
			}
		}
		return TC_DEFAULT_ARRAY_IDS;
	}
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

/*
 * tcGetForeignRelSize
 *		Options, id conditions and row estimate of a TopCalls relation.
 *
 * The table's size is ANALYZE's count, else the "rows" option, else
 * TC_DEFAULT_TABLE_ROWS; with id conditions, at most the ids they name.
 * The other conditions' selectivities come from the column statistics.
 */
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
			tc_id_clause(root, ri->clause, baserel->relid, info->id_attnum,
						 &value, &is_array))
		{
			double		n = tc_estimate_ids(root, value, is_array);

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

/* The list read once: every page and every row of the table. */
static void
tc_cost_list(const TcRelInfo *info, double rows, Cost *startup, Cost *total)
{
	double		pages = Max(1.0, ceil(info->table_rows / info->opts.page_size));

	*startup = info->opts.request_cost;
	*total = pages * info->opts.request_cost +
		info->table_rows * (info->opts.row_cost + cpu_operator_cost) +
		rows * cpu_tuple_cost;
}

/*
 * A path of this relation; "lookup" says whether it looks ids up or reads
 * the list, which GetForeignPlan finds in the path's fdw_private.
 */
static ForeignPath *
tc_make_path(PlannerInfo *root, RelOptInfo *baserel, double rows,
			 Cost startup, Cost total, Relids required_outer, bool lookup)
{
	return tc_create_foreignscan_path(root, baserel, rows, startup, total,
									  required_outer,
									  list_make1(makeInteger(lookup ? 1 : 0)));
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
	if (!tc_id_clause(root, ri->clause, baserel->relid, info->id_attnum,
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
	tc_cost_lookups(info, tc_estimate_ids(root, value, is_array), ppi->ppi_rows,
					&startup, &total);
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, ppi->ppi_rows, startup, total,
						  required_outer, true));
}

/*
 * tcGetForeignPaths
 *		The ways to scan the relation: reading the list, always; looking up
 *		the ids the table's own id conditions name, when there are such
 *		conditions; and one lookup path per outer relation a join clause or
 *		equivalence class on id could take its ids from.  The costs decide:
 *		a thousand ids against a small account read the list once.
 */
static void
tcGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	Cost		startup;
	Cost		total;
	List	   *seen_outer = NIL;
	List	   *ec_clauses;
	ListCell   *lc;

	tc_cost_list(info, baserel->rows, &startup, &total);
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, baserel->rows, startup, total,
						  baserel->lateral_relids, false));
	if (info->id_clauses)
	{
		tc_cost_lookups(info, info->lookup_ids, baserel->rows, &startup, &total);
		add_path(baserel, (Path *)
				 tc_make_path(root, baserel, baserel->rows, startup, total,
							  baserel->lateral_relids, true));
	}

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

/*
 * tcGetForeignPlan
 *		The ForeignScan of the chosen path.
 *
 * Every clause stays in the local quals, the id clauses too: rows are
 * checked against them whatever the API answers.  On a lookup path, the id
 * clauses (of the table, or of this path's join) also choose the requests:
 * their value expressions go into fdw_exprs, evaluated at run time.
 */
static ForeignScan *
tcGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	bool		lookup = intVal(linitial(best_path->fdw_private)) != 0;
	List	   *id_exprs = NIL;
	List	   *id_is_array = NIL;
	List	   *fdw_private;
	ListCell   *lc;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Expr	   *value;
		bool		is_array;

		if (lookup && !ri->pseudoconstant &&
			tc_id_clause(root, ri->clause, baserel->relid, info->id_attnum,
						 &value, &is_array))
		{
			id_exprs = lappend(id_exprs, value);
			id_is_array = lappend_int(id_is_array, is_array ? 1 : 0);
		}
	}
	/* a lookup path has an id clause by construction */
	Assert(!lookup || id_exprs != NIL);

	fdw_private = list_make3(id_is_array,
							 makeInteger(tc_page_limit(root, baserel, info)),
							 makeInteger(lookup ? 1 : 0));

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

/*
 * ANALYZE's sample: the whole list, read once, sampled with Vitter's
 * reservoir algorithm.  Every row is live: there are no dead rows.
 */
static int
tc_acquire_sample_rows(Relation relation, int elevel, HeapTuple *rows,
					   int targrows, double *totalrows, double *totaldeadrows)
{
	ReservoirStateData rstate;
	MemoryContext samplecxt = CurrentMemoryContext;
	MemoryContext scancxt;
	MemoryContext oldcxt;
	TcOptions  *opts;
	TcConverter *conv;
	TcListReader *list;
	TcHttpStats stats;
	HeapTuple	tuple;
	double		seen = 0;
	double		rowstoskip = -1;
	int64		pages = 0;
	int			nsampled = 0;

	scancxt = AllocSetContextCreate(CurrentMemoryContext,
									"topcalls_fdw analyze",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(scancxt);
	opts = palloc(sizeof(TcOptions));
	tc_get_options(RelationGetRelid(relation), GetUserId(), opts);
	memset(&stats, 0, sizeof(stats));
	conv = tc_converter_create(relation, scancxt);
	list = tc_list_create(opts, conv, opts->page_size, &stats, scancxt);
	MemoryContextSwitchTo(oldcxt);
	reservoir_init_selection_state(&rstate, targrows);

	while ((tuple = tc_list_next(list)) != NULL)
	{
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
		if (tc_list_pages(list) != pages)
		{
			pages = tc_list_pages(list);
			tc_analyze_delay_point();
		}
	}

	*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": read %.0f rows in %ld pages of the TopCalls API, sampled %d",
					RelationGetRelationName(relation), seen,
					(long) tc_list_pages(list), nsampled)));
	MemoryContextDelete(scancxt);
	return nsampled;
}

/*
 * The number of heap pages the relation's rows would fill, from its row
 * estimate (ANALYZE's last count, else the "rows" option, else the default)
 * and the width of its columns.  ANALYZE of an inheritance tree or a
 * partitioned table shares its sample among the children in proportion to
 * their pages: a foreign child reporting one page would get no sample at
 * all next to a heap child of any size.
 */
static BlockNumber
tc_estimated_pages(Relation relation)
{
	TcOptions	opts;
	double		rows;
	double		tuple_width;
	double		per_page;

	if (relation->rd_rel->relpages > 0 && relation->rd_rel->reltuples >= 0)
		rows = relation->rd_rel->reltuples;
	else
	{
		tc_get_options(RelationGetRelid(relation), GetUserId(), &opts);
		rows = opts.rows >= 0 ? opts.rows : TC_DEFAULT_TABLE_ROWS;
	}

	/* as estimate_rel_size does for a heap relation */
	tuple_width = MAXALIGN(get_rel_data_width(relation, NULL)) +
		MAXALIGN(SizeofHeapTupleHeader) + sizeof(ItemIdData);
	per_page = Max(1.0, floor((BLCKSZ - SizeOfPageHeaderData) / tuple_width));
	return (BlockNumber) Min(Max(1.0, ceil(rows / per_page)), (double) MaxBlockNumber);
}

/*
 * tcAnalyzeForeignTable
 *		ANALYZE reads the whole list (tc_acquire_sample_rows); the pages
 *		reported are those the rows would fill in a heap (tc_estimated_pages).
 */
static bool
tcAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func,
					  BlockNumber *totalpages)
{
	*func = tc_acquire_sample_rows;
	*totalpages = tc_estimated_pages(relation);
	return true;
}

/* ------------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA topcalls
 * ------------------------------------------------------------------------
 */

/*
 * tcImportForeignSchema
 *		CREATE FOREIGN TABLE commands for the resources of remote schema
 *		"topcalls", one table per resource, named after it; LIMIT TO and
 *		EXCEPT are applied by the caller, on those names.
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
