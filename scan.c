/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  The executor side of topcalls_fdw: Begin/Iterate/ReScan/End and
 *		  EXPLAIN of a foreign scan, and the list reader ANALYZE shares.
 *
 * A scan either looks ids up (the distinct ids its id conditions name,
 * fetched concurrently, remembered across rescans) or reads the resource's
 * list page by page.  A list scan that may be rescanned keeps the rows it
 * returned in a tuplestore (spilling to disk past work_mem) and replays them
 * on a rescan, continuing with the next page where the earlier pass
 * stopped: the requests of a list scan depend on no parameter, so a rescan
 * never needs to ask the API again for what it already has.
 *
 * What this file must not do: decide which requests a plan makes (that is
 * the planner's, in topcalls_fdw.c), build URLs (api.c), talk HTTP (http.c)
 * or convert values (convert.c).
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
#include "common/hashfn.h"
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
#include "utils/tuplestore.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Ids looked up per round of concurrent requests; bounds a scan's bodies. */
#define TC_LOOKUP_BATCH			1024

/*
 * Ids a scan remembers across rescans, so that a nested loop fetches each
 * outer id once; past this the cache starts afresh, bounding its memory.
 */
#define TC_CACHE_MAX_IDS		10000

/*
 * A list's cursors are remembered, as 64-bit fingerprints, for this many
 * pages of one pass: a cursor answered again means the API's pages go round
 * in a cycle.  Past that (20 million rows at 200 a page), Brent's cycle
 * detection, which needs the memory of one cursor, still catches any
 * cycle, a little later.
 */
#define TC_CURSORS_REMEMBERED	100000

/* Pages in a row without a row, each naming a next page, before giving up. */
#define TC_MAX_EMPTY_PAGES		100

/* One id looked up in this scan: NULL tuple when the API said 404. */
typedef struct TcCacheEntry
{
	char		id[TC_ID_BUFSIZE];
	HeapTuple	tuple;
} TcCacheEntry;

/*
 * Reading a list: the current page, the cursor of the next one, and what
 * the cursor checks remember of this pass.
 */
struct TcListReader
{
	const TcOptions *opts;
	TcConverter *conv;
	TcHttpStats *stats;
	int			page_limit;
	MemoryContext pagecxt;		/* the current page and its request */
	MemoryContext seencxt;		/* the cursor fingerprints */

	bool		started;		/* the first page was requested */
	bool		exhausted;		/* the last page has been read */
	TcPage		page;
	int			page_pos;
	char	   *cursor;			/* the next page's, in pagecxt */

	HTAB	   *seen;			/* fingerprints of this pass's cursors */
	bool		brent_have;		/* Brent's cycle detection: a cursor saved */
	uint64		brent_saved;	/* ... compared with each of the next */
	int64		brent_power;	/* ... brent_power cursors */
	int64		brent_steps;	/* ... of which this many came so far */
	int			empty_run;		/* pages in a row without rows */
	int64		pages;			/* pages read, every pass */
};

/* Executor state of a scan. */
typedef struct TcScanState
{
	TcOptions	opts;
	TcConverter *conv;
	MemoryContext scancxt;		/* the scan's life */
	MemoryContext cachecxt;		/* the id cache and its tuples */
	MemoryContext batchcxt;		/* one round of lookups */

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
	TcListReader *list;
	Tuplestorestate *replay;	/* the rows returned so far, when kept */
	TupleTableSlot *replay_slot;	/* what replay gives back */
	bool		keep_rows;		/* append returned rows to replay */
	bool		replaying;		/* this pass reads replay first */

	/* what EXPLAIN ANALYZE reports */
	TcHttpStats stats;
	int64		not_found;
	int64		replayed;		/* rescans served from replay */
} TcScanState;

static void tc_cache_reset(TcScanState *state);
static void tc_list_check_cursor(TcListReader *lr, const char *what);

/* ------------------------------------------------------------------------
 * The list reader
 * ------------------------------------------------------------------------
 */

/*
 * tc_list_create
 *		A reader of the resource's list, in pages of page_limit rows, whose
 *		memory lives in cxt and whose requests are counted in stats.
 */
TcListReader *
tc_list_create(const TcOptions *opts, TcConverter *conv, int page_limit,
			   TcHttpStats *stats, MemoryContext cxt)
{
	TcListReader *lr = MemoryContextAllocZero(cxt, sizeof(TcListReader));

	lr->opts = opts;
	lr->conv = conv;
	lr->stats = stats;
	lr->page_limit = page_limit;
	lr->pagecxt = AllocSetContextCreate(cxt, "topcalls_fdw list page",
										ALLOCSET_DEFAULT_SIZES);
	lr->seencxt = AllocSetContextCreate(cxt, "topcalls_fdw list cursors",
										ALLOCSET_SMALL_SIZES);
	tc_list_restart(lr);
	return lr;
}

/*
 * tc_list_restart
 *		Start the list again from its first page; what the cursor checks
 *		remembered is of the earlier pass, and is forgotten.
 */
void
tc_list_restart(TcListReader *lr)
{
	HASHCTL		hctl;

	MemoryContextReset(lr->pagecxt);
	MemoryContextReset(lr->seencxt);
	lr->started = false;
	lr->exhausted = false;
	memset(&lr->page, 0, sizeof(lr->page));
	lr->page_pos = 0;
	lr->cursor = NULL;

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(uint64);
	hctl.entrysize = sizeof(uint64);
	hctl.hcxt = lr->seencxt;
	lr->seen = hash_create("topcalls_fdw cursors", 64, &hctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	lr->brent_have = false;
	lr->brent_saved = 0;
	lr->brent_power = 1;
	lr->brent_steps = 0;
	lr->empty_run = 0;
}

/* tc_http_run's callback for a list page. */
static bool
tc_list_page_done(TcHttpRequest *req, void *arg)
{
	TcListReader *lr = (TcListReader *) arg;

	(void) tc_api_check_answer(req, false, lr->opts);
	tc_convert_page(lr->conv, req, &lr->page);
	lr->pages++;
	return true;
}

/*
 * Fetch the next page into pagecxt (freeing the last one); false when the
 * list has no more pages.
 */
static bool
tc_list_fetch(TcListReader *lr)
{
	char	   *cursor = NULL;
	TcHttpRequest req;
	MemoryContext oldcxt;

	if (lr->exhausted)
		return false;
	if (lr->started)
	{
		if (lr->cursor == NULL)
		{
			lr->exhausted = true;
			return false;
		}
		cursor = pstrdup(lr->cursor);	/* survives the reset */
	}
	MemoryContextReset(lr->pagecxt);
	oldcxt = MemoryContextSwitchTo(lr->pagecxt);

	memset(&lr->page, 0, sizeof(lr->page));
	lr->cursor = NULL;
	tc_require_api_key(lr->opts);
	tc_api_list_request(lr->opts, lr->page_limit, cursor, &req);
	tc_http_run(&req, 1, lr->opts, lr->stats, tc_list_page_done, lr);
	lr->page_pos = 0;
	lr->started = true;
	lr->cursor = lr->page.next_cursor;
	if (lr->cursor != NULL)
	{
		tc_list_check_cursor(lr, req.what);
		if (lr->page.ntuples > 0)
			lr->empty_run = 0;
		else if (++lr->empty_run >= TC_MAX_EMPTY_PAGES)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", req.what),
					 errdetail("The last %d pages had no rows, yet each named a next page: the list would never end.",
							   TC_MAX_EMPTY_PAGES)));
	}
	if (req.body)
		pfree(req.body);
	MemoryContextSwitchTo(oldcxt);
	if (cursor)
		pfree(cursor);
	return true;
}

/*
 * An ERROR if this pass has been given lr->cursor before: the pages would
 * then go round for ever.  Every cursor of the first TC_CURSORS_REMEMBERED
 * pages is remembered (as a fingerprint), so any repetition is caught at
 * once; Brent's algorithm catches a cycle that starts later still.
 */
static void
tc_list_check_cursor(TcListReader *lr, const char *what)
{
	uint64		fp = hash_bytes_extended((const unsigned char *) lr->cursor,
										 (int) strlen(lr->cursor), 0);
	bool		repeated = false;

	if (hash_get_num_entries(lr->seen) < TC_CURSORS_REMEMBERED)
		(void) hash_search(lr->seen, &fp, HASH_ENTER, &repeated);
	else
		repeated = hash_search(lr->seen, &fp, HASH_FIND, NULL) != NULL;

	if (lr->brent_have && fp == lr->brent_saved)
		repeated = true;
	if (++lr->brent_steps >= lr->brent_power)
	{
		lr->brent_have = true;
		lr->brent_saved = fp;
		lr->brent_power *= 2;
		lr->brent_steps = 0;
	}

	if (repeated)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", what),
				 errdetail("Its \"next_cursor\" was already given earlier in this scan: the pages go round in a cycle.")));
}

/*
 * tc_list_next
 *		The next row of the list, read in the reader's page context (valid
 *		until the next call), or NULL at the end of the list.
 */
HeapTuple
tc_list_next(TcListReader *lr)
{
	while (!lr->started || lr->page_pos >= lr->page.ntuples)
	{
		if (!tc_list_fetch(lr))
			return NULL;
	}
	return lr->page.tuples[lr->page_pos++];
}

/*
 * tc_list_pages
 *		Pages read so far, every pass.
 */
int64
tc_list_pages(const TcListReader *lr)
{
	return lr->pages;
}

/* ------------------------------------------------------------------------
 * Begin, rescan, end
 * ------------------------------------------------------------------------
 */

/* The role whose user mapping the scan uses: the view owner's under a view. */
static Oid
tc_scan_userid(ForeignScanState *node)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	Oid			userid = tc_plan_userid(fsplan, node->ss.ps.state);

	return OidIsValid(userid) ? userid : GetUserId();
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
	state->cachecxt = AllocSetContextCreate(state->scancxt,
											"topcalls_fdw id cache",
											ALLOCSET_DEFAULT_SIZES);

	oldcxt = MemoryContextSwitchTo(state->scancxt);
	tc_get_options(RelationGetRelid(rel), tc_scan_userid(node), &state->opts);
	MemoryContextSwitchTo(oldcxt);
	state->conv = tc_converter_create(rel, state->scancxt);

	state->id_is_array = (List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_IS_ARRAY);
	state->page_limit = intVal(list_nth(fsplan->fdw_private, TC_PRIV_PAGE_LIMIT));
	state->lookup = intVal(list_nth(fsplan->fdw_private, TC_PRIV_LOOKUP)) != 0;
	state->id_exprs = ExecInitExprList(fsplan->fdw_exprs, (PlanState *) node);

	if (state->lookup)
		tc_cache_reset(state);
	else
	{
		state->list = tc_list_create(&state->opts, state->conv,
									 state->page_limit, &state->stats,
									 state->scancxt);

		/*
		 * Keep the rows for a replay from the start when a rescan is to be
		 * expected: the executor says so (EXEC_FLAG_REWIND), or the plan
		 * depends on values from outside it (a nested loop's or a
		 * correlated subquery's parameters), which change from one rescan
		 * to the next.  Otherwise the first rescan starts keeping them.
		 */
		state->keep_rows = (eflags & EXEC_FLAG_REWIND) != 0 ||
			!bms_is_empty(fsplan->scan.plan.extParam);
	}
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

/*
 * tcReScanForeignScan
 *		Start the scan over.
 *
 * A lookup scan evaluates its ids again when a parameter they use changed,
 * and keeps its cache.  A list scan's requests depend on no parameter, so
 * it replays the rows it already returned, and goes on from where its last
 * pass stopped; if it was not keeping them (no rescan was expected), it
 * reads the list again, keeping them from now on.
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
		return;
	}

	if (state->replay != NULL)
	{
		tuplestore_rescan(state->replay);
		state->replaying = true;
		state->replayed++;
		return;
	}
	tc_list_restart(state->list);
	state->keep_rows = true;
}

/*
 * tcEndForeignScan
 *		Nothing to release by hand: memory goes with the query's context (the
 *		tuplestore's temporary files with its resource owner), and http.c
 *		owns its handles.  After an ERROR this is not even called.
 */
void
tcEndForeignScan(ForeignScanState *node)
{
	TcScanState *state = (TcScanState *) node->fdw_state;

	if (state != NULL && state->replay != NULL)
	{
		ExecDropSingleTupleTableSlot(state->replay_slot);
		tuplestore_end(state->replay);
		state->replay = NULL;
	}
}

/* ------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------
 */

/*
 * A value of the id column's type as a normalized id in out, or false when
 * it is not a UUID.  Such a value cannot be the id of any object (the API's
 * ids are UUIDs), so it matches nothing: it is neither sent nor an error,
 * whatever plan the query runs.
 */
static bool
tc_datum_to_id(Datum value, Oid type, char *out)
{
	Oid			outfunc;
	bool		isvarlena;
	char	   *text;
	bool		ok;

	if (type == UUIDOID)
	{
		/* uuid_out always gives the normalized form */
		text = DatumGetCString(DirectFunctionCall1(uuid_out, value));
		strlcpy(out, text, TC_ID_BUFSIZE);
		pfree(text);
		return true;
	}
	getTypeOutputInfo(type, &outfunc, &isvarlena);
	text = OidOutputFunctionCall(outfunc, value);
	ok = tc_api_normalize_id(text, out);
	pfree(text);
	return ok;
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
 * The ids one id expression names, normalized, sorted and distinct, in the
 * current memory context; NULLs and values that are not UUIDs name nothing.
 */
static char **
tc_eval_ids(ExprState *expr, bool is_array, ExprContext *econtext, int *nids)
{
	Oid			type = exprType((Node *) expr->expr);
	bool		isnull;
	Datum		value;
	char	  **ids;
	int			n = 0;

	value = ExecEvalExpr(expr, econtext, &isnull);
	if (isnull)
	{
		*nids = 0;
		return NULL;
	}
	if (is_array)
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
			if (tc_datum_to_id(elems[i], elemtype, ids[n]))
				n++;
		}
	}
	else
	{
		ids = palloc(sizeof(char *));
		ids[0] = palloc(TC_ID_BUFSIZE);
		if (tc_datum_to_id(value, type, ids[0]))
			n = 1;
	}
	*nids = tc_unique_ids(ids, n);
	return ids;
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
	ListCell   *lc_arr;
	bool		first = true;

	MemoryContextReset(state->batchcxt);
	oldcxt = MemoryContextSwitchTo(state->batchcxt);
	state->ids = NULL;
	state->nids = 0;
	state->next_id = 0;

	forboth(lc_expr, state->id_exprs, lc_arr, state->id_is_array)
	{
		int			n;
		char	  **ids = tc_eval_ids((ExprState *) lfirst(lc_expr),
									  lfirst_int(lc_arr) != 0, econtext, &n);

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

/* The next row a lookup scan's ids name, fetching a round when needed. */
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

/* ------------------------------------------------------------------------
 * The list, and its replay
 * ------------------------------------------------------------------------
 */

static TupleTableSlot *
tc_iterate_list(ForeignScanState *node, TcScanState *state)
{
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	HeapTuple	tuple;

	if (state->replaying)
	{
		/* the store gives minimal tuples; the scan slot takes heap tuples */
		if (tuplestore_gettupleslot(state->replay, true, false,
									state->replay_slot))
			return ExecCopySlot(slot, state->replay_slot);
		/* replayed all there is: go on with the list where it stopped */
		state->replaying = false;
	}

	tuple = tc_list_next(state->list);
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
	return tc_iterate_list(node, state);
}

/* ------------------------------------------------------------------------
 * EXPLAIN
 * ------------------------------------------------------------------------
 */

/*
 * tcExplainForeignScan
 *		The request the scan makes; with VERBOSE, what it would send (the id
 *		expressions of a lookup, the page size of a list); with ANALYZE, what
 *		it did.  Plain EXPLAIN contacts nothing.
 */
void
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

	if (es->verbose)
	{
		if (lookup)
		{
			List	   *context = set_deparse_context_plan(es->deparse_cxt,
														   (Plan *) fsplan, NIL);
			StringInfoData buf;
			ListCell   *lc_expr;
			ListCell   *lc_arr;

			initStringInfo(&buf);
			forboth(lc_expr, fsplan->fdw_exprs, lc_arr,
					(List *) list_nth(fsplan->fdw_private, TC_PRIV_EXPR_IS_ARRAY))
			{
				char	   *text = deparse_expression((Node *) lfirst(lc_expr),
													  context, true, false);

				if (buf.len > 0)
					appendStringInfoString(&buf, ", ");
				if (lfirst_int(lc_arr))
					appendStringInfo(&buf, "ANY (%s)", text);
				else
					appendStringInfoString(&buf, text);
			}
			ExplainPropertyText("TopCalls Ids", buf.data, es);
			ExplainPropertyInteger("TopCalls Max Concurrency", NULL,
								   opts.max_concurrency, es);
		}
		else
			ExplainPropertyInteger("TopCalls Page Size", NULL, page_limit, es);
	}

	if (es->analyze && state)
	{
		ExplainPropertyInteger("TopCalls Requests", NULL, state->stats.requests, es);
		if (!lookup)
		{
			ExplainPropertyInteger("TopCalls Pages", NULL,
								   tc_list_pages(state->list), es);
			ExplainPropertyInteger("TopCalls Replays", NULL, state->replayed, es);
		}
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
