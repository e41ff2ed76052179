/*-------------------------------------------------------------------------
 *
 * cache.c
 *		  The opt-in cache of API answers (server option cache_ttl_ms), in the
 *		  memory shared.c provides: the answer of a lookup by id, and every
 *		  page of a complete list read.
 *
 * The area is a ring of entries written one after the other, and a small
 * open-addressing index of slots that point into it.  A new entry goes
 * where the ring's head is, overwriting the oldest bytes; a slot whose
 * entry has been overwritten, or whose time to live has passed, is simply
 * stale.  So storing never searches for room, and nothing is ever freed.
 * One LWLock guards it all: lookups share it, stores and resets take it
 * alone.  An entry is at most half of the area, so that a big list cannot
 * wipe out everything else; what is bigger is simply not stored.
 *
 * An entry's key is the database, the server, the API key's SHA-256, the
 * kind of answer and the request's URL (which names the resource, the id or
 * the filters sent): one key's answers are never served to a session using
 * another key, and different requests never share an entry.
 *
 * One fetch per key at a time: a backend that finds no entry may claim the
 * key (an entry without data, marked pending, for TC_CACHE_CLAIM_MS), and
 * the others that look for it meanwhile are told to wait for the answer
 * instead of asking the API themselves.  The claimer stores the answer, or
 * gives the claim up (an error, a 404); a claim nobody gives up (the
 * backend died) simply expires.
 *
 * And no miss when a busy entry ages: the first lookup of an entry in the
 * last TC_CACHE_REFRESH_PCT percent of its time to live is told to fetch a
 * fresh answer as well (it gets the cached one meanwhile), while every
 * other backend keeps being served the fresh-enough entry.  Without that,
 * sessions that go round the same ids find them expiring one after the
 * other, in the order they were fetched, and all wait at every turn.
 *
 * What this file must not do: store anything but complete, successful
 * answers (its callers decide, http.c and list.c); hold the LWLock across
 * anything but copying and palloc; keep the API key itself.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "compat.h"
#include "topcalls_fdw.h"

/* Slots probed for a key, from its hash on. */
#define TC_CACHE_PROBES			8

/* How long a claim holds off the other backends at most. */
#define TC_CACHE_CLAIM_MS		5000

/* The part of its time to live after which a lookup refreshes an entry. */
#define TC_CACHE_REFRESH_PCT	5

/* One index slot per this many bytes of the area (at least 64 slots). */
#define TC_CACHE_BYTES_PER_SLOT	1024

typedef struct TcCacheSlot
{
	uint64		hash;			/* of the key; 0 with total 0: never used */
	uint64		pos;			/* the entry's position in the ring's stream */
	uint32		total;			/* the entry's bytes, header included */
	bool		pending;		/* a claim: no data yet, a backend fetches it */
	int64		stored_us;		/* monotonic time when it was stored */
	int64		expires_us;		/* ... and when it goes stale */
	int64		refresh_until_us;	/* a backend fetches a fresh one until then */
} TcCacheSlot;

/* An entry in the ring: this, the key, then the data. */
typedef struct TcCacheEntry
{
	uint64		hash;
	uint32		keylen;
	uint32		datalen;
} TcCacheEntry;

/* The area: this header, the slots, then the ring. */
typedef struct TcCacheArea
{
	uint64		head;			/* bytes ever written to the ring */
	uint32		nslots;			/* a power of two */
	Size		ring_size;
	TcCacheSlot slots[FLEXIBLE_ARRAY_MEMBER];
} TcCacheArea;

/* topcalls_fdw.use_cache */
static bool tc_use_cache = true;

static TcCacheArea *tc_cache_area(LWLock **lock);
static char *tc_cache_key(const TcOptions *opts, char kind, const char *url,
						  uint32 *keylen, uint64 *hash);
static bool tc_slot_live(const TcCacheArea *area, const TcCacheSlot *slot,
						 int64 now);
static char *tc_ring(TcCacheArea *area);
static TcCacheSlot *tc_cache_find(TcCacheArea *area, const char *key,
								  uint32 keylen, uint64 hash, int64 now);
static TcCacheSlot *tc_cache_store(TcCacheArea *area, const char *key,
								   uint32 keylen, uint64 hash, int64 now,
								   const char *data, size_t len);

/*
 * tc_cache_define_gucs
 *		From _PG_init: topcalls_fdw.use_cache, which any session may turn off
 *		to read past the cache (neither served from it nor storing in it).
 */
void
tc_cache_define_gucs(void)
{
	DefineCustomBoolVariable("topcalls_fdw.use_cache",
							 "Serves API answers from the cache of servers with cache_ttl_ms.",
							 "Off: this session neither reads nor fills the cache.",
							 &tc_use_cache,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}

/*
 * tc_cache_init_area
 *		Lay out a new cache area of "size" bytes (shared.c calls it when it
 *		makes the region).
 */
void
tc_cache_init_area(void *mem, Size size)
{
	TcCacheArea *area = (TcCacheArea *) mem;
	Size		slots;
	uint32		nslots = 64;

	if (size < offsetof(TcCacheArea, slots) + 64 * sizeof(TcCacheSlot) + 4096)
	{
		/* too small to be of use: no slots, nothing is ever stored */
		if (size >= sizeof(TcCacheArea))
		{
			memset(area, 0, sizeof(TcCacheArea));
		}
		return;
	}
	slots = size / TC_CACHE_BYTES_PER_SLOT;
	while ((Size) nslots * 2 <= slots)
		nslots *= 2;
	memset(area, 0, offsetof(TcCacheArea, slots) + nslots * sizeof(TcCacheSlot));
	area->nslots = nslots;
	area->ring_size = size - MAXALIGN(offsetof(TcCacheArea, slots) +
									  nslots * sizeof(TcCacheSlot));
	area->ring_size -= area->ring_size % MAXIMUM_ALIGNOF;
}

/* The area, or NULL when there is none (topcalls_fdw.cache_size = 0). */
static TcCacheArea *
tc_cache_area(LWLock **lock)
{
	Size		size;
	TcCacheArea *area = tc_shared_cache_area(&size, lock);

	if (size < sizeof(TcCacheArea) || area->nslots == 0)
		return NULL;
	return area;
}

static char *
tc_ring(TcCacheArea *area)
{
	return (char *) area + MAXALIGN(offsetof(TcCacheArea, slots) +
									area->nslots * sizeof(TcCacheSlot));
}

/*
 * tc_cache_enabled
 *		Does a scan with these options use the cache?
 */
bool
tc_cache_enabled(const TcOptions *opts)
{
	LWLock	   *lock;

	return opts->cache_ttl_ms > 0 && tc_use_cache &&
		tc_cache_area(&lock) != NULL;
}

/*
 * tc_cache_max_entry
 *		The largest data an entry can hold (0 without a cache).
 */
Size
tc_cache_max_entry(void)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);

	if (area == NULL)
		return 0;
	return area->ring_size / 2 - MAXALIGN(sizeof(TcCacheEntry));
}

/*
 * The key of a request (who asks, what kind of answer, and its URL), with
 * its length and hash.
 */
static char *
tc_cache_key(const TcOptions *opts, char kind, const char *url, uint32 *keylen,
			 uint64 *hash)
{
	Size		urllen = strlen(url);
	Size		len = sizeof(Oid) * 2 + TC_KEY_DIGEST_LEN + 1 + urllen;
	char	   *key = palloc(len);
	char	   *p = key;

	memcpy(p, &MyDatabaseId, sizeof(Oid));
	p += sizeof(Oid);
	memcpy(p, &opts->serverid, sizeof(Oid));
	p += sizeof(Oid);
	memcpy(p, opts->key_digest, TC_KEY_DIGEST_LEN);
	p += TC_KEY_DIGEST_LEN;
	*p++ = kind;
	memcpy(p, url, urllen);
	*keylen = (uint32) len;
	*hash = hash_bytes_extended((const unsigned char *) key, (int) len, 0);
	return key;
}

/* Is the slot's entry still in the ring, and fresh? */
static bool
tc_slot_live(const TcCacheArea *area, const TcCacheSlot *slot, int64 now)
{
	return slot->total > 0 &&
		area->head - slot->pos <= area->ring_size &&
		slot->expires_us > now;
}

/* The live slot of a key, or NULL; the caller holds the lock. */
static TcCacheSlot *
tc_cache_find(TcCacheArea *area, const char *key, uint32 keylen, uint64 hash,
			  int64 now)
{
	int			i;

	for (i = 0; i < TC_CACHE_PROBES; i++)
	{
		TcCacheSlot *slot = &area->slots[(hash + i) & (area->nslots - 1)];
		TcCacheEntry *entry;

		if (slot->hash != hash || !tc_slot_live(area, slot, now))
			continue;
		entry = (TcCacheEntry *) (tc_ring(area) + slot->pos % area->ring_size);
		if (entry->hash == hash && entry->keylen == keylen &&
			memcmp((char *) entry + sizeof(TcCacheEntry), key, keylen) == 0)
			return slot;
	}
	return NULL;
}

/*
 * Write an entry at the ring's head and point a slot at it: the key's own
 * slot, else a stale one, else the oldest of the probed.  The caller holds
 * the lock exclusively, and has checked that the entry fits (at most half
 * the ring).  Only memcpy: nothing here can fail.
 */
static TcCacheSlot *
tc_cache_store(TcCacheArea *area, const char *key, uint32 keylen, uint64 hash,
			   int64 now, const char *data, size_t len)
{
	TcCacheSlot *target = tc_cache_find(area, key, keylen, hash, now);
	uint64		total = MAXALIGN(sizeof(TcCacheEntry) + (uint64) keylen + len);
	uint64		pos;
	TcCacheEntry *entry;
	int			i;

	for (i = 0; target == NULL && i < TC_CACHE_PROBES; i++)
	{
		TcCacheSlot *slot = &area->slots[(hash + i) & (area->nslots - 1)];

		if (!tc_slot_live(area, slot, now))
			target = slot;
	}
	for (i = 0; target == NULL && i < TC_CACHE_PROBES; i++)
	{
		TcCacheSlot *slot = &area->slots[(hash + i) & (area->nslots - 1)];

		if (i == 0 || slot->pos < target->pos)
			target = slot;
	}
	if (target == NULL)
		target = &area->slots[hash & (area->nslots - 1)];

	/* an entry never wraps around the ring's end: skip to its start */
	pos = area->head;
	if (pos % area->ring_size + total > area->ring_size)
		pos += area->ring_size - pos % area->ring_size;
	area->head = pos + total;

	entry = (TcCacheEntry *) (tc_ring(area) + pos % area->ring_size);
	entry->hash = hash;
	entry->keylen = keylen;
	entry->datalen = (uint32) len;
	memcpy((char *) entry + sizeof(TcCacheEntry), key, keylen);
	if (len > 0)
		memcpy((char *) entry + sizeof(TcCacheEntry) + keylen, data, len);

	target->hash = hash;
	target->pos = pos;
	target->total = (uint32) total;
	return target;
}

/*
 * tc_cache_fetch
 *		The data stored for the request, palloc'd in the current context
 *		(with a NUL after it), or NULL, with *result saying which:
 *		TC_CACHE_HIT; TC_CACHE_MISS (nothing stored; with "claim", not
 *		possible); TC_CACHE_CLAIMED ("claim" only: nothing stored, and the
 *		key is now this backend's to fetch: store the answer with
 *		tc_cache_put, or give the claim up with tc_cache_unclaim);
 *		TC_CACHE_PENDING (another backend's claim: ask again shortly);
 *		TC_CACHE_REFRESH ("claim" only: a hit, but the entry is old and
 *		this backend is to fetch a fresh answer for it, and store it).
 *
 * Nothing here raises an ERROR while the lock is held: the copy is
 * allocated without ERROR on failure, and counts as a miss then.
 */
char *
tc_cache_fetch(const TcOptions *opts, char kind, const char *url, size_t *len,
			   bool claim, TcCacheResult *result)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);
	char	   *key;
	uint32		keylen;
	uint64		hash;
	int64		now;
	TcCacheSlot *slot;
	char	   *data = NULL;

	*result = TC_CACHE_MISS;
	if (area == NULL)
		return NULL;
	key = tc_cache_key(opts, kind, url, &keylen, &hash);
	now = tc_monotonic_us();

	LWLockAcquire(lock, claim ? LW_EXCLUSIVE : LW_SHARED);
	slot = tc_cache_find(area, key, keylen, hash, now);
	if (slot != NULL && slot->pending)
		*result = TC_CACHE_PENDING;
	else if (slot != NULL)
	{
		TcCacheEntry *entry = (TcCacheEntry *) (tc_ring(area) +
												slot->pos % area->ring_size);

		data = MemoryContextAllocExtended(CurrentMemoryContext,
										  (Size) entry->datalen + 1,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (data != NULL)
		{
			memcpy(data, (char *) entry + sizeof(TcCacheEntry) + keylen,
				   entry->datalen);
			data[entry->datalen] = '\0';
			*len = entry->datalen;
			*result = TC_CACHE_HIT;
			if (claim && slot->refresh_until_us < now &&
				now - slot->stored_us >
				(slot->expires_us - slot->stored_us) * (100 - TC_CACHE_REFRESH_PCT) / 100)
			{
				slot->refresh_until_us = now + (int64) TC_CACHE_CLAIM_MS * 1000;
				*result = TC_CACHE_REFRESH;
			}
		}
	}
	if (*result == TC_CACHE_MISS && claim &&
		MAXALIGN(sizeof(TcCacheEntry) + (uint64) keylen) <= area->ring_size / 2)
	{
		slot = tc_cache_store(area, key, keylen, hash, now, NULL, 0);
		slot->pending = true;
		slot->stored_us = now;
		slot->expires_us = now + (int64) TC_CACHE_CLAIM_MS * 1000;
		slot->refresh_until_us = 0;
		*result = TC_CACHE_CLAIMED;
	}
	LWLockRelease(lock);
	pfree(key);
	return data;
}

/*
 * tc_cache_put
 *		Store the data of a complete, successful answer for cache_ttl_ms (in
 *		place of this backend's claim, if it made one).  Returns false when
 *		it is too large to be stored; a claim is then given up.
 */
bool
tc_cache_put(const TcOptions *opts, char kind, const char *url,
			 const char *data, size_t len)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);
	char	   *key;
	uint32		keylen;
	uint64		hash;
	int64		now;
	TcCacheSlot *slot;

	if (area == NULL)
		return false;
	key = tc_cache_key(opts, kind, url, &keylen, &hash);
	if (MAXALIGN(sizeof(TcCacheEntry) + (uint64) keylen + len) > area->ring_size / 2)
	{
		pfree(key);
		tc_cache_unclaim(opts, kind, url);
		return false;
	}
	now = tc_monotonic_us();

	LWLockAcquire(lock, LW_EXCLUSIVE);
	slot = tc_cache_store(area, key, keylen, hash, now, data, len);
	slot->pending = false;
	slot->stored_us = now;
	slot->expires_us = now + (int64) opts->cache_ttl_ms * 1000;
	slot->refresh_until_us = 0;
	LWLockRelease(lock);
	pfree(key);
	return true;
}

/*
 * tc_cache_unclaim
 *		Give up this backend's claim of a request (its answer will not be
 *		stored), so that the backends waiting for it fetch it themselves.
 */
void
tc_cache_unclaim(const TcOptions *opts, char kind, const char *url)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);
	char	   *key;
	uint32		keylen;
	uint64		hash;
	TcCacheSlot *slot;

	if (area == NULL)
		return;
	key = tc_cache_key(opts, kind, url, &keylen, &hash);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	slot = tc_cache_find(area, key, keylen, hash, tc_monotonic_us());
	if (slot != NULL && slot->pending)
		slot->total = 0;
	LWLockRelease(lock);
	pfree(key);
}

/*
 * tc_cache_reset
 *		topcalls_fdw_cache_reset(): forget every entry.
 */
void
tc_cache_reset(void)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);

	if (area == NULL)
		return;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	memset(area->slots, 0, area->nslots * sizeof(TcCacheSlot));
	LWLockRelease(lock);
}
