/* topcalls_fdw--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION topcalls_fdw UPDATE TO '1.1'" to load this file. \quit

-- The statistics of each foreign server and API key, kept in memory (never
-- in a table: they read the same in read-only transactions and on a
-- standby).  The function shows each role only the servers it may use,
-- unless it has the privileges of pg_read_all_stats.  PARALLEL RESTRICTED:
-- without shared memory the numbers are the backend's own, not a worker's.
CREATE FUNCTION topcalls_fdw_stats(
    OUT server name,
    OUT key_fingerprint text,
    OUT database name,
    OUT shared boolean,
    OUT requests bigint,
    OUT retries bigint,
    OUT responses_2xx bigint,
    OUT responses_404 bigint,
    OUT responses_4xx bigint,
    OUT rate_limited bigint,
    OUT responses_5xx bigint,
    OUT responses_other bigint,
    OUT transport_errors bigint,
    OUT bytes_received bigint,
    OUT http_time_ms double precision,
    OUT throttled_ms double precision,
    OUT cache_hits bigint,
    OUT cache_misses bigint,
    OUT p50_ms double precision,
    OUT p95_ms double precision,
    OUT p99_ms double precision,
    OUT stats_reset timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'topcalls_fdw_stats'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW topcalls_fdw_stats AS
  SELECT * FROM topcalls_fdw_stats();

GRANT SELECT ON topcalls_fdw_stats TO PUBLIC;

-- Zero the statistics (and forget the table sizes learned from lists).
CREATE FUNCTION topcalls_fdw_stats_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'topcalls_fdw_stats_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- Empty the cache of API answers.
CREATE FUNCTION topcalls_fdw_cache_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'topcalls_fdw_cache_reset'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

-- For superusers, and the roles they grant them to.
REVOKE ALL ON FUNCTION topcalls_fdw_stats_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION topcalls_fdw_cache_reset() FROM PUBLIC;
