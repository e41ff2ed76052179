/*-------------------------------------------------------------------------
 *
 * compat.h
 *		  Differences between the PostgreSQL versions topcalls_fdw supports.
 *
 * Every #if on PG_VERSION_NUM in the extension lives here, and nowhere
 * else: the other files call the names defined below, which mean the same
 * thing on every supported version.  What this file must not do: hold any
 * logic of the extension's own, or include libcurl.
 *
 * Supported: PostgreSQL 13 to 18.  Each branch below names the release that
 * introduced the change, read from that release's headers.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPCALLS_FDW_COMPAT_H
#define TOPCALLS_FDW_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "topcalls_fdw needs PostgreSQL 13 or later"
#endif
#if PG_VERSION_NUM >= 190000
#error "topcalls_fdw has not been checked against PostgreSQL 19 or later"
#endif

#include "catalog/pg_authid.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/sampling.h"

/*
 * EXPLAIN's property functions and ExplainState: 18 moved them out of
 * commands/explain.h.
 */
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#else
#include "commands/explain.h"
#endif

/* pgstat_report_wait_start and the wait event classes: 14 split them out. */
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"
#endif

/* The backend's random numbers: pg_prng came in 15. */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define tc_random_double()		pg_prng_double(&pg_global_prng_state)
#else
#define tc_random_double()		((double) random() / ((double) PG_INT32_MAX + 1))
#endif

/*
 * pg_attribute_noreturn() (after a declaration) gave way to pg_noreturn
 * (before it) in 18; the GCC attribute works in front of a declaration too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The module's magic block: 18 can record the name and version, shown in
 * pg_get_loaded_modules().
 */
#ifdef PG_MODULE_MAGIC_EXT
#define TC_MODULE_MAGIC		PG_MODULE_MAGIC_EXT(.name = "topcalls_fdw", .version = TC_VERSION)
#else
#define TC_MODULE_MAGIC		PG_MODULE_MAGIC
#endif

/* pull_varnos gained a PlannerInfo argument in 14. */
#if PG_VERSION_NUM >= 140000
#define tc_pull_varnos(root, node)	pull_varnos((root), (node))
#else
#define tc_pull_varnos(root, node)	pull_varnos(node)
#endif

/*
 * String keys of a dynahash table: 14 requires HASH_STRINGS, 13 assumed
 * strings when neither HASH_BLOBS nor a hash function was given.
 */
#if PG_VERSION_NUM >= 140000
#define TC_HASH_STRINGS			HASH_STRINGS
#else
#define TC_HASH_STRINGS			0
#endif

/* The predefined role allowed to read server files: renamed in 14. */
#if PG_VERSION_NUM >= 140000
#define TC_ROLE_READ_SERVER_FILES	ROLE_PG_READ_SERVER_FILES
#else
#define TC_ROLE_READ_SERVER_FILES	DEFAULT_ROLE_READ_SERVER_FILES
#endif

/*
 * create_foreignscan_path: 17 added fdw_restrictinfo (NIL for a base
 * relation), 18 added disabled_nodes (0: the path is not disabled).
 */
#if PG_VERSION_NUM >= 180000
#define tc_create_foreignscan_path(root, rel, rows, startup, total, required_outer, fdw_private) \
	create_foreignscan_path((root), (rel), NULL, (rows), 0, (startup), (total), \
							NIL, (required_outer), NULL, NIL, (fdw_private))
#elif PG_VERSION_NUM >= 170000
#define tc_create_foreignscan_path(root, rel, rows, startup, total, required_outer, fdw_private) \
	create_foreignscan_path((root), (rel), NULL, (rows), (startup), (total), \
							NIL, (required_outer), NULL, NIL, (fdw_private))
#else
#define tc_create_foreignscan_path(root, rel, rows, startup, total, required_outer, fdw_private) \
	create_foreignscan_path((root), (rel), NULL, (rows), (startup), (total), \
							NIL, (required_outer), NULL, (fdw_private))
#endif

/*
 * The function behind date(timestamptz): 14 named fmgroids.h's macros after
 * the SQL name and arguments, 13 after the C function.
 */
#if PG_VERSION_NUM >= 140000
#define TC_F_DATE_FROM_TIMESTAMPTZ	F_DATE_TIMESTAMPTZ
#else
#define TC_F_DATE_FROM_TIMESTAMPTZ	F_TIMESTAMPTZ_DATE
#endif
/* Both names exist in every version, for different functions: be sure. */
StaticAssertDecl(TC_F_DATE_FROM_TIMESTAMPTZ == 1178,
				 "date(timestamptz) is pg_proc OID 1178");

/* vacuum_delay_point learned whether it runs for ANALYZE in 18. */
#if PG_VERSION_NUM >= 180000
#define tc_analyze_delay_point()	vacuum_delay_point(true)
#else
#define tc_analyze_delay_point()	vacuum_delay_point()
#endif

/* ANALYZE's reservoir sampler: its random state became a pg_prng_state in 15. */
#if PG_VERSION_NUM >= 150000
#define tc_reservoir_random_fract(rstate)	sampler_random_fract(&(rstate)->randstate)
#else
#define tc_reservoir_random_fract(rstate)	sampler_random_fract((rstate)->randstate)
#endif

/*
 * The role whose user mapping a scan uses: 16 put it into the plan
 * (ForeignScan.checkAsUser) and moved it out of the range table entry into
 * RTEPermissionInfo; before, the executor read the range table entry's
 * checkAsUser.  (RelOptInfo.userid exists in every supported version, set
 * from the entry before 16; the planner reads that in the older way too, to
 * keep the pair alike.)  InvalidOid means "the current user".
 */
#if PG_VERSION_NUM >= 160000
#define tc_planner_rel_userid(root, baserel)	((baserel)->userid)
#define tc_plan_userid(fsplan, estate)			((fsplan)->checkAsUser)
#else
#define tc_planner_rel_userid(root, baserel) \
	(planner_rt_fetch((baserel)->relid, (root))->checkAsUser)
#define tc_plan_userid(fsplan, estate) \
	(exec_rt_fetch((fsplan)->scan.scanrelid, (estate))->checkAsUser)
#endif

/*
 * Shared memory.  15 added shmem_request_hook, the one place where 15+
 * allows RequestAddinShmemSpace; before, _PG_init asks directly.  17 added
 * the DSM registry, which lets a library that was not preloaded still get
 * a segment that every backend finds by name.
 */
#if PG_VERSION_NUM >= 150000
#define TC_HAVE_SHMEM_REQUEST_HOOK	1
#endif
#if PG_VERSION_NUM >= 170000
#define TC_HAVE_DSM_REGISTRY		1
#include "storage/dsm_registry.h"
#endif

/*
 * SHA-256 of a buffer into out[32], for the API key's fingerprint: 14 put
 * the hash functions behind pg_cryptohash; 13 has the plain sha2.h calls.
 * Returns false if the hash could not be computed (out of memory, say).
 */
#if PG_VERSION_NUM >= 140000
#include "common/cryptohash.h"
#include "common/sha2.h"
static inline bool
tc_sha256(const void *data, size_t len, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_cryptohash_init(ctx) == 0 &&
		pg_cryptohash_update(ctx, (const uint8 *) data, len) == 0 &&
		pg_cryptohash_final(ctx, out, PG_SHA256_DIGEST_LENGTH) == 0;
	pg_cryptohash_free(ctx);
	return ok;
}
#else
#include "common/sha2.h"
static inline bool
tc_sha256(const void *data, size_t len, uint8 *out)
{
	pg_sha256_ctx ctx;

	pg_sha256_init(&ctx);
	pg_sha256_update(&ctx, (const uint8 *) data, len);
	pg_sha256_final(&ctx, out);
	return true;
}
#endif

/* The predefined role allowed to read every statistic: renamed in 14. */
#if PG_VERSION_NUM >= 140000
#define TC_ROLE_READ_ALL_STATS		ROLE_PG_READ_ALL_STATS
#else
#define TC_ROLE_READ_ALL_STATS		DEFAULT_ROLE_READ_ALL_STATS
#endif

/* Has the current user USAGE on a foreign server?  16 unified the calls. */
#if PG_VERSION_NUM >= 160000
#define tc_server_usage_allowed(serverid) \
	(object_aclcheck(ForeignServerRelationId, (serverid), GetUserId(), ACL_USAGE) == ACLCHECK_OK)
#else
#define tc_server_usage_allowed(serverid) \
	(pg_foreign_server_aclcheck((serverid), GetUserId(), ACL_USAGE) == ACLCHECK_OK)
#endif

/*
 * A set-returning function's result as a tuplestore: 15.1 has
 * InitMaterializedSRF (15.0 called it SetSingleFuncCall); before, each
 * function set it up itself.  Sets
 * rsinfo->setResult and setDesc; returns the ReturnSetInfo.
 */
#if PG_VERSION_NUM >= 150001
#include "funcapi.h"
static inline ReturnSetInfo *
tc_materialized_srf(FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, 0);
	return (ReturnSetInfo *) fcinfo->resultinfo;
}
#else
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"
static inline ReturnSetInfo *
tc_materialized_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	MemoryContextSwitchTo(old);
	return rsinfo;
}
#endif

#endif							/* TOPCALLS_FDW_COMPAT_H */
