/*-------------------------------------------------------------------------
 *
 * list.c
 *		  Reading a resource's lists: pages, cursors, order, time bounds,
 *		  repeated rows and per-row details.
 *
 * A list set reads one or more lists of one resource together (one per
 * combination of filter values the scan sends), each page by page.  Work is
 * done in rounds of concurrent requests: in each round every list that has
 * a next page asks for it, the rows of the page before are fetched their
 * details (when the scan needs detail-only fields), and that page is
 * converted to tuples while the requests travel.  So page k+1 is always in
 * flight while page k is converted, and a list never has more than two
 * pages in memory.  Without details, page k+1 is asked for even earlier,
 * and left travelling while the executor takes the rows of the round
 * before: as soon as page k arrives, on the cursor read off the end of its
 * body, for a set of one list; else once the round has parsed page k
 * (tc_listset_ask_ahead).  The next round finishes those requests.
 *
 * As pages arrive, each is checked: a cursor given twice in one pass (the
 * pages go round in a cycle) or a long run of empty pages is an error.  For
 * a resource whose list is newest first (calls by created_at), rows are
 * also checked to come in that order; rows repeated at the top of the next
 * page (several rows sharing a timestamp) are dropped, remembering only the
 * ids of the current timestamp; a lower time bound stops the list at the
 * first older row, and an upper bound starts it at a cursor of that time.
 *
 * With cache_ttl_ms, a list read to its end (the API gave no next page, and
 * no ERROR came) is stored in the cache (cache.c) as the bodies of its
 * pages, keyed by its first page's URL, if it fits; a later read of the same
 * list replays those pages, checked and converted as if they had just
 * arrived, and sends no request for them.  A complete read of a table's
 * whole list (no filter, no time bound) also tells every backend's planner
 * the table's size (shared.c).
 *
 * What this file must not do: decide which lists to read (scan.c), build
 * URLs (api.c), parse JSON or convert values (convert.c), talk HTTP (http.c).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/list.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "topcalls_fdw.h"

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

/*
 * Items converted per slice of work while requests travel: between slices,
 * http.c looks at the transfers (a curl_multi_perform, a few system calls).
 */
#define TC_CONVERT_SLICE		50

/* How often a list another backend is reading looks at the cache again. */
#define TC_CACHE_POLL_MS		10

/* One list of a set. */
typedef struct TcList
{
	TcListSpec	spec;
	bool		started;		/* the first page was asked for */
	bool		finished;		/* no page left to ask for */
	char	   *cursor;			/* the next page's, in the list's context */
	MemoryContext cxt;			/* the list's own things */

	TcParsedPage *current;		/* being converted this round */
	MemoryContext current_cxt;
	TcParsedPage *next;			/* arrived this round, converted next */
	MemoryContext next_cxt;
	TcJsonBuffer buffers[2];	/* text and tape of the pages, in turn */
	int			next_buffer;	/* the one the next page uses */

	/* the cursor checks, of this pass */
	HTAB	   *seen;			/* fingerprints of the cursors given */
	bool		brent_have;		/* Brent's cycle detection: a cursor saved */
	uint64		brent_saved;	/* ... compared with each of the next */
	int64		brent_power;	/* ... brent_power cursors */
	int64		brent_steps;	/* ... of which this many came so far */
	int			empty_run;		/* pages in a row without rows */

	/* the order of a newest-first list, and its repeats */
	bool		have_last;
	TimestampTz last_ts;		/* the oldest row so far */
	char	  (*group)[TC_ID_BUFSIZE];	/* ids of the rows at last_ts */
	int			ngroup;
	int			group_cap;
	HTAB	   *all_ids;		/* without the order: every id so far */
	int64		rows_kept;		/* rows not dropped, this pass */

	/* the cache: the pages of this pass, to store, or being replayed */
	char	   *cache_url;		/* the first page's URL; NULL: no caching */
	StringInfo	collected;		/* each page: uint32 length, then the body */
	char	   *replay;			/* the cache's pages; NULL: not replaying */
	size_t		replay_len;
	size_t		replay_pos;
} TcList;

/* A request of a round: whose, and for what. */
typedef struct TcRoundReq
{
	TcList	   *list;
	int			item;			/* -1: the list's next page; else a detail */
} TcRoundReq;

struct TcListSet
{
	const TcOptions *opts;
	const TcResource *resource;
	TcConverter *conv;
	TcHttpStats *stats;
	int			page_limit;
	int			row_limit;		/* rows the scan takes at most; 0: all */
	int64		rows_read;		/* items of the pages that arrived */
	bool		details;		/* fetch each row's detail */
	bool		ordered;		/* rely on (and check) newest-first order */
	MemoryContext cxt;
	MemoryContext outcxt;		/* the rows of the last round */
	MemoryContext roundcxt;		/* the requests of a round */

	TcList	  **lists;
	int			nlists;
	int			lists_cap;

	TcTupleBuf	out;
	int			out_pos;
	bool		done;

	/* the round in progress */
	TcRoundReq *round;

	/*
	 * The next round's requests, sent ahead: on a guess at the cursor as
	 * the page before arrives (tc_list_guess_ahead), or once it has been
	 * parsed (tc_listset_ask_ahead).
	 */
	uint64		ahead;			/* tc_http_start's handle; 0: none */
	TcRoundReq *ahead_round;
	int			ahead_nreqs;
	char	   *ahead_cursor;	/* the guessed cursor; NULL: not a guess */
	MemoryContext aheadcxt[2];	/* their requests and answers, in turn */
	int			ahead_turn;
	MemoryContextCallback memory_gone;

	/* counters for EXPLAIN ANALYZE */
	int64		pages;
	int64		details_fetched;
};

static void tc_list_check_cursor(TcList *list, const char *what);
static bool tc_list_cursor_seen(TcList *list, const char *cursor);
static bool tc_list_examine(TcListSet *set, TcList *list, TcParsedPage *page,
							const char *what);
static void tc_list_take_page(TcListSet *set, TcList *list,
							  TcHttpRequest *req);
static void tc_list_cache_begin(TcListSet *set, TcList *list, const char *url);
static void tc_list_replay_page(TcListSet *set, TcList *list,
								TcHttpRequest *req);
static void tc_listset_drop_ahead(TcListSet *set, bool memory_gone);
static void tc_list_guess_ahead(TcListSet *set, TcList *list,
								const TcHttpRequest *req);
static void tc_listset_memory_gone(void *arg);

/*
 * tc_listset_create
 *		An empty set of lists of the options' resource, in pages of
 *		page_limit rows, each row completed with its detail when "details",
 *		in cxt; requests are counted in stats.  row_limit > 0: the scan will
 *		take no more rows (a LIMIT), so no page is asked for beyond them.
 */
TcListSet *
tc_listset_create(const TcOptions *opts, TcConverter *conv, int page_limit,
				  int row_limit, bool details, TcHttpStats *stats,
				  MemoryContext cxt)
{
	TcListSet  *set = MemoryContextAllocZero(cxt, sizeof(TcListSet));

	set->opts = opts;
	set->resource = tc_resource_get(opts->resource);
	set->conv = conv;
	set->stats = stats;
	set->page_limit = page_limit;
	set->row_limit = row_limit;
	set->details = details && set->resource->get_path != NULL;
	set->ordered = set->resource->order_field != NULL && opts->time_pushdown;
	set->cxt = cxt;
	set->outcxt = AllocSetContextCreate(cxt, "topcalls_fdw list rows",
										ALLOCSET_DEFAULT_SIZES);
	set->roundcxt = AllocSetContextCreate(cxt, "topcalls_fdw list round",
										  ALLOCSET_DEFAULT_SIZES);
	set->aheadcxt[0] = AllocSetContextCreate(cxt, "topcalls_fdw list pages ahead",
											 ALLOCSET_DEFAULT_SIZES);
	set->aheadcxt[1] = AllocSetContextCreate(cxt, "topcalls_fdw list pages ahead",
											 ALLOCSET_DEFAULT_SIZES);
	set->memory_gone.func = tc_listset_memory_gone;
	set->memory_gone.arg = set;
	MemoryContextRegisterResetCallback(cxt, &set->memory_gone);
	set->out.cxt = set->outcxt;
	return set;
}

/* (Re)start a list's pass from its first page. */
static void
tc_list_reset(TcListSet *set, TcList *list)
{
	HASHCTL		hctl;

	/* a pass being collected for the cache is not going to be stored */
	if (list->collected != NULL)
		tc_cache_unclaim(set->opts, TC_CACHE_LIST, list->cache_url);
	MemoryContextReset(list->cxt);
	memset(list->buffers, 0, sizeof(list->buffers));
	list->buffers[0].cxt = list->buffers[1].cxt = list->cxt;
	list->next_buffer = 0;
	list->current = list->next = NULL;
	list->current_cxt = list->next_cxt = NULL;
	list->started = false;
	list->finished = false;
	list->cursor = NULL;

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(uint64);
	hctl.entrysize = sizeof(uint64);
	hctl.hcxt = list->cxt;
	list->seen = hash_create("topcalls_fdw cursors", 64, &hctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	list->brent_have = false;
	list->brent_saved = 0;
	list->brent_power = 1;
	list->brent_steps = 0;
	list->empty_run = 0;

	list->rows_kept = 0;
	list->cache_url = NULL;
	list->collected = NULL;
	list->replay = NULL;
	list->replay_len = list->replay_pos = 0;

	list->have_last = false;
	list->ngroup = 0;
	list->group_cap = 8;
	list->group = MemoryContextAlloc(list->cxt, TC_ID_BUFSIZE * list->group_cap);
	list->all_ids = NULL;
	if (set->resource->order_field != NULL && !set->ordered)
	{
		memset(&hctl, 0, sizeof(hctl));
		hctl.keysize = TC_ID_BUFSIZE;
		hctl.entrysize = TC_ID_BUFSIZE;
		hctl.hcxt = list->cxt;
		list->all_ids = hash_create("topcalls_fdw ids read", 256, &hctl,
									HASH_ELEM | TC_HASH_STRINGS | HASH_CONTEXT);
	}
}

/*
 * tc_listset_add
 *		Add a list to read: the filters and time bounds of spec (copied).
 */
void
tc_listset_add(TcListSet *set, const TcListSpec *spec)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(set->cxt);
	TcList	   *list = palloc0(sizeof(TcList));
	ListCell   *lc;

	list->spec = *spec;
	list->spec.filters = NIL;
	foreach(lc, spec->filters)
		list->spec.filters = lappend(list->spec.filters, pstrdup(lfirst(lc)));
	list->cxt = AllocSetContextCreate(set->cxt, "topcalls_fdw list",
									  ALLOCSET_SMALL_SIZES);
	if (set->nlists >= set->lists_cap)
	{
		set->lists_cap = Max(set->lists_cap * 2, 4);
		set->lists = set->lists == NULL ?
			palloc(sizeof(TcList *) * set->lists_cap) :
			repalloc(set->lists, sizeof(TcList *) * set->lists_cap);
	}
	set->lists[set->nlists++] = list;
	MemoryContextSwitchTo(oldcxt);
	tc_list_reset(set, list);
}

/*
 * tc_listset_restart
 *		Read every list of the set again from its first page.
 */
void
tc_listset_restart(TcListSet *set)
{
	int			i;

	tc_listset_drop_ahead(set, false);
	for (i = 0; i < set->nlists; i++)
		tc_list_reset(set, set->lists[i]);
	MemoryContextReset(set->outcxt);
	memset(&set->out, 0, sizeof(set->out));
	set->out.cxt = set->outcxt;
	set->out_pos = 0;
	set->done = false;
	set->rows_read = 0;
}

/* An ISO 8601 text of ts, in UTC with microseconds: the API's cursor form. */
static char *
tc_format_cursor(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range for a TopCalls cursor")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/* ------------------------------------------------------------------------
 * A round
 * ------------------------------------------------------------------------
 */

/* tc_http_run's callback: a page or a detail has arrived. */
static bool
tc_listset_done(TcHttpRequest *req, void *arg)
{
	TcListSet  *set = (TcListSet *) arg;
	TcRoundReq *rr = &set->round[req->index];
	TcList	   *list = rr->list;

	if (rr->item < 0)
		tc_list_take_page(set, list, req);
	else
	{
		bool		found = tc_api_check_answer(req, true, set->opts);

		tc_page_set_detail(list->current, rr->item, req, found);
		set->details_fetched++;
		req->cache_ok = found;
	}
	return true;
}

/*
 * A page of the list has arrived (or was replayed from the cache): check
 * it, parse it, examine its rows; keep it for the cache while the pass is
 * being collected, and store the pass when the page was the last.
 */
static void
tc_list_take_page(TcListSet *set, TcList *list, TcHttpRequest *req)
{
	MemoryContext cxt;
	TcParsedPage *page;
	bool		ended;

	(void) tc_api_check_answer(req, false, set->opts);
	tc_list_guess_ahead(set, list, req);
	cxt = AllocSetContextCreate(list->cxt, "topcalls_fdw list page",
								ALLOCSET_DEFAULT_SIZES);
	/*
	 * The page before is being converted, the one before that is gone:
	 * two buffers in turn suffice.
	 */
	page = tc_page_parse(set->conv, req, cxt, &list->buffers[list->next_buffer]);
	list->next_buffer = 1 - list->next_buffer;
	set->pages++;
	set->rows_read += tc_page_nitems(page);
	list->next = page;
	list->next_cxt = cxt;
	ended = tc_list_examine(set, list, page, req->what);

	if (list->collected != NULL)
	{
		uint32		len = (uint32) req->body_len;

		/* the entry also holds its key: the URL and a few dozen bytes */
		if (list->collected->len + sizeof(uint32) + req->body_len +
			strlen(list->cache_url) + 64 > tc_cache_max_entry())
		{
			/* too large for the cache: read every time */
			pfree(list->collected->data);
			pfree(list->collected);
			list->collected = NULL;
			tc_cache_unclaim(set->opts, TC_CACHE_LIST, list->cache_url);
		}
		else
		{
			appendBinaryStringInfo(list->collected, (char *) &len, sizeof(len));
			appendBinaryStringInfo(list->collected, req->body, req->body_len);
		}
	}

	if (!ended && list->finished && list->collected != NULL)
	{
		/* stopped early (a lower time bound): nothing to store */
		pfree(list->collected->data);
		pfree(list->collected);
		list->collected = NULL;
		tc_cache_unclaim(set->opts, TC_CACHE_LIST, list->cache_url);
	}
	if (!ended)
		return;
	if (list->collected != NULL)
	{
		(void) tc_cache_put(set->opts, TC_CACHE_LIST, list->cache_url,
							list->collected->data, list->collected->len);
		pfree(list->collected->data);
		pfree(list->collected);
		list->collected = NULL;
	}

	/* the whole table, counted: its size for the planners */
	if (list->spec.filters == NIL && !list->spec.has_hi && !list->spec.has_lo &&
		set->resource->rows_field == NULL && OidIsValid(set->opts->relid))
		tc_shared_set_table_rows(set->opts, (double) list->rows_kept);
}

/*
 * The first page of a pass is about to be asked for, at url: replay the
 * pass from the cache if it has it, else collect the pages for it.  A pass
 * that will be read to its end claims the list in the cache, so that other
 * backends wait for it rather than read it too; while another backend has
 * the claim, wait (in short slices, interruptibly) until its pages are
 * there or the claim is given up.  A pass that a LIMIT will cut short
 * claims nothing: it will store nothing.
 */
static void
tc_list_cache_begin(TcListSet *set, TcList *list, const char *url)
{
	MemoryContext oldcxt;
	TcCacheResult result;
	bool		hit;

	if (!tc_cache_enabled(set->opts))
		return;
	oldcxt = MemoryContextSwitchTo(list->cxt);
	for (;;)
	{
		list->replay = tc_cache_fetch(set->opts, TC_CACHE_LIST, url,
									  &list->replay_len, set->row_limit == 0,
									  &result);
		/* a list is never refreshed ahead: it just expires */
		if (result != TC_CACHE_PENDING)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 TC_CACHE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	list->replay_pos = 0;
	hit = list->replay != NULL;
	if (!hit)
	{
		list->cache_url = pstrdup(url);
		list->collected = makeStringInfo();
	}
	MemoryContextSwitchTo(oldcxt);
	set->stats->cache_hits += hit ? 1 : 0;
	set->stats->cache_misses += hit ? 0 : 1;
	tc_server_count_cache(tc_server_state(set->opts), hit ? 1 : 0, hit ? 0 : 1);
}

/* Answer the list's request for its next page from the cache's pages. */
static void
tc_list_replay_page(TcListSet *set, TcList *list, TcHttpRequest *req)
{
	uint32		len;

	if (list->replay_pos + sizeof(uint32) > list->replay_len)
		elog(ERROR, "cached list of %s ends early", req->what);
	memcpy(&len, list->replay + list->replay_pos, sizeof(len));
	list->replay_pos += sizeof(len);
	if (list->replay_pos + len > list->replay_len)
		elog(ERROR, "cached list of %s ends early", req->what);
	req->body = palloc(len + 1);
	memcpy(req->body, list->replay + list->replay_pos, len);
	req->body[len] = '\0';
	req->body_len = len;
	list->replay_pos += len;
	req->status = 200;
	req->content_type = pstrdup("application/json");
	req->from_cache = true;
	tc_list_take_page(set, list, req);
	pfree(req->body);
	pfree(req->content_type);
	req->body = req->content_type = NULL;
}

/* tc_http_run's work: convert the current pages while the requests travel. */
static bool
tc_listset_work(void *arg)
{
	TcListSet  *set = (TcListSet *) arg;
	int			i;

	for (i = 0; i < set->nlists; i++)
	{
		TcList	   *list = set->lists[i];

		if (list->current != NULL &&
			!tc_page_convert(set->conv, list->current, TC_CONVERT_SLICE, &set->out))
			return true;
	}
	return false;
}

/*
 * The requests of a round, built in the current memory context: the next
 * page of every list that has one and, with details, the details of the
 * current pages' rows.  A list's first page may be replayed from the cache
 * here instead.  Sets set->round; returns the number of requests.
 */
static int
tc_listset_requests(TcListSet *set, TcHttpRequest **reqs_out)
{
	TcHttpRequest *reqs;
	int			nreqs = 0;
	int			cap = 0;
	int			i;
	int			j;

	for (i = 0; i < set->nlists; i++)
	{
		TcList	   *list = set->lists[i];

		cap += 1;
		if (set->details && list->current != NULL)
			cap += tc_page_nitems(list->current);
	}
	reqs = palloc0(sizeof(TcHttpRequest) * Max(cap, 1));
	set->round = palloc0(sizeof(TcRoundReq) * Max(cap, 1));

	for (i = 0; i < set->nlists; i++)
	{
		TcList	   *list = set->lists[i];

		if (!list->finished && set->row_limit > 0 && set->rows_read >= set->row_limit)
			list->finished = true;	/* a LIMIT has all it takes */
		if (!list->finished)
		{
			const char *cursor = list->cursor;

			if (!list->started && list->spec.has_hi)
				cursor = tc_format_cursor(list->spec.hi);
			tc_api_list_request(set->opts, set->page_limit, list->spec.filters,
								cursor, &reqs[nreqs]);
			if (!list->started)
				tc_list_cache_begin(set, list, reqs[nreqs].url);
			list->started = true;
			list->finished = true;	/* until its answer names a next page */
			if (list->replay != NULL)
				tc_list_replay_page(set, list, &reqs[nreqs]);
			else
			{
				reqs[nreqs].index = nreqs;
				set->round[nreqs].list = list;
				set->round[nreqs].item = -1;
				nreqs++;
			}
		}
		if (set->details && list->current != NULL)
		{
			for (j = 0; j < tc_page_nitems(list->current); j++)
			{
				char		normalized[TC_ID_BUFSIZE];

				if (tc_page_skipped(list->current, j))
					continue;
				if (!tc_page_item_id(list->current, j, normalized))
					continue;	/* no detail to fetch: the list's fields */
				tc_api_lookup_request(set->opts, normalized, &reqs[nreqs]);
				reqs[nreqs].index = nreqs;
				set->round[nreqs].list = list;
				set->round[nreqs].item = j;
				nreqs++;
			}
		}
	}
	if (nreqs > 0)
		tc_require_api_key(set->opts);
	*reqs_out = reqs;
	return nreqs;
}

/*
 * What any request sent early needs: the set is not done, no LIMIT has all
 * it takes, and no details are fetched (they are asked for with the page
 * they complete).
 */
static bool
tc_listset_wants_pages_early(const TcListSet *set)
{
	return !set->details && !set->done &&
		!(set->row_limit > 0 && set->rows_read >= set->row_limit);
}

/*
 * May the next round's requests be sent now, before the executor takes the
 * rows of this one?  Only next pages qualify (tc_listset_wants_pages_early),
 * and only when every list still to read has been started (its first page
 * may need the cache) and none is replayed.
 */
static bool
tc_listset_may_ask_ahead(TcListSet *set)
{
	bool		any = false;
	int			i;

	if (!tc_listset_wants_pages_early(set))
		return false;
	for (i = 0; i < set->nlists; i++)
	{
		TcList	   *list = set->lists[i];

		if (list->finished)
			continue;
		if (!list->started || list->replay != NULL)
			return false;
		any = true;
	}
	return any;
}

/*
 * The memory context for the next requests sent ahead, emptied.  Two serve
 * in turn: the requests a round finishes may send the next ones (a guess)
 * from their own callback.
 */
static MemoryContext
tc_listset_ahead_context(TcListSet *set)
{
	MemoryContext cxt = set->aheadcxt[set->ahead_turn];

	set->ahead_turn = 1 - set->ahead_turn;
	MemoryContextReset(cxt);
	return cxt;
}

/*
 * Send the next round's page requests now (tc_http_start), in a memory
 * context of their own that holds them and their answers until the next
 * round finishes them: the API prepares page k+1 while the executor takes
 * the rows of page k-1 and the next round converts page k.
 */
static void
tc_listset_ask_ahead(TcListSet *set)
{
	MemoryContext oldcxt;
	TcHttpRequest *reqs;
	int			nreqs;

	oldcxt = MemoryContextSwitchTo(tc_listset_ahead_context(set));
	nreqs = tc_listset_requests(set, &reqs);
	if (nreqs > 0)
	{
		set->ahead_round = set->round;
		set->ahead_nreqs = nreqs;
		set->ahead_cursor = NULL;
		set->ahead = tc_http_start(reqs, nreqs, set->opts, set->stats,
								   tc_listset_done, set, true);
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * With a lower time bound, is the page at cursor wanted?  Only when the
 * cursor is a time (as the calls list's are) at or after the bound: the
 * next page starts there, so it holds rows the scan wants.
 */
static bool
tc_list_wants_page_at(const TcList *list, const char *cursor)
{
	TimestampTz at;

	if (!list->spec.has_lo)
		return true;
	if (!tc_instant_try(cursor, &at))
		return false;
	return list->spec.lo_strict ? at > list->spec.lo : at >= list->spec.lo;
}

/*
 * A page of the set's only list has arrived: ask for the next one at once,
 * on a guess at its cursor read off the end of the body, rather than after
 * the page has been parsed and checked.  The round confirms the guess with
 * the parsed cursor, or drops the request (tc_listset_round): a wrong guess
 * costs one request, never a wrong row.  Not done where the page may well
 * be the last one read (a LIMIT, a lower time bound the cursor has passed,
 * a cursor given before), for details (asked for with the page they
 * complete), or for pages the cache replays.
 */
static void
tc_list_guess_ahead(TcListSet *set, TcList *list, const TcHttpRequest *req)
{
	MemoryContext oldcxt;
	TcHttpRequest *reqs;
	char	   *cursor;

	if (!tc_listset_wants_pages_early(set) || set->nlists != 1 ||
		set->row_limit > 0 || list->replay != NULL || req->from_cache ||
		set->ahead != 0)
		return;
	oldcxt = MemoryContextSwitchTo(tc_listset_ahead_context(set));
	cursor = tc_page_peek_next_cursor(req);
	/* a cursor given before is the cycle the page's check will report */
	if (cursor != NULL && !tc_list_cursor_seen(list, cursor) &&
		tc_list_wants_page_at(list, cursor))
	{
		reqs = palloc0(sizeof(TcHttpRequest));
		tc_api_list_request(set->opts, set->page_limit, list->spec.filters,
							cursor, &reqs[0]);
		set->ahead_round = palloc0(sizeof(TcRoundReq));
		set->ahead_round[0].list = list;
		set->ahead_round[0].item = -1;
		set->ahead_nreqs = 1;
		set->ahead_cursor = cursor;
		set->ahead = tc_http_start(reqs, 1, set->opts, set->stats,
								   tc_listset_done, set, true);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* Drop the requests sent ahead, if any (see tc_listset_end). */
static void
tc_listset_drop_ahead(TcListSet *set, bool memory_gone)
{
	uint64		handle = set->ahead;

	set->ahead = 0;
	if (handle != 0)
		tc_http_abandon(handle, memory_gone);
}

/* Reset callback of the set's memory: the requests ahead go with it. */
static void
tc_listset_memory_gone(void *arg)
{
	tc_listset_drop_ahead((TcListSet *) arg, true);
}

/*
 * One round: ask for the next page of every list that has one (unless that
 * was done ahead) and for the details of the current pages' rows; convert
 * the current pages meanwhile (after the details, when there are details).
 * Afterwards the pages that arrived become current, and the next round's
 * pages are asked for ahead when they may be.  Sets set->done when no list
 * has anything left.
 */
static void
tc_listset_round(TcListSet *set)
{
	bool		asked = false;
	int			i;

	MemoryContextReset(set->outcxt);
	memset(&set->out, 0, sizeof(set->out));
	set->out.cxt = set->outcxt;
	set->out_pos = 0;

	if (set->ahead != 0)
	{
		uint64		handle = set->ahead;

		set->ahead = 0;
		set->round = set->ahead_round;
		if (tc_http_finish(handle, tc_listset_work))
			asked = true;
		else
		{
			/* dropped as stale (see tc_http_finish): ask again below */
			for (i = 0; i < set->ahead_nreqs; i++)
				set->ahead_round[i].list->finished = false;
		}
	}
	if (!asked)
	{
		MemoryContext oldcxt;
		TcHttpRequest *reqs;
		int			nreqs;

		MemoryContextReset(set->roundcxt);
		oldcxt = MemoryContextSwitchTo(set->roundcxt);
		nreqs = tc_listset_requests(set, &reqs);
		MemoryContextSwitchTo(oldcxt);

		tc_http_run(reqs, nreqs, set->opts, set->stats, tc_listset_done,
					set->details ? NULL : tc_listset_work, set);
		if (set->details)
			while (tc_listset_work(set))
				CHECK_FOR_INTERRUPTS();
	}

	/* the converted pages go, the pages that arrived are next */
	set->done = true;
	for (i = 0; i < set->nlists; i++)
	{
		TcList	   *list = set->lists[i];

		if (list->current_cxt != NULL)
			MemoryContextDelete(list->current_cxt);
		list->current = list->next;
		list->current_cxt = list->next_cxt;
		list->next = NULL;
		list->next_cxt = NULL;
		if (list->current != NULL || !list->finished)
			set->done = false;
	}

	/* a guess made as this round's page came in: right, or dropped */
	if (set->ahead != 0)
	{
		TcList	   *list = set->ahead_round[0].list;

		if (tc_listset_may_ask_ahead(set) && list->cursor != NULL &&
			strcmp(list->cursor, set->ahead_cursor) == 0)
			list->finished = true;	/* its next page is on its way */
		else
			tc_listset_drop_ahead(set, false);
	}
	if (set->ahead == 0 && tc_listset_may_ask_ahead(set))
		tc_listset_ask_ahead(set);
}

/*
 * tc_listset_end
 *		Drop the requests the set sent ahead, if any: the scan ends before
 *		reading all its rows (a LIMIT above it, a join that needs no more).
 *		The set's memory going has the same effect, less cheaply.
 */
void
tc_listset_end(TcListSet *set)
{
	tc_listset_drop_ahead(set, false);
}

/*
 * tc_listset_next
 *		The next row of the set's lists, in the set's row context (valid
 *		until the next call), or NULL when every list is read.
 */
HeapTuple
tc_listset_next(TcListSet *set)
{
	while (set->out_pos >= set->out.ntuples)
	{
		if (set->done)
			return NULL;
		tc_listset_round(set);
	}
	return set->out.tuples[set->out_pos++];
}

/*
 * tc_listset_pages, tc_listset_details
 *		Pages read and details fetched so far, for EXPLAIN ANALYZE.
 */
int64
tc_listset_pages(const TcListSet *set)
{
	return set->pages;
}

int64
tc_listset_details(const TcListSet *set)
{
	return set->details_fetched;
}

/* ------------------------------------------------------------------------
 * Checks of a page, as it arrives
 * ------------------------------------------------------------------------
 */

/* The fingerprint of a cursor, as the cycle checks remember it. */
static uint64
tc_cursor_fingerprint(const char *cursor)
{
	return hash_bytes_extended((const unsigned char *) cursor,
							   (int) strlen(cursor), 0);
}

/* Has this pass been given cursor before, as far as the checks know? */
static bool
tc_list_cursor_seen(TcList *list, const char *cursor)
{
	uint64		fp = tc_cursor_fingerprint(cursor);

	return hash_search(list->seen, &fp, HASH_FIND, NULL) != NULL ||
		(list->brent_have && fp == list->brent_saved);
}

/*
 * An ERROR if this pass has been given list->cursor before: the pages would
 * then go round for ever.  Every cursor of the first TC_CURSORS_REMEMBERED
 * pages is remembered (as a fingerprint), so any repetition is caught at
 * once; Brent's algorithm catches a cycle that starts later still.
 */
static void
tc_list_check_cursor(TcList *list, const char *what)
{
	uint64		fp = tc_cursor_fingerprint(list->cursor);
	bool		repeated = false;

	if (hash_get_num_entries(list->seen) < TC_CURSORS_REMEMBERED)
		(void) hash_search(list->seen, &fp, HASH_ENTER, &repeated);
	else
		repeated = hash_search(list->seen, &fp, HASH_FIND, NULL) != NULL;

	if (list->brent_have && fp == list->brent_saved)
		repeated = true;
	if (++list->brent_steps >= list->brent_power)
	{
		list->brent_have = true;
		list->brent_saved = fp;
		list->brent_power *= 2;
		list->brent_steps = 0;
	}

	if (repeated)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid answer to %s", what),
				 errdetail("Its \"next_cursor\" was already given earlier in this scan: the pages go round in a cycle.")));
}

/* The ERROR of a row that breaks the list's newest-first order. */
pg_noreturn static void
tc_order_error(const char *what, TimestampTz row_ts, TimestampTz before_ts,
			   bool after_cursor)
{
	/* timestamptz_to_str returns a static buffer: copy each */
	char	   *row = pstrdup(timestamptz_to_str(row_ts));
	char	   *before = pstrdup(timestamptz_to_str(before_ts));

	if (after_cursor)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("the TopCalls API did not answer %s in the documented order", what),
				 errdetail("A row created at %s came in a list asked to start at %s, and the list is newest first.",
						   row, before),
				 errhint("Set the foreign table option time_pushdown to false to read the whole list and filter it locally.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("the TopCalls API did not answer %s in the documented order", what),
			 errdetail("A row created at %s came after one created at %s, and the list is newest first.",
					   row, before),
			 errhint("Set the foreign table option time_pushdown to false to read the whole list and filter it locally.")));
}

/*
 * Has the list returned the row of id key (normalized) before?  Remembers
 * it if not.
 */
static bool
tc_list_repeat(TcList *list, TimestampTz ts, const char *key)
{
	int			i;

	if (list->all_ids != NULL)
	{
		bool		found;

		(void) hash_search(list->all_ids, key, HASH_ENTER, &found);
		return found;
	}

	if (!list->have_last || ts < list->last_ts)
		list->ngroup = 0;		/* an older timestamp: a new group */
	for (i = 0; i < list->ngroup; i++)
	{
		if (strcmp(list->group[i], key) == 0)
			return true;
	}
	if (list->ngroup >= list->group_cap)
	{
		list->group_cap *= 2;
		list->group = repalloc(list->group, TC_ID_BUFSIZE * list->group_cap);
	}
	strlcpy(list->group[list->ngroup++], key, TC_ID_BUFSIZE);
	return false;
}

/*
 * A page has arrived: check its cursor and, for a newest-first list, the
 * order of its rows; drop the rows returned before and those past the lower
 * time bound (which ends the list); learn the next page's cursor.  Returns
 * true if the API said this is the last page.
 */
static bool
tc_list_examine(TcListSet *set, TcList *list, TcParsedPage *page,
				const char *what)
{
	const char *order_field = set->resource->order_field;
	const char *next_cursor = tc_page_next_cursor(page);
	int			n = tc_page_nitems(page);
	bool		stop = false;
	int			i;

	for (i = 0; i < n; i++)
	{
		char		id[TC_ID_BUFSIZE];
		TimestampTz ts;

		if (stop)
		{
			tc_page_skip(page, i);
			continue;
		}
		if (order_field == NULL)
			continue;
		if (!tc_page_item_instant(page, i, order_field, &ts))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("A row has no \"%s\" string.", order_field)));
		if (set->ordered)
		{
			if (list->spec.has_hi && ts > list->spec.hi)
				tc_order_error(what, ts, list->spec.hi, true);
			if (list->have_last && ts > list->last_ts)
				tc_order_error(what, ts, list->last_ts, false);
		}
		/* an id that is no UUID cannot be compared: the row is kept */
		if (tc_page_item_id(page, i, id) && tc_list_repeat(list, ts, id))
			tc_page_skip(page, i);
		else if (set->ordered && list->spec.has_lo &&
				 (ts < list->spec.lo || (list->spec.lo_strict && ts == list->spec.lo)))
		{
			/* older than the lower bound: so is everything after it */
			tc_page_skip(page, i);
			stop = true;
		}
		list->have_last = true;
		list->last_ts = ts;
	}
	for (i = 0; i < n; i++)
	{
		if (!tc_page_skipped(page, i))
			list->rows_kept++;
	}

	list->cursor = NULL;
	if (next_cursor != NULL && !stop)
	{
		list->cursor = MemoryContextStrdup(list->cxt, next_cursor);
		tc_list_check_cursor(list, what);
		if (n > 0)
			list->empty_run = 0;
		else if (++list->empty_run >= TC_MAX_EMPTY_PAGES)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid answer to %s", what),
					 errdetail("The last %d pages had no rows, yet each named a next page: the list would never end.",
							   TC_MAX_EMPTY_PAGES)));
		list->finished = false;
	}
	return next_cursor == NULL;
}
