--
-- Faults of the API and of the network, through the stand-in's fault rules:
-- retries and their limits, Retry-After, timeouts, statement_timeout, size
-- limits, broken transfers.  Every case checks the outcome (and, where it
-- matters, how many requests the stand-in saw), then that the session still
-- works.  Nothing here depends on how fast the machine is: waits are only
-- bounded from below, and every timeout has a wide margin.
--
\set VERBOSITY default
SELECT standin_reset();

-- The scan node of EXPLAIN ANALYZE, as JSON, for its TopCalls counters.
CREATE FUNCTION explain_scan(query text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF, FORMAT JSON) ' || query INTO plan;
    -- 18 writes Actual Rows with two decimals
    RETURN jsonb_set(plan::jsonb -> 0 -> 'Plan', '{Actual Rows}',
                     to_jsonb(round((plan::jsonb -> 0 -> 'Plan' ->> 'Actual Rows')::numeric)));
END
$$;
-- Requests the stand-in received since the last reset.
CREATE FUNCTION standin_count() RETURNS int
LANGUAGE sql AS $$ SELECT (standin_stats() ->> 'requests')::int $$;
-- A normal lookup: "the session still works".
CREATE FUNCTION still_works() RETURNS text
LANGUAGE sql AS $$
    SELECT number FROM topcalls_phone_numbers
     WHERE id = '00000000-0000-4000-8000-000000000001'
$$;

--
-- Transient answers are retried, and the retry's answer is used.
--
-- 429 once, then the normal answer: two requests, one retry
SELECT standin_faults('[{"status": 429, "times": 1}]');
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       s -> 'TopCalls Retries' AS retries
  FROM explain_scan($$SELECT * FROM topcalls_phone_numbers
                      WHERE id = '00000000-0000-4000-8000-000000000001'$$) AS s;
SELECT * FROM standin_requests();
-- 503 once: the same
SELECT standin_reset();
SELECT standin_faults('[{"status": 503, "times": 1}]');
SELECT id, number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000002';
SELECT standin_count() AS requests;
-- 504 twice, then the answer: three requests
SELECT standin_reset();
SELECT standin_faults('[{"status": 504, "times": 2}]');
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       s -> 'TopCalls Retries' AS retries
  FROM explain_scan($$SELECT * FROM topcalls_phone_numbers
                      WHERE id = '00000000-0000-4000-8000-000000000003'$$) AS s;
SELECT standin_count() AS requests;
-- the list is retried the same way, page by page
SELECT standin_reset();
ALTER SERVER topcalls OPTIONS (ADD page_size '20');
SELECT standin_faults('[{"kind": "list", "path_regex": "cursor=", "status": 502, "times": 1}]');
SELECT s -> 'TopCalls Requests' AS requests, s -> 'TopCalls Pages' AS pages,
       s -> 'TopCalls Retries' AS retries
  FROM (SELECT explain_scan('SELECT count(*) FROM topcalls_phone_numbers') -> 'Plans' -> 0) AS x(s);
SELECT count(*), count(DISTINCT id) FROM topcalls_phone_numbers;
ALTER SERVER topcalls OPTIONS (DROP page_size);

-- 502 forever: max_retries + 1 attempts, and the error says so
SELECT standin_reset();
ALTER SERVER topcalls OPTIONS (ADD max_retries '2');
SELECT standin_faults('[{"status": 502}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
-- max_retries 0: one attempt, and no "after N attempts"
ALTER SERVER topcalls OPTIONS (SET max_retries '0');
SELECT standin_reset();
SELECT standin_faults('[{"status": 503}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests;
ALTER SERVER topcalls OPTIONS (DROP max_retries);
SELECT standin_faults('[]');
SELECT still_works();

--
-- Other error answers are final: one request each (max_retries is 3).
--
SELECT standin_reset();
SELECT standin_faults('[{"status": 400, "json": {"status": 400, "title": "Invalid request"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests_after_400;
SELECT standin_faults('[{"status": 500}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests_after_500;
SELECT standin_faults('[{"kind": "list", "status": 404}]');
SELECT count(*) FROM topcalls_phone_numbers;
SELECT standin_count() AS requests_after_404_list;
SELECT standin_faults('[]');
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_wrong_key');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests_after_401;
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_noscope_key');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests_after_403;
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_test_key');
-- a 404 to a lookup is "no such row", not retried either
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000009999';
SELECT standin_count() AS requests_after_404_lookup;
SELECT still_works();

--
-- Retry-After, in seconds or as an HTTP date.
--
-- Retry-After: 1 is waited for: the scan spent about a second waiting
-- (without the header the backoff would be 100 ms at most)
SELECT standin_reset();
SELECT standin_faults('[{"status": 429, "times": 1, "headers": {"Retry-After": "1"}}]');
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Retries' AS retries,
       (s ->> 'TopCalls HTTP Wait')::float8 >= 900 AS waited_1s
  FROM explain_scan($$SELECT * FROM topcalls_phone_numbers
                      WHERE id = '00000000-0000-4000-8000-000000000001'$$) AS s;
-- a date in the past means "now"
SELECT standin_reset();
SELECT standin_faults('[{"status": 503, "times": 1, "headers": {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests;

-- A Retry-After beyond the remaining statement_timeout is not waited for:
-- the 503 is the answer at once (SQLSTATE HV000), not a cancel (57014).
-- Had the header been ignored (or the date not understood), the retry
-- would have succeeded.
SET statement_timeout = '20s';
SELECT standin_reset();
SELECT standin_faults('[{"status": 503, "times": 1, "headers": {"Retry-After": "30"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
SELECT standin_reset();
SELECT standin_faults(jsonb_build_array(jsonb_build_object(
    'status', 429, 'times', 1,
    'headers', jsonb_build_object('Retry-After',
        to_char((clock_timestamp() + interval '40 seconds') AT TIME ZONE 'UTC',
                'Dy, DD Mon YYYY HH24:MI:SS "GMT"')))));
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
RESET statement_timeout;
-- without statement_timeout, a Retry-After over a minute is not waited for
SELECT standin_reset();
SELECT standin_faults('[{"status": 503, "times": 1, "headers": {"Retry-After": "3600"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_count() AS requests;
SELECT still_works();

--
-- Timeouts.
--
-- timeout_ms cuts a slow answer; a timeout is not retried
SELECT standin_reset();
ALTER SERVER topcalls OPTIONS (ADD timeout_ms '1000');
SELECT standin_faults('[{"delay_ms": 5000, "times": 1}]');
\set VERBOSITY terse
-- (terse: the detail gives the milliseconds measured)
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
SELECT still_works();
-- an answer that starts at once but trickles is cut well before timeout_ms
-- (4 s here) by the low-speed guard: 1 s at under 1024 bytes/s
ALTER SERVER topcalls OPTIONS (SET timeout_ms '4000');
SELECT standin_reset();
SELECT standin_faults('[{"trickle_bytes_per_sec": 50}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
-- a slow start is no trickle: an answer 1.2 s late is fine with timeout_ms 4 s
-- (the guard's window is 1 s, but it starts with the answer's first byte)
SELECT standin_faults('[{"delay_ms": 1200, "times": 1}]');
SELECT still_works();
ALTER SERVER topcalls OPTIONS (DROP timeout_ms);
-- statement_timeout cancels a query waiting on the API
SELECT standin_faults('[{"delay_ms": 5000, "times": 1}]');
SET statement_timeout = '300ms';
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT still_works();
-- ... and one sleeping before a retry.  A Retry-After that outlasts
-- statement_timeout is not waited for (see above), so the DO block lifts the
-- setting after the statement's timer was armed with 300 ms: the FDW then
-- sleeps for the 10 s asked, and the timer interrupts the sleep.
SELECT standin_faults('[{"status": 503, "times": 1, "headers": {"Retry-After": "10"}}]');
SET statement_timeout = '300ms';
DO $$
BEGIN
    PERFORM set_config('statement_timeout', '0', true);
    PERFORM * FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
END
$$;
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT standin_faults('[]');
SELECT still_works();

--
-- Bodies too large, counted after decompression.
--
ALTER SERVER topcalls OPTIONS (ADD max_response_bytes '65536');
SELECT standin_reset();
SELECT standin_faults('[{"body_bytes": 100000}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- exactly the limit is fine: the list answer {"id": "xxx..."} gets as far
-- as the check of its shape
SELECT standin_faults('[{"kind": "list", "body_bytes": 65536}]');
SELECT count(*) FROM topcalls_phone_numbers;
-- a gzip bomb: 16 MB inflated from a few kB
SELECT standin_faults('[{"gzip_bomb": 16000000}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
ALTER SERVER topcalls OPTIONS (DROP max_response_bytes);
-- the default limit is 16 MiB
SELECT standin_faults('[{"kind": "list", "gzip_bomb": 20000000}]');
SELECT count(*) FROM topcalls_phone_numbers;
-- too large is not retried: one request each
SELECT standin_count() AS requests;
SELECT standin_faults('[]');
SELECT still_works();

--
-- Broken transfers are transient: retried, and reported after the last try.
-- (ALTER SERVER drops the idle connections, so each case starts on a new
-- one and the request counts do not depend on connection reuse.)
--
ALTER SERVER topcalls OPTIONS (ADD max_retries '1');
-- the body is cut short of its Content-Length
SELECT standin_reset();
SELECT standin_faults('[{"truncate": 100}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
SELECT standin_faults('[{"truncate": 100, "times": 1}]');
SELECT still_works();
-- the connection is closed without an answer
ALTER SERVER topcalls OPTIONS (SET max_retries '2');
SELECT standin_reset();
SELECT standin_faults('[{"close": true}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_count() AS requests;
SELECT standin_reset();
SELECT standin_faults('[{"close": true, "times": 1}]');
SELECT still_works();
SELECT standin_count() AS requests;
-- the answer ends early because the server lies about its length
SELECT standin_faults('[{"headers": {"Content-Length": "4"}, "times": 1}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
ALTER SERVER topcalls OPTIONS (DROP max_retries);
SELECT still_works();

--
-- Concurrent lookups (id = ANY): some answers fail and are retried while the
-- others go on; every row arrives once.
--
SELECT standin_reset();
SELECT standin_faults('[
  {"path_regex": "0002$", "status": 503, "times": 1},
  {"path_regex": "0005$", "status": 429, "times": 2},
  {"path_regex": "0007$", "truncate": 10, "times": 1},
  {"path_regex": "0008$", "delay_ms": 200, "times": 1}]');
SELECT s -> 'Actual Rows' AS rows, s -> 'TopCalls Requests' AS requests,
       s -> 'TopCalls Retries' AS retries
  FROM explain_scan($$SELECT * FROM topcalls_phone_numbers WHERE id = ANY ('{
    00000000-0000-4000-8000-000000000001, 00000000-0000-4000-8000-000000000002,
    00000000-0000-4000-8000-000000000003, 00000000-0000-4000-8000-000000000004,
    00000000-0000-4000-8000-000000000005, 00000000-0000-4000-8000-000000000006,
    00000000-0000-4000-8000-000000000007, 00000000-0000-4000-8000-000000000008,
    00000000-0000-4000-8000-000000000009, 00000000-0000-4000-8000-000000000010}')$$) AS s;
SELECT r, count(*) FROM standin_requests() AS r GROUP BY r HAVING count(*) > 1 ORDER BY r;
-- the same, with the rows
SELECT standin_faults('[
  {"path_regex": "0002$", "status": 503, "times": 1},
  {"path_regex": "0005$", "status": 429, "times": 2}]');
SELECT id, number FROM topcalls_phone_numbers WHERE id = ANY ('{
    00000000-0000-4000-8000-000000000001, 00000000-0000-4000-8000-000000000002,
    00000000-0000-4000-8000-000000000005, 00000000-0000-4000-8000-000000000006}')
  ORDER BY id;
-- one of them fails for good: the query fails, naming it
SELECT standin_faults('[{"path_regex": "0003$", "status": 502}]');
SELECT id, number FROM topcalls_phone_numbers WHERE id = ANY ('{
    00000000-0000-4000-8000-000000000001, 00000000-0000-4000-8000-000000000002,
    00000000-0000-4000-8000-000000000003, 00000000-0000-4000-8000-000000000004}')
  ORDER BY id;
SELECT standin_faults('[]');
SELECT still_works();

--
-- An error inside a subtransaction (here a PL/pgSQL exception block) leaves
-- nothing behind either.
--
SELECT standin_faults('[{"status": 500, "times": 1}]');
DO $$
BEGIN
    PERFORM * FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
EXCEPTION WHEN fdw_error THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
SELECT still_works();

-- back to normal
SELECT srvoptions = ARRAY['base_url=' || current_setting('topcalls_test.api_url')] AS options_restored
  FROM pg_foreign_server WHERE srvname = 'topcalls';
DROP FUNCTION explain_scan(text);
DROP FUNCTION standin_count();
DROP FUNCTION still_works();
SELECT standin_reset();
