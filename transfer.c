/*-------------------------------------------------------------------------
 *
 * transfer.c
 *		  One attempt of one request on a run's transfer slot.
 *
 * Sends it, with every libcurl option it needs (TLS verified, no redirect,
 * no signals, no proxy for plain http); collects its body in the write
 * callback, within max_response_bytes; cuts it off when its answer trickles
 * (the low-speed guard); and, when it is over, judges the outcome: a retry
 * after a backoff, or the request's final answer, handed over to the run.
 *
 * What this file must not do:
 *	- raise an ERROR (or anything else that longjmps) inside a libcurl
 *	  callback: the write callback only records trouble in the slot, and
 *	  tc_finish_attempt reports it once curl has returned.
 *	- put the API key into any message, or turn on CURLOPT_VERBOSE (which
 *	  would log the Authorization header): the options are set here.
 *	- schedule anything: which request goes next, the rate limiter, the
 *	  answer cache and the waits are http.c's.
 *	- know anything about TopCalls (api.c's business).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/transfer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "connection.h"
#include "transfer.h"

/* Backoff before retry k: full jitter in [0, min(CAP, BASE * 2^(k-1))]. */
#define TC_RETRY_BASE_MS		100
#define TC_RETRY_CAP_MS			5000

/*
 * A Retry-After longer than this is not waited for: the answer that asked
 * for it becomes the request's final answer.  Without statement_timeout a
 * server asking for an hour would otherwise hang the query for an hour; an
 * error saying "rate limited" serves the user better.
 */
#define TC_RETRY_AFTER_MAX_MS	60000

/* First allocation for a body; it doubles as the body grows. */
#define TC_BODY_INITIAL			8192

static void tc_set_options(TcRun *run, TcSlot *slot, CURL *easy,
						   const TcHttpRequest *req);
static long tc_backoff_ms(int retry);
static bool tc_wait_fits_statement(long delay_ms, TimestampTz now);
static bool tc_is_transient(CURLcode rc);
static bool tc_is_connect_failure(CURLcode rc, bool before_request);
static size_t tc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata);

/* Send one attempt of request reqno on a free slot. */
void
tc_start_attempt(TcRun *run, int reqno)
{
	TcHttpRequest *req = &run->reqs[reqno];
	TcSlot	   *slot = NULL;
	CURL	   *easy;
	CURLMcode	mc;
	int			i;

	for (i = 0; i < run->nslots; i++)
	{
		if (run->slots[i].easy == NULL)
		{
			slot = &run->slots[i];
			break;
		}
	}
	Assert(slot != NULL);

	easy = tc_conn_easy_get();

	/* From here on the cleanup paths see the handle through the slot. */
	slot->easy = easy;
	slot->attached = false;
	slot->finished = false;
	slot->result = CURLE_OK;
	slot->reqno = reqno;
	slot->retry = req->attempts > 0;
	slot->buf = NULL;
	slot->len = 0;
	slot->cap = 0;
	slot->too_large = false;
	slot->oom = false;
	slot->oom_size = 0;
	slot->win_start = 0;
	slot->win_bytes = 0;
	slot->too_slow = false;
	slot->errbuf[0] = '\0';
	INSTR_TIME_SET_CURRENT(slot->started);

	tc_set_options(run, slot, easy, req);

	mc = curl_multi_add_handle(tc_multi, easy);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_add_handle", mc);
	slot->attached = true;
	run->nactive++;

	req->attempts++;
	run->stats->requests++;
	if (req->attempts > 1)
		run->stats->retries++;
	run->stats->inflight_peak = Max(run->stats->inflight_peak, run->nactive);
}

/*
 * Every option, every time: the handle may come from the pool, where
 * curl_easy_reset put it back to libcurl's defaults.
 */
static void
tc_set_options(TcRun *run, TcSlot *slot, CURL *easy, const TcHttpRequest *req)
{
	TC_SETOPT(easy, CURLOPT_PRIVATE, (void *) slot);
	TC_SETOPT(easy, CURLOPT_URL, req->url);
	TC_SETOPT(easy, CURLOPT_HTTPGET, 1L);
	TC_SETOPT(easy, CURLOPT_HTTPHEADER, run->headers);

	/* libcurl must not use signals (SIGALRM for DNS timeouts) in a backend */
	TC_SETOPT(easy, CURLOPT_NOSIGNAL, 1L);

	/*
	 * When a transfer is cut short (cancel, a timeout, an ERROR) while its
	 * name is still being looked up, libcurl would otherwise join the
	 * resolver thread, which may sit in getaddrinfo for seconds, and the
	 * backend would be deaf to cancel and terminate all that time.  With
	 * QUICK_EXIT the thread is left to finish and clean up by itself.
	 * Older libcurl has no such option: see the README.
	 */
#if LIBCURL_VERSION_NUM >= 0x075700
	if (tc_quick_exit)
		TC_SETOPT(easy, CURLOPT_QUICK_EXIT, 1L);
#endif

	/*
	 * Plain HTTP(S) only, never a redirect: a 3xx goes back to the caller,
	 * which reports it.  Following one could carry the key elsewhere.
	 */
#if LIBCURL_VERSION_NUM >= 0x075500
	TC_SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	TC_SETOPT(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	TC_SETOPT(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	TC_SETOPT(easy, CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	TC_SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);

	/*
	 * Plain http goes only to this machine (the validator sees to that), so
	 * never through a proxy: libcurl otherwise obeys http_proxy/all_proxy in
	 * the server's environment, even for localhost, and the proxy would get
	 * the API key in clear (and reach its own localhost, not ours).  https
	 * may go through one: the tunnel is TLS from end to end, verified as
	 * usual.  (An empty string turns off the environment's proxies.)
	 */
	if (pg_strncasecmp(req->url, "http:", 5) == 0)
		TC_SETOPT(easy, CURLOPT_PROXY, "");

	TC_SETOPT(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	TC_SETOPT(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (run->ca_file != NULL)
		TC_SETOPT(easy, CURLOPT_CAINFO, run->ca_file);
	TC_SETOPT(easy, CURLOPT_SHARE, tc_share);

	/* 0 means "no limit" to libcurl, as it does for our options */
	TC_SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, run->connect_timeout_ms);
	TC_SETOPT(easy, CURLOPT_TIMEOUT_MS, run->timeout_ms);
	/* CURLOPT_LOW_SPEED_* stay off (the reset default): see TC_LOW_SPEED_LIMIT */

	/*
	 * Accept every encoding libcurl can decode; the write callback sees the
	 * decoded bytes, so max_response_bytes also stops a compression bomb.
	 */
	TC_SETOPT(easy, CURLOPT_ACCEPT_ENCODING, "");

	/*
	 * HTTP/2 over TLS when the server offers it (a libcurl built without
	 * HTTP/2 refuses the version: HTTP/1.1 is fine then).  With PIPEWAIT a
	 * transfer waits for a connection being set up to tell whether it can
	 * multiplex, rather than open one of its own.  Over plain http that can
	 * never happen, yet libcurl 7.88 still waits, until the first answer's
	 * status line (a whole round trip, during which the other transfers of a
	 * new backend sit idle); so PIPEWAIT is for https only.
	 */
	(void) curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
							(long) CURL_HTTP_VERSION_2TLS);
	TC_SETOPT(easy, CURLOPT_PIPEWAIT,
			  pg_strncasecmp(req->url, "https:", 6) == 0 ? 1L : 0L);
	TC_SETOPT(easy, CURLOPT_TCP_KEEPALIVE, 1L);

	/* counted, so that idle connections can be kept to max_idle_connections */
	TC_SETOPT(easy, CURLOPT_OPENSOCKETFUNCTION, tc_conn_open_socket);
	TC_SETOPT(easy, CURLOPT_CLOSESOCKETFUNCTION, tc_conn_close_socket);

	TC_SETOPT(easy, CURLOPT_ERRORBUFFER, slot->errbuf);
	TC_SETOPT(easy, CURLOPT_WRITEFUNCTION, tc_write_cb);
	TC_SETOPT(easy, CURLOPT_WRITEDATA, (void *) slot);
}

/*
 * The low-speed guard (see TC_LOW_SPEED_LIMIT): cut off the run's transfers
 * whose answer has begun but then received fewer than TC_LOW_SPEED_LIMIT
 * bytes/s over the last window of low_speed_time seconds.  A transfer cut
 * off is marked finished, as if curl had reported a timeout, and detached
 * by tc_finish_attempt like any other.  Returns true if it cut one off.
 *
 * The loop comes here at least every TC_SLICE_MS, so the window is measured
 * with that precision, which is plenty for windows of whole seconds.
 */
bool
tc_check_speed(TcRun *run)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		cut = false;
	int			i;

	for (i = 0; i < run->nslots; i++)
	{
		TcSlot	   *slot = &run->slots[i];
		curl_off_t	started_us = 0;
		curl_off_t	received = 0;

		if (!slot->attached || slot->finished)
			continue;

		/* first byte of the answer (status line) not here yet */
		if (curl_easy_getinfo(slot->easy, CURLINFO_STARTTRANSFER_TIME_T,
							  &started_us) != CURLE_OK || started_us == 0)
			continue;
		if (curl_easy_getinfo(slot->easy, CURLINFO_SIZE_DOWNLOAD_T,
							  &received) != CURLE_OK)
			continue;

		if (slot->win_start == 0)
		{
			slot->win_start = now;
			slot->win_bytes = received;
		}
		else if (TimestampDifferenceExceeds(slot->win_start, now,
											(int) run->low_speed_time * 1000))
		{
			if (received - slot->win_bytes <
				(curl_off_t) TC_LOW_SPEED_LIMIT * run->low_speed_time)
			{
				slot->too_slow = true;
				slot->finished = true;
				slot->result = CURLE_OPERATION_TIMEDOUT;
				cut = true;
			}
			else
			{
				slot->win_start = now;
				slot->win_bytes = received;
			}
		}
	}
	return cut;
}

/*
 * A slot's transfer has finished: collect the answer, release the handle,
 * and either schedule a retry or hand the request to the caller.  Returns
 * false when the caller's "done" asks to stop.
 */
bool
tc_finish_attempt(TcRun *run, TcSlot *slot)
{
	int			reqno = slot->reqno;
	TcHttpRequest *req = &run->reqs[reqno];
	const char *what = req->what ? req->what : "request";
	CURL	   *easy = slot->easy;
	CURLcode	rc = slot->result;
	long		status = 0;
	char	   *ctype = NULL;
	char	   *errtext = NULL;
	char	   *info_str = NULL;
	curl_off_t	retry_after = 0;
	long		request_size = 0;
	curl_off_t	pretransfer_us = 0;
	char	   *body;
	size_t		body_len;
	bool		too_large;
	bool		slot_too_slow;
	bool		retryable;
	TimestampTz now;

	/* Everything we need from the handle, before it is reset. */
	(void) curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &info_str) == CURLE_OK &&
		info_str != NULL)
		ctype = MemoryContextStrdup(run->bodycxt, info_str);
	(void) curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after);
	(void) curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &request_size);

	/*
	 * libcurl reports a connect timeout and a transfer timeout with the same
	 * code.  CONNECT_TIME is no use to tell them apart (it is 0 on a reused
	 * connection), but PRETRANSFER_TIME is only set once the connection,
	 * TLS included, is ready for the request.
	 */
	(void) curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);

	if (slot->too_slow)
	{
		/* api.c words it from these */
		req->slow_window_s = run->low_speed_time;
		req->slow_min_bytes = (long) TC_LOW_SPEED_LIMIT * run->low_speed_time;
	}
	else if (rc != CURLE_OK && !slot->too_large)
	{
		const char *text = slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(rc);
		size_t		len = strlen(text);

		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			len--;
		errtext = MemoryContextStrdup(run->bodycxt, text);
		errtext[len] = '\0';
	}

	/* Take the body over, and free the slot (the handle goes to the pool). */
	body = slot->buf;
	body_len = slot->len;
	too_large = slot->too_large;
	slot_too_slow = slot->too_slow;
	slot->buf = NULL;
	run->stats->bytes_received += body_len;
	{
		instr_time	elapsed;

		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, slot->started);
		tc_server_count_answer(run->server, request_size > 0, req->attempts > 1,
							   status, rc != CURLE_OK, body_len,
							   INSTR_TIME_GET_MILLISEC(elapsed),
							   retry_after > 0 ?
							   (long) Min(retry_after, (curl_off_t) (TC_RETRY_AFTER_MAX_MS / 1000 + 1)) * 1000 : 0);
	}

	if (slot->oom)
	{
		size_t		oom_size = slot->oom_size;

		tc_slot_release(slot, true);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu while receiving the answer to %s.",
						   oom_size, what)));
	}
	tc_slot_release(slot, true);

	if (rc == CURLE_OK)
	{
		elog(DEBUG2, "topcalls_fdw: %s: attempt %d: HTTP status %ld, %zu bytes",
			 what, req->attempts, status, body_len);
		retryable = (status == 429 || status == 502 || status == 503 ||
					 status == 504);
	}
	else if (too_large)
	{
		elog(DEBUG2, "topcalls_fdw: %s: attempt %d: body exceeds max_response_bytes",
			 what, req->attempts);
		retryable = false;
	}
	else
	{
		elog(DEBUG2, "topcalls_fdw: %s: attempt %d failed: %s",
			 what, req->attempts, errtext);
		retryable = tc_is_transient(rc);
	}

	if (retryable && req->attempts <= run->max_retries)
	{
		long		delay_ms = tc_backoff_ms(req->attempts);
		long		after_ms = 0;

		/* curl parses seconds and HTTP dates alike; a date past is 0 */
		if (retry_after > 0)
			after_ms = (long) Min(retry_after, (curl_off_t) (TC_RETRY_AFTER_MAX_MS / 1000 + 1)) * 1000;

		now = GetCurrentTimestamp();
		if (after_ms > TC_RETRY_AFTER_MAX_MS)
			elog(DEBUG2, "topcalls_fdw: %s: Retry-After too long, not retrying",
				 what);
		else if (!tc_wait_fits_statement(Max(delay_ms, after_ms), now))
			elog(DEBUG2, "topcalls_fdw: %s: retry would outlast statement_timeout, not retrying",
				 what);
		else
		{
			delay_ms = Max(delay_ms, after_ms);
			elog(DEBUG2, "topcalls_fdw: %s: retrying in %ld ms", what, delay_ms);

			/* this answer is superseded */
			if (body != NULL)
				pfree(body);
			if (ctype != NULL)
				pfree(ctype);
			if (errtext != NULL)
				pfree(errtext);

			run->due[reqno] = TimestampTzPlusMilliseconds(now, delay_ms);
			run->waiting[run->nwaiting++] = reqno;
			return true;
		}
	}

	/* The final answer. */
	if (rc != CURLE_OK)
	{
		/* No usable answer: no status, no partial body. */
		if (body != NULL)
			pfree(body);
		body = NULL;
		body_len = 0;
		status = 0;
		req->transport_failed = true;
		req->too_large = too_large;
		req->too_slow = slot_too_slow;
		req->connect_failed = !too_large &&
			tc_is_connect_failure(rc, pretransfer_us == 0);
	}
	if (body == NULL)
		body = MemoryContextAllocZero(run->bodycxt, 1);

	req->status = status;
	req->body = body;
	req->body_len = body_len;
	req->content_type = ctype;
	req->error = errtext;

	return tc_hand_over(run, req);
}

/* Full-jitter backoff before retry number "retry" (1, 2, ...). */
static long
tc_backoff_ms(int retry)
{
	long		ceiling = TC_RETRY_CAP_MS;

	/* base * 2^(retry-1), stopping the shift long before it could overflow */
	if (retry - 1 < 16)
		ceiling = Min(ceiling, (long) TC_RETRY_BASE_MS << Max(retry - 1, 0));

	return (long) (tc_random_double() * (ceiling + 1));
}

/*
 * Would a wait of delay_ms end before statement_timeout fires?  If not, the
 * request is not retried: its last answer becomes final, so the user gets an
 * error naming that answer and the attempts made, rather than a bare
 * "canceling statement due to statement timeout" after a pointless wait.
 */
static bool
tc_wait_fits_statement(long delay_ms, TimestampTz now)
{
	TimestampTz deadline;

	if (StatementTimeout <= 0)
		return true;
	deadline = TimestampTzPlusMilliseconds(GetCurrentStatementStartTimestamp(),
										   StatementTimeout);
	return TimestampDifferenceMilliseconds(now, deadline) >= delay_ms;
}

/*
 * Failures worth another attempt: the connection could not be made or broke
 * down, which a moment later may well go better.  Not retried: a name that
 * does not resolve, TLS and certificate problems, and timeouts (the user's
 * timeout_ms is final).
 */
static bool
tc_is_transient(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/*
 * Failures that mean no connection to the server could be established, which
 * the caller reports as ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION.
 * before_request: the transfer never got as far as sending its request.
 */
static bool
tc_is_connect_failure(CURLcode rc, bool before_request)
{
	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
			return true;
		case CURLE_OPERATION_TIMEDOUT:
			return before_request;
		default:
			return false;
	}
}

/*
 * libcurl's write callback: append to the slot's body.
 *
 * It runs inside curl_multi_perform, so it must not raise an ERROR: memory
 * comes from MemoryContextAllocExtended with MCXT_ALLOC_NO_OOM (there is no
 * non-throwing repalloc in PostgreSQL 15, hence allocate, copy and free),
 * and trouble is recorded in the slot and reported by tc_finish_attempt.
 * Returning less than was offered makes libcurl abort the transfer with
 * CURLE_WRITE_ERROR.
 */
static size_t
tc_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	TcSlot	   *slot = (TcSlot *) userdata;
	int64		max_bytes = slot->run->max_bytes;
	size_t		n = size * nmemb;	/* libcurl documents size as always 1 */
	size_t		need;

	if (n == 0)
		return 0;

	if (max_bytes > 0 && (uint64) slot->len + n > (uint64) max_bytes)
	{
		slot->too_large = true;
		return 0;
	}

	/* room for the data and the terminating NUL */
	need = slot->len + n + 1;
	if (need > slot->cap)
	{
		size_t		newcap = slot->cap > 0 ? slot->cap : TC_BODY_INITIAL;
		char	   *newbuf;

		while (newcap < need && newcap <= MaxAllocHugeSize / 2)
			newcap *= 2;
		newcap = Max(newcap, need);
		/* no need to go past the largest body allowed */
		if (max_bytes > 0 && newcap > (uint64) max_bytes + 1)
			newcap = (size_t) max_bytes + 1;
		if (newcap > MaxAllocHugeSize)
		{
			slot->oom = true;
			slot->oom_size = newcap;
			return 0;
		}

		newbuf = MemoryContextAllocExtended(slot->run->bodycxt, newcap,
											MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (newbuf == NULL)
		{
			slot->oom = true;
			slot->oom_size = newcap;
			return 0;
		}
		if (slot->buf != NULL)
		{
			memcpy(newbuf, slot->buf, slot->len);
			pfree(slot->buf);
		}
		slot->buf = newbuf;
		slot->cap = newcap;
	}

	memcpy(slot->buf + slot->len, ptr, n);
	slot->len += n;
	slot->buf[slot->len] = '\0';
	return n;
}
