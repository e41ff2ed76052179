--
-- Many ids at once, concurrency, connection reuse, joins.
-- Asserted by what the stand-in saw, never by time.
--
CREATE FUNCTION pn_id(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;

-- id = ANY(array): deduplicated, NULLs skipped, 404s give no row
SELECT standin_reset();
SELECT id, number FROM topcalls_phone_numbers
  WHERE id = ANY (ARRAY[pn_id(3), pn_id(1), pn_id(3), NULL, pn_id(2), pn_id(1), pn_id(4040)])
  ORDER BY id;
SELECT * FROM standin_requests() ORDER BY 1;
-- IN (...) is the same
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers
  WHERE id IN ('00000000-0000-4000-8000-000000000005', '00000000-0000-4000-8000-000000000006',
               '00000000-0000-4000-8000-000000000005');
SELECT count(*) AS requests FROM standin_requests();
-- conditions on id combine: only ids meeting all of them are fetched
SELECT standin_reset();
SELECT id FROM topcalls_phone_numbers
  WHERE id = ANY (ARRAY[pn_id(1), pn_id(2), pn_id(3)]) AND id = ANY (ARRAY[pn_id(2), pn_id(3), pn_id(4)])
  ORDER BY id;
SELECT * FROM standin_requests() ORDER BY 1;

-- the requests run concurrently, at most max_concurrency at once
SELECT standin_reset();
SELECT standin_config('{"latency_ms": 200}');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pn_id(i) FROM generate_series(1, 40) i));
SELECT (s->>'requests')::int AS requests, (s->>'in_flight_peak')::int BETWEEN 2 AND 16 AS concurrent
  FROM standin_stats() s;
ALTER SERVER topcalls OPTIONS (ADD max_concurrency '4');
SELECT standin_reset();
SELECT standin_config('{"latency_ms": 200}');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pn_id(i) FROM generate_series(1, 12) i));
SELECT (s->>'requests')::int AS requests, (s->>'in_flight_peak')::int BETWEEN 2 AND 4 AS capped
  FROM standin_stats() s;
ALTER SERVER topcalls OPTIONS (SET max_concurrency '1');
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pn_id(i) FROM generate_series(1, 3) i));
SELECT (s->>'in_flight_peak')::int AS in_flight_peak FROM standin_stats() s;
ALTER SERVER topcalls OPTIONS (DROP max_concurrency);
SELECT standin_reset();

-- rows are right whatever order the answers come in: answers for low ids
-- are delayed, so they finish last
SELECT standin_faults('[{"kind": "lookup", "path_regex": "00000000000[1-3]$", "delay_ms": 300}]');
SELECT id, number FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pn_id(i) FROM generate_series(1, 6) i))
  ORDER BY id;
SELECT standin_faults('[]');

-- more ids than the scan's cache keeps (10 000): it starts afresh between
-- rounds of lookups, and every row still comes back once.  (Against a table
-- the planner thinks small, 10 500 ids would read the list instead: the
-- "rows" option makes it look large enough for lookups.)
SELECT standin_reset();
SELECT standin_config('{"count": 11000}');
ALTER FOREIGN TABLE topcalls_phone_numbers OPTIONS (ADD rows '10000000');
SELECT count(*), count(DISTINCT id), min(number), max(number) FROM topcalls_phone_numbers
  WHERE id = ANY (ARRAY(SELECT pn_id(i) FROM generate_series(1, 10500) i));
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;
ALTER FOREIGN TABLE topcalls_phone_numbers OPTIONS (DROP rows);
SELECT standin_reset();

-- a generic plan with an array parameter: evaluated on every execution
SET plan_cache_mode = force_generic_plan;
PREPARE by_ids(uuid[]) AS SELECT id FROM topcalls_phone_numbers WHERE id = ANY ($1) ORDER BY id;
SELECT standin_reset();
EXECUTE by_ids(ARRAY[pn_id(1), pn_id(2)]);
EXECUTE by_ids(ARRAY[pn_id(3)]);
EXECUTE by_ids(ARRAY[pn_id(4), pn_id(5), pn_id(4)]);
EXECUTE by_ids('{}');
EXECUTE by_ids(NULL);
EXECUTE by_ids(ARRAY[pn_id(6)]);
EXECUTE by_ids(ARRAY[pn_id(7), NULL]);
SELECT * FROM standin_requests() ORDER BY 1;
DEALLOCATE by_ids;
RESET plan_cache_mode;

-- connections are reused across scans and queries
SELECT standin_reset();
DO $$
BEGIN
  FOR i IN 1..100 LOOP
    PERFORM id FROM topcalls_phone_numbers WHERE id = pn_id(i % 50 + 1);
  END LOOP;
END $$;
SELECT (s->>'requests')::int AS requests, (s->>'connections')::int <= 2 AS reused
  FROM standin_stats() s;
-- ... and dropped when the server or the user mapping changes
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = pn_id(1);
SELECT count(*) FROM topcalls_phone_numbers WHERE id = pn_id(2);
SELECT (standin_stats())->'connections' AS connections;
ALTER SERVER topcalls OPTIONS (ADD timeout_ms '20000');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = pn_id(3);
SELECT (standin_stats())->'connections' AS connections;
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_test_key');
SELECT count(*) FROM topcalls_phone_numbers WHERE id = pn_id(4);
SELECT (standin_stats())->'connections' AS connections;
ALTER SERVER topcalls OPTIONS (DROP timeout_ms);

-- ids from a subquery: ARRAY(SELECT ...)
CREATE TEMP TABLE call_log (call_id int, phone_number_id uuid);
INSERT INTO call_log SELECT i, pn_id(i % 7 + 1) FROM generate_series(1, 30) i;
INSERT INTO call_log VALUES (31, pn_id(9999)), (32, NULL);
ANALYZE call_log;
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT phone_number_id FROM call_log));
SELECT count(*) AS requests FROM standin_requests();

-- joins: one GET per distinct outer id, never a list per outer row.
-- The table option "rows" tells the planner the account is large (ANALYZE
-- would too: see planner.sql), so reading the list would cost more.
ALTER FOREIGN TABLE topcalls_phone_numbers OPTIONS (ADD rows '100000');
SELECT explain_lines($q$SELECT c.call_id, p.number FROM call_log c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id
  WHERE c.call_id <= 10 ORDER BY c.call_id$q$);
SELECT standin_reset();
SELECT c.call_id, p.number FROM call_log c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id
  WHERE c.call_id <= 10 ORDER BY c.call_id;
SELECT * FROM standin_requests() ORDER BY 1;
SELECT standin_reset();
SELECT count(*), count(p.id) FROM call_log c LEFT JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id;
SELECT count(*) AS requests, count(DISTINCT r) AS distinct_requests, bool_and(r NOT LIKE '%?%') AS no_list
  FROM standin_requests() r;
-- through an equivalence class
SELECT standin_reset();
SELECT c.call_id, p.number FROM call_log c, topcalls_phone_numbers p, (VALUES (pn_id(2))) v(x)
  WHERE p.id = v.x AND c.phone_number_id = v.x ORDER BY c.call_id;
SELECT * FROM standin_requests();
ALTER FOREIGN TABLE topcalls_phone_numbers OPTIONS (DROP rows);
