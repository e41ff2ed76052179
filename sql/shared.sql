--
-- The state shared by every backend: the statistics view, the rate limiter
-- and its errors, the answer cache, idle connections (issue 10).  What needs
-- several sessions, a standby or a restart is in t/012_shared.pl.
--
SELECT standin_reset();

-- The foreign scan's node of a query's plan (the top node or its first
-- child), as JSON, with ANALYZE (timing on: the waits show).
CREATE FUNCTION scan_analyze(query text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
    node jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF, FORMAT JSON) ' || query INTO plan;
    node := plan::jsonb -> 0 -> 'Plan';
    IF node ->> 'Node Type' <> 'Foreign Scan' THEN
        node := node -> 'Plans' -> 0;
    END IF;
    -- 18 writes Actual Rows with two decimals
    RETURN jsonb_set(node, '{Actual Rows}', to_jsonb(round((node ->> 'Actual Rows')::numeric)));
END
$$;
-- The ids of phone numbers from .. to, as an array (a constant to the planner).
CREATE FUNCTION pn_ids(lo int, hi int) RETURNS uuid[] IMMUTABLE
LANGUAGE sql AS $$
    SELECT array_agg(format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid ORDER BY i)
      FROM generate_series(lo, hi) AS i
$$;
-- The view's rows of the suites' key (other suites use other keys too).
CREATE VIEW key_stats AS
  SELECT * FROM topcalls_fdw_stats
   WHERE key_fingerprint = left(encode(sha256('tc_test_key'), 'hex'), 12);
-- The stand-in's counter by name.
CREATE FUNCTION standin_counter(name text) RETURNS bigint
LANGUAGE sql AS $$ SELECT (standin_stats() ->> name)::bigint $$;
-- The connections open to the stand-in, once they are at most n or 5 s
-- have passed (it sees each close a moment after it happens).
CREATE FUNCTION open_connections_within(n int) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 100 LOOP
        EXIT WHEN standin_counter('open_connections') <= n;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN standin_counter('open_connections');
END
$$;

-- version 1.1's objects
SELECT extversion FROM pg_extension WHERE extname = 'topcalls_fdw';
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'topcalls_fdw_stats'::regclass AND attnum > 0
  ORDER BY attnum;

--
-- The view's counters are what the API received.
--
SELECT topcalls_fdw_stats_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (pn_ids(41, 60));
SELECT count(*) FROM topcalls_phone_numbers;
SELECT standin_faults('[{"kind": "lookup", "status": 503, "times": 1}]');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (pn_ids(1, 2));
SELECT s.requests = standin_counter('requests') AS requests_match,
       s.requests, s.retries, s.responses_2xx, s.responses_404, s.responses_4xx,
       s.rate_limited, s.responses_5xx, s.transport_errors,
       s.bytes_received > 20000 AS bytes, s.http_time_ms > 0 AS time,
       s.p50_ms > 0 AND s.p50_ms <= s.p95_ms AND s.p95_ms <= s.p99_ms AS percentiles,
       s.cache_hits, s.cache_misses, s.throttled_ms
  FROM key_stats s WHERE s.server = 'topcalls';
-- the row's identity: the server's name, the key's fingerprint (never the
-- key), and whether the state is shared (with preloading, or the DSM
-- registry of 17+)
SELECT server, database = current_database() AS this_database,
       key_fingerprint = left(encode(sha256('tc_test_key'), 'hex'), 12) AS fingerprint,
       shared = (current_setting('shared_preload_libraries') ~ 'topcalls_fdw'
                 OR current_setting('server_version_num')::int >= 170000) AS shared_as_expected
  FROM key_stats WHERE server = 'topcalls';
SELECT count(*) AS rows_showing_the_key
  FROM topcalls_fdw_stats s WHERE s::text LIKE '%tc_test_key%';
-- the reset
SELECT topcalls_fdw_stats_reset();
SELECT requests, responses_2xx, p50_ms, stats_reset <= clock_timestamp() AS reset_time
  FROM key_stats WHERE server = 'topcalls';
-- reading it writes nothing: it works in a read-only transaction
BEGIN TRANSACTION READ ONLY;
SELECT count(*) >= 1 AS readable FROM topcalls_fdw_stats;
COMMIT;

--
-- Privileges, as pg_stat_statements has them: the rows of servers the role
-- may use; every row with pg_read_all_stats; the resets for superusers.
--
CREATE ROLE regress_tc_reader;
CREATE ROLE regress_tc_allstats IN ROLE pg_read_all_stats;
SET ROLE regress_tc_reader;
SELECT count(*) AS rows_without_usage FROM topcalls_fdw_stats;
SELECT topcalls_fdw_stats_reset();
SELECT topcalls_fdw_cache_reset();
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER topcalls TO regress_tc_reader;
SET ROLE regress_tc_reader;
SELECT DISTINCT server FROM topcalls_fdw_stats;
RESET ROLE;
SET ROLE regress_tc_allstats;
SELECT count(*) >= 1 AS rows_with_pg_read_all_stats FROM topcalls_fdw_stats;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER topcalls FROM regress_tc_reader;

--
-- rate_limit: its options are checked; a turn that would come after
-- statement_timeout is an error at once, naming the limit.
--
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (rate_limit '-1');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (rate_burst '0');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (cache_ttl_ms 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (max_idle_connections '0');
DO $$
BEGIN
    EXECUTE format('CREATE SERVER tc_limited FOREIGN DATA WRAPPER topcalls_fdw'
                   ' OPTIONS (base_url %L, rate_limit %L, rate_burst %L)',
                   current_setting('topcalls_test.api_url'), '1', '1');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER tc_limited OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE limited_numbers (id uuid, number text) SERVER tc_limited;
SELECT standin_reset();
SET statement_timeout = '800ms';
DO $$
BEGIN
    PERFORM * FROM limited_numbers WHERE id = ANY (pn_ids(1, 3));
EXCEPTION WHEN configuration_limit_exceeded THEN
    RAISE NOTICE 'configuration_limit_exceeded: %', SQLERRM;
END
$$;
RESET statement_timeout;
-- the error came before any request was sent (the first had its turn, but
-- went no further than the queue): the API received none, nor does the view
-- count one
SELECT requests FROM key_stats WHERE server = 'tc_limited';
SELECT standin_counter('requests') AS received;
-- without statement_timeout the scan waits for its turns, interruptibly,
-- and EXPLAIN ANALYZE shows the wait
ALTER SERVER tc_limited OPTIONS (SET rate_limit '20', SET rate_burst '2');
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       (s ->> 'TopCalls Rate Limit Wait')::float > 100 AS waited
  FROM scan_analyze($$SELECT * FROM limited_numbers WHERE id = ANY (pn_ids(1, 6))$$) AS s;
SELECT throttled_ms > 100 AS throttled FROM key_stats WHERE server = 'tc_limited';

--
-- A 429 with Retry-After pauses every request of the server and key until
-- then; the retries then go through.  (The API here allows 5 requests a
-- second, 5 at once; the server has no rate_limit of its own.)
--
SELECT standin_reset();
SELECT standin_config('{"rate_limit": 5, "rate_burst": 5}');
SELECT topcalls_fdw_stats_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (pn_ids(1, 10));
SELECT rate_limited >= 1 AS rate_limited, requests = 10 + rate_limited AS each_429_retried,
       responses_2xx, requests = standin_counter('requests') AS requests_match,
       rate_limited = standin_counter('rate_limited') AS rate_limited_match
  FROM key_stats WHERE server = 'topcalls';
SELECT standin_config('{"rate_limit": 0}');

--
-- The cache (cache_ttl_ms): lookups and complete lists are answered from it
-- while fresh, per server and API key.
--
DO $$
BEGIN
    EXECUTE format('CREATE SERVER tc_cached FOREIGN DATA WRAPPER topcalls_fdw'
                   ' OPTIONS (base_url %L, cache_ttl_ms %L)',
                   current_setting('topcalls_test.api_url'), '600000');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER tc_cached OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE cached_numbers (id uuid, number text) SERVER tc_cached;
SELECT topcalls_fdw_cache_reset();
SELECT standin_reset();
-- 50 ids twice: 50 requests
SELECT count(*) FROM cached_numbers WHERE id = ANY (pn_ids(1, 50));
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       s -> 'TopCalls Cache Hits' AS hits, s -> 'TopCalls Cache Misses' AS misses
  FROM scan_analyze($$SELECT * FROM cached_numbers WHERE id = ANY (pn_ids(1, 50))$$) AS s;
SELECT standin_counter('lookups') AS lookups;
SELECT number FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000007';
-- another key has entries of its own: 50 more
CREATE ROLE regress_tc_other;
GRANT USAGE ON FOREIGN SERVER tc_cached TO regress_tc_other;
GRANT SELECT ON cached_numbers TO regress_tc_other;
GRANT EXECUTE ON FUNCTION pn_ids(int, int) TO regress_tc_other;
CREATE USER MAPPING FOR regress_tc_other SERVER tc_cached OPTIONS (api_key 'tc_nocalls_key');
SET ROLE regress_tc_other;
SELECT count(*) FROM cached_numbers WHERE id = ANY (pn_ids(1, 50));
RESET ROLE;
SELECT standin_counter('lookups') AS lookups;
SELECT cache_hits, cache_misses FROM topcalls_fdw_stats
  WHERE server = 'tc_cached' ORDER BY key_fingerprint = left(encode(sha256('tc_test_key'), 'hex'), 12) DESC;
-- a 404 and an error are not cached: asked again, asked again
SELECT topcalls_fdw_cache_reset();
SELECT count(*) FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000999';
SELECT count(*) FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000999';
SELECT standin_faults('[{"kind": "lookup", "status": 400, "times": 1}]');
SELECT number FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000003';
SELECT number FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000003';
SELECT number FROM cached_numbers WHERE id = '00000000-0000-4000-8000-000000000003';
SELECT standin_counter('lookups') AS lookups;
-- topcalls_fdw.use_cache = off reads past it
SET topcalls_fdw.use_cache = off;
SELECT count(*) FROM cached_numbers WHERE id = ANY (pn_ids(1, 5));
RESET topcalls_fdw.use_cache;
SELECT standin_counter('lookups') AS lookups;
-- after the reset: 50 again
SELECT topcalls_fdw_cache_reset();
SELECT count(*) FROM cached_numbers WHERE id = ANY (pn_ids(1, 50));
SELECT standin_counter('lookups') AS lookups;
-- a complete list read, twice: one read; another page size is another
-- request; a LIMIT that stops early stores nothing
SELECT standin_reset();
ALTER SERVER tc_cached OPTIONS (ADD page_size '20');
SELECT count(*), count(DISTINCT id) FROM cached_numbers;
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       s -> 'TopCalls Pages' AS pages, s -> 'TopCalls Cache Hits' AS hits
  FROM scan_analyze('SELECT count(*) FROM cached_numbers') AS s;
SELECT number FROM cached_numbers ORDER BY number DESC LIMIT 2;
SELECT standin_counter('lists') AS lists;
SELECT number FROM cached_numbers LIMIT 1;
SELECT number FROM cached_numbers LIMIT 1;
SELECT standin_counter('lists') AS lists;
-- the cache's rows are the API's: a changed answer shows once the entry is gone
SELECT standin_config('{"count": 45}');
SELECT count(*) FROM cached_numbers;
SELECT topcalls_fdw_cache_reset();
SELECT count(*) FROM cached_numbers;
ALTER SERVER tc_cached OPTIONS (DROP page_size);

--
-- Idle connections: after 200 lookups over 16 connections, a backend keeps
-- at most max_idle_connections (2 by default) open (fewer when it had to
-- close them all: see README).
--
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (pn_ids(1, 200));
SELECT standin_counter('open_connections_peak') >= 8 AS concurrent,
       open_connections_within(2) <= 2 AS within_max_idle;
ALTER SERVER topcalls OPTIONS (ADD max_idle_connections '1');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (pn_ids(1, 100));
SELECT open_connections_within(1) <= 1 AS within_max_idle;
ALTER SERVER topcalls OPTIONS (DROP max_idle_connections);

-- clean up
DROP SERVER tc_limited CASCADE;
DROP OWNED BY regress_tc_other CASCADE;
DROP SERVER tc_cached CASCADE;
DROP ROLE regress_tc_other;
DROP ROLE regress_tc_reader;
DROP ROLE regress_tc_allstats;
DROP VIEW key_stats;
DROP FUNCTION scan_analyze(text);
DROP FUNCTION pn_ids(int, int);
DROP FUNCTION open_connections_within(int);
DROP FUNCTION standin_counter(text);
SELECT standin_reset();
