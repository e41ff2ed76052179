/*-------------------------------------------------------------------------
 *
 * http.c
 *		  HTTP transfers for topcalls_fdw, through libcurl.
 *
 * tc_http_run performs a batch of GETs on the backend's libcurl handles
 * (connection.c): at most max_concurrency at once, each taking its turn from
 * the rate limiter of its server and key first (shared.c), each retried with
 * backoff when the answer or the failure is transient, and hands each
 * finished request to the caller.  A batch may also be started ahead
 * (tc_http_start), left to travel while the caller does other things, and
 * finished (tc_http_finish) or dropped (tc_http_abandon) later.  Lookups
 * found in the answer cache (cache.c) are handed over without a request,
 * and the answers the caller accepts are stored there.  Every request and
 * answer is counted in the server's statistics.  One attempt on one handle
 * (its options, its body, its outcome) is transfer.c's.
 *
 * What this file must not do:
 *	- raise an ERROR (or anything else that longjmps) inside a libcurl
 *	  callback: that would unwind through libcurl's frames and leave its state
 *	  corrupt.  Callbacks only set flags; errors are raised after curl returns.
 *	- leave an easy handle attached to the multi handle, or a header list
 *	  allocated, when an ERROR unwinds through tc_http_finish: PG_TRY cleans
 *	  up, and a transaction-abort callback is the second safety net (for a
 *	  batch started ahead and left travelling, the first).
 *	- install signal handlers, or sleep: every wait (for an answer, a retry
 *	  or the rate limiter) goes through curl_multi_poll or WaitLatch
 *	  in slices of at most TC_SLICE_MS, with CHECK_FOR_INTERRUPTS and a
 *	  postmaster-death check between them, so query cancel, statement_timeout
 *	  and the postmaster's death act promptly.
 *	- let libcurl block the backend on a name lookup.  libcurl resolves names
 *	  in a thread of its own; CURLOPT_QUICK_EXIT lets it abandon that thread
 *	  instead of joining it when a transfer is cut short (and connection.c
 *	  blocks signals while libcurl may start one).
 *	- put the API key into any message, or turn on CURLOPT_VERBOSE (which
 *	  would log the Authorization header).
 *	- know anything about TopCalls: URLs, answers and their errors belong to
 *	  api.c.  Here a request is a URL, and an answer a status and a body.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "postmaster/postmaster.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "connection.h"
#include "transfer.h"

/* Longest wait without a CHECK_FOR_INTERRUPTS, in milliseconds. */
#define TC_SLICE_MS				100

/* How often a lookup another backend is fetching looks at the cache again. */
#define TC_CACHE_POLL_MS		10

static bool tc_callbacks_registered = false;

/* The last run's serial: handles are never reused. */
static uint64 tc_run_serial = 0;

/* Runs in progress, in the order they were started. */
static dlist_head tc_runs = DLIST_STATIC_INIT(tc_runs);

/* tc_http_forget_connections was called while runs were in progress. */
static bool tc_forget_pending = false;

static void tc_forget_now(void);
static TcRun *tc_run_create(TcHttpRequest *reqs, int nreqs,
							const TcOptions *opts, TcHttpStats *stats,
							TcHttpDoneFn done, void *arg);
static void tc_run_prepare(TcRun *run, const TcOptions *opts);
static void tc_run_destroy(TcRun *run, bool on_error);
static void tc_run_drive(TcRun *run);
static void tc_run_send(TcRun *run);
static void tc_drive_others(void);
static long tc_start_attempts(TcRun *run, TimestampTz now);
static void tc_take_turn(TcRun *run, int reqno, TimestampTz now,
						 long *wait_ms);
static void tc_note_throttled(TcRun *run, TimestampTz now);
static void tc_count_abandoned(TcRun *run, TcSlot *slot);
static void tc_cache_ask(TcRun *run, int reqno);
static bool tc_cache_recheck(TcRun *run, TimestampTz now);
static void tc_cache_unclaim_all(TcRun *run);
static bool tc_read_messages(TcRun *run);
static void tc_xact_callback(XactEvent event, void *arg);
static void tc_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);
static void tc_abort_runs(int nestlevel);
static void tc_check_postmaster(void);


/*
 * tc_http_run
 *		Perform the nreqs GETs, calling done(req, arg) for each as it finishes.
 *
 * Bodies, content types and error texts are allocated in the memory context
 * current at the call.  See topcalls_fdw.h for the contract.
 */
void
tc_http_run(TcHttpRequest *reqs, int nreqs, const TcOptions *opts,
			TcHttpStats *stats, TcHttpDoneFn done, TcHttpWorkFn work,
			void *arg)
{
	if (nreqs <= 0)
	{
		/* nothing to wait for: just the work */
		while (work != NULL && work(arg))
			CHECK_FOR_INTERRUPTS();
		return;
	}
	(void) tc_http_finish(tc_http_start(reqs, nreqs, opts, stats, done, arg,
										false),
						  work);
}

/*
 * tc_http_start
 *		Set up the nreqs GETs (nreqs > 0); return without waiting for any
 *		answer.
 *
 * The answers are waited for, and done called, by tc_http_finish; or the
 * requests are dropped by tc_http_abandon.  Meanwhile the requests, the
 * options, the statistics and the memory context current at the call (the
 * bodies') must stay, and the caller may do other things.
 *
 * ahead: the requests are asked for ahead of need, to travel while the
 * caller does other things (a list's next page while the executor takes
 * the rows of the page before).  They are sent at once, unless the server
 * has a rate_limit or the API has paused it after a 429: a turn that may
 * have to be waited for, or be refused, is left to tc_http_finish, so that
 * a page the query may never need cannot fail it.  Such a run belongs to
 * its caller, not to the (sub)transaction: a subtransaction's abort leaves
 * it alone, and only the caller (or the top transaction's end) drops it.
 *
 * The handle identifies the run without pointing into it, so that a run
 * already destroyed (by the abort callback, after an ERROR) is recognized
 * as gone.
 */
uint64
tc_http_start(TcHttpRequest *reqs, int nreqs, const TcOptions *opts,
			  TcHttpStats *stats, TcHttpDoneFn done, void *arg, bool ahead)
{
	TcRun	   *volatile run = NULL;

	Assert(nreqs > 0);
	if (!tc_callbacks_registered)
	{
		RegisterXactCallback(tc_xact_callback, NULL);
		RegisterSubXactCallback(tc_subxact_callback, NULL);
		tc_callbacks_registered = true;
	}
	tc_conn_setup();

	PG_TRY();
	{
		run = tc_run_create(reqs, nreqs, opts, stats, done, arg);
		run->ahead = ahead;
		if (ahead)
			run->nestlevel = 0;
		run->started_at = GetCurrentTimestamp();
		tc_run_prepare(run, opts);
		if (ahead)
			tc_run_send(run);
	}
	PG_CATCH();
	{
		if (run != NULL)
		{
			tc_cache_unclaim_all(run);
			tc_run_destroy(run, true);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	return run->serial;
}

/* The run of a handle of tc_http_start's, or NULL once it is gone. */
static TcRun *
tc_run_find(uint64 handle)
{
	dlist_iter	iter;

	dlist_foreach(iter, &tc_runs)
	{
		TcRun	   *run = dlist_container(TcRun, node, iter.cur);

		if (run->serial == handle)
			return run;
	}
	return NULL;
}

/*
 * tc_http_finish
 *		Wait for the answers of the run tc_http_start began, calling "done"
 *		for each, and doing the caller's work meanwhile; then release the
 *		run.  Returns true.
 *
 * A run started ahead may have been waiting unattended for longer than its
 * requests may take: libcurl's timeout_ms counts from the request, and it
 * would cut an answer the API gave long ago.  Such a run, when half of
 * timeout_ms has gone, is dropped instead, without calling "done" or doing
 * the work; so is one that is gone.  Returns false then: the caller asks
 * again.
 */
bool
tc_http_finish(uint64 handle, TcHttpWorkFn work)
{
	TcRun	   *volatile run = tc_run_find(handle);
	const TcOptions *opts;
	TcHttpStats *stats;
	instr_time	start;
	instr_time	duration;

	if (run == NULL)
		return false;
	if (run->ahead && run->opts->timeout_ms > 0 &&
		TimestampDifferenceExceeds(run->started_at, GetCurrentTimestamp(),
								   run->opts->timeout_ms / 2))
	{
		tc_http_abandon(handle, false);
		return false;
	}
	opts = run->opts;
	stats = run->stats;
	INSTR_TIME_SET_CURRENT(start);

	PG_TRY();
	{
		run->work = work;
		run->work_pending = work != NULL;
		tc_run_drive(run);
	}
	PG_CATCH();
	{
		/*
		 * Detach and clean up every transfer still running before the error
		 * goes on: the multi handle must be usable by the next query.  The
		 * claims on the cache go first, so that other backends waiting for
		 * those answers fetch them themselves at once.
		 */
		tc_cache_unclaim_all(run);
		tc_run_destroy(run, true);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* a caller that stopped early leaves claims of requests never answered */
	tc_cache_unclaim_all(run);

	/* Normal end, or the caller asked to stop: abandon what is left. */
	tc_run_destroy(run, false);
	if (dlist_is_empty(&tc_runs))
		tc_conn_trim_idle(opts->max_idle_connections);

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	stats->wait_ms += INSTR_TIME_GET_MILLISEC(duration);
	return true;
}

/*
 * tc_http_abandon
 *		Drop the requests of a run tc_http_start began, answered or not,
 *		without calling "done".  Nothing happens if it is gone already.
 *
 * bodies_gone: the memory context of the bodies, and maybe of the requests,
 * has been freed (the caller's memory is being reset): neither is touched
 * then, nor are the cache's claims given back (they would be named by the
 * requests; a run started ahead has none, see tc_run_send).  A backend on
 * its way out leaves its handles to the operating system, as the abort
 * callback does.  Never raises an ERROR.
 */
void
tc_http_abandon(uint64 handle, bool bodies_gone)
{
	TcRun	   *run;

	if (proc_exit_inprogress)
		return;
	run = tc_run_find(handle);
	if (run == NULL)
		return;
	if (!bodies_gone)
		tc_cache_unclaim_all(run);
	tc_run_destroy(run, bodies_gone);
}

/*
 * Send what can go at once for a run started ahead: the requests that have
 * a slot, if no turn is to be waited for (see tc_http_start).  Lookups the
 * cache answers must be handed over before anything is sent, and claims
 * are not to be held by a run that may be dropped with its memory: a run
 * that has any is left to tc_run_drive.
 */
static void
tc_run_send(TcRun *run)
{
	int			running;
	CURLMcode	mc;
	int			i;

	if (run->turn_interval_us > 0 || tc_limit_pause_end(run->server) > 0)
		return;
	for (i = 0; i < run->nreqs; i++)
	{
		if (run->reqs[i].from_cache || run->cache_state[i] != 0 ||
			run->reqs[i].cache_kind != 0)
			return;
	}
	(void) tc_start_attempts(run, GetCurrentTimestamp());
	if (run->nactive > 0)
	{
		mc = tc_conn_perform(&running);
		if (mc != CURLM_OK)
			tc_multi_failed("curl_multi_perform", mc);
	}
}

/*
 * tc_http_forget_connections
 *		Drop the multi handle, its connections, the TLS sessions and the idle
 *		easy handles, so that the next request starts from scratch.
 *
 * Called when a server or user mapping changes.  That can happen inside a
 * run (invalidations are processed in the middle of a "done" callback, say),
 * where the handles are in use: then the forgetting waits until the last
 * run ends.
 */
void
tc_http_forget_connections(void)
{
	if (!dlist_is_empty(&tc_runs))
	{
		tc_forget_pending = true;
		return;
	}
	tc_forget_now();
}

/* Forget the connections now: no run is in progress. */
static void
tc_forget_now(void)
{
	tc_conn_forget();
	tc_forget_pending = false;
}

/*
 * Detach a slot's easy handle and release it; the slot becomes free.  Never
 * raises an ERROR, as it runs while cleaning up after one.
 *
 * Removing a handle whose transfer is still under way makes libcurl close
 * that connection (or reset that HTTP/2 stream), and drops any completion
 * message still queued for it, so the multi handle stays usable.
 */
void
tc_slot_release(TcSlot *slot, bool reuse)
{
	CURL	   *easy = slot->easy;

	if (easy == NULL)
		return;
	if (slot->attached)
	{
		(void) curl_multi_remove_handle(tc_multi, easy);
		slot->attached = false;
		slot->run->nactive--;
	}
	slot->easy = NULL;
	slot->finished = false;
	tc_conn_easy_release(easy, reuse);
}

/*
 * Create a run and link it into tc_runs, so that from here on every cleanup
 * path finds it.  Nothing else is allocated yet: the struct fits in the new
 * context's first block, so nothing can fail between the context's creation
 * and the link.
 */
static TcRun *
tc_run_create(TcHttpRequest *reqs, int nreqs, const TcOptions *opts,
			  TcHttpStats *stats, TcHttpDoneFn done, void *arg)
{
	MemoryContext runcxt;
	TcRun	   *run;

	runcxt = AllocSetContextCreate(TopMemoryContext,
								   "topcalls_fdw HTTP transfers",
								   ALLOCSET_SMALL_SIZES);
	run = MemoryContextAllocZero(runcxt, sizeof(TcRun));
	run->runcxt = runcxt;
	run->serial = ++tc_run_serial;
	run->bodycxt = CurrentMemoryContext;
	run->nestlevel = GetCurrentTransactionNestLevel();
	run->reqs = reqs;
	run->nreqs = nreqs;
	run->stats = stats;
	run->done = done;
	run->arg = arg;
	dlist_push_tail(&tc_runs, &run->node);
	return run;
}

/* Fill in everything else a run needs before its first transfer. */
static void
tc_run_prepare(TcRun *run, const TcOptions *opts)
{
	int			i;

	run->ca_file = opts->ca_file;
	run->timeout_ms = Max(opts->timeout_ms, 0);
	run->connect_timeout_ms = Max(opts->connect_timeout_ms, 0);
	if (opts->timeout_ms > 0)
		run->low_speed_time = Min(Max(opts->timeout_ms / 1000 / 3,
									  TC_LOW_SPEED_TIME_MIN),
								  TC_LOW_SPEED_TIME_MAX);
	else
		run->low_speed_time = TC_LOW_SPEED_TIME_MAX;
	run->max_retries = Max(opts->max_retries, 0);
	run->max_bytes = opts->max_response_bytes;
	run->nslots = tc_conn_claim_slots(opts->max_concurrency);
	if (run->nslots < opts->max_concurrency)
		elog(DEBUG1, "topcalls_fdw: %d requests in flight instead of max_concurrency %d: no more file descriptors to spare",
			 run->nslots, opts->max_concurrency);

	run->slots = MemoryContextAllocZero(run->runcxt,
										sizeof(TcSlot) * run->nslots);
	for (i = 0; i < run->nslots; i++)
		run->slots[i].run = run;
	run->due = MemoryContextAllocZero(run->runcxt,
									  sizeof(TimestampTz) * run->nreqs);
	run->waiting = MemoryContextAllocZero(run->runcxt,
										  sizeof(int) * run->nreqs);

	/* What tc_http_run fills in starts out empty, whatever a rescan left. */
	for (i = 0; i < run->nreqs; i++)
	{
		TcHttpRequest *req = &run->reqs[i];

		req->status = 0;
		req->body = NULL;
		req->body_len = 0;
		req->content_type = NULL;
		req->attempts = 0;
		req->transport_failed = false;
		req->connect_failed = false;
		req->too_large = false;
		req->too_slow = false;
		req->error = NULL;
		req->priv = NULL;
		req->from_cache = false;
		req->cache_ok = false;
	}

	run->token_at = MemoryContextAllocZero(run->runcxt,
										   sizeof(TimestampTz) * run->nreqs);
	run->ready = MemoryContextAllocZero(run->runcxt, sizeof(int) * run->nreqs);
	run->opts = opts;
	run->server = tc_server_state(opts);
	if (opts->rate_limit > 0)
		run->turn_interval_us = 1000000.0 / Max(opts->rate_limit, 1.0 / 3600);

	/*
	 * Lookups the cache has are handed over first, without a request
	 * (tc_run_drive); the others are claimed, or waited for when another
	 * backend has claimed them.
	 */
	run->use_cache = tc_cache_enabled(opts);
	run->cache_state = MemoryContextAllocZero(run->runcxt, run->nreqs);
	if (run->use_cache)
	{
		for (i = 0; i < run->nreqs; i++)
		{
			if (run->reqs[i].cache_kind == 0)
				continue;
			tc_cache_ask(run, i);
			if (run->cache_state[i] == 'W')
				run->ncache_waiting++;
		}
	}

	run->headers = tc_conn_build_headers(opts);
	run->generation = tc_conn_configure(run->nslots);
}

/*
 * Undo a run: detach and release every easy handle it still has, free its
 * header list, unlink and free it.  Never raises an ERROR.
 *
 * on_error: we are cleaning up after an ERROR (or from the abort callback).
 * The handles are then cleaned up rather than pooled, and the caller's
 * memory (partial bodies) is not touched: it may be on its way out, and
 * will be freed with its context.  Otherwise the run ended normally or was
 * stopped by its caller, and the partial bodies of abandoned transfers are
 * freed here.
 */
static void
tc_run_destroy(TcRun *run, bool on_error)
{
	int			i;

	if (run->slots != NULL)
	{
		for (i = 0; i < run->nslots; i++)
		{
			TcSlot	   *slot = &run->slots[i];

			if (slot->easy == NULL)
				continue;
			tc_count_abandoned(run, slot);
			if (!on_error && slot->buf != NULL)
				pfree(slot->buf);
			slot->buf = NULL;
			tc_slot_release(slot, !on_error);
		}
	}
	if (run->headers != NULL)
	{
		tc_conn_free_headers(run->headers);
		run->headers = NULL;
	}
	/* turns taken for requests that will not be sent go back */
	if (run->server != NULL && run->nready > 0)
		tc_limit_release(run->server, run->turn_interval_us, run->nready);
	dlist_delete(&run->node);
	MemoryContextDelete(run->runcxt);

	if (tc_forget_pending && dlist_is_empty(&tc_runs))
		tc_forget_now();
}

/*
 * Ask the cache for request reqno: an answer (the request is handed over
 * without being sent), a claim (it is sent, and its answer stored for every
 * backend), or another backend's claim (it waits: tc_cache_recheck).
 */
static void
tc_cache_ask(TcRun *run, int reqno)
{
	TcHttpRequest *req = &run->reqs[reqno];
	TcCacheResult result;
	MemoryContext old;

	old = MemoryContextSwitchTo(run->bodycxt);
	req->body = tc_cache_fetch(run->opts, req->cache_kind, req->url,
							   &req->body_len, true, &result);
	MemoryContextSwitchTo(old);
	switch (result)
	{
		case TC_CACHE_HIT:
		case TC_CACHE_REFRESH:
			req->from_cache = true;
			req->status = 200;
			req->content_type = MemoryContextStrdup(run->bodycxt, "application/json");
			run->cache_state[reqno] = result == TC_CACHE_REFRESH ? 'R' : 0;
			run->stats->cache_hits++;
			tc_server_count_cache(run->server, 1, 0);
			break;
		case TC_CACHE_PENDING:
			run->cache_state[reqno] = 'W';
			break;
		case TC_CACHE_CLAIMED:
		case TC_CACHE_MISS:
			run->cache_state[reqno] = result == TC_CACHE_CLAIMED ? 'C' : 0;
			run->stats->cache_misses++;
			tc_server_count_cache(run->server, 0, 1);
			break;
	}
}

/*
 * Look at the cache again for the requests that wait for another backend's
 * answer: hand over those that are there, and send those whose claim was
 * given up or ran out (they are this backend's claim now).  Returns false
 * when "done" asks to stop.
 */
static bool
tc_cache_recheck(TcRun *run, TimestampTz now)
{
	int			i;

	for (i = 0; i < run->nreqs && run->ncache_waiting > 0; i++)
	{
		if (run->cache_state[i] != 'W')
			continue;
		tc_cache_ask(run, i);
		if (run->cache_state[i] == 'W')
			continue;
		run->ncache_waiting--;
		if (run->reqs[i].from_cache)
		{
			if (!tc_hand_over(run, &run->reqs[i]))
				return false;
			if (run->cache_state[i] == 'R')
				run->reqs[i].from_cache = false;
		}
		else
		{
			/* to be sent: queued as a retry due now */
			run->due[i] = now;
			run->waiting[run->nwaiting++] = i;
		}
	}
	return true;
}

/*
 * Give up the cache claims of requests not answered (an ERROR, or the
 * caller stopped), so that the backends waiting for them need not wait for
 * the claims to run out.
 */
static void
tc_cache_unclaim_all(TcRun *run)
{
	int			i;

	if (run->cache_state == NULL)
		return;
	for (i = 0; i < run->nreqs; i++)
	{
		if (run->cache_state[i] == 'C')
		{
			run->cache_state[i] = 0;
			tc_cache_unclaim(run->opts, run->reqs[i].cache_kind, run->reqs[i].url);
		}
	}
}

/*
 * A transfer is abandoned (an ERROR, a cancel, or the caller stopped): count
 * its request in the server's statistics if it was sent, since the API then
 * received it.  Never raises an ERROR.
 */
static void
tc_count_abandoned(TcRun *run, TcSlot *slot)
{
	long		request_size = 0;

	if (!slot->attached || run->server == NULL)
		return;
	if (curl_easy_getinfo(slot->easy, CURLINFO_REQUEST_SIZE, &request_size) == CURLE_OK &&
		request_size > 0)
		tc_server_count_request(run->server, slot->retry);
}

/*
 * The driving loop: start what may start, let curl work, hand finished
 * requests to the caller, and wait (in short slices, checking for
 * interrupts) when there is nothing to do.  Returns when every request is
 * done, or when "done" returns false.
 */
static void
tc_run_drive(TcRun *run)
{
	int			i;

	/*
	 * The cache's answers first: they need neither a slot nor a turn, so
	 * they must not wait behind requests that do.
	 */
	for (i = 0; i < run->nreqs; i++)
	{
		if (!run->reqs[i].from_cache)
			continue;
		if (!tc_hand_over(run, &run->reqs[i]))
			return;
		/* an old entry's refresh is sent now like any other request */
		if (run->cache_state[i] == 'R')
			run->reqs[i].from_cache = false;
	}

	for (;;)
	{
		TimestampTz now;
		long		wait_ms;
		CURLMcode	mc;
		int			running;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Finished transfers first: that frees their slots for what waits.
		 * A nested run may have read our completions for us, hence the scan
		 * of the slots rather than of curl's messages.
		 */
		for (i = 0; i < run->nslots; i++)
		{
			TcSlot	   *slot = &run->slots[i];

			if (slot->easy == NULL || !slot->finished)
				continue;
			if (!tc_finish_attempt(run, slot))
				return;
			if (run->generation != tc_conn_generation)
				run->generation = tc_conn_configure(run->nslots);
		}

		now = GetCurrentTimestamp();
		if (run->ncache_waiting > 0 &&
			TimestampDifferenceExceeds(run->cache_checked, now, TC_CACHE_POLL_MS))
		{
			run->cache_checked = now;
			if (!tc_cache_recheck(run, now))
				return;
		}
		wait_ms = tc_start_attempts(run, now);
		if (run->ncache_waiting > 0)
			wait_ms = Min(wait_ms, TC_CACHE_POLL_MS);
		tc_note_throttled(run, now);

		/*
		 * Nothing left to start: the connections of the transfers still in
		 * flight need not all stay open afterwards.
		 */
		if (!run->idle_trimmed && run->nwaiting == 0 && run->nready == 0 &&
			run->ncache_waiting == 0 && run->next_new >= run->nreqs)
		{
			tc_conn_keep_idle(run->opts->max_idle_connections);
			run->idle_trimmed = true;
		}

		if (run->nactive == 0 && run->nwaiting == 0 && run->nready == 0 &&
			run->ncache_waiting == 0 && run->next_new >= run->nreqs)
		{
			/* all done but the caller's work, if any is left */
			if (run->work_pending)
			{
				tc_drive_others();
				run->work_pending = run->work(run->arg);
				continue;
			}
			return;
		}

		if (run->nactive > 0)
		{
			mc = tc_conn_perform(&running);
			if (mc != CURLM_OK)
				tc_multi_failed("curl_multi_perform", mc);
			if (tc_read_messages(run))
				continue;
			if (tc_check_speed(run))
				continue;

			/*
			 * The caller's work, a slice at a time, instead of sleeping:
			 * the transfers go on in the kernel meanwhile.
			 */
			if (run->work_pending)
			{
				run->work_pending = run->work(run->arg);
				continue;
			}

			/*
			 * Sleep until a socket is ready, curl's own timers (timeouts,
			 * happy eyeballs) are due, a retry is due, or the slice is over.
			 * A signal (cancel, statement_timeout) interrupts poll() at once;
			 * libcurl takes that EINTR for a timeout.  The wait shows in
			 * pg_stat_activity as the "Extension" wait event, as the one on
			 * the latch below does.
			 */
			pgstat_report_wait_start(PG_WAIT_EXTENSION);
			mc = curl_multi_poll(tc_multi, NULL, 0, (int) wait_ms, NULL);
			pgstat_report_wait_end();
			if (mc != CURLM_OK)
				tc_multi_failed("curl_multi_poll", mc);
			tc_check_postmaster();
		}
		else if (run->work_pending)
		{
			tc_drive_others();
			run->work_pending = run->work(run->arg);
		}
		else
		{
			/*
			 * Nothing in flight: every remaining request waits for its retry
			 * or its turn.  Wait on the latch, which cancel and timeouts set.
			 */
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 wait_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}

/*
 * Between slices of a caller's work when the run has nothing in flight:
 * let the transfers of other runs move on (a list's next page, asked for
 * ahead), which nothing else would drive until their own run is finished.
 */
static void
tc_drive_others(void)
{
	int			running;
	CURLMcode	mc;

	if (dlist_head_node(&tc_runs) == dlist_tail_node(&tc_runs))
		return;					/* this run is the only one */
	mc = tc_conn_perform(&running);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_perform", mc);
}

/*
 * Exit at once if the postmaster has died, as WL_EXIT_ON_PM_DEATH does for
 * the latch waits: a backend must not go on talking to the API for
 * timeout_ms times the attempts with nobody left to answer to.  Cheap: on
 * most platforms PostmasterIsAlive only reads a flag set by a signal.
 */
static void
tc_check_postmaster(void)
{
	if (IsUnderPostmaster && !PostmasterIsAlive())
		proc_exit(1);
}

/*
 * Fill free slots: requests whose turn from the limiter has come first,
 * then retries that are due (they have waited longest), then requests
 * never sent, in the caller's order; each of the latter two takes its turn
 * from the limiter first (tc_take_turn).  Returns how long the loop may wait
 * before something needs starting: the time to the earliest turn or retry
 * not yet due, at most TC_SLICE_MS.
 */
static long
tc_start_attempts(TcRun *run, TimestampTz now)
{
	long		wait_ms = TC_SLICE_MS;
	long		pause_ms = run->nready > 0 ? tc_limit_pause_end(run->server) : 0;
	int			w;

	w = 0;
	while (w < run->nready)
	{
		int			reqno = run->ready[w];

		/* a 429 seen since the turn was given pauses it too */
		if (pause_ms > 0)
			run->token_at[reqno] = Max(run->token_at[reqno],
									   TimestampTzPlusMilliseconds(now, pause_ms));
		if (run->token_at[reqno] > now)
		{
			long		ms = TimestampDifferenceMilliseconds(now, run->token_at[reqno]);

			wait_ms = Min(wait_ms, Max(ms, 1));
			w++;
			continue;
		}
		memmove(&run->ready[w], &run->ready[w + 1],
				sizeof(int) * (run->nready - w - 1));
		run->nready--;
		tc_start_attempt(run, reqno);
	}

	w = 0;
	while (w < run->nwaiting)
	{
		int			reqno = run->waiting[w];

		if (run->due[reqno] > now)
		{
			long		ms = TimestampDifferenceMilliseconds(now, run->due[reqno]);

			wait_ms = Min(wait_ms, Max(ms, 1));
			w++;
		}
		else if (run->nactive + run->nready < run->nslots)
		{
			/* keep the others in order */
			memmove(&run->waiting[w], &run->waiting[w + 1],
					sizeof(int) * (run->nwaiting - w - 1));
			run->nwaiting--;
			tc_take_turn(run, reqno, now, &wait_ms);
		}
		else
			w++;				/* due, but no slot until one finishes */
	}

	/* the cache's answers were handed over first (tc_run_drive) */
	while (run->nactive + run->nready < run->nslots &&
		   run->next_new < run->nreqs)
	{
		if (run->reqs[run->next_new].from_cache ||
			run->cache_state[run->next_new] == 'W')
			run->next_new++;
		else
			tc_take_turn(run, run->next_new++, now, &wait_ms);
	}

	return wait_ms;
}

/*
 * Ask the limiter for request reqno's turn: send it now, or queue it in
 * run->ready for when its turn comes.  A turn that would come after
 * statement_timeout is an ERROR at once, rather than a wait that the timeout
 * would cut short anyway.
 */
static void
tc_take_turn(TcRun *run, int reqno, TimestampTz now, long *wait_ms)
{
	long		max_wait = -1;
	long		paused_ms = 0;
	long		turn_ms;

	if (StatementTimeout > 0)
	{
		TimestampTz deadline =
			TimestampTzPlusMilliseconds(GetCurrentStatementStartTimestamp(),
										StatementTimeout);

		max_wait = Max(TimestampDifferenceMilliseconds(now, deadline), 0);
	}

	turn_ms = tc_limit_reserve(run->server, run->opts, max_wait, &paused_ms);
	if (turn_ms < 0)
	{
		if (paused_ms > max_wait)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("requests to server \"%s\" are paused past statement_timeout",
							run->opts->servername),
					 errdetail("The API answered 429 Too Many Requests; requests resume in %ld ms, and %ld ms of the statement remain.",
							   paused_ms, max_wait),
					 errhint("Set rate_limit on the server below the API's limit, or raise statement_timeout.")));
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("rate_limit of server \"%s\" would delay a request past statement_timeout",
						run->opts->servername),
				 errdetail("Other requests of the server and API key have taken the turns of the %ld ms of the statement that remain.",
						   max_wait),
				 errhint("Raise rate_limit or statement_timeout, or make the query read fewer rows.")));
	}
	if (turn_ms == 0)
	{
		tc_start_attempt(run, reqno);
		return;
	}
	run->token_at[reqno] = TimestampTzPlusMilliseconds(now, turn_ms);
	run->ready[run->nready++] = reqno;
	*wait_ms = Min(*wait_ms, turn_ms);
}

/*
 * Account the time requests of the run spent waiting for their turn: the
 * time during which at least one was, so that concurrent waits count once.
 */
static void
tc_note_throttled(TcRun *run, TimestampTz now)
{
	if (run->throttled_since != 0)
	{
		double		ms = (double) (now - run->throttled_since) / 1000.0;

		run->stats->throttled_ms += ms;
		tc_server_count_throttled(run->server, ms);
	}
	run->throttled_since = run->nready > 0 ? now : 0;
}

/*
 * Hand a finished request (its final answer, or the cache's) to the caller,
 * then store the answer in the cache if the caller accepted it
 * (req->cache_ok), or give up this backend's claim of it, and free the body
 * and content type.  The answer to the refresh of an old entry is only
 * stored.  Returns what "done" returned.
 */
bool
tc_hand_over(TcRun *run, TcHttpRequest *req)
{
	int			reqno = req - run->reqs;
	char		state = run->cache_state[reqno];
	bool		go_on = true;

	if (state == 'R' && !req->from_cache)
	{
		/*
		 * The refresh of an old entry, whose answer the caller already had
		 * from the cache: only stored, if it is a JSON 200 (the caller never
		 * sees it, so neither does a failure of it).
		 */
		if (req->status == 200 && req->body != NULL &&
			req->content_type != NULL && strstr(req->content_type, "json") != NULL)
			(void) tc_cache_put(run->opts, req->cache_kind, req->url,
								req->body, req->body_len);
		run->cache_state[reqno] = 0;
	}
	else
	{
		if (run->done != NULL)
			go_on = run->done(req, run->arg);
		if (req->cache_ok && req->cache_kind != 0 && run->use_cache &&
			!req->from_cache && req->status == 200 && req->body != NULL)
			(void) tc_cache_put(run->opts, req->cache_kind, req->url,
								req->body, req->body_len);
		else if (state == 'C')
			tc_cache_unclaim(run->opts, req->cache_kind, req->url);
		if (state != 'R')
			run->cache_state[reqno] = 0;
	}
	if (req->body != NULL)
		pfree(req->body);
	req->body = NULL;
	if (req->content_type != NULL)
		pfree(req->content_type);
	req->content_type = NULL;
	return go_on;
}

/*
 * Read libcurl's completion messages and mark the slots they concern.
 * Returns true if one of them belongs to this run.  Messages of an outer run
 * (when this one is nested) are only recorded; the outer run handles them
 * when it gets control back.
 */
static bool
tc_read_messages(TcRun *run)
{
	CURLMsg    *msg;
	int			left;
	bool		mine = false;

	while ((msg = curl_multi_info_read(tc_multi, &left)) != NULL)
	{
		char	   *priv = NULL;
		TcSlot	   *slot;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
			priv == NULL)
			continue;
		slot = (TcSlot *) priv;
		if (!slot->finished)	/* the speed guard may have been first */
		{
			slot->finished = true;
			slot->result = msg->data.result;
		}
		if (slot->run == run)
			mine = true;
	}
	return mine;
}

/*
 * Safety net: if an error got past tc_http_finish's PG_CATCH (which should
 * not happen), or a run started ahead was never finished nor abandoned,
 * release what the (sub)transaction's runs still hold.
 */
static void
tc_xact_callback(XactEvent event, void *arg)
{
	/*
	 * A backend on its way out (pg_terminate_backend, postmaster death)
	 * leaves its handles to the operating system: detaching a transfer may
	 * wait for a resolver thread on a libcurl without QUICK_EXIT, and
	 * nothing needs the multi handle any more.
	 */
	if (proc_exit_inprogress)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		tc_abort_runs(0);

	/*
	 * No run outlives its transaction: one started ahead (tc_http_start)
	 * whose scan ended without ending it would otherwise hold its handles,
	 * its turns and its cache claims.  Its bodies' memory may be gone.
	 */
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
		tc_abort_runs(0);
}

/* The same safety net for an aborted subtransaction's runs. */
static void
tc_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	/* only runs started inside the subtransaction being aborted */
	if (event == SUBXACT_EVENT_ABORT_SUB && !proc_exit_inprogress)
		tc_abort_runs(GetCurrentTransactionNestLevel());
}

/*
 * Destroy the runs started at nestlevel or deeper, innermost first.  Runs
 * started ahead count as level 0: only the top transaction's end takes them.
 * The list is not ordered by level (a run started ahead outlives the rounds
 * after it), so all of it is looked at.
 */
static void
tc_abort_runs(int nestlevel)
{
	dlist_node *cur = tc_runs.head.prev;

	/* destroying a run unlinks it alone: the one before stays valid */
	while (cur != &tc_runs.head)
	{
		dlist_node *before = cur->prev;
		TcRun	   *run = dlist_container(TcRun, node, cur);

		if (run->nestlevel >= nestlevel)
			tc_run_destroy(run, true);
		cur = before;
	}
}
