--
-- Scans run again and again: rescans, cursors, savepoints, nesting.
--
-- A list scan under a correlated subquery reads the list once and replays
-- it; cursors (held or not) and savepoints around a failing lookup leave the
-- session working; a TopCalls scan inside a function called per row, and
-- inside a domain check run while another scan converts its answer, works.
--
CREATE TEMP TABLE statuses (s text);
INSERT INTO statuses VALUES ('active'), ('inactive'), ('pending'), ('failed'), ('deleted'), ('archived');

-- one list read for six outer rows: the rescans replay it
SELECT standin_reset();
SELECT s, (SELECT count(*) FROM topcalls_phone_numbers p WHERE p.status = s) AS n
  FROM statuses ORDER BY s;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;
SELECT explain_lines($q$SELECT s, (SELECT count(*) FROM topcalls_phone_numbers p WHERE p.status = s) AS n
  FROM statuses$q$, 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF');

-- a scan stopped early (LIMIT 1) is replayed, then goes on from the page
-- where it stopped: every page is read once, however many outer rows
CREATE SERVER small_pages FOREIGN DATA WRAPPER topcalls_fdw;
DO $$
BEGIN
    EXECUTE format('ALTER SERVER small_pages OPTIONS (ADD base_url %L, ADD page_size %L)',
                   current_setting('topcalls_test.api_url'), '10');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER small_pages OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE small_page_numbers (id uuid, number text, status text) SERVER small_pages;
SELECT standin_reset();
SELECT s, (SELECT p.number FROM small_page_numbers p WHERE p.status = s LIMIT 1) AS first
  FROM statuses ORDER BY s;
SELECT standin_requests();

-- a cursor: FETCH in steps, the page after the one being read asked for
-- ahead (one at most); SCROLL goes backwards
SELECT standin_reset();
BEGIN;
DECLARE c CURSOR FOR SELECT id, number FROM small_page_numbers;
FETCH 3 FROM c;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;
FETCH 10 FROM c;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;
CLOSE c;
DECLARE sc SCROLL CURSOR FOR SELECT id FROM small_page_numbers;
FETCH 12 FROM sc;
FETCH BACKWARD 2 FROM sc;
FETCH FIRST FROM sc;
COMMIT;
-- the page asked for ahead belongs to the cursor, not to a savepoint: one
-- released after the FETCH that asked for it, then another rolled back
-- (as psql's ON_ERROR_ROLLBACK does around each statement), leave it be
SELECT standin_reset();
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM small_page_numbers;
SAVEPOINT a;
FETCH 8 FROM c;
RELEASE a;
SAVEPOINT b;
SELECT 1/0;
ROLLBACK TO b;
FETCH 12 FROM c;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;
COMMIT;
-- a page asked for ahead and left waiting for half of timeout_ms or more is
-- asked for again (libcurl's timeout counts from the request, and would cut
-- it): the rows are right, and the API saw the page twice
ALTER SERVER small_pages OPTIONS (ADD timeout_ms '1000');
SELECT standin_reset();
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM small_page_numbers;
FETCH 8 FROM c;
SELECT pg_sleep(0.6);
FETCH 12 FROM c;
COMMIT;
SELECT standin_requests();
ALTER SERVER small_pages OPTIONS (DROP timeout_ms);
-- WITH HOLD: read to the end at COMMIT, fetched from afterwards
SELECT standin_reset();
BEGIN;
DECLARE hc CURSOR WITH HOLD FOR SELECT id, number FROM small_page_numbers ORDER BY id;
FETCH 2 FROM hc;
COMMIT;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;
FETCH 2 FROM hc;
FETCH LAST FROM hc;
CLOSE hc;
SELECT (s->>'lists')::int AS lists FROM standin_stats() s;

-- a failing lookup inside a savepoint: ROLLBACK TO, and the transaction
-- goes on with lookups and list scans
BEGIN;
SELECT number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SAVEPOINT before_fault;
SELECT standin_faults('[{"kind": "lookup", "status": 500, "times": 10}]');
SELECT number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000002';
ROLLBACK TO SAVEPOINT before_fault;
SELECT standin_faults('[]');
SELECT number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000003';
SAVEPOINT before_cancel;
SELECT standin_faults('[{"kind": "list", "delay_ms": 5000, "times": 1}]');
SET LOCAL statement_timeout = '200ms';
SELECT count(*) FROM topcalls_phone_numbers;
ROLLBACK TO SAVEPOINT before_cancel;
SELECT count(*) FROM topcalls_phone_numbers;
COMMIT;

-- a TopCalls scan in a function called for each row of another one
CREATE FUNCTION pn_number_of(pid uuid) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT number FROM topcalls_phone_numbers WHERE id = pid);
END $$;
SELECT standin_reset();
SELECT id, pn_number_of(id) = number AS same FROM small_page_numbers ORDER BY id LIMIT 5;
-- ... and in a domain check, which runs while the outer scan converts a
-- list page, inside its HTTP run: the runs nest.  (An id column of a domain
-- type is not looked up by id: the outer scan reads the list, and each of
-- its 50 rows looks its id up once.)
CREATE FUNCTION pn_known(pid uuid) RETURNS boolean LANGUAGE sql STABLE
  AS $$ SELECT EXISTS (SELECT 1 FROM topcalls_phone_numbers WHERE id = pid) $$;
CREATE DOMAIN known_pn AS uuid CHECK (pn_known(VALUE));
CREATE FOREIGN TABLE pn_checked (id known_pn, number text) SERVER topcalls;
SELECT standin_reset();
SELECT id, number FROM pn_checked
  WHERE id IN ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002')
  ORDER BY id;
SELECT count(*) AS requests, count(DISTINCT r) AS distinct_requests,
       count(*) FILTER (WHERE r LIKE '%?limit=%') AS lists
  FROM standin_requests() r;
SELECT count(*) FROM pn_checked;
-- a check that fails inside the nested run is the outer scan's error
SELECT standin_faults('[{"kind": "lookup", "path_regex": "000000000007$", "status": 404, "json": {"status": 404, "title": "Not Found"}}]');
SELECT count(id) FROM pn_checked;
-- (count(*) needs no column: nothing is converted, and no check runs)
SELECT count(*) FROM pn_checked;
SELECT standin_faults('[]');
DROP FOREIGN TABLE pn_checked;
DROP DOMAIN known_pn;
DROP FUNCTION pn_known(uuid), pn_number_of(uuid);
DROP SERVER small_pages CASCADE;
