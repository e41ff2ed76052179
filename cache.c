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

/* One index slot per this many bytes of the area (at least 64 slots). */
#define TC_CACHE_BYTES_PER_SLOT	1024

typedef struct TcCacheSlot
{
	uint64		hash;			/* of the key; 0 with total 0: never used */
	uint64		pos;			/* the entry's position in the ring's stream */
	uint32		total;			/* the entry's bytes, header included */
	int64		expires_us;		/* monotonic time when it goes stale */
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
						  uint32 *keylen);
static bool tc_slot_live(const TcCacheArea *area, const TcCacheSlot *slot,
						 int64 now);
static char *tc_ring(TcCacheArea *area);

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

/* The key of a request: who asks, what kind of answer, and its URL. */
static char *
tc_cache_key(const TcOptions *opts, char kind, const char *url, uint32 *keylen)
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

/*
 * tc_cache_get
 *		The data stored for the request, palloc'd in the current context
 *		(with a NUL after it), or NULL.
 */
char *
tc_cache_get(const TcOptions *opts, char kind, const char *url, size_t *len)
{
	LWLock	   *lock;
	TcCacheArea *area = tc_cache_area(&lock);
	char	   *key;
	uint32		keylen;
	uint64		hash;
	int64		now;
	char	   *result = NULL;
	int			i;

	if (area == NULL)
		return NULL;
	key = tc_cache_key(opts, kind, url, &keylen);
	hash = hash_bytes_extended((const unsigned char *) key, keylen, 0);
	now = tc_monotonic_us();

	LWLockAcquire(lock, LW_SHARED);
	for (i = 0; i < TC_CACHE_PROBES; i++)
	{
		TcCacheSlot *slot = &area->slots[(hash + i) & (area->nslots - 1)];
		TcCacheEntry *entry;

		if (slot->hash != hash || !tc_slot_live(area, slot, now))
			continue;
		entry = (TcCacheEntry *) (tc_ring(area) + slot->pos % area->ring_size);
		if (entry->hash != hash || entry->keylen != keylen ||
			memcmp((char *) entry + sizeof(TcCacheEntry), key, keylen) != 0)
			continue;
		/* palloc may ERROR: the abort releases the LWLock */
		result = palloc(entry->datalen + 1);
		memcpy(result, (char *) entry + sizeof(TcCacheEntry) + keylen,
			   entry->datalen);
		result[entry->datalen] = '\0';
		*len = entry->datalen;
		break;
	}
	LWLockRelease(lock);
	pfree(key);
	return result;
}

/*
 * tc_cache_put
 *		Store the data of a complete, successful answer for cache_ttl_ms.
 *		Returns false when it is too large to be stored.
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
	uint64		total;
	uint64		pos;
	int64		now;
	TcCacheSlot *target = NULL;
	TcCacheEntry *entry;
	int			i;

	if (area == NULL)
		return false;
	key = tc_cache_key(opts, kind, url, &keylen);
	total = MAXALIGN(sizeof(TcCacheEntry) + (uint64) keylen + len);
	if (total > area->ring_size / 2)
	{
		pfree(key);
		return false;
	}
	hash = hash_bytes_extended((const unsigned char *) key, keylen, 0);
	now = tc_monotonic_us();

	LWLockAcquire(lock, LW_EXCLUSIVE);

	/* the same key's slot, else a stale one, else the oldest */
	for (i = 0; i < TC_CACHE_PROBES; i++)
	{
		TcCacheSlot *slot = &area->slots[(hash + i) & (area->nslots - 1)];

		if (!tc_slot_live(area, slot, now))
		{
			if (target == NULL || tc_slot_live(area, target, now))
				target = slot;
			continue;
		}
		if (slot->hash == hash)
		{
			entry = (TcCacheEntry *) (tc_ring(area) + slot->pos % area->ring_size);
			if (entry->keylen == keylen &&
				memcmp((char *) entry + sizeof(TcCacheEntry), key, keylen) == 0)
			{
				target = slot;
				break;
			}
		}
		if (target == NULL ||
			(tc_slot_live(area, target, now) && slot->pos < target->pos))
			target = slot;
	}

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
	memcpy((char *) entry + sizeof(TcCacheEntry) + keylen, data, len);

	target->hash = hash;
	target->pos = pos;
	target->total = (uint32) total;
	target->expires_us = now + (int64) opts->cache_ttl_ms * 1000;

	LWLockRelease(lock);
	pfree(key);
	return true;
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
