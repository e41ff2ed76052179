/*-------------------------------------------------------------------------
 *
 * stats.c
 *		  The SQL functions behind the view topcalls_fdw_stats, and the
 *		  resets of the statistics and of the cache.
 *
 * The numbers live in memory (shared.c), never in a table, so the view
 * reads the same in a read-only transaction and on a hot standby, and
 * nothing is written while querying.  Who sees what, as
 * pg_stat_statements decides: every role the rows of the servers of this
 * database it has USAGE on; members of pg_read_all_stats (and superusers)
 * every row.  The resets are revoked from PUBLIC by the install script, so
 * they are for superusers and the roles they grant them to.
 *
 * What this file must not do: show the API key (only the fingerprint, the
 * start of its SHA-256), or change any counter but through the resets.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_foreign_server.h"
#include "commands/dbcommands.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "topcalls_fdw.h"

PG_FUNCTION_INFO_V1(topcalls_fdw_stats);
PG_FUNCTION_INFO_V1(topcalls_fdw_stats_reset);
PG_FUNCTION_INFO_V1(topcalls_fdw_cache_reset);

/* The view's columns, in order (topcalls_fdw--1.0--1.1.sql). */
enum
{
	TC_STATS_SERVER,
	TC_STATS_KEY_FINGERPRINT,
	TC_STATS_DATABASE,
	TC_STATS_SHARED,
	TC_STATS_REQUESTS,
	TC_STATS_RETRIES,
	TC_STATS_RESPONSES_2XX,
	TC_STATS_RESPONSES_404,
	TC_STATS_RESPONSES_4XX,
	TC_STATS_RATE_LIMITED,
	TC_STATS_RESPONSES_5XX,
	TC_STATS_RESPONSES_OTHER,
	TC_STATS_TRANSPORT_ERRORS,
	TC_STATS_BYTES_RECEIVED,
	TC_STATS_HTTP_TIME_MS,
	TC_STATS_THROTTLED_MS,
	TC_STATS_CACHE_HITS,
	TC_STATS_CACHE_MISSES,
	TC_STATS_P50_MS,
	TC_STATS_P95_MS,
	TC_STATS_P99_MS,
	TC_STATS_STATS_RESET,
	TC_STATS_NCOLUMNS
};

/* A percentile, rounded to hundredths of a millisecond; NULL: no answers. */
static void
tc_put_percentile(const TcServerStats *s, double fraction, Datum *value,
				  bool *isnull)
{
	double		ms = tc_latency_percentile(s, fraction);

	if (isnan(ms))
		*isnull = true;
	else
		*value = Float8GetDatum(rint(ms * 100) / 100);
}

/*
 * topcalls_fdw_stats
 *		One row per foreign server and API key that sent requests (or asked
 *		the cache) since the server started, as the caller may see them.
 */
Datum
topcalls_fdw_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = tc_materialized_srf(fcinfo);
	bool		see_all = has_privs_of_role(GetUserId(), TC_ROLE_READ_ALL_STATS);
	List	   *entries = tc_shared_snapshot();
	ListCell   *lc;

	foreach(lc, entries)
	{
		TcServerStats *s = (TcServerStats *) lfirst(lc);
		Datum		values[TC_STATS_NCOLUMNS];
		bool		nulls[TC_STATS_NCOLUMNS];
		const char *servername = s->servername;
		char	   *dbname;

		if (s->dbid == MyDatabaseId)
		{
			ForeignServer *server = GetForeignServerExtended(s->serverid,
															 FSV_MISSING_OK);

			/*
			 * A dropped server's row is left out: nobody can tell it from a
			 * new server of the same name.
			 */
			if (server == NULL)
				continue;
			servername = server->servername;
			if (!see_all && !tc_server_usage_allowed(s->serverid))
				continue;
		}
		else if (!see_all)
			continue;

		memset(nulls, 0, sizeof(nulls));
		values[TC_STATS_SERVER] = CStringGetDatum(servername);
		values[TC_STATS_SERVER] = DirectFunctionCall1(namein, values[TC_STATS_SERVER]);
		if (s->key_fingerprint[0] != '\0')
			values[TC_STATS_KEY_FINGERPRINT] = CStringGetTextDatum(s->key_fingerprint);
		else
			nulls[TC_STATS_KEY_FINGERPRINT] = true;
		/* a dropped database's rows, like a dropped server's, are left out */
		dbname = get_database_name(s->dbid);
		if (dbname == NULL)
			continue;
		values[TC_STATS_DATABASE] = DirectFunctionCall1(namein, CStringGetDatum(dbname));
		values[TC_STATS_SHARED] = BoolGetDatum(s->shared);
		values[TC_STATS_REQUESTS] = Int64GetDatum(s->requests);
		values[TC_STATS_RETRIES] = Int64GetDatum(s->retries);
		values[TC_STATS_RESPONSES_2XX] = Int64GetDatum(s->responses_2xx);
		values[TC_STATS_RESPONSES_404] = Int64GetDatum(s->responses_404);
		values[TC_STATS_RESPONSES_4XX] = Int64GetDatum(s->responses_4xx);
		values[TC_STATS_RATE_LIMITED] = Int64GetDatum(s->rate_limited);
		values[TC_STATS_RESPONSES_5XX] = Int64GetDatum(s->responses_5xx);
		values[TC_STATS_RESPONSES_OTHER] = Int64GetDatum(s->responses_other);
		values[TC_STATS_TRANSPORT_ERRORS] = Int64GetDatum(s->transport_errors);
		values[TC_STATS_BYTES_RECEIVED] = Int64GetDatum(s->bytes_received);
		values[TC_STATS_HTTP_TIME_MS] = Float8GetDatum(rint(s->http_time_ms * 1000) / 1000);
		values[TC_STATS_THROTTLED_MS] = Float8GetDatum(rint(s->throttled_ms * 1000) / 1000);
		values[TC_STATS_CACHE_HITS] = Int64GetDatum(s->cache_hits);
		values[TC_STATS_CACHE_MISSES] = Int64GetDatum(s->cache_misses);
		tc_put_percentile(s, 0.50, &values[TC_STATS_P50_MS], &nulls[TC_STATS_P50_MS]);
		tc_put_percentile(s, 0.95, &values[TC_STATS_P95_MS], &nulls[TC_STATS_P95_MS]);
		tc_put_percentile(s, 0.99, &values[TC_STATS_P99_MS], &nulls[TC_STATS_P99_MS]);
		values[TC_STATS_STATS_RESET] = TimestampTzGetDatum(s->stats_reset);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * topcalls_fdw_stats_reset
 *		Zero every counter (of every database: the statistics are the
 *		server's, as pg_stat_statements_reset's are), and forget the table
 *		sizes learned from list reads.
 */
Datum
topcalls_fdw_stats_reset(PG_FUNCTION_ARGS)
{
	tc_shared_reset_stats();
	PG_RETURN_VOID();
}

/*
 * topcalls_fdw_cache_reset
 *		Empty the cache of answers.
 */
Datum
topcalls_fdw_cache_reset(PG_FUNCTION_ARGS)
{
	tc_cache_reset();
	PG_RETURN_VOID();
}
