--
-- calls: filters sent to the API, time ranges, each call once, details.
--
-- The stand-in serves 60 calls, newest first by created_at, two calls to a
-- second (calls 2k and 2k+1); call i was created 2026-01-01 00:00 + i/2
-- minutes.  Detail-only fields (account_id, external_call_id, completed,
-- metadata) are only in GET /v1/calls/{id}.
--
CREATE SCHEMA tc;
IMPORT FOREIGN SCHEMA topcalls LIMIT TO (calls, call_transcripts, campaigns, carriers)
  FROM SERVER topcalls INTO tc;
SET search_path = tc, public;
SET TimeZone = 'UTC';
CREATE FUNCTION call_id(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT format('c0000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;
CREATE FUNCTION campaign_id(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT format('cb000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;

-- the whole list: every call once, no detail request
SELECT standin_reset();
SELECT count(*), count(DISTINCT id), min(created_at), max(created_at) FROM calls;
SELECT * FROM standin_requests();
-- small pages: calls sharing a second come again at the top of the next
-- page; each is returned once, remembering only the current second's ids
ALTER FOREIGN TABLE calls OPTIONS (ADD rows '60');
CREATE SERVER small FOREIGN DATA WRAPPER topcalls_fdw;
DO $$ BEGIN
  EXECUTE format('ALTER SERVER small OPTIONS (ADD base_url %L, ADD page_size %L)',
                 current_setting('topcalls_test.api_url'), '7');
END $$;
CREATE USER MAPPING FOR CURRENT_USER SERVER small OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE small_calls (id uuid, created_at timestamptz, call_status text)
  SERVER small OPTIONS (resource 'calls');
SELECT standin_reset();
SELECT count(*), count(DISTINCT id) FROM small_calls;
SELECT (standin_stats())->'calls_lists' AS pages;
-- ... and the same when the API does not repeat them (a cursor just before
-- the last row's second)
SELECT standin_config('{"page_repeat": false}');
SELECT count(*), count(DISTINCT id) FROM small_calls;
SELECT standin_reset();

-- call_status = <value> becomes status=<value> for the values the API
-- accepts; the others are checked locally only, never sent
SELECT standin_reset();
SELECT id, call_status FROM calls WHERE call_status = 'busy' ORDER BY id;
SELECT count(*) FROM calls WHERE call_status = 'in-progress';
SELECT count(*) FROM calls WHERE call_status = 'dispatch_timeout';
SELECT * FROM standin_requests();
-- ANY of accepted values: one filtered list per value, read concurrently
SELECT standin_reset();
SELECT call_status, count(*) FROM calls WHERE call_status = ANY ('{busy,failed,no-answer}')
  GROUP BY 1 ORDER BY 1;
SELECT * FROM standin_requests() ORDER BY 1;
-- one value the API refuses: the list is read unfiltered
SELECT standin_reset();
SELECT call_status, count(*) FROM calls WHERE call_status IN ('busy', 'rejected')
  GROUP BY 1 ORDER BY 1;
SELECT * FROM standin_requests();
-- a parameter: checked at run time
SELECT standin_reset();
PREPARE by_status(text) AS SELECT count(*) FROM calls WHERE call_status = $1;
SET plan_cache_mode = force_generic_plan;
EXECUTE by_status('busy');
EXECUTE by_status('in-progress');
EXECUTE by_status(NULL);
RESET plan_cache_mode;
DEALLOCATE by_status;
SELECT * FROM standin_requests();
-- campaign_id, alone, in ANY, combined with call_status; every condition is
-- still checked locally
SELECT standin_reset();
SELECT count(*) FROM calls WHERE campaign_id = campaign_id(2);
SELECT count(*) FROM calls WHERE campaign_id = ANY (ARRAY[campaign_id(1), campaign_id(3), NULL]);
SELECT count(*) FROM calls WHERE campaign_id = campaign_id(1) AND call_status = ANY ('{completed,busy}');
SELECT * FROM standin_requests() ORDER BY 1;
-- conditions that cannot all hold send nothing
SELECT standin_reset();
SELECT count(*) FROM calls WHERE campaign_id = campaign_id(1) AND campaign_id = campaign_id(2);
SELECT count(*) FROM calls WHERE campaign_id = ANY ('{}');
SELECT (standin_stats())->'requests' AS requests;
-- a join from a few campaigns, on an account of many calls: a nested loop
-- of filtered lists, one per campaign, reading only their calls
CREATE TEMP TABLE few_campaigns AS SELECT campaign_id(i) AS cid FROM generate_series(1, 3) i;
ANALYZE few_campaigns;
ALTER FOREIGN TABLE calls OPTIONS (SET rows '100000');
SELECT explain_lines($q$SELECT count(*) FROM few_campaigns f JOIN calls c ON c.campaign_id = f.cid$q$);
SELECT standin_reset();
SELECT f.cid, count(c.id) FROM few_campaigns f JOIN calls c ON c.campaign_id = f.cid
  GROUP BY 1 ORDER BY 1;
SELECT * FROM standin_requests() ORDER BY 1;
-- ... while on an account of 60 calls one read of the list is cheaper
ALTER FOREIGN TABLE calls OPTIONS (SET rows '60');
SELECT explain_lines($q$SELECT count(*) FROM few_campaigns f JOIN calls c ON c.campaign_id = f.cid$q$);
-- the API refuses a filter: the error names it
SELECT standin_faults('[{"kind": "list", "path_regex": "status=busy", "status": 400, "json": {"status": 400, "title": "Invalid request", "detail": "status is not accepted."}}]');
SELECT count(*) FROM calls WHERE call_status = 'busy';
SELECT standin_faults('[]');

-- time ranges on created_at (the list is newest first)
-- >= T: paging stops at the first call older than T (7 pages of 7, not 10)
SELECT standin_reset();
SELECT count(*), min(created_at) FROM small_calls WHERE created_at >= '2026-01-01 00:10:00+00';
SELECT * FROM standin_requests();
-- > T: T itself is out too
SELECT count(*), min(created_at) FROM small_calls WHERE created_at > '2026-01-01 00:10:00+00';
-- < T starts the list at cursor=T; both together read only the range
SELECT standin_reset();
SELECT count(*), max(created_at) FROM small_calls WHERE created_at < '2026-01-01 00:05:00+00';
SELECT count(*) FROM small_calls
  WHERE created_at BETWEEN '2026-01-01 00:10:00+00' AND '2026-01-01 00:12:30+00';
SELECT * FROM standin_requests();
-- a stable expression, evaluated at run time; a parameter; NULL
SELECT standin_reset();
SELECT count(*) FROM calls WHERE created_at >= now() - interval '1 day';
SELECT count(*) FROM calls WHERE created_at >= '2026-01-01 00:29:00+00'::timestamptz + interval '30 seconds';
PREPARE since(timestamptz) AS SELECT count(*) FROM small_calls WHERE created_at >= $1;
SET plan_cache_mode = force_generic_plan;
EXECUTE since('2026-01-01 00:25:00+00');
EXECUTE since(NULL);
RESET plan_cache_mode;
DEALLOCATE since;
SELECT * FROM standin_requests();
-- a range and a filter
SELECT standin_reset();
SELECT count(*) FROM calls WHERE call_status = 'completed' AND created_at >= '2026-01-01 00:20:00+00';
SELECT * FROM standin_requests();
-- EXPLAIN shows what is sent
SELECT explain_lines($q$SELECT id FROM calls WHERE call_status = ANY ('{busy,failed}')
  AND created_at >= now() - interval '1 day' AND created_at < now()$q$, 'COSTS OFF, VERBOSE');

-- the order the time range relies on is checked as rows arrive
SELECT standin_faults('[{"kind": "list", "status": 200, "json": {"data": [
  {"id": "c0000000-0000-4000-8000-000000000002", "created_at": "2026-01-01T00:01:00Z"},
  {"id": "c0000000-0000-4000-8000-000000000009", "created_at": "2026-01-01T00:04:00Z"}], "next_cursor": null}}]');
SELECT count(*) FROM calls WHERE created_at >= '2026-01-01 00:00:00+00';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "list", "status": 200, "json": {"data": [
  {"id": "c0000000-0000-4000-8000-000000000059", "created_at": "2026-01-01T00:29:00Z"}], "next_cursor": null}}]');
SELECT count(*) FROM calls WHERE created_at < '2026-01-01 00:10:00+00';
-- without a time condition too (the repeats are found by the order)
SELECT standin_faults('[{"kind": "list", "status": 200, "json": {"data": [
  {"id": "c0000000-0000-4000-8000-000000000002", "created_at": "2026-01-01T00:01:00Z"},
  {"id": "c0000000-0000-4000-8000-000000000009", "created_at": "2026-01-01T00:04:00Z"}], "next_cursor": null}}]');
SELECT count(*) FROM calls;
-- time_pushdown 'false' turns the reliance off: the whole list, filtered
-- locally, every call still once
ALTER FOREIGN TABLE calls OPTIONS (ADD time_pushdown 'false');
SELECT count(*) FROM calls WHERE created_at >= '2026-01-01 00:00:00+00';
SELECT standin_faults('[]');
SELECT standin_reset();
SELECT count(*) FROM calls WHERE created_at >= '2026-01-01 00:25:00+00';
SELECT * FROM standin_requests();
ALTER FOREIGN TABLE calls OPTIONS (DROP time_pushdown);

-- detail-only columns: fetched, one GET per row and concurrently, only
-- when the query needs them
SELECT standin_reset();
SELECT id, call_status FROM calls WHERE created_at >= '2026-01-01 00:28:00+00' ORDER BY id;
SELECT (s->>'calls_details')::int AS details FROM standin_stats() s;
SELECT id, account_id, external_call_id, completed, metadata FROM calls
  WHERE created_at >= '2026-01-01 00:28:00+00' ORDER BY id;
SELECT (s->>'calls_details')::int AS details FROM standin_stats() s;
-- ... in a condition too, and with a whole-row reference
SELECT count(*) FROM calls WHERE completed AND created_at >= '2026-01-01 00:28:00+00';
SELECT count(*) FROM calls c WHERE row_to_json(c) ->> 'completed' IS NOT NULL
  AND created_at >= '2026-01-01 00:28:00+00';
SELECT (s->>'calls_details')::int AS details FROM standin_stats() s;
SELECT explain_lines($q$SELECT metadata FROM calls WHERE created_at >= '2026-01-01 00:28:00+00'$q$);
SELECT explain_lines($q$SELECT metadata FROM calls WHERE created_at >= '2026-01-01 00:28:00+00'$q$,
  'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF');
-- a lookup reads the detail anyway: no second request
SELECT standin_reset();
SELECT id, metadata, disposition FROM calls WHERE id = call_id(7);
SELECT * FROM standin_requests();
-- a field missing from either endpoint reads as NULL (or from the other)
SELECT standin_config('{"detail_omits": ["disposition", "external_call_id"], "list_omits": ["duration"]}');
SELECT id, disposition, external_call_id, duration FROM calls
  WHERE created_at >= '2026-01-01 00:29:00+00' ORDER BY id;
SELECT id, duration FROM calls WHERE created_at >= '2026-01-01 00:29:00+00' ORDER BY id;
-- a call gone between the list and its detail: the list's fields
SELECT standin_reset();
SELECT standin_faults('[{"kind": "lookup", "path_regex": "000000000059$", "status": 404, "json": {"status": 404, "title": "Not Found"}}]');
SELECT id, account_id, call_status FROM calls WHERE created_at >= '2026-01-01 00:29:00+00' ORDER BY id;
SELECT standin_faults('[]');

-- lookups: by id, ANY, a join, a 404
SELECT standin_reset();
SELECT id, call_status, created_at FROM calls WHERE id = call_id(3);
SELECT count(*) FROM calls WHERE id = ANY (ARRAY[call_id(1), call_id(2), call_id(2), call_id(999)]);
SELECT * FROM standin_requests() ORDER BY 1;

-- only the columns needed are converted: a value that would not convert
-- breaks no query that does not read it
SELECT standin_faults('[{"kind": "list", "status": 200, "json": {"data": [
  {"id": "c0000000-0000-4000-8000-000000000001", "created_at": "2026-01-01T00:00:00Z", "duration": "long"}], "next_cursor": null}}]');
SELECT count(*) FROM calls;
SELECT count(duration) FROM calls;
SELECT standin_faults('[]');

-- a column that is no field of the resource: an error naming the known
-- ones; with a field option it reads what the API sends
CREATE FOREIGN TABLE typo_calls (id uuid, call_statsu text) SERVER topcalls OPTIONS (resource 'calls');
SELECT * FROM typo_calls LIMIT 1;
\echo :LAST_ERROR_SQLSTATE
ALTER FOREIGN TABLE typo_calls ALTER COLUMN call_statsu OPTIONS (ADD field 'call_status');
SELECT call_statsu FROM typo_calls WHERE id = call_id(3);
DROP FOREIGN TABLE typo_calls;

-- a key without calls:read: the hint names the scope
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_nocalls_key');
SELECT count(*) FROM calls;
\echo :LAST_ERROR_SQLSTATE
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_test_key');

-- the planner, after ANALYZE: range estimates from the statistics, and a
-- join of thousands of calls to phone numbers reads each list once
SELECT standin_reset();
SELECT standin_config('{"calls": 3000, "count": 2000}');
ALTER FOREIGN TABLE calls OPTIONS (DROP rows);
ANALYZE calls;
SELECT reltuples FROM pg_class WHERE oid = 'calls'::regclass;
SELECT substring(l FROM 'rows=([0-9]+)') AS estimated_rows
  FROM explain_lines($q$SELECT * FROM calls WHERE created_at >= '2026-01-01 12:00:00+00'$q$, 'COSTS ON') l
  LIMIT 1;
SELECT count(*) AS actual_rows FROM calls WHERE created_at >= '2026-01-01 12:00:00+00';
SELECT explain_lines($q$SELECT count(*) FROM calls c JOIN topcalls_phone_numbers p ON p.number = c.phone_number$q$);
SELECT standin_reset();
SELECT standin_config('{"calls": 3000, "count": 2000}');
SELECT count(*) FROM calls c JOIN topcalls_phone_numbers p ON p.number = c.phone_number;
SELECT (s->>'calls_lists')::int AS call_pages, (s->>'lists')::int AS all_pages,
       (s->>'lookups')::int AS lookups FROM standin_stats() s;
SELECT standin_reset();

DROP SERVER small CASCADE;
