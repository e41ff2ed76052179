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
#include "access/stratnum.h"
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
#include "utils/typcache.h"

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

/* Values assumed for an array whose length the planner cannot see. */
#define TC_DEFAULT_ARRAY_IDS	10.0

/* Lists a list path is assumed to read at most (scan.c's TC_MAX_LISTS). */
#define TC_MAX_LISTS_ESTIMATE	1000.0

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
 *		Library load: the catalog callbacks and the settings, and, when the
 *		library is preloaded, the request for shared memory (shared.c).  curl
 *		is initialised lazily in the backend, never in the postmaster.
 */
void
_PG_init(void)
{
	tc_register_invalidation();
	tc_cache_define_gucs();
	tc_shared_init();
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

/* Filters a resource may have; resource.c declares two at most. */
#define TC_MAX_FILTERS			8

/*
 * How a foreign table's columns map onto its resource: the columns the
 * planner can push conditions on.
 */
typedef struct TcTableMap
{
	AttrNumber	key_attnum;		/* column of the resource's key_field, or 0 */
	AttrNumber	filter_attnum[TC_MAX_FILTERS];	/* per filter: its column, or 0 */
	AttrNumber	order_attnum;	/* timestamptz column of order_field, or 0 */
	Bitmapset  *detail_attnums; /* columns of detail-only fields */
} TcTableMap;

/* Planner state of one foreign relation, in baserel->fdw_private. */
typedef struct TcRelInfo
{
	TcOptions	opts;
	const TcResource *resource;
	TcTableMap	map;
	List	   *key_clauses;	/* RestrictInfos usable for lookups */
	List	   *list_clauses;	/* RestrictInfos a list can send (filters,
								 * time bounds) */
	double		table_rows;		/* rows in the whole collection */
	double		lookup_ids;		/* ids the key_clauses name, estimated */
	double		list_rows;		/* rows the list path reads */
	double		lists;			/* lists the list path reads */
	Bitmapset  *attrs_used;		/* attnos the scan needs */
	bool		details;		/* ... some of them detail-only */
	QualCost	local_cost;		/* of checking the table's own conditions
								 * on each row read: all are rechecked */
} TcRelInfo;

/* What a condition can do for the requests. */
typedef struct TcPushable
{
	int			kind;			/* TC_EXPR_*, or 0: nothing */
	int			arg;			/* for a filter: its number */
	int			flags;			/* TC_EXPR_ARRAY, TC_EXPR_STRICT */
	Expr	   *value;			/* what gives the value(s) */
} TcPushable;

/*
 * Check the table's columns against its resource and map them (see
 * TcTableMap).  A column with no "field" option whose name is no documented
 * field of the resource is an ERROR: it would read NULL on every row, which
 * is almost always a typo.
 */
static void
tc_map_table(Oid relid, const TcResource *resource, const TcOptions *opts,
			 TcTableMap *map)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			i;

	memset(map, 0, sizeof(*map));
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		const char *field;
		const TcResourceColumn *doc;
		const TcResourceFilter *filter;

		if (att->attisdropped)
			continue;
		field = tc_effective_field(resource, relid, att);
		doc = tc_resource_column(resource, field);
		if (doc == NULL && tc_column_field(relid, att->attnum) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
					 errmsg("column \"%s\" of foreign table \"%s\" is not a field of TopCalls resource \"%s\"",
							NameStr(att->attname), RelationGetRelationName(rel),
							resource->name),
					 errhint("The documented fields are: %s.  To read a field the API has added, name it with OPTIONS (field '...').",
							 tc_resource_fields(resource))));

		if (strcmp(field, resource->key_field) == 0 &&
			(att->atttypid == UUIDOID || att->atttypid == TEXTOID ||
			 att->atttypid == VARCHAROID) && resource->get_path != NULL)
			map->key_attnum = att->attnum;
		filter = tc_resource_filter(resource, field);
		if (filter != NULL &&
			(att->atttypid == UUIDOID || att->atttypid == TEXTOID ||
			 att->atttypid == VARCHAROID))
			map->filter_attnum[filter - resource->filters] = att->attnum;
		if (resource->order_field != NULL && opts->time_pushdown &&
			strcmp(field, resource->order_field) == 0 &&
			att->atttypid == TIMESTAMPTZOID)
			map->order_attnum = att->attnum;
		if (doc != NULL && doc->detail_only)
			map->detail_attnums = bms_add_member(map->detail_attnums, att->attnum);
	}
	table_close(rel, AccessShareLock);
}

/* Is node the column attnum of this relation (under a binary-compatible cast)? */
static bool
tc_is_column(Node *node, Index relid, AttrNumber attnum)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return attnum != 0 && node && IsA(node, Var) &&
		(Index) ((Var *) node)->varno == relid &&
		((Var *) node)->varattno == attnum &&
		((Var *) node)->varlevelsup == 0;
}

/* Can an expression give a value to send: no own columns, not volatile. */
static bool
tc_is_outside_value(PlannerInfo *root, Node *node, Index relid)
{
	Relids		varnos = tc_pull_varnos(root, node);

	return !bms_is_member(relid, varnos) &&
		!contain_volatile_functions(node);
}

/* Is opno the equality of uuid or text? */
static bool
tc_is_equality(Oid opno)
{
	RegProcedure fn = get_opcode(opno);

	return fn == F_UUID_EQ || fn == F_TEXTEQ;
}

/*
 * Is clause "col = value", "value = col" or "col = ANY(array)" with the uuid
 * or text equality?  Then return the value and whether it is an array.
 */
static bool
tc_equality_clause(PlannerInfo *root, Expr *clause, Index relid,
				   AttrNumber attnum, Expr **value, bool *is_array)
{
	if (attnum == 0)
		return false;
	if (IsA(clause, OpExpr))
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left;
		Node	   *right;

		if (list_length(op->args) != 2 || !tc_is_equality(op->opno))
			return false;
		left = linitial(op->args);
		right = lsecond(op->args);
		*is_array = false;
		if (tc_is_column(left, relid, attnum) && tc_is_outside_value(root, right, relid))
		{
			*value = (Expr *) right;
			return true;
		}
		if (tc_is_column(right, relid, attnum) && tc_is_outside_value(root, left, relid))
		{
			*value = (Expr *) left;
			return true;
		}
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;

		if (!saop->useOr || list_length(saop->args) != 2 ||
			!tc_is_equality(saop->opno))
			return false;
		if (tc_is_column(linitial(saop->args), relid, attnum) &&
			tc_is_outside_value(root, lsecond(saop->args), relid))
		{
			*value = (Expr *) lsecond(saop->args);
			*is_array = true;
			return true;
		}
	}
	return false;
}

/*
 * Are the values a constant filter condition names all accepted by the API?
 * Values known only at run time are checked then (a value the API would
 * refuse is never sent: the list is read unfiltered instead).
 */
static bool
tc_filter_consts_accepted(const TcResourceFilter *filter, Expr *value,
						  bool is_array)
{
	char	  **texts;
	int			ntexts;
	int			i;

	while (IsA(value, RelabelType))
		value = ((RelabelType *) value)->arg;
	if (!IsA(value, Const) || ((Const *) value)->constisnull)
		return true;
	texts = tc_value_texts(((Const *) value)->constvalue,
						   ((Const *) value)->consttype, is_array, &ntexts);
	for (i = 0; i < ntexts; i++)
	{
		if (!tc_filter_accepts(filter, texts[i]))
			return false;
	}
	return true;
}

/*
 * Is clause "col op value" (or reversed) on the order column, with op one
 * of timestamptz's <, <=, >, >=?  Then fill p with the bound it gives.
 */
static bool
tc_time_clause(PlannerInfo *root, Expr *clause, Index relid, AttrNumber attnum,
			   TcPushable *p)
{
	OpExpr	   *op;
	TypeCacheEntry *tc;
	int			strategy;
	Node	   *left;
	Node	   *right;
	bool		col_left;
	bool		lower;
	bool		strict;

	if (attnum == 0 || !IsA(clause, OpExpr))
		return false;
	op = (OpExpr *) clause;
	if (list_length(op->args) != 2)
		return false;
	left = linitial(op->args);
	right = lsecond(op->args);
	if (tc_is_column(left, relid, attnum) && tc_is_outside_value(root, right, relid))
		col_left = true;
	else if (tc_is_column(right, relid, attnum) && tc_is_outside_value(root, left, relid))
		col_left = false;
	else
		return false;

	/*
	 * The operator must be one of timestamptz's own comparisons: its
	 * strategy in the type's btree family, with timestamptz on both sides.
	 */
	if (exprType(left) != TIMESTAMPTZOID || exprType(right) != TIMESTAMPTZOID)
		return false;
	tc = lookup_type_cache(TIMESTAMPTZOID, TYPECACHE_BTREE_OPFAMILY);
	strategy = get_op_opfamily_strategy(op->opno, tc->btree_opf);
	if (strategy == BTGreaterEqualStrategyNumber || strategy == BTGreaterStrategyNumber)
		lower = col_left;		/* col >= v: a lower bound */
	else if (strategy == BTLessEqualStrategyNumber || strategy == BTLessStrategyNumber)
		lower = !col_left;		/* col <= v: an upper bound */
	else
		return false;
	strict = (strategy == BTGreaterStrategyNumber || strategy == BTLessStrategyNumber);

	p->kind = lower ? TC_EXPR_TIME_LO : TC_EXPR_TIME_HI;
	p->arg = 0;
	p->flags = strict ? TC_EXPR_STRICT : 0;
	p->value = (Expr *) (col_left ? right : left);
	return true;
}

/*
 * What a condition can do for the requests: give the ids of a lookup
 * ("lookup"), or a filter value or a time bound of a list (otherwise).
 */
static bool
tc_pushable(PlannerInfo *root, TcRelInfo *info, Index relid, Expr *clause,
			bool lookup, TcPushable *p)
{
	Expr	   *value;
	bool		is_array;
	int			i;

	memset(p, 0, sizeof(*p));
	if (lookup)
	{
		if (!tc_equality_clause(root, clause, relid, info->map.key_attnum,
								&value, &is_array))
			return false;
		p->kind = TC_EXPR_KEY;
		p->flags = is_array ? TC_EXPR_ARRAY : 0;
		p->value = value;
		return true;
	}
	for (i = 0; info->resource->filters && info->resource->filters[i].field; i++)
	{
		if (tc_equality_clause(root, clause, relid, info->map.filter_attnum[i],
							   &value, &is_array))
		{
			if (!tc_filter_consts_accepted(&info->resource->filters[i], value, is_array))
				return false;
			p->kind = TC_EXPR_FILTER;
			p->arg = i;
			p->flags = is_array ? TC_EXPR_ARRAY : 0;
			p->value = value;
			return true;
		}
	}
	return tc_time_clause(root, clause, relid, info->map.order_attnum, p);
}

/* The rows a subquery's plan is expected to return. */
static double
tc_subplan_rows(PlannerInfo *root, SubPlan *subplan)
{
	Plan	   *plan = (Plan *) list_nth(root->glob->subplans, subplan->plan_id - 1);

	return plan->plan_rows;
}

/*
 * How many values an expression names, as far as the planner can tell:
 * the length of a constant array or an ARRAY[...], the row estimate of an
 * ARRAY(SELECT ...) (a SubPlan, or the Param an uncorrelated one became
 * as an initplan), and a guess for anything else.
 */
static double
tc_estimate_values(PlannerInfo *root, Expr *value, bool is_array)
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
 * The rows and the number of lists a list path reads, given the clauses it
 * sends: the table's rows times the clauses' selectivity, and one list per
 * combination of filter values.
 */
static void
tc_estimate_list(PlannerInfo *root, RelOptInfo *baserel, TcRelInfo *info,
				 List *clauses, double *rows, double *lists)
{
	double		nlists = 1.0;
	ListCell   *lc;

	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		TcPushable	p;

		if (tc_pushable(root, info, baserel->relid, ri->clause, false, &p) &&
			p.kind == TC_EXPR_FILTER)
			nlists *= Max(1.0, tc_estimate_values(root, p.value,
												  (p.flags & TC_EXPR_ARRAY) != 0));
	}
	*rows = info->table_rows *
		clauselist_selectivity(root, clauses, baserel->relid, JOIN_INNER, NULL);
	*lists = Min(nlists, TC_MAX_LISTS_ESTIMATE);
}

/*
 * tcGetForeignRelSize
 *		Options, pushable conditions and row estimate of a TopCalls relation.
 *
 * The table's size is ANALYZE's count, else the "rows" option, else
 * TC_DEFAULT_TABLE_ROWS; with id conditions, at most the ids they name.
 * Selectivities come from the column statistics.  Also the columns the
 * scan needs (from the target list and the conditions, as postgres_fdw's
 * retrieved attributes), and whether some need each row's detail.
 */
static void
tcGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	TcRelInfo  *info = palloc0(sizeof(TcRelInfo));
	Oid			userid = tc_planner_userid(root, baserel);
	List	   *local_clauses = NIL;
	ListCell   *lc;
	double		rows;
	double		learned;

	baserel->fdw_private = info;
	tc_get_options(foreigntableid, userid, &info->opts);
	info->resource = tc_resource_get(info->opts.resource);
	tc_map_table(foreigntableid, info->resource, &info->opts, &info->map);
	info->lookup_ids = -1;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		TcPushable	p;

		if (ri->pseudoconstant)
			continue;
		if (tc_pushable(root, info, baserel->relid, ri->clause, true, &p))
		{
			double		n = tc_estimate_values(root, p.value,
											   (p.flags & TC_EXPR_ARRAY) != 0);

			info->key_clauses = lappend(info->key_clauses, ri);
			if (info->lookup_ids < 0 || n < info->lookup_ids)
				info->lookup_ids = n;
		}
		else
			local_clauses = lappend(local_clauses, ri);
		if (tc_pushable(root, info, baserel->relid, ri->clause, false, &p))
			info->list_clauses = lappend(info->list_clauses, ri);
	}

	/*
	 * Size of the whole collection: ANALYZE's count when there is one
	 * (reltuples is -1, or 0 on 13, until the first ANALYZE), else the table
	 * option, else what the last complete read of the whole list counted (in
	 * any backend: shared.c), else a guess.
	 */
	if (baserel->tuples >= 0 && baserel->pages > 0)
		info->table_rows = baserel->tuples;
	else if (info->opts.rows >= 0)
		info->table_rows = info->opts.rows;
	else if ((learned = tc_shared_table_rows(&info->opts)) >= 0)
		info->table_rows = learned;
	else
		info->table_rows = TC_DEFAULT_TABLE_ROWS;

	if (info->key_clauses)
		rows = Min(info->lookup_ids, info->table_rows) *
			clauselist_selectivity(root, local_clauses, baserel->relid,
								   JOIN_INNER, NULL);
	else
		rows = info->table_rows *
			clauselist_selectivity(root, baserel->baserestrictinfo,
								   baserel->relid, JOIN_INNER, NULL);
	baserel->rows = clamp_row_est(rows);
	baserel->tuples = Max(baserel->tuples, info->table_rows);
	tc_estimate_list(root, baserel, info, info->list_clauses,
					 &info->list_rows, &info->lists);
	cost_qual_eval(&info->local_cost, baserel->baserestrictinfo, root);

	/* the columns needed: those the query reads, and those conditions test */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid,
				   &info->attrs_used);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause,
					   baserel->relid, &info->attrs_used);
	if (bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber,
					  info->attrs_used))
		info->details = !bms_is_empty(info->map.detail_attnums);	/* whole row */
	else
	{
		int			attno = -1;

		while ((attno = bms_next_member(info->attrs_used, attno)) >= 0)
		{
			if (bms_is_member(attno + FirstLowInvalidHeapAttributeNumber,
							  info->map.detail_attnums))
				info->details = true;
		}
	}
}

/*
 * Requests of a lookup scan and the rows they bring, priced with the
 * options, and the conditions ("quals") checked on each of them.
 */
static void
tc_cost_lookups(const TcRelInfo *info, const QualCost *quals, double nids,
				double rows, Cost *startup, Cost *total)
{
	double		rounds = ceil(nids / info->opts.max_concurrency);

	/* no ids (id = ANY('{}')) means no request at all */
	*startup = (nids > 0 ? info->opts.request_cost : 0) + quals->startup;
	*total = quals->startup + rounds * info->opts.request_cost +
		nids * (info->opts.row_cost + quals->per_tuple) + rows * cpu_tuple_cost;
}

/*
 * Lists read page by page: lists x pages each, the rows read (list_rows),
 * the conditions ("quals") checked on each of them, and a detail request
 * per row read when the scan needs details (those go max_concurrency at
 * once).
 */
static void
tc_cost_lists(const TcRelInfo *info, const QualCost *quals, double lists,
			  double list_rows, double rows, Cost *startup, Cost *total)
{
	double		pages = lists *
		Max(1.0, ceil(list_rows / Max(lists, 1.0) / info->opts.page_size));

	*startup = info->opts.request_cost + quals->startup;
	*total = quals->startup + pages * info->opts.request_cost +
		list_rows * (info->opts.row_cost + quals->per_tuple) +
		rows * cpu_tuple_cost;
	if (info->details)
		*total += ceil(list_rows / info->opts.max_concurrency) *
			info->opts.request_cost + list_rows * info->opts.row_cost;
}

/*
 * A path of this relation; "lookup" says whether it looks ids up or reads
 * lists, which GetForeignPlan finds in the path's fdw_private.
 */
static ForeignPath *
tc_make_path(PlannerInfo *root, RelOptInfo *baserel, double rows,
			 Cost startup, Cost total, Relids required_outer, bool lookup)
{
	return tc_create_foreignscan_path(root, baserel, rows, startup, total,
									  required_outer,
									  list_make1(makeInteger(lookup ? 1 : 0)));
}

/* For generate_implied_equalities_for_column: an EC member of our column? */
typedef struct TcEcTarget
{
	AttrNumber	attnum;
} TcEcTarget;

static bool
tc_ec_member_is_column(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
					   EquivalenceMember *em, void *arg)
{
	return tc_is_column((Node *) em->em_expr, rel->relid,
						((TcEcTarget *) arg)->attnum);
}

/*
 * Add one path parameterized by the outer relations of a join clause: a
 * lookup path when the clause names the key, a list path when it gives a
 * filter value (a join from a few campaigns reads only their calls).
 */
static void
tc_add_param_path(PlannerInfo *root, RelOptInfo *baserel, TcRelInfo *info,
				  RestrictInfo *ri, List **seen)
{
	Relids		required_outer;
	ParamPathInfo *ppi;
	QualCost	quals;
	TcPushable	p;
	bool		lookup;
	Cost		startup;
	Cost		total;
	ListCell   *lc;

	if (!join_clause_is_movable_to(ri, baserel))
		return;
	if (tc_pushable(root, info, baserel->relid, ri->clause, true, &p))
		lookup = true;
	else if (tc_pushable(root, info, baserel->relid, ri->clause, false, &p) &&
			 p.kind == TC_EXPR_FILTER)
		lookup = false;
	else
		return;

	required_outer = bms_union(ri->clause_relids, baserel->lateral_relids);
	required_outer = bms_del_member(required_outer, baserel->relid);
	if (bms_is_empty(required_outer))
		return;
	foreach(lc, *seen)
	{
		List	   *pair = (List *) lfirst(lc);

		if (bms_equal((Relids) linitial(pair), required_outer) &&
			intVal(lsecond(pair)) == (lookup ? 1 : 0))
			return;
	}
	*seen = lappend(*seen, list_make2(required_outer, makeInteger(lookup ? 1 : 0)));

	ppi = get_baserel_parampathinfo(root, baserel, required_outer);
	/* the join clauses moved into the scan are checked on each row too */
	cost_qual_eval(&quals, ppi->ppi_clauses, root);
	quals.startup += info->local_cost.startup;
	quals.per_tuple += info->local_cost.per_tuple;
	if (lookup)
	{
		double		nids = tc_estimate_values(root, p.value,
											  (p.flags & TC_EXPR_ARRAY) != 0);

		/*
		 * A lookup returns at most one row per id (the selectivity of id =
		 * outer would otherwise say 1/200 of an unanalyzed table).  Rows
		 * nested in an object (transcript turns) may be more.
		 */
		if (info->resource->rows_field == NULL)
			ppi->ppi_rows = Min(ppi->ppi_rows, clamp_row_est(nids));
		tc_cost_lookups(info, &quals, nids, ppi->ppi_rows, &startup, &total);
	}
	else
	{
		double		list_rows;
		double		lists;

		tc_estimate_list(root, baserel, info,
						 lappend(list_copy(info->list_clauses), ri),
						 &list_rows, &lists);
		tc_cost_lists(info, &quals, lists, list_rows, ppi->ppi_rows,
					  &startup, &total);
	}
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, ppi->ppi_rows, startup, total,
						  required_outer, lookup));
}

/*
 * tcGetForeignPaths
 *		The ways to scan the relation: reading lists, always (with the
 *		filters and time bounds the conditions allow); looking up the ids the
 *		table's own key conditions name, when there are such conditions; and
 *		one path per outer relation that a join clause or equivalence class
 *		could take ids or filter values from.  The costs decide: a thousand
 *		ids against a small account read the list once.
 */
static void
tcGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	Cost		startup;
	Cost		total;
	List	   *seen = NIL;
	ListCell   *lc;
	int			i;

	/*
	 * The lookups first: add_path keeps the first of two paths that cost
	 * the same, and at equal cost (a table of one row, one id) looking the
	 * id up reads only what was asked for.
	 */
	if (info->key_clauses)
	{
		tc_cost_lookups(info, &info->local_cost, info->lookup_ids,
						baserel->rows, &startup, &total);
		add_path(baserel, (Path *)
				 tc_make_path(root, baserel, baserel->rows, startup, total,
							  baserel->lateral_relids, true));
	}
	tc_cost_lists(info, &info->local_cost, info->lists, info->list_rows,
				  baserel->rows, &startup, &total);
	add_path(baserel, (Path *)
			 tc_make_path(root, baserel, baserel->rows, startup, total,
						  baserel->lateral_relids, false));

	/*
	 * Parameterized paths, so that a nested loop sends one lookup (or one
	 * filtered list) per outer row instead of reading the whole list: from
	 * join clauses, and from equivalence classes (a.x = b.x AND b.x = id).
	 */
	foreach(lc, baserel->joininfo)
		tc_add_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc), &seen);

	for (i = -1; i < TC_MAX_FILTERS; i++)
	{
		TcEcTarget	target;
		List	   *ec_clauses;

		target.attnum = i < 0 ? info->map.key_attnum : info->map.filter_attnum[i];
		if (target.attnum == 0)
			continue;
		ec_clauses = generate_implied_equalities_for_column(root, baserel,
															tc_ec_member_is_column,
															&target,
															baserel->lateral_referencers);
		foreach(lc, ec_clauses)
			tc_add_param_path(root, baserel, info, lfirst_node(RestrictInfo, lc), &seen);
	}
}

/*
 * The rows a plain "LIMIT n" on this one table will take, with nothing that
 * filters, sorts or groups its rows; 0 when there is no such limit.  A list
 * scan then asks for pages no bigger, and for none beyond the n-th row.
 */
static int
tc_row_limit(PlannerInfo *root, RelOptInfo *baserel, TcRelInfo *info)
{
	if (root->limit_tuples > 0 &&
		root->parse->sortClause == NIL &&
		root->parse->setOperations == NULL &&
		bms_membership(root->all_baserels) == BMS_SINGLETON &&
		baserel->baserestrictinfo == NIL &&
		info->resource->rows_field == NULL &&
		root->limit_tuples < (double) INT_MAX)
		return Max(1, (int) ceil(root->limit_tuples));
	return 0;
}

/* Collects the PARAM_EXEC ids an expression uses. */
static bool
tc_param_walker(Node *node, Bitmapset **params)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		*params = bms_add_member(*params, ((Param *) node)->paramid);
	return expression_tree_walker(node, tc_param_walker, (void *) params);
}

/*
 * Will the scan be rescanned with the same requests?  When its conditions
 * use values of an outer query (a correlated subquery) that its requests
 * do not: parameters that are not initplan outputs (computed once) nor
 * values the requests send (new values mean new requests anyway, as for a
 * parameterized path).  Such a list scan keeps its rows for replay from the
 * start (scan.c); others only once rescanned.
 */
static bool
tc_expects_replays(PlannerInfo *root, ForeignPath *best_path, List *clauses,
				   List *exprs)
{
	Bitmapset  *params = NULL;
	Bitmapset  *sent = NULL;
	PlannerInfo *level;
	ListCell   *lc;

	if (best_path->path.param_info != NULL)
		return false;
	(void) tc_param_walker((Node *) clauses, &params);
	(void) tc_param_walker((Node *) exprs, &sent);
	params = bms_del_members(params, sent);
	for (level = root; level != NULL && !bms_is_empty(params); level = level->parent_root)
	{
		foreach(lc, level->init_plans)
		{
			ListCell   *lc2;

			foreach(lc2, lfirst_node(SubPlan, lc)->setParam)
				params = bms_del_member(params, lfirst_int(lc2));
		}
	}
	return !bms_is_empty(params);
}

/*
 * tcGetForeignPlan
 *		The ForeignScan of the chosen path.
 *
 * Every clause stays in the local quals: rows are checked against them
 * whatever the API answers.  The clauses that choose the requests (the key
 * clauses of a lookup path; the filter and time clauses of a list path, the
 * table's and this path's join clause) also give their value expressions
 * to fdw_exprs, evaluated at run time.
 */
static ForeignScan *
tcGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses,
				 Plan *outer_plan)
{
	TcRelInfo  *info = (TcRelInfo *) baserel->fdw_private;
	bool		lookup = intVal(linitial(best_path->fdw_private)) != 0;
	List	   *exprs = NIL;
	List	   *kinds = NIL;
	List	   *attrs = NIL;
	Bitmapset  *used = bms_copy(info->attrs_used);
	List	   *fdw_private;
	ListCell   *lc;
	int			attno = -1;
	int			row_limit = tc_row_limit(root, baserel, info);

	foreach(lc, scan_clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		TcPushable	p;

		pull_varattnos((Node *) ri->clause, baserel->relid, &used);
		if (!ri->pseudoconstant &&
			tc_pushable(root, info, baserel->relid, ri->clause, lookup, &p))
		{
			exprs = lappend(exprs, p.value);
			kinds = lappend_int(kinds, TC_EXPR_CODE(p.kind, p.arg, p.flags));
		}
	}
	/* a lookup path has a key clause by construction */
	Assert(!lookup || exprs != NIL);

	/* the columns to convert: NIL means all (a whole-row reference) */
	if (!bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber, used))
	{
		while ((attno = bms_next_member(used, attno)) >= 0)
		{
			if (attno + FirstLowInvalidHeapAttributeNumber > 0)
				attrs = lappend_int(attrs, attno + FirstLowInvalidHeapAttributeNumber);
		}
		if (attrs == NIL)
			attrs = list_make1_int(0);	/* none at all (count(*)) */
	}

	fdw_private = list_make4(makeInteger(lookup ? 1 : 0),
							 kinds,
							 makeInteger(row_limit > 0 ?
										 Min(row_limit, info->opts.page_size) :
										 info->opts.page_size),
							 attrs);
	fdw_private = lappend(fdw_private,
						  makeInteger(!lookup && info->details ? 1 : 0));
	fdw_private = lappend(fdw_private, makeInteger(row_limit));
	fdw_private = lappend(fdw_private,
						  makeInteger(tc_expects_replays(root, best_path,
														 extract_actual_clauses(scan_clauses, false),
														 exprs) ? 1 : 0));

	return make_foreignscan(tlist,
							extract_actual_clauses(scan_clauses, false),
							baserel->relid,
							exprs,
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
 * tc_acquire_sample_rows
 *		ANALYZE's sample (an AcquireSampleRowsFunc): the whole list, read
 *		once, sampled with Vitter's reservoir algorithm.  Every row is live:
 *		there are no dead rows.
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
	TcListSet  *list;
	TcListSpec	spec;
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
	conv = tc_converter_create(relation, tc_resource_get(opts->resource), NULL,
							   scancxt);
	memset(&spec, 0, sizeof(spec));
	list = tc_listset_create(opts, conv, opts->page_size, 0, false, &stats, scancxt);
	tc_listset_add(list, &spec);
	MemoryContextSwitchTo(oldcxt);
	reservoir_init_selection_state(&rstate, targrows);

	while ((tuple = tc_listset_next(list)) != NULL)
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
		if (tc_listset_pages(list) != pages)
		{
			pages = tc_listset_pages(list);
			tc_analyze_delay_point();
		}
	}

	*totalrows = seen;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": read %.0f rows in %ld pages of the TopCalls API, sampled %d",
					RelationGetRelationName(relation), seen,
					(long) tc_listset_pages(list), nsampled)));
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
