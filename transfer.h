/*-------------------------------------------------------------------------
 *
 * transfer.h
 *		  What http.c and transfer.c share: a run of requests, its transfer
 *		  slots, and the functions each calls in the other.
 *
 * http.c schedules a run's requests (the limiter, the answer cache,
 * max_concurrency, retries waiting for their time) and drives libcurl;
 * transfer.c sends one attempt on a slot and judges its outcome.  Nothing
 * else includes this header.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/transfer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPCALLS_FDW_TRANSFER_H
#define TOPCALLS_FDW_TRANSFER_H

#include <curl/curl.h>

#include "lib/ilist.h"
#include "portability/instr_time.h"

#include "topcalls_fdw.h"

/*
 * Guard against a server that trickles its answer: once the answer has begun
 * to arrive, a transfer that receives fewer than TC_LOW_SPEED_LIMIT bytes/s
 * over a window of timeout_ms / 3 seconds, clamped to [1, 10], is cut off.
 * timeout_ms cuts every transfer anyway; this cuts a trickling one well
 * before that.
 *
 * This is not libcurl's CURLOPT_LOW_SPEED_LIMIT/TIME: libcurl also counts
 * the wait for the first byte of the answer, so with timeout_ms = 4000 an
 * answer that takes 1.5 s to start would be cut after 1 s, long before the
 * timeout the user chose.  The wait for the answer is timeout_ms's business
 * alone; tc_check_speed measures from the first byte on.
 */
#define TC_LOW_SPEED_LIMIT		1024
#define TC_LOW_SPEED_TIME_MIN	1
#define TC_LOW_SPEED_TIME_MAX	10

struct TcRun;

/*
 * One transfer slot: an easy handle and what its callbacks write into.  A
 * run has max_concurrency of them.  The error buffer is here because curl
 * writes into it until the handle is detached, so it must live as long as
 * the slot; slots are freed only after their handle is gone.
 */
typedef struct TcSlot
{
	struct TcRun *run;
	CURL	   *easy;			/* NULL when the slot is free */
	bool		attached;		/* easy is added to the multi handle */
	bool		finished;		/* curl reported the transfer done */
	CURLcode	result;			/* ... with this result */
	int			reqno;			/* index into run->reqs */
	bool		retry;			/* the attempt is a retry (kept here: the
								 * requests may be gone when it is
								 * abandoned, see tc_http_abandon) */

	/* The body as the write callback collects it, in run->bodycxt. */
	char	   *buf;			/* NUL-terminated when not NULL */
	size_t		len;
	size_t		cap;
	bool		too_large;		/* would have exceeded run->max_bytes */
	bool		oom;			/* an allocation failed */
	size_t		oom_size;		/* ... of this size */

	/* The low-speed guard's window (see tc_check_speed). */
	TimestampTz win_start;		/* 0 until the answer begins */
	curl_off_t	win_bytes;		/* bytes received when the window began */
	bool		too_slow;		/* cut off by the guard */

	instr_time	started;		/* when the attempt was sent */

	char		errbuf[CURL_ERROR_SIZE];
} TcSlot;

/*
 * One batch of requests, from tc_http_start to tc_http_finish or
 * tc_http_abandon (tc_http_run: both at once).  It lives in its own memory
 * context under TopMemoryContext, so that the abort callback can still reach
 * it whatever happened to the caller's memory, and is linked into tc_runs
 * meanwhile.  Runs nest when a "done" callback leads to another foreign
 * scan (say a domain check calling a function that reads another foreign
 * table), and runs started ahead wait between rounds of their list.
 */
typedef struct TcRun
{
	dlist_node	node;			/* in tc_runs */
	uint64		serial;			/* its handle (see tc_http_start) */
	bool		ahead;			/* started ahead: see tc_http_start */
	TimestampTz started_at;		/* when tc_http_start set it up */
	MemoryContext runcxt;		/* holds this struct and its arrays */
	MemoryContext bodycxt;		/* the caller's context: bodies and messages */
	int			nestlevel;		/* transaction nest level at the start */
	uint64		generation;		/* tc_conn_generation when we set it up */

	TcHttpRequest *reqs;
	int			nreqs;
	const TcOptions *opts;
	TcHttpStats *stats;
	TcServerState *server;		/* the limiter and statistics of opts' */
	bool		use_cache;		/* lookups may be served from the cache */
	TcHttpDoneFn done;
	TcHttpWorkFn work;			/* see TcHttpWorkFn; NULL: none */
	bool		work_pending;	/* work returned true last time */
	void	   *arg;

	/* from the options */
	const char *ca_file;
	long		timeout_ms;
	long		connect_timeout_ms;
	long		low_speed_time;
	int			max_retries;
	int64		max_bytes;		/* <= 0: no limit */
	struct curl_slist *headers; /* shared by all the run's transfers */

	TcSlot	   *slots;
	int			nslots;			/* max_concurrency */
	int			nactive;		/* slots attached to the multi handle */

	TimestampTz *due;			/* per request: when its retry is due */
	int		   *waiting;		/* requests waiting for a retry, oldest first */
	int			nwaiting;
	int			next_new;		/* next request never sent */

	/*
	 * Requests that have their turn from the limiter, to be sent at
	 * token_at, in that order.  Each holds a slot meanwhile, so that a run
	 * never reserves more turns than it can use.
	 */
	TimestampTz *token_at;
	int		   *ready;
	int			nready;
	TimestampTz throttled_since;	/* 0: no request is waiting for a turn */

	/*
	 * Per request, its part in the cache: 0 none; 'C' this backend claimed
	 * it (it fetches the answer for every backend); 'W' another backend
	 * fetches it: wait for the cache to have it; 'R' the cache's answer was
	 * handed over, but it is old: it is sent all the same, and its answer
	 * only stored.
	 */
	char	   *cache_state;
	int			ncache_waiting; /* requests in state 'W' */
	TimestampTz cache_checked;	/* when they last looked at the cache */
	double		turn_interval_us;	/* between turns: 1/rate_limit; 0: none */
	bool		idle_trimmed;	/* tc_conn_keep_idle was called */
} TcRun;

/* transfer.c */
extern void tc_start_attempt(TcRun *run, int reqno);
extern bool tc_check_speed(TcRun *run);
extern bool tc_finish_attempt(TcRun *run, TcSlot *slot);

/* http.c */
extern void tc_slot_release(TcSlot *slot, bool reuse);
extern bool tc_hand_over(TcRun *run, TcHttpRequest *req);

#endif							/* TOPCALLS_FDW_TRANSFER_H */
