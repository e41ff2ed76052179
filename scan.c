/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  The executor side of topcalls_fdw: Begin/Iterate/ReScan/End and
 *		  EXPLAIN of a foreign scan.
 *
 * A scan either looks ids up (the distinct ids its id conditions name,
 * fetched concurrently, remembered across rescans) or reads lists: one for
 * each combination of the filter values its conditions send to the API,
 * read together by list.c, with the time bounds its conditions give.  A
 * list scan that may be rescanned keeps the rows it returned in a
 * tuplestore (spilling to disk past work_mem) and replays them on a rescan
 * whose requests would be the same, continuing with the next page where the
 * earlier pass stopped; a rescan with new values for the requests reads
 * afresh.
 *
 * What this file must not do: decide which requests a plan may make (that
 * is the planner's, in topcalls_fdw.c), read pages (list.c), build URLs
 * (api.c), talk HTTP (http.c) or convert values (convert.c).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Ids looked up per round of concurrent requests; bounds a scan's bodies. */
#define TC_LOOKUP_BATCH			1024

/*
 * Ids a scan remembers across rescans, so that a nested loop fetches each
 * outer id once; past this the memo starts afresh, bounding its memory.
 */
#define TC_MEMO_MAX_IDS		10000

/*
 * Lists one scan reads at most (combinations of filter values); past this
 * the filter with the most values is no longer sent, and checked locally.
 */
#define TC_MAX_LISTS			1000

/* One id looked up in this scan, and its rows (none: the API said 404). */
typedef struct TcIdEntry
{
	char		id[TC_ID_BUFSIZE];
	HeapTuple  *tuples;
	int			ntuples;
} TcIdEntry;

/* Executor state of a scan. */
typedef struct TcScanState
{
	TcOptions	opts;
	const TcResource *resource;
	TcConverter *conv;
	MemoryContext scancxt;		/* the scan's life */
	MemoryContext idcxt;		/* the id memo and its tuples */
	MemoryContext batchcxt;		/* one round of lookups */
	MemoryContext listcxt;		/* the lists of the current values */

	bool		lookup;
	List	   *exprs;			/* ExprStates of fdw_exprs */
	List	   *kinds;			/* TC_EXPR_* code per expr */
	Bitmapset  *request_params; /* PARAM_EXEC ids the requests depend on */
	int			page_limit;
	int			row_limit;
	bool		details;

	/* lookups */
	bool		ids_ready;
	char	  **ids;			/* distinct normalized ids, sorted */
	int			nids;
	int			next_id;
	TcIdEntry *entry;		/* the entry whose rows are being returned */
	int			next_row;
	HTAB	   *id_rows;		/* id -> TcIdEntry, kept across rescans
								 * until it holds TC_MEMO_MAX_IDS */

	/* lists */
	TcListSet  *lists;			/* NULL until the values are known */
	int			nlists;
	Tuplestorestate *replay;	/* the rows returned so far, when kept */
	TupleTableSlot *replay_slot;	/* what replay gives back */
	bool		keep_rows;		/* append returned rows to replay */
	bool		replaying;		/* this pass reads replay first */

	/* what EXPLAIN ANALYZE reports */
	TcHttpStats stats;
	int64		not_found;
	int64		replayed;		/* rescans served from replay */
	int64		pages;			/* of lists discarded for new values */
	int64		details_fetched;
} TcScanState;

static void tc_id_memo_reset(TcScanState *state);

/* The role whose user mapping the scan uses: the view owner's under a view. */
static Oid
tc_scan_userid(ForeignScanState *node)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Oid			userid = tc_plan_userid(fsplan, node->ss.ps.state);

	return OidIsValid(userid) ? userid : GetUserId();
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
 * tcBeginForeignScan
 *		Set up the scan's state.  Nothing is requested yet: the first
 *		request is made by the first Iterate, and plain EXPLAIN (which runs
 *		no Iterate) contacts nothing and needs no state at all.
 */
void
tcBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Relation	rel = node->ss.ss_currentRelation;
	TcScanState *state;
	MemoryContext oldcxt;
	Bitmapset  *needed = NULL;
	ListCell   *lc;

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
	state->idcxt = AllocSetContextCreate(state->scancxt,
											"topcalls_fdw id memo",
											ALLOCSET_DEFAULT_SIZES);
	state->listcxt = AllocSetContextCreate(state->scancxt,
										   "topcalls_fdw lists",
										   ALLOCSET_DEFAULT_SIZES);

	oldcxt = MemoryContextSwitchTo(state->scancxt);
	tc_get_options(RelationGetRelid(rel), tc_scan_userid(node), &state->opts);
	state->resource = tc_resource_get(state->opts.resource);
	foreach(lc, (List *) list_nth(fsplan->fdw_private, TC_PRIV_ATTRS))
		needed = bms_add_member(needed, lfirst_int(lc));
	state->lookup = intVal(list_nth(fsplan->fdw_private, TC_PRIV_LOOKUP)) != 0;
	state->kinds = (List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_KINDS);
	state->page_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_PAGE_LIMIT));
	state->details = intVal(list_nth(fsplan->fdw_private, TC_PRIV_DETAILS)) != 0;
	state->row_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_ROW_LIMIT));
	(void) tc_param_walker((Node *) fsplan->fdw_exprs, &state->request_params);
	MemoryContextSwitchTo(oldcxt);

	state->conv = tc_converter_create(rel, state->resource, needed, state->scancxt);
	state->exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);

	if (state->lookup)
		tc_id_memo_reset(state);
	else
	{
		/*
		 * Keep the rows for a replay from the start when a rescan is to be
		 * expected: the executor says so (EXEC_FLAG_REWIND), or the planner
		 * saw that the scan depends on a nested loop's or a correlated
		 * subquery's parameters, which change from one rescan to the next
		 * (an initplan's output does not count: it is computed once).
		 * Otherwise the first rescan starts keeping them.
		 */
		state->keep_rows = (eflags & EXEC_FLAG_REWIND) != 0 ||
			intVal(list_nth(fsplan->fdw_private, TC_PRIV_RESCANS)) != 0;
	}
}

/*
 * Start the scan's id memo afresh, freeing the tuples it held.  Nothing
 * returned from the memo may be in use: callers clear the scan slot first.
 */
static void
tc_id_memo_reset(TcScanState *state)
{
	HASHCTL		hctl;

	MemoryContextReset(state->idcxt);
	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = TC_ID_BUFSIZE;
	hctl.entrysize = sizeof(TcIdEntry);
	hctl.hcxt = state->idcxt;
	state->id_rows = hash_create("topcalls_fdw ids", 64, &hctl,
							   HASH_ELEM | TC_HASH_STRINGS | HASH_CONTEXT);
	state->entry = NULL;
}

/* Forget the replay store, if any. */
static void
tc_drop_replay(TcScanState *state)
{
	if (state->replay != NULL)
	{
		ExecDropSingleTupleTableSlot(state->replay_slot);
		tuplestore_end(state->replay);
		state->replay = NULL;
		state->replay_slot = NULL;
	}
	state->replaying = false;
}

/*
 * tcReScanForeignScan
 *		Start the scan over.
 *
 * A lookup scan evaluates its ids again when a parameter they use changed,
 * and keeps its id memo.  A list scan whose requests use no changed parameter
 * replays the rows it already returned, and goes on from where its last
 * pass stopped; if it was not keeping them (no rescan was expected), it
 * reads the lists again, keeping them from now on.  New values for its
 * requests (a campaign_id from the outer row, say) mean new lists.
 */
void
tcReScanForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state == NULL)
		return;
	if (state->lookup)
	{
		if (node->ss.ps.chgParam != NULL)
			state->ids_ready = false;
		state->next_id = 0;
		state->entry = NULL;
		return;
	}

	if (bms_overlap(node->ss.ps.chgParam, state->request_params))
	{
		/* other lists: what was read is of no use */
		if (state->lists != NULL)
		{
			state->pages += tc_listset_pages(state->lists);
			state->details_fetched += tc_listset_details(state->lists);
			tc_listset_end(state->lists);
		}
		ExecClearTuple(node->ss.ss_ScanTupleSlot);
		tc_drop_replay(state);
		MemoryContextReset(state->listcxt);
		state->lists = NULL;
		return;
	}
	if (state->replay != NULL)
	{
		tuplestore_rescan(state->replay);
		state->replaying = true;
		state->replayed++;
		return;
	}
	if (state->lists != NULL)
	{
		ExecClearTuple(node->ss.ss_ScanTupleSlot);
		tc_listset_restart(state->lists);
	}
	state->keep_rows = true;
}

/*
 * tcEndForeignScan
 *		Release the replay store, and drop the list requests sent ahead
 *		(a LIMIT or a join may end the scan early).  Everything else goes
 *		with the query's memory, and http.c owns its handles.  After an
 *		ERROR this is not even called: the store's files go with the
 *		resource owner then, and the requests with the abort callback.
 */
void
tcEndForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state == NULL)
		return;
	tc_drop_replay(state);
	if (state->lists != NULL)
		tc_listset_end(state->lists);
}

/* ------------------------------------------------------------------------
 * The values of the expressions that choose the requests
 * ------------------------------------------------------------------------
 */

/*
 * tc_value_texts
 *		The texts of value, of type "type": the value itself, or with
 *		is_array the elements of the array it is (their type is then read off
 *		the array, and "type" is not used), through their type's output
 *		function, in the current memory context.  NULLs give nothing; *count
 *		says how many texts there are.  The planner (to check constants
 *		against a filter's accepted values) and the executor (to send them)
 *		both read condition values this way.
 */
char **
tc_value_texts(Datum value, Oid type, bool is_array, int *count)
{
	Datum	   *elems = &value;
	bool	   *nulls = NULL;
	int			nelems = 1;
	Oid			outfunc;
	bool		isvarlena;
	char	  **out;
	int			n = 0;
	int			i;

	if (is_array)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		int16		typlen;
		bool		typbyval;
		char		typalign;

		type = ARR_ELEMTYPE(arr);
		get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
		deconstruct_array(arr, type, typlen, typbyval, typalign,
						  &elems, &nulls, &nelems);
	}
	getTypeOutputInfo(type, &outfunc, &isvarlena);
	out = palloc(sizeof(char *) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		if (nulls == NULL || !nulls[i])
			out[n++] = OidOutputFunctionCall(outfunc, elems[i]);
	}
	*count = n;
	return out;
}

static int
tc_cmp_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sort and deduplicate strings in place; returns the new count. */
static int
tc_unique(char **v, int n)
{
	int			i;
	int			out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(char *), tc_cmp_strings);
	for (i = 0; i < n; i++)
	{
		if (out == 0 || strcmp(v[out - 1], v[i]) != 0)
			v[out++] = v[i];
	}
	return out;
}

/* Keep in a only the strings also in b (both sorted and distinct). */
static int
tc_intersect(char **a, int na, char **b, int nb)
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
 * The values an expression gives, as text, in the current memory context:
 * one, or the elements of an array; NULLs give nothing.  With "as_ids",
 * values that are UUIDs come normalized and the others are dropped: such a
 * value cannot be the id of any object, so it matches nothing, and is
 * neither sent nor an error, whatever plan the query runs.  Sorted and
 * distinct.
 */
static char **
tc_eval_values(ExprState *expr, bool is_array, bool as_ids,
			   ExprContext *econtext, int *count)
{
	bool		isnull;
	Datum		value;
	char	  **out;
	int			nelems;
	int			n = 0;
	int			i;

	value = ExecEvalExpr(expr, econtext, &isnull);
	if (isnull)
	{
		*count = 0;
		return NULL;
	}
	out = tc_value_texts(value, exprType((Node *) expr->expr), is_array,
						 &nelems);
	for (i = 0; i < nelems; i++)
	{
		char	   *text = out[i];

		if (as_ids)
		{
			char	   *id = palloc(TC_ID_BUFSIZE);

			if (!tc_api_normalize_id(text, id))
				continue;
			text = id;
		}
		out[n++] = text;
	}
	*count = tc_unique(out, n);
	return out;
}

/*
 * Evaluate the id expressions with the current parameter values: the ids
 * this scan reads, distinct, sorted, and meeting every id condition.
 */
static void
tc_compute_ids(ForeignScanState *node, TcScanState *state)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext oldcxt;
	ListCell   *lc_expr;
	ListCell   *lc_kind;
	bool		first = true;

	MemoryContextReset(state->batchcxt);
	oldcxt = MemoryContextSwitchTo(state->batchcxt);
	state->ids = NULL;
	state->nids = 0;
	state->next_id = 0;

	forboth(lc_expr, state->exprs, lc_kind, state->kinds)
	{
		int			code = lfirst_int(lc_kind);
		int			n;
		char	  **ids;

		if (TC_EXPR_KIND(code) != TC_EXPR_KEY)
			continue;
		ids = tc_eval_values((ExprState *) lfirst(lc_expr),
							 (code & TC_EXPR_ARRAY) != 0, true, econtext, &n);
		if (first)
		{
			state->ids = ids;
			state->nids = n;
			first = false;
		}
		else
			state->nids = tc_intersect(state->ids, state->nids, ids, n);
	}
	MemoryContextSwitchTo(oldcxt);
	state->ids_ready = true;
}

/* The values of one filter, across its conditions. */
typedef struct TcFilterValues
{
	bool		constrained;	/* some condition names values */
	bool		sendable;		/* ... all of which the API accepts */
	char	  **values;
	int			nvalues;
} TcFilterValues;

/*
 * Evaluate the filter and time-bound expressions and set up the lists to
 * read: one per combination of filter values (none when a condition names
 * no value, or the time bounds leave no room).
 */
static void
tc_setup_lists(ForeignScanState *node, TcScanState *state)
{
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	const TcResourceFilter *filters = state->resource->filters;
	int			nfilters = 0;
	TcFilterValues *fv;
	TcListSpec	spec;
	bool		empty = false;
	MemoryContext oldcxt;
	ListCell   *lc_expr;
	ListCell   *lc_kind;
	int			nlists;
	int		   *pos;
	int			i;

	MemoryContextReset(state->listcxt);
	oldcxt = MemoryContextSwitchTo(state->listcxt);
	while (filters != NULL && filters[nfilters].field != NULL)
		nfilters++;
	fv = palloc0(sizeof(TcFilterValues) * Max(nfilters, 1));
	memset(&spec, 0, sizeof(spec));

	forboth(lc_expr, state->exprs, lc_kind, state->kinds)
	{
		ExprState  *expr = (ExprState *) lfirst(lc_expr);
		int			code = lfirst_int(lc_kind);
		int			kind = TC_EXPR_KIND(code);

		if (kind == TC_EXPR_FILTER)
		{
			const TcResourceFilter *f = &filters[TC_EXPR_ARG(code)];
			TcFilterValues *v = &fv[TC_EXPR_ARG(code)];
			int			n;
			char	  **values = tc_eval_values(expr, (code & TC_EXPR_ARRAY) != 0,
												f->values == NULL, econtext, &n);

			if (!v->constrained)
			{
				v->constrained = true;
				v->sendable = true;
				v->values = values;
				v->nvalues = n;
			}
			else
				v->nvalues = tc_intersect(v->values, v->nvalues, values, n);
			for (i = 0; i < n; i++)
			{
				if (!tc_filter_accepts(f, values[i]))
					v->sendable = false;
			}
		}
		else if (kind == TC_EXPR_TIME_LO || kind == TC_EXPR_TIME_HI)
		{
			bool		isnull;
			Datum		value = ExecEvalExpr(expr, econtext, &isnull);
			bool		strict = (code & TC_EXPR_STRICT) != 0;
			TimestampTz ts;

			if (isnull)
			{
				empty = true;	/* a comparison with NULL: no row */
				continue;
			}
			ts = DatumGetTimestampTz(value);
			if (kind == TC_EXPR_TIME_LO &&
				(!spec.has_lo || ts > spec.lo || (ts == spec.lo && strict)))
			{
				spec.has_lo = true;
				spec.lo = ts;
				spec.lo_strict = strict;
			}
			else if (kind == TC_EXPR_TIME_HI && (!spec.has_hi || ts < spec.hi))
			{
				/* rows at hi itself are recheck-filtered when strict */
				spec.has_hi = true;
				spec.hi = ts;
			}
		}
	}
	if (spec.has_lo && spec.has_hi && spec.lo > spec.hi)
		empty = true;
	if (!state->opts.time_pushdown)
		spec.has_lo = spec.has_hi = false;

	/* a condition that names no value matches no row: no list at all */
	nlists = 1;
	for (i = 0; i < nfilters; i++)
	{
		if (fv[i].constrained && fv[i].nvalues == 0)
			empty = true;
		if (fv[i].constrained && fv[i].sendable)
			nlists *= Max(fv[i].nvalues, 1);
	}
	/* too many combinations: send fewer filters, check them locally */
	while (nlists > TC_MAX_LISTS)
	{
		int			widest = -1;

		for (i = 0; i < nfilters; i++)
		{
			if (fv[i].constrained && fv[i].sendable &&
				(widest < 0 || fv[i].nvalues > fv[widest].nvalues))
				widest = i;
		}
		fv[widest].sendable = false;
		nlists /= Max(fv[widest].nvalues, 1);
	}

	state->lists = tc_listset_create(&state->opts, state->conv, state->page_limit,
									 state->row_limit, state->details,
									 &state->stats, state->listcxt);
	state->nlists = 0;
	if (!empty)					/* else no list: no rows, no request */
	{
		/* every combination of the sendable filters' values */
		pos = palloc0(sizeof(int) * Max(nfilters, 1));
		for (;;)
		{
			spec.filters = NIL;
			for (i = 0; i < nfilters; i++)
			{
				if (!fv[i].constrained || !fv[i].sendable)
					continue;
				spec.filters = lappend(spec.filters, (char *) filters[i].param);
				spec.filters = lappend(spec.filters, fv[i].values[pos[i]]);
			}
			tc_listset_add(state->lists, &spec);
			state->nlists++;
			/* the next combination, like an odometer */
			for (i = 0; i < nfilters; i++)
			{
				if (!fv[i].constrained || !fv[i].sendable)
					continue;
				if (++pos[i] < fv[i].nvalues)
					break;
				pos[i] = 0;
			}
			if (i >= nfilters)
				break;
		}
	}
	MemoryContextSwitchTo(oldcxt);
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------
 */

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
	TcIdEntry *entry;
	TcTupleBuf	rows;
	bool		found;

	memset(&rows, 0, sizeof(rows));
	rows.cxt = state->idcxt;
	if (tc_api_check_answer(req, true, &state->opts))
		tc_convert_answer(state->conv, req, &rows);
	else
		state->not_found++;

	entry = hash_search(state->id_rows, round->ids[req->index], HASH_ENTER, &found);
	entry->tuples = rows.tuples;
	entry->ntuples = rows.ntuples;
	/* converted without an error: the cache may keep the answer */
	req->cache_ok = req->status == 200;
	return true;
}

/* Look up, concurrently, the next round of ids not already in the memo. */
static void
tc_fetch_by_ids(TcScanState *state, TupleTableSlot *slot, int from)
{
	TcHttpRequest *reqs;
	TcLookupRound round;
	int			nreqs = 0;
	int			i;
	MemoryContext oldcxt;

	if (hash_get_num_entries(state->id_rows) + TC_LOOKUP_BATCH > TC_MEMO_MAX_IDS)
	{
		ExecClearTuple(slot);
		tc_id_memo_reset(state);
	}

	oldcxt = MemoryContextSwitchTo(state->batchcxt);
	reqs = palloc(sizeof(TcHttpRequest) * Min(TC_LOOKUP_BATCH, state->nids - from));
	round.state = state;
	round.ids = palloc(sizeof(char *) * Min(TC_LOOKUP_BATCH, state->nids - from));
	for (i = from; i < state->nids && nreqs < TC_LOOKUP_BATCH; i++)
	{
		if (hash_search(state->id_rows, state->ids[i], HASH_FIND, NULL) != NULL)
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
					tc_lookup_done, NULL, &round);
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

/* The next row a lookup scan's ids name, fetching a round when needed. */
static TupleTableSlot *
tc_iterate_lookups(ForeignScanState *node, TcScanState *state)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!state->ids_ready)
		tc_compute_ids(node, state);

	for (;;)
	{
		const char *id;

		if (state->entry != NULL && state->next_row < state->entry->ntuples)
		{
			ExecStoreHeapTuple(state->entry->tuples[state->next_row++], slot, false);
			return slot;
		}
		if (state->next_id >= state->nids)
			return ExecClearTuple(slot);

		id = state->ids[state->next_id];
		state->entry = hash_search(state->id_rows, id, HASH_FIND, NULL);
		if (state->entry == NULL)
		{
			tc_fetch_by_ids(state, slot, state->next_id);
			state->entry = hash_search(state->id_rows, id, HASH_FIND, NULL);
			Assert(state->entry != NULL);
		}
		state->next_id++;
		state->next_row = 0;
	}
}

/* ------------------------------------------------------------------------
 * Lists, and their replay
 * ------------------------------------------------------------------------
 */

static TupleTableSlot *
tc_iterate_lists(ForeignScanState *node, TcScanState *state)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	HeapTuple	tuple;

	if (state->replaying)
	{
		/* the store gives minimal tuples; the scan slot takes heap tuples */
		if (tuplestore_gettupleslot(state->replay, true, false,
									state->replay_slot))
			return ExecCopySlot(slot, state->replay_slot);
		/* replayed all there is: go on with the lists where they stopped */
		state->replaying = false;
	}

	if (state->lists == NULL)
		tc_setup_lists(node, state);
	tuple = tc_listset_next(state->lists);
	if (tuple == NULL)
		return ExecClearTuple(slot);
	if (state->keep_rows)
	{
		if (state->replay == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(state->scancxt);

			state->replay = tuplestore_begin_heap(false, false, work_mem);
			state->replay_slot =
				MakeSingleTupleTableSlot(RelationGetDescr(node->ss.ss_currentRelation),
										 &TTSOpsMinimalTuple);
			MemoryContextSwitchTo(oldcxt);
		}
		tuplestore_puttuple(state->replay, tuple);
	}
	ExecStoreHeapTuple(tuple, slot, false);
	return slot;
}

/*
 * tcIterateForeignScan
 *		The scan's next row, or an empty slot at the end.
 */
TupleTableSlot *
tcIterateForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state->lookup)
		return tc_iterate_lookups(node, state);
	return tc_iterate_lists(node, state);
}

/* ------------------------------------------------------------------------
 * EXPLAIN
 * ------------------------------------------------------------------------
 */

/*
 * The list request as EXPLAIN shows it: the filters a plan sends, with the
 * column whose values they take ("&status={call_status}"), and the starting
 * cursor of an upper time bound.
 */
static char *
tc_list_params(const TcResource *resource, List *kinds)
{
	StringInfoData buf;
	Bitmapset  *shown = NULL;
	bool		cursor = false;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, kinds)
	{
		int			code = lfirst_int(lc);

		if (TC_EXPR_KIND(code) == TC_EXPR_FILTER &&
			!bms_is_member(TC_EXPR_ARG(code), shown))
		{
			const TcResourceFilter *f = &resource->filters[TC_EXPR_ARG(code)];

			appendStringInfo(&buf, "&%s={%s}", f->param, f->field);
			shown = bms_add_member(shown, TC_EXPR_ARG(code));
		}
		else if (TC_EXPR_KIND(code) == TC_EXPR_TIME_HI)
			cursor = true;
	}
	if (cursor)
		appendStringInfo(&buf, "&cursor={%s bound}", resource->order_field);
	return buf.data;
}

/* EXPLAIN VERBOSE's text of the expressions of one kind. */
static char *
tc_explain_exprs(ForeignScan *fsplan, ExplainState *es, int kind)
{
	List	   *context = set_deparse_context_plan(es->deparse_cxt,
												   (Plan *) fsplan, NIL);
	List	   *kinds = (List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_KINDS);
	StringInfoData buf;
	ListCell   *lc_expr;
	ListCell   *lc_kind;

	initStringInfo(&buf);
	forboth(lc_expr, fsplan->fdw_exprs, lc_kind, kinds)
	{
		int			code = lfirst_int(lc_kind);
		char	   *text;

		if (TC_EXPR_KIND(code) != kind)
			continue;
		text = deparse_expression((Node *) lfirst(lc_expr), context, true, false);
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		if (code & TC_EXPR_ARRAY)
			appendStringInfo(&buf, "ANY (%s)", text);
		else
			appendStringInfoString(&buf, text);
	}
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * tcExplainForeignScan
 *		The requests the scan makes, and whether it reads each row's detail;
 *		with VERBOSE, what it would send (the id expressions of a lookup; the
 *		filter values, time bounds and page size of a list); with ANALYZE,
 *		what it did.  Plain EXPLAIN contacts nothing.
 */
void
tcExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	TcScanState *state = (TcScanState *) node->fdw_state;
	Relation	rel = node->ss.ss_currentRelation;
	TcOptions	opts;
	const TcResource *resource;
	bool		lookup = intVal(list_nth(fsplan->fdw_private, TC_PRIV_LOOKUP)) != 0;
	int			page_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_PAGE_LIMIT));
	bool		details = intVal(list_nth(fsplan->fdw_private, TC_PRIV_DETAILS)) != 0;
	List	   *kinds = (List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_KINDS);

	tc_get_options(RelationGetRelid(rel), tc_scan_userid(node), &opts);
	resource = tc_resource_get(opts.resource);
	ExplainPropertyText("TopCalls Request",
						lookup ? tc_api_lookup_summary(&opts) :
						tc_api_list_summary(&opts, page_limit,
											tc_list_params(resource, kinds)),
						es);
	if (details)
		ExplainPropertyText("TopCalls Details",
							psprintf("%s for each row", tc_api_lookup_summary(&opts)),
							es);

	if (es->verbose)
	{
		char	   *text;

		if (lookup)
		{
			ExplainPropertyText("TopCalls Ids",
								tc_explain_exprs(fsplan, es, TC_EXPR_KEY), es);
			ExplainPropertyInteger("TopCalls Max Concurrency", NULL,
								   opts.max_concurrency, es);
		}
		else
		{
			if ((text = tc_explain_exprs(fsplan, es, TC_EXPR_FILTER)) != NULL)
				ExplainPropertyText("TopCalls Filter Values", text, es);
			if ((text = tc_explain_exprs(fsplan, es, TC_EXPR_TIME_LO)) != NULL)
				ExplainPropertyText("TopCalls Stop Before", text, es);
			if ((text = tc_explain_exprs(fsplan, es, TC_EXPR_TIME_HI)) != NULL)
				ExplainPropertyText("TopCalls Start At", text, es);
			ExplainPropertyInteger("TopCalls Page Size", NULL, page_limit, es);
		}
	}

	if (es->analyze && state)
	{
		ExplainPropertyInteger("TopCalls Requests", NULL, state->stats.requests, es);
		if (!lookup)
		{
			int64		pages = state->pages;
			int64		fetched = state->details_fetched;

			if (state->lists != NULL)
			{
				pages += tc_listset_pages(state->lists);
				fetched += tc_listset_details(state->lists);
			}
			ExplainPropertyInteger("TopCalls Lists", NULL, state->nlists, es);
			ExplainPropertyInteger("TopCalls Pages", NULL, pages, es);
			if (details)
				ExplainPropertyInteger("TopCalls Details Fetched", NULL, fetched, es);
			ExplainPropertyInteger("TopCalls Replays", NULL, state->replayed, es);
		}
		else
			ExplainPropertyInteger("TopCalls Not Found", NULL, state->not_found, es);
		ExplainPropertyInteger("TopCalls Retries", NULL, state->stats.retries, es);
		ExplainPropertyInteger("TopCalls Bytes Received", "bytes",
							   state->stats.bytes_received, es);
		if (opts.cache_ttl_ms > 0)
		{
			ExplainPropertyInteger("TopCalls Cache Hits", NULL,
								   state->stats.cache_hits, es);
			ExplainPropertyInteger("TopCalls Cache Misses", NULL,
								   state->stats.cache_misses, es);
		}
		if (es->timing)
		{
			ExplainPropertyFloat("TopCalls HTTP Wait", "ms",
								 state->stats.wait_ms, 3, es);
			if (opts.rate_limit > 0)
				ExplainPropertyFloat("TopCalls Rate Limit Wait", "ms",
									 state->stats.throttled_ms, 3, es);
		}
	}
}
