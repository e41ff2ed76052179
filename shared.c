/*-------------------------------------------------------------------------
 *
 * shared.c
 *		  The state every backend shares: one entry per foreign server and
 *		  API key (rate limiter, statistics), the table sizes learned from
 *		  complete list reads, and the memory of the answer cache.
 *
 * Where the memory comes from, best first:
 *	- shared_preload_libraries: the main shared memory segment, reserved at
 *	  startup (shmem_request_hook on 15+, _PG_init before) and sized by the
 *	  PGC_POSTMASTER settings topcalls_fdw.max_servers and
 *	  topcalls_fdw.cache_size;
 *	- PostgreSQL 17+ without preloading: a segment of the DSM registry, of
 *	  the default sizes, created by the first backend that needs it;
 *	- otherwise: the same structures in the backend's own memory.  Every
 *	  feature still works, per backend; the statistics view says so
 *	  ("shared" is false) and the backend says it once at DEBUG1.
 *
 * Locking: the list of entries and the learned sizes are under the region's
 * LWLock (entries are only ever added, never moved or removed, so a pointer
 * to one stays valid for the life of the region).  An entry's counters and
 * limiter are under the entry's spinlock, held only for the few
 * instructions of an update or a copy: nothing that can ERROR, allocate or
 * wait is done while holding it.  The cache has an LWLock of its own
 * (cache.c).  A backend killed while holding the spinlock makes the
 * postmaster reinitialize shared memory, as for any crash.
 *
 * The limiter's clock is CLOCK_MONOTONIC, the same in every process of the
 * machine, and never jumps with the wall clock.
 *
 * What this file must not do: send requests, or know what they are for;
 * keep the API key (only its SHA-256 digest and the digest's start); write
 * to any table (the view must work in read-only transactions and on a
 * standby).
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/shared.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <time.h>

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "topcalls_fdw.h"

#define TC_SHMEM_NAME			"topcalls_fdw"

/* Defaults of the settings, also the sizes of the DSM and local modes. */
#define TC_DEFAULT_MAX_SERVERS	100
#define TC_DEFAULT_CACHE_MB		16

/* The cache of a backend without shared memory: its own, and smaller. */
#define TC_LOCAL_CACHE_MB		4

/* Learned table sizes kept, per server entry. */
#define TC_TABLES_PER_SERVER	8

/* Shared backoff after a 429 without Retry-After: doubles up to the cap. */
#define TC_PAUSE_BASE_MS		100
#define TC_PAUSE_CAP_MS			5000

/* Latency histogram: bucket b holds latencies up to TC_HIST_BASE_MS * 2^((b+1)/4). */
#define TC_HIST_BASE_MS			0.05
#define TC_HIST_PER_DOUBLING	4

/* What identifies an entry: database, server, and the key's digest. */
typedef struct TcStateKey
{
	Oid			dbid;
	Oid			serverid;
	uint8		digest[TC_KEY_DIGEST_LEN];
} TcStateKey;

struct TcServerState
{
	TcStateKey	key;
	slock_t		mutex;			/* everything below */

	/* the limiter, in microseconds of CLOCK_MONOTONIC */
	int64		tat_us;			/* GCRA's theoretical arrival time */
	int64		paused_until_us;	/* a 429 stopped every request until then */
	int			pause_ms;		/* the last backoff without Retry-After */

	TcServerStats stats;		/* servername etc. set once, at creation */
};

/* A table's size, learned from its last complete list read. */
typedef struct TcTableRows
{
	Oid			dbid;
	Oid			relid;
	uint8		digest[TC_KEY_DIGEST_LEN];	/* whose account it counted */
	double		rows;
} TcTableRows;

/* The region: this header, then the entries, the sizes and the cache. */
typedef struct TcSharedHeader
{
	LWLock		lock;			/* nservers, the entries' keys, the sizes */
	LWLock		cache_lock;		/* the cache area (cache.c) */
	int			tranche_id;
	bool		shared;
	int			max_servers;
	int			nservers;
	int			max_tables;
	int			next_table;		/* the slot replaced when all are used */
	Size		cache_offset;	/* from the start of the header */
	Size		cache_size;
} TcSharedHeader;

/* The settings (only defined when preloaded: see tc_shared_init). */
static int	tc_max_servers = TC_DEFAULT_MAX_SERVERS;
static int	tc_cache_size_mb = TC_DEFAULT_CACHE_MB;

/* This backend's view of the region; NULL until the first use. */
static TcSharedHeader *tc_region = NULL;
static bool tc_preloaded = false;

/* Entries of server+keys that did not fit: this backend's own. */
static List *tc_overflow = NIL;

#ifdef TC_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size tc_region_size(int max_servers, Size cache_bytes);
static void tc_region_init(TcSharedHeader *hdr, int max_servers,
						   Size cache_bytes, bool shared);
static TcServerState *tc_entries(TcSharedHeader *hdr);
static TcTableRows *tc_tables(TcSharedHeader *hdr);
static TcSharedHeader *tc_get_region(void);
static void tc_entry_init(TcServerState *st, const TcStateKey *key,
						  const TcOptions *opts, bool shared);
static void tc_stats_zero(TcServerStats *s, TimestampTz now);

#ifdef TC_HAVE_SHMEM_REQUEST_HOOK
static void tc_shmem_request(void);
#endif
static void tc_shmem_startup(void);
#ifdef TC_HAVE_DSM_REGISTRY
static void tc_dsm_init(void *ptr);
#endif

/*
 * tc_shared_init
 *		From _PG_init.  When the library is being preloaded, define the size
 *		settings and ask for the shared memory; otherwise nothing: the region
 *		is found or made at first use (tc_get_region).
 *
 * The size settings are PGC_POSTMASTER, so they only mean something when
 * the memory is reserved at startup, and are defined only then, as
 * pg_stat_statements does with its own.
 */
void
tc_shared_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomIntVariable("topcalls_fdw.max_servers",
							"Foreign server and API key pairs whose limiter and statistics are shared.",
							"Pairs beyond it are kept per backend.",
							&tc_max_servers,
							TC_DEFAULT_MAX_SERVERS, 1, 100000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("topcalls_fdw.cache_size",
							"Shared memory for cached API answers.",
							"0 turns the shared cache off.",
							&tc_cache_size_mb,
							TC_DEFAULT_CACHE_MB, 0, 1024,
							PGC_POSTMASTER, GUC_UNIT_MB,
							NULL, NULL, NULL);

	tc_preloaded = true;
#ifdef TC_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = tc_shmem_request;
#else
	RequestAddinShmemSpace(tc_region_size(tc_max_servers,
										  (Size) tc_cache_size_mb * 1024 * 1024));
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = tc_shmem_startup;
}

#ifdef TC_HAVE_SHMEM_REQUEST_HOOK
/* shmem_request_hook: the one place 15+ accepts RequestAddinShmemSpace. */
static void
tc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(tc_region_size(tc_max_servers,
										  (Size) tc_cache_size_mb * 1024 * 1024));
}
#endif

/*
 * shmem_startup_hook: create the region in the postmaster (and again after
 * a crash restart), or attach to it (EXEC_BACKEND).
 */
static void
tc_shmem_startup(void)
{
	Size		cache_bytes = (Size) tc_cache_size_mb * 1024 * 1024;
	bool		found;
	TcSharedHeader *hdr;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hdr = ShmemInitStruct(TC_SHMEM_NAME,
						  tc_region_size(tc_max_servers, cache_bytes), &found);
	if (!found)
		tc_region_init(hdr, tc_max_servers, cache_bytes, true);
	LWLockRelease(AddinShmemInitLock);
	tc_region = hdr;
}

#ifdef TC_HAVE_DSM_REGISTRY
/* The DSM registry's initializer of a new segment. */
static void
tc_dsm_init(void *ptr)
{
	tc_region_init((TcSharedHeader *) ptr, TC_DEFAULT_MAX_SERVERS,
				   (Size) TC_DEFAULT_CACHE_MB * 1024 * 1024, true);
}
#endif

/* Bytes of a region with these sizes. */
static Size
tc_region_size(int max_servers, Size cache_bytes)
{
	Size		size = MAXALIGN(sizeof(TcSharedHeader));

	size = add_size(size, MAXALIGN(mul_size(max_servers, sizeof(TcServerState))));
	size = add_size(size, MAXALIGN(mul_size(mul_size(max_servers, TC_TABLES_PER_SERVER),
											sizeof(TcTableRows))));
	return add_size(size, cache_bytes);
}

/* Lay out a new region (zeroed except for the cache's bytes). */
static void
tc_region_init(TcSharedHeader *hdr, int max_servers, Size cache_bytes,
			   bool shared)
{
	Size		offset;

	memset(hdr, 0, sizeof(TcSharedHeader));
	hdr->tranche_id = LWLockNewTrancheId();
	LWLockInitialize(&hdr->lock, hdr->tranche_id);
	LWLockInitialize(&hdr->cache_lock, hdr->tranche_id);
	hdr->shared = shared;
	hdr->max_servers = max_servers;
	hdr->max_tables = max_servers * TC_TABLES_PER_SERVER;
	offset = MAXALIGN(sizeof(TcSharedHeader));
	memset((char *) hdr + offset, 0,
		   MAXALIGN(max_servers * sizeof(TcServerState)) +
		   MAXALIGN(hdr->max_tables * sizeof(TcTableRows)));
	offset += MAXALIGN(max_servers * sizeof(TcServerState));
	offset += MAXALIGN(hdr->max_tables * sizeof(TcTableRows));
	hdr->cache_offset = offset;
	hdr->cache_size = cache_bytes;
	tc_cache_init_area((char *) hdr + offset, cache_bytes);
}

static TcServerState *
tc_entries(TcSharedHeader *hdr)
{
	return (TcServerState *) ((char *) hdr + MAXALIGN(sizeof(TcSharedHeader)));
}

static TcTableRows *
tc_tables(TcSharedHeader *hdr)
{
	return (TcTableRows *) ((char *) tc_entries(hdr) +
							MAXALIGN(hdr->max_servers * sizeof(TcServerState)));
}

/*
 * The region, found or made on first use.  Without preloading, 17+ asks the
 * DSM registry (whose errors, such as running out of dynamic shared memory,
 * are ERRORs of the query); before 17 the backend makes its own, and says
 * so once.
 */
static TcSharedHeader *
tc_get_region(void)
{
	static bool tranche_registered = false;

	if (tc_region != NULL && tranche_registered)
		return tc_region;

#ifdef TC_HAVE_DSM_REGISTRY
	if (tc_region == NULL && !tc_preloaded && IsUnderPostmaster)
	{
		bool		found;

		tc_region = GetNamedDSMSegment(TC_SHMEM_NAME,
									   tc_region_size(TC_DEFAULT_MAX_SERVERS,
													  (Size) TC_DEFAULT_CACHE_MB * 1024 * 1024),
									   tc_dsm_init, &found);
	}
#endif

	if (tc_region == NULL)
	{
		Size		cache_bytes = (Size) TC_LOCAL_CACHE_MB * 1024 * 1024;
		TcSharedHeader *hdr;

		hdr = MemoryContextAllocExtended(TopMemoryContext,
										 tc_region_size(TC_DEFAULT_MAX_SERVERS,
														cache_bytes),
										 MCXT_ALLOC_HUGE);
		tc_region_init(hdr, TC_DEFAULT_MAX_SERVERS, cache_bytes, false);
		tc_region = hdr;
		ereport(DEBUG1,
				(errmsg_internal("topcalls_fdw: no shared memory: rate limits, statistics and the cache are this backend's own"),
				 errhint("Add topcalls_fdw to shared_preload_libraries to share them.")));
	}

	/* names the locks in pg_stat_activity's wait events, in each backend */
	LWLockRegisterTranche(tc_region->tranche_id, TC_SHMEM_NAME);
	tranche_registered = true;
	return tc_region;
}

/*
 * tc_shared_available
 *		Is the state shared by every backend (false: this backend's own)?
 */
bool
tc_shared_available(void)
{
	return tc_get_region()->shared;
}

/*
 * tc_server_state
 *		The entry of the options' server and API key, made if there is none.
 *
 * Never NULL: when the region has no room left, the pair gets an entry of
 * this backend's own (the view shows it with shared = false).
 */
TcServerState *
tc_server_state(const TcOptions *opts)
{
	TcSharedHeader *hdr = tc_get_region();
	TcServerState *entries = tc_entries(hdr);
	TcServerState *st = NULL;
	TcStateKey	key;
	ListCell   *lc;
	int			i;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.serverid = opts->serverid;
	memcpy(key.digest, opts->key_digest, TC_KEY_DIGEST_LEN);

	LWLockAcquire(&hdr->lock, LW_SHARED);
	for (i = 0; i < hdr->nservers; i++)
	{
		if (memcmp(&entries[i].key, &key, sizeof(key)) == 0)
		{
			st = &entries[i];
			break;
		}
	}
	LWLockRelease(&hdr->lock);
	if (st != NULL)
		return st;

	LWLockAcquire(&hdr->lock, LW_EXCLUSIVE);
	for (i = 0; i < hdr->nservers; i++)
	{
		if (memcmp(&entries[i].key, &key, sizeof(key)) == 0)
		{
			st = &entries[i];
			break;
		}
	}
	if (st == NULL && hdr->nservers < hdr->max_servers)
	{
		st = &entries[hdr->nservers];
		tc_entry_init(st, &key, opts, hdr->shared);
		/* visible to the others only once it is complete */
		pg_write_barrier();
		hdr->nservers++;
	}
	LWLockRelease(&hdr->lock);
	if (st != NULL)
		return st;

	/* no room: this backend's own */
	foreach(lc, tc_overflow)
	{
		st = (TcServerState *) lfirst(lc);
		if (memcmp(&st->key, &key, sizeof(key)) == 0)
			return st;
	}
	st = MemoryContextAllocZero(TopMemoryContext, sizeof(TcServerState));
	tc_entry_init(st, &key, opts, false);
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		tc_overflow = lappend(tc_overflow, st);
		MemoryContextSwitchTo(old);
	}
	ereport(LOG,
			(errmsg("topcalls_fdw.max_servers (%d) is reached: the rate limit and statistics of server \"%s\" are per backend",
					hdr->max_servers, opts->servername),
			 errhint("Raise topcalls_fdw.max_servers.")));
	return st;
}

/* Fill a new entry (not yet visible to anybody else). */
static void
tc_entry_init(TcServerState *st, const TcStateKey *key, const TcOptions *opts,
			  bool shared)
{
	memset(st, 0, sizeof(TcServerState));
	st->key = *key;
	SpinLockInit(&st->mutex);
	st->stats.dbid = key->dbid;
	st->stats.serverid = key->serverid;
	strlcpy(st->stats.servername, opts->servername, NAMEDATALEN);
	strlcpy(st->stats.key_fingerprint, opts->key_fingerprint,
			sizeof(st->stats.key_fingerprint));
	st->stats.shared = shared;
	st->stats.stats_reset = GetCurrentTimestamp();
}

/*
 * tc_monotonic_us
 *		Microseconds of CLOCK_MONOTONIC: the clock of the limiter and of the
 *		cache's times to live, the same in every process.
 */
int64
tc_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * tc_limit_reserve
 *		Reserve the next request of the server and key: returns in how many
 *		milliseconds it may be sent (0: now), or -1 if that is more than
 *		max_wait_ms (-1: no bound), in which case nothing is reserved.
 *
 * The limiter is GCRA, a token bucket kept as one timestamp: requests are
 * spaced 1/rate_limit apart, with a burst of rate_burst allowed.  Each call
 * takes the next free time, so backends are served in the order they ask
 * and none can starve.  A pause after a 429 (tc_server_count_answer)
 * applies whether or not rate_limit is set.  *paused_ms is how much of the
 * wait is that pause.
 */
long
tc_limit_reserve(TcServerState *st, const TcOptions *opts, long max_wait_ms,
				 long *paused_ms)
{
	int64		now = tc_monotonic_us();
	double		interval_us = 0;
	int64		tolerance_us = 0;
	int64		start;
	int64		pause_end;
	int64		wait_us;

	if (opts->rate_limit > 0)
	{
		int			burst = opts->rate_burst > 0 ? opts->rate_burst :
			(int) ceil(opts->rate_limit);

		/* at least one request an hour: a tiny rate must not overflow */
		interval_us = 1000000.0 / Max(opts->rate_limit, 1.0 / 3600);
		tolerance_us = (int64) ((Max(burst, 1) - 1) * interval_us);
	}

	SpinLockAcquire(&st->mutex);
	pause_end = st->paused_until_us;

	/*
	 * After a pause the requests go at the rate, not in a burst into an
	 * account whose own bucket has only just begun to refill.
	 */
	if (interval_us > 0 && pause_end > now)
		st->tat_us = Max(st->tat_us, pause_end + tolerance_us);
	start = Max(now, pause_end);
	if (interval_us > 0)
		start = Max(start, st->tat_us - tolerance_us);
	wait_us = start - now;
	if (max_wait_ms >= 0 && wait_us > (int64) max_wait_ms * 1000)
	{
		SpinLockRelease(&st->mutex);
		*paused_ms = pause_end > now ? (long) ((pause_end - now + 999) / 1000) : 0;
		return -1;
	}
	if (interval_us > 0)
		st->tat_us = Max(st->tat_us, start) + (int64) interval_us;
	SpinLockRelease(&st->mutex);

	*paused_ms = pause_end > now ? (long) ((pause_end - now + 999) / 1000) : 0;
	return (long) ((wait_us + 999) / 1000);
}

/*
 * tc_limit_release
 *		Give back the turns of n requests that will not be sent after all
 *		(their scan ended in an ERROR or a cancel before their time came),
 *		spaced interval_us apart: the next requests may then go that much
 *		sooner.  Never raises an ERROR.
 */
void
tc_limit_release(TcServerState *st, double interval_us, int n)
{
	int64		now = tc_monotonic_us();

	if (n <= 0 || interval_us <= 0)
		return;
	SpinLockAcquire(&st->mutex);
	st->tat_us = Max(st->tat_us - (int64) (n * interval_us), now);
	SpinLockRelease(&st->mutex);
}

/*
 * tc_limit_pause_end
 *		In how many milliseconds the pause of the server and key after a 429
 *		ends; 0 when there is none.
 */
long
tc_limit_pause_end(TcServerState *st)
{
	int64		now = tc_monotonic_us();
	int64		until;

	SpinLockAcquire(&st->mutex);
	until = st->paused_until_us;
	SpinLockRelease(&st->mutex);
	return until > now ? (long) ((until - now + 999) / 1000) : 0;
}

/*
 * tc_server_count_request
 *		Count a request the API received whose answer never will be (its
 *		transfer was abandoned); retry: not the request's first attempt.
 */
void
tc_server_count_request(TcServerState *st, bool retry)
{
	SpinLockAcquire(&st->mutex);
	st->stats.requests++;
	if (retry)
		st->stats.retries++;
	SpinLockRelease(&st->mutex);
}

/*
 * tc_server_count_answer
 *		Count an attempt that has finished: its request if it was sent (the
 *		API received it; retry: not the request's first attempt), its answer
 *		(or the transfer that got none), bytes and time.  After a 429, pause
 *		every request of the server and key: until Retry-After
 *		(retry_after_ms > 0), or for a backoff that doubles with each 429
 *		without one, and starts again after a success.
 */
void
tc_server_count_answer(TcServerState *st, bool sent, bool retry, long status,
					   bool transport_error, size_t bytes, double elapsed_ms,
					   long retry_after_ms)
{
	int64		now = status == 429 ? tc_monotonic_us() : 0;
	int			bucket = 0;

	if (elapsed_ms > TC_HIST_BASE_MS)
		bucket = (int) (TC_HIST_PER_DOUBLING * log2(elapsed_ms / TC_HIST_BASE_MS));
	bucket = Min(Max(bucket, 0), TC_HIST_BUCKETS - 1);

	SpinLockAcquire(&st->mutex);
	if (sent)
	{
		st->stats.requests++;
		if (retry)
			st->stats.retries++;
	}
	if (transport_error)
		st->stats.transport_errors++;
	else if (status >= 200 && status < 300)
	{
		st->stats.responses_2xx++;
		st->pause_ms = 0;
	}
	else if (status == 404)
		st->stats.responses_404++;
	else if (status == 429)
	{
		int64		until;

		st->stats.rate_limited++;
		if (retry_after_ms > 0)
			until = now + (int64) retry_after_ms * 1000;
		else
		{
			/*
			 * One step of the backoff per pause: the 429s of the requests
			 * already in flight when the first came are the same episode.
			 */
			if (now >= st->paused_until_us)
				st->pause_ms = st->pause_ms == 0 ? TC_PAUSE_BASE_MS :
					Min(st->pause_ms * 2, TC_PAUSE_CAP_MS);
			until = now + (int64) st->pause_ms * 1000;
		}
		st->paused_until_us = Max(st->paused_until_us, until);
	}
	else if (status >= 400 && status < 500)
		st->stats.responses_4xx++;
	else if (status >= 500)
		st->stats.responses_5xx++;
	else
		st->stats.responses_other++;
	st->stats.bytes_received += bytes;
	if (!transport_error)
	{
		st->stats.http_time_ms += elapsed_ms;
		st->stats.latency[bucket]++;
	}
	SpinLockRelease(&st->mutex);
}

/*
 * tc_server_count_cache
 *		Count answers served from the cache, and ones looked for in vain.
 */
void
tc_server_count_cache(TcServerState *st, int64 hits, int64 misses)
{
	SpinLockAcquire(&st->mutex);
	st->stats.cache_hits += hits;
	st->stats.cache_misses += misses;
	SpinLockRelease(&st->mutex);
}

/*
 * tc_server_count_throttled
 *		Count time a scan spent waiting for the limiter.
 */
void
tc_server_count_throttled(TcServerState *st, double ms)
{
	SpinLockAcquire(&st->mutex);
	st->stats.throttled_ms += ms;
	SpinLockRelease(&st->mutex);
}

/*
 * tc_latency_percentile
 *		The latency below which the given fraction of the answers came, in
 *		ms: the upper bound of the histogram bucket it falls in (buckets are
 *		a fourth of a doubling wide, so within 19%).  NaN without answers.
 */
double
tc_latency_percentile(const TcServerStats *s, double fraction)
{
	int64		total = 0;
	int64		seen = 0;
	double		rank;
	int			b;

	for (b = 0; b < TC_HIST_BUCKETS; b++)
		total += s->latency[b];
	if (total == 0)
		return get_float8_nan();
	rank = ceil(fraction * total);
	for (b = 0; b < TC_HIST_BUCKETS; b++)
	{
		seen += s->latency[b];
		if (seen >= rank)
			break;
	}
	b = Min(b, TC_HIST_BUCKETS - 1);
	return TC_HIST_BASE_MS * pow(2.0, (double) (b + 1) / TC_HIST_PER_DOUBLING);
}

/*
 * tc_shared_snapshot
 *		A copy of every entry's statistics (TcServerStats, palloc'd), the
 *		region's and this backend's own, for the view.
 */
List *
tc_shared_snapshot(void)
{
	TcSharedHeader *hdr = tc_get_region();
	TcServerState *entries = tc_entries(hdr);
	List	   *result = NIL;
	ListCell   *lc;
	int			n;
	int			i;

	LWLockAcquire(&hdr->lock, LW_SHARED);
	n = hdr->nservers;
	LWLockRelease(&hdr->lock);

	/* entries below n are complete and never move (see the file header) */
	for (i = 0; i < n; i++)
	{
		TcServerStats *copy = palloc(sizeof(TcServerStats));

		SpinLockAcquire(&entries[i].mutex);
		memcpy(copy, &entries[i].stats, sizeof(TcServerStats));
		SpinLockRelease(&entries[i].mutex);
		result = lappend(result, copy);
	}
	foreach(lc, tc_overflow)
	{
		TcServerState *st = (TcServerState *) lfirst(lc);
		TcServerStats *copy = palloc(sizeof(TcServerStats));

		memcpy(copy, &st->stats, sizeof(TcServerStats));
		result = lappend(result, copy);
	}
	return result;
}

/*
 * Zero the counters of a statistics record, keeping who it is.  Only
 * memset and assignments: it runs under the entry's spinlock.
 */
static void
tc_stats_zero(TcServerStats *s, TimestampTz now)
{
	s->requests = s->retries = 0;
	s->responses_2xx = s->responses_404 = s->responses_4xx = 0;
	s->rate_limited = s->responses_5xx = s->responses_other = 0;
	s->transport_errors = s->bytes_received = 0;
	s->http_time_ms = s->throttled_ms = 0;
	s->cache_hits = s->cache_misses = 0;
	memset(s->latency, 0, sizeof(s->latency));
	s->stats_reset = now;
}

/*
 * tc_shared_reset_stats
 *		topcalls_fdw_stats_reset(): zero every entry's counters, and forget
 *		the learned table sizes.  The limiters keep their state: a reset of
 *		the statistics must not let a burst through.
 */
void
tc_shared_reset_stats(void)
{
	TcSharedHeader *hdr = tc_get_region();
	TcServerState *entries = tc_entries(hdr);
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;
	int			n;
	int			i;

	LWLockAcquire(&hdr->lock, LW_EXCLUSIVE);
	n = hdr->nservers;
	memset(tc_tables(hdr), 0, hdr->max_tables * sizeof(TcTableRows));
	hdr->next_table = 0;
	LWLockRelease(&hdr->lock);

	/* in place, so that no count made meanwhile is lost */
	for (i = 0; i < n; i++)
	{
		SpinLockAcquire(&entries[i].mutex);
		tc_stats_zero(&entries[i].stats, now);
		SpinLockRelease(&entries[i].mutex);
	}
	foreach(lc, tc_overflow)
		tc_stats_zero(&((TcServerState *) lfirst(lc))->stats, now);
}

/*
 * tc_shared_set_table_rows
 *		Remember the size of a table, which a complete, unfiltered list read
 *		has just counted, for the planner of every backend.
 */
void
tc_shared_set_table_rows(const TcOptions *opts, double rows)
{
	Oid			relid = opts->relid;
	TcSharedHeader *hdr = tc_get_region();
	TcTableRows *tables = tc_tables(hdr);
	int			i;

	LWLockAcquire(&hdr->lock, LW_EXCLUSIVE);
	for (i = 0; i < hdr->max_tables; i++)
	{
		if (tables[i].dbid == MyDatabaseId && tables[i].relid == relid &&
			memcmp(tables[i].digest, opts->key_digest, TC_KEY_DIGEST_LEN) == 0)
			break;
	}
	if (i == hdr->max_tables)
	{
		/* a free slot, else the oldest one written */
		for (i = 0; i < hdr->max_tables; i++)
		{
			if (tables[i].relid == InvalidOid)
				break;
		}
		if (i == hdr->max_tables)
		{
			i = hdr->next_table;
			hdr->next_table = (hdr->next_table + 1) % hdr->max_tables;
		}
	}
	tables[i].dbid = MyDatabaseId;
	tables[i].relid = relid;
	memcpy(tables[i].digest, opts->key_digest, TC_KEY_DIGEST_LEN);
	tables[i].rows = rows;
	LWLockRelease(&hdr->lock);
}

/*
 * tc_shared_table_rows
 *		The size a complete list read with the options' API key found for
 *		the table, -1 if none is known.  (Another key may see another
 *		account.)
 */
double
tc_shared_table_rows(const TcOptions *opts)
{
	Oid			relid = opts->relid;
	TcSharedHeader *hdr = tc_get_region();
	TcTableRows *tables = tc_tables(hdr);
	double		rows = -1;
	int			i;

	LWLockAcquire(&hdr->lock, LW_SHARED);
	for (i = 0; i < hdr->max_tables; i++)
	{
		if (tables[i].dbid == MyDatabaseId && tables[i].relid == relid &&
			memcmp(tables[i].digest, opts->key_digest, TC_KEY_DIGEST_LEN) == 0)
		{
			rows = tables[i].rows;
			break;
		}
	}
	LWLockRelease(&hdr->lock);
	return rows;
}

/*
 * tc_shared_cache_area
 *		The cache's bytes (cache.c lays them out) and the LWLock guarding
 *		them; *size is 0 when topcalls_fdw.cache_size is 0.
 */
void *
tc_shared_cache_area(Size *size, LWLock **lock)
{
	TcSharedHeader *hdr = tc_get_region();

	*size = hdr->cache_size;
	*lock = &hdr->cache_lock;
	return (char *) hdr + hdr->cache_offset;
}
