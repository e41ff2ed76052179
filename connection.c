/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  The backend's libcurl handles: connections, TLS sessions, easy
 *		  handles, file descriptors and request headers.
 *
 * This file owns, per backend and for the backend's whole life, one libcurl
 * multi handle (whose connection and DNS caches every transfer shares, so
 * keep-alive connections survive from one scan and query to the next), one
 * share handle for TLS sessions, a small pool of idle easy handles, and the
 * file descriptors claimed from fd.c for libcurl's sockets.  http.c drives
 * transfers on them.
 *
 * What this file must not do:
 *	- initialise libcurl in _PG_init (which may run in the postmaster before
 *	  it forks), or hand libcurl palloc-based allocators;
 *	- let libcurl start a thread with PostgreSQL's signals unblocked (see
 *	  tc_conn_perform);
 *	- open more sockets than fd.c allows external files: each transfer slot
 *	  is paid for with AcquireExternalFD first (tc_conn_claim_slots);
 *	- leave the API key in freed memory (tc_conn_free_headers), or put it in
 *	  any message;
 *	- know about runs, retries or answers: that is http.c's business.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/connection.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "compat.h"
#include "connection.h"

/* Idle easy handles kept for reuse; more are cleaned up when released. */
#define TC_POOL_MAX				16

#define TC_USER_AGENT			"topcalls_fdw/" TC_VERSION

/* Per-backend libcurl state, created on first use. */
CURLM	   *tc_multi = NULL;
CURLSH	   *tc_share = NULL;
bool		tc_quick_exit = false;
uint64		tc_conn_generation = 0;

static bool tc_curl_initialized = false;
static CURL *tc_pool[TC_POOL_MAX];
static int	tc_pool_len = 0;

/*
 * The connections' sockets open now, counted by libcurl's open and close
 * socket callbacks (a connection remembers the close callback it was made
 * with, so every way it is closed goes through it).
 */
static int	tc_open_sockets = 0;

/*
 * File descriptors claimed from fd.c for libcurl, so that the backend's own
 * file cache leaves room for them.  A transfer slot costs TC_FDS_PER_SLOT:
 * its connection's socket (two while happy eyeballs tries IPv6 and IPv4
 * at once), and the socket pair of libcurl's resolver thread while a name is
 * being looked up.  The multi handle itself holds
 * TC_FDS_MULTI (its wakeup socket pair).  The first slot and the multi
 * handle are reserved unconditionally (ReserveExternalFD), so that a query
 * can always run; every further slot must be granted by AcquireExternalFD,
 * which keeps all external files of the backend within a third of
 * max_safe_fds.  Claims follow the largest run so far, since idle
 * connections stay open between runs, and are given back when the
 * connections are forgotten.  Never touched inside a curl callback.
 */
#define TC_FDS_PER_SLOT			4
#define TC_FDS_MULTI			2
static int	tc_claimed_fds = 0;


/*
 * tc_conn_setup
 *		Lazy per-backend setup: libcurl's global state, and the multi and
 *		share handles.  Each step is done once; the handles are created again
 *		after tc_conn_forget.
 */
void
tc_conn_setup(void)
{
	if (!tc_curl_initialized)
	{
		CURLcode	rc = curl_global_init(CURL_GLOBAL_DEFAULT);

		if (rc != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not initialize libcurl: %s",
							curl_easy_strerror(rc))));
		/* the library loaded may be older than the headers built with */
		tc_quick_exit = curl_version_info(CURLVERSION_NOW)->version_num >= 0x075700;
		tc_curl_initialized = true;
	}

	/*
	 * The multi handle already shares connections and DNS answers among its
	 * transfers, but libcurl keeps TLS session tickets per easy handle; the
	 * share handle lets a new connection resume a session any earlier
	 * transfer established.  Backends are single-threaded, so no locking
	 * callbacks are needed.
	 */
	if (tc_share == NULL)
	{
		CURLSH	   *share = curl_share_init();
		CURLSHcode	sc;

		if (share == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not create a libcurl share handle.")));
		sc = curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
		if (sc != CURLSHE_OK)
		{
			curl_share_cleanup(share);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not set up libcurl TLS session sharing: %s",
							curl_share_strerror(sc))));
		}
		tc_share = share;
	}

	if (tc_multi == NULL)
	{
		tc_multi = curl_multi_init();
		if (tc_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("Could not create a libcurl multi handle.")));
	}
}

/*
 * tc_conn_configure
 *		Set the multi handle's limits for a run of nslots transfers at once,
 *		and return the new configuration generation.
 *
 * They are set on every run (and again after a nested run changed them),
 * since max_concurrency is a server option that differs from one server to
 * the next.
 */
uint64
tc_conn_configure(int nslots)
{
	long		max_sockets = (tc_claimed_fds - TC_FDS_MULTI) / TC_FDS_PER_SLOT;
	CURLMcode	mc;

	/*
	 * One connection per concurrent transfer over HTTP/1.1; over HTTP/2 the
	 * transfers multiplex on fewer.
	 */
	mc = curl_multi_setopt(tc_multi, CURLMOPT_MAX_HOST_CONNECTIONS,
						   (long) nslots);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_setopt", mc);

	/*
	 * Every host together (nested runs may talk to another server) stays
	 * within the sockets claimed from fd.c, open or idle.  MAXCONNECTS is
	 * the cache of idle connections kept between runs.
	 */
	mc = curl_multi_setopt(tc_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
						   max_sockets);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_setopt", mc);
	mc = curl_multi_setopt(tc_multi, CURLMOPT_MAXCONNECTS, max_sockets);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_setopt", mc);
	mc = curl_multi_setopt(tc_multi, CURLMOPT_PIPELINING,
						   (long) CURLPIPE_MULTIPLEX);
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_setopt", mc);

	return ++tc_conn_generation;
}


/*
 * tc_conn_keep_idle
 *		Keep at most max_idle connections open once the transfers in flight
 *		are done (the option max_idle_connections).
 *
 * libcurl has no call that closes idle connections; what it has is the
 * size of its connection cache, MAXCONNECTS, enforced each time a transfer
 * ends and gives its connection back: beyond the size, the oldest idle one
 * is closed.  So the run lowers it when it has nothing left to start, and
 * as the last transfers end the cache shrinks towards max_idle.  0 would
 * mean libcurl's default (no limit to speak of), hence at least 1.  That
 * closes one connection per transfer that ends afterwards: connections
 * that were already idle then may be left over, which tc_conn_trim_idle
 * sees to.
 */
void
tc_conn_keep_idle(int max_idle)
{
	CURLMcode	mc;

	mc = curl_multi_setopt(tc_multi, CURLMOPT_MAXCONNECTS,
						   (long) Max(max_idle, 1));
	if (mc != CURLM_OK)
		tc_multi_failed("curl_multi_setopt", mc);
}

/*
 * tc_conn_trim_idle
 *		When no transfer is in flight and more than max_idle connections are
 *		open, close them all: the multi handle goes (the share handle, and
 *		with it TLS session resumption, stays), and tc_conn_setup makes a new
 *		one.  Never raises an ERROR.
 */
void
tc_conn_trim_idle(int max_idle)
{
	if (tc_multi == NULL || tc_open_sockets <= max_idle)
		return;
	elog(DEBUG2, "topcalls_fdw: closing %d idle connections (max_idle_connections is %d)",
		 tc_open_sockets, max_idle);
	curl_multi_cleanup(tc_multi);
	tc_multi = NULL;
	tc_open_sockets = 0;
}

/*
 * tc_conn_open_socket
 *		libcurl's CURLOPT_OPENSOCKETFUNCTION: a socket, counted.  A curl
 *		callback: it must not raise an ERROR.
 */
curl_socket_t
tc_conn_open_socket(void *clientp, curlsocktype purpose,
					struct curl_sockaddr *address)
{
	curl_socket_t fd = socket(address->family, address->socktype,
							  address->protocol);

	if (fd != CURL_SOCKET_BAD)
		tc_open_sockets++;
	return fd;
}

/*
 * tc_conn_close_socket
 *		libcurl's CURLOPT_CLOSESOCKETFUNCTION: close, and count.  A curl
 *		callback: it must not raise an ERROR.
 */
int
tc_conn_close_socket(void *clientp, curl_socket_t fd)
{
	tc_open_sockets--;
	return close(fd);
}

/*
 * tc_conn_forget
 *		Clean up the pool, the multi handle (which closes its connections)
 *		and the share handle, in that order: the share handle refuses to go
 *		while an easy handle still refers to it.
 *
 * Only called when no run is in progress, so no easy handle is attached
 * anywhere.  Never raises an ERROR.
 */
void
tc_conn_forget(void)
{
	while (tc_pool_len > 0)
		curl_easy_cleanup(tc_pool[--tc_pool_len]);
	if (tc_multi != NULL)
	{
		curl_multi_cleanup(tc_multi);
		tc_multi = NULL;
		tc_open_sockets = 0;
	}
	if (tc_share != NULL)
	{
		curl_share_cleanup(tc_share);
		tc_share = NULL;
	}
	while (tc_claimed_fds > 0)
	{
		ReleaseExternalFD();
		tc_claimed_fds--;
	}
}

/*
 * tc_conn_claim_slots
 *		Claim from fd.c the file descriptors of up to "wanted" transfer slots
 *		(see TC_FDS_PER_SLOT), and return how many slots are paid for:
 *		"wanted", or fewer when fd.c refuses more, but always at least one.
 */
int
tc_conn_claim_slots(int wanted)
{
	int			needed = TC_FDS_MULTI + TC_FDS_PER_SLOT * Max(wanted, 1);

	while (tc_claimed_fds < needed)
	{
		if (tc_claimed_fds < TC_FDS_MULTI + TC_FDS_PER_SLOT)
			ReserveExternalFD();
		else if (!AcquireExternalFD())
			break;
		tc_claimed_fds++;
	}
	return Min(Max(wanted, 1),
			   (tc_claimed_fds - TC_FDS_MULTI) / TC_FDS_PER_SLOT);
}

/*
 * tc_conn_easy_get
 *		An easy handle from the pool, or a new one.
 */
CURL *
tc_conn_easy_get(void)
{
	CURL	   *easy;

	if (tc_pool_len > 0)
		return tc_pool[--tc_pool_len];

	easy = curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl easy handle.")));
	return easy;
}

/*
 * tc_conn_easy_release
 *		Give back an easy handle that is not attached to the multi handle.
 *
 * curl_easy_reset drops every option, so no pointer into our memory (error
 * buffer, header list, slot) survives in the pooled handle, and the next
 * user must set every option again (stale options on reused handles were the
 * cause of several of pgsql-http's bugs).
 */
void
tc_conn_easy_release(CURL *easy, bool reuse)
{
	if (reuse && tc_pool_len < TC_POOL_MAX)
	{
		curl_easy_reset(easy);
		tc_pool[tc_pool_len++] = easy;
	}
	else
		curl_easy_cleanup(easy);
}

/*
 * tc_conn_build_headers
 *		The request headers, shared by all of a run's transfers.
 *
 * The Authorization line is assembled first, in palloc'd memory, so that
 * nothing can raise an ERROR once the list exists (it is malloc'd by
 * libcurl, and only linked into the run when this returns).  Our copy is
 * wiped before it is freed, and so are libcurl's copies (tc_conn_free_headers).
 */
struct curl_slist *
tc_conn_build_headers(const TcOptions *opts)
{
	static const char *const fixed[] = {
		"Accept: application/json",
		"User-Agent: " TC_USER_AGENT,
	};
	struct curl_slist *list = NULL;
	struct curl_slist *next;
	char	   *auth = NULL;
	int			i;

	/*
	 * No key, no header: the API answers 401, which api.c reports.  The
	 * option validator should have caught line breaks already; checking here
	 * as well keeps a stray one from ever splitting the header.
	 */
	if (opts->api_key != NULL && opts->api_key[0] != '\0')
	{
		if (strpbrk(opts->api_key, "\r\n") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("api_key must not contain line breaks")));
		auth = psprintf("Authorization: Bearer %s", opts->api_key);
	}

	for (i = 0; i < (int) lengthof(fixed); i++)
	{
		next = curl_slist_append(list, fixed[i]);
		if (next == NULL)
			goto oom;
		list = next;
	}
	if (auth != NULL)
	{
		next = curl_slist_append(list, auth);
		if (next == NULL)
			goto oom;
		list = next;
		explicit_bzero(auth, strlen(auth));
		pfree(auth);
	}
	return list;

oom:
	/* curl_slist_append leaves the list as it was when it fails */
	tc_conn_free_headers(list);
	if (auth != NULL)
	{
		explicit_bzero(auth, strlen(auth));
		pfree(auth);
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_OUT_OF_MEMORY),
			 errmsg("out of memory"),
			 errdetail("Could not build the HTTP request headers.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * tc_conn_free_headers
 *		Free a header list built by tc_conn_build_headers, wiping every line
 *		first: one
 * of them carries the API key, and freed memory is not cleared by malloc.
 * (libcurl also copies the headers into each request it sends, and frees
 * that copy itself; there is no way to reach it.)  Never raises an ERROR.
 */
void
tc_conn_free_headers(struct curl_slist *list)
{
	struct curl_slist *item;

	for (item = list; item != NULL; item = item->next)
	{
		if (item->data != NULL)
			explicit_bzero(item->data, strlen(item->data));
	}
	curl_slist_free_all(list);
}

/*
 * tc_conn_perform
 *		curl_multi_perform with every asynchronous signal blocked.
 *
 * This is where libcurl starts its resolver threads, and a new thread
 * inherits the signal mask of the one that creates it: with the signals
 * blocked here, PostgreSQL's handlers (which set latches and flags meant
 * for the backend's own thread) can never run on one of libcurl's.  Signals
 * that arrive meanwhile are delivered as soon as the mask is restored, a
 * few microseconds later, since perform itself never waits.
 */
CURLMcode
tc_conn_perform(int *running)
{
	sigset_t	block;
	sigset_t	saved;
	CURLMcode	mc;

	sigfillset(&block);
	/* faults of this thread's own must still be delivered at once */
	sigdelset(&block, SIGSEGV);
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGILL);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	mc = curl_multi_perform(tc_multi, running);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return mc;
}

/*
 * tc_setopt_failed
 *		The ERROR of an option libcurl refused (never its value: see
 *		TC_SETOPT).
 */
void
tc_setopt_failed(const char *name, CURLcode rc)
{
	ereport(ERROR,
			(errcode(rc == CURLE_OUT_OF_MEMORY ? ERRCODE_FDW_OUT_OF_MEMORY :
					 ERRCODE_FDW_ERROR),
			 errmsg("could not set libcurl option %s: %s",
					name, curl_easy_strerror(rc))));
}

/*
 * tc_multi_failed
 *		The ERROR of a failed call on the multi handle.
 */
void
tc_multi_failed(const char *func, CURLMcode mc)
{
	ereport(ERROR,
			(errcode(mc == CURLM_OUT_OF_MEMORY ? ERRCODE_FDW_OUT_OF_MEMORY :
					 ERRCODE_FDW_ERROR),
			 errmsg("%s failed: %s", func, curl_multi_strerror(mc))));
}
