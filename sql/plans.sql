--
-- The same answer in every plan, and the plan the costs call for.
--
-- Lookups and the list are both offered whenever the table has an id
-- condition, and the costs decide; ids that are not UUIDs match nothing in
-- any plan; an unanalyzed table keeps lookups for a handful of outer rows;
-- ANALYZE of an inheritance tree or a partitioned table samples the
-- TopCalls child too.
--
CREATE FUNCTION pn_id3(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;

-- a text id column holding legacy ids and path tricks: no row and no
-- request for them, whether the plan looks ids up or reads the list
CREATE FOREIGN TABLE pn_text_ids (id text, number text) SERVER topcalls;
CREATE TEMP TABLE crm (crm_id int, pn_id text);
INSERT INTO crm VALUES (1, '00000000-0000-4000-8000-000000000002'),
  (2, 'LEGACY-0042'), (3, '../x'), (4, '00000000-0000-4000-8000-000000000003'),
  (5, NULL), (6, '00000000-0000-4000-8000-00000000000A');
ANALYZE crm;
SELECT standin_reset();
-- a nested loop of lookups
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
SELECT explain_lines($q$SELECT c.crm_id, p.number FROM crm c JOIN pn_text_ids p ON p.id = c.pn_id ORDER BY c.crm_id$q$);
SELECT c.crm_id, p.number FROM crm c JOIN pn_text_ids p ON p.id = c.pn_id ORDER BY c.crm_id;
SELECT standin_requests() ORDER BY 1;
RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material;
-- a hash join over the list: the same rows
SELECT standin_reset();
SET enable_nestloop = off;
SELECT explain_lines($q$SELECT c.crm_id, p.number FROM crm c JOIN pn_text_ids p ON p.id = c.pn_id ORDER BY c.crm_id$q$);
SELECT c.crm_id, p.number FROM crm c JOIN pn_text_ids p ON p.id = c.pn_id ORDER BY c.crm_id;
SELECT standin_requests();
RESET enable_nestloop;
-- constants and arrays: never an error, never sent
SELECT standin_reset();
SELECT * FROM pn_text_ids WHERE id = '../x';
SELECT * FROM pn_text_ids WHERE id = 'LEGACY-0042' AND id = '00000000-0000-4000-8000-000000000002';
SELECT * FROM pn_text_ids WHERE id IN ('LEGACY-0042', '00000000-0000-4000-8000-000000000002', repeat('../', 1000));
SELECT standin_requests();
DROP FOREIGN TABLE pn_text_ids;

-- with an id condition the list is still considered: after ANALYZE of a
-- 2 500-row account, 1 000 ids read the list once instead of 1 000 GETs
SELECT standin_reset();
SELECT standin_config('{"count": 2500}');
ANALYZE topcalls_phone_numbers;
SELECT reltuples FROM pg_class WHERE oid = 'topcalls_phone_numbers'::regclass;
SELECT standin_reset();
SELECT standin_config('{"count": 2500}');
DO $$
DECLARE
  found int;
BEGIN
  EXECUTE (SELECT format('SELECT count(*) FROM topcalls_phone_numbers WHERE id IN (%s)',
                         string_agg(quote_literal(pn_id3(i * 2)), ', '))
             FROM generate_series(1, 1000) i)
    INTO found;
  RAISE NOTICE '% of the 1000 ids found', found;
END $$;
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;
-- ... and ARRAY(SELECT ...) is estimated from the subquery's rows: 1 000
-- there read the list, 3 look up
SELECT explain_lines($q$SELECT count(*) FROM topcalls_phone_numbers
  WHERE id = ANY (ARRAY(SELECT pn_id3(i) FROM generate_series(1, 1000) i))$q$);
CREATE TEMP TABLE three AS SELECT pn_id3(i) AS pid FROM generate_series(1, 3) i;
ANALYZE three;
SELECT explain_lines($q$SELECT * FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pid FROM three))$q$, 'COSTS ON');
SELECT standin_reset();
SELECT count(*) FROM topcalls_phone_numbers WHERE id = ANY (ARRAY(SELECT pid FROM three));
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;

-- a table never analyzed (size unknown): a join from 17 local rows naming 9
-- distinct ids sends 9 lookups, not a read of the whole list
CREATE FOREIGN TABLE fresh_numbers (id uuid, number text) SERVER topcalls;
CREATE TEMP TABLE seventeen AS SELECT i AS call_id, pn_id3(i % 9 + 1) AS pid
  FROM generate_series(1, 17) i;
ANALYZE seventeen;
SELECT explain_lines($q$SELECT s.call_id, f.number FROM seventeen s JOIN fresh_numbers f ON f.id = s.pid$q$);
SELECT standin_reset();
SELECT standin_config('{"count": 20000}');
SELECT count(*), count(DISTINCT f.number) FROM seventeen s JOIN fresh_numbers f ON f.id = s.pid;
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;
DROP FOREIGN TABLE fresh_numbers;

-- ANALYZE of an inheritance tree: the TopCalls child gets its share of the
-- sample (it reports the pages its rows would fill, not one page, which
-- next to a heap child of a thousand pages would get it no sample at all)
CREATE TABLE pn_all (id uuid, status text);
ALTER TABLE pn_all ALTER id SET STATISTICS 1, ALTER status SET STATISTICS 1;
CREATE TABLE pn_local () INHERITS (pn_all);
INSERT INTO pn_local SELECT pn_id3(100000 + i), 'local' FROM generate_series(1, 150000) i;
CREATE FOREIGN TABLE pn_remote () INHERITS (pn_all) SERVER topcalls;
SELECT standin_reset();
SELECT standin_config('{"count": 2000}');
ANALYZE pn_all;
SELECT (s->>'lists')::int > 0 AS remote_child_sampled FROM standin_stats() s;
-- ANALYZE of the child itself records those pages
ANALYZE pn_remote;
SELECT relpages > 1 AS remote_child_has_pages, reltuples FROM pg_class WHERE oid = 'pn_remote'::regclass;
DROP TABLE pn_all CASCADE;
-- ... and of a partitioned table with a TopCalls partition
CREATE TABLE pn_parts (id uuid, status text) PARTITION BY LIST (status);
ALTER TABLE pn_parts ALTER id SET STATISTICS 1, ALTER status SET STATISTICS 1;
CREATE TABLE pn_parts_local PARTITION OF pn_parts FOR VALUES IN ('local');
CREATE FOREIGN TABLE pn_parts_remote PARTITION OF pn_parts
  FOR VALUES IN ('active', 'inactive', 'pending', 'failed', 'deleted') SERVER topcalls;
INSERT INTO pn_parts_local SELECT pn_id3(100000 + i), 'local' FROM generate_series(1, 150000) i;
SELECT standin_reset();
SELECT standin_config('{"count": 2000}');
ANALYZE pn_parts;
SELECT (s->>'lists')::int > 0 AS remote_partition_sampled FROM standin_stats() s;
DROP TABLE pn_parts;

-- the statistics planner.sql left, for the suites that follow
SELECT standin_config('{"count": 5000}');
ANALYZE topcalls_phone_numbers;
SELECT standin_reset();
DROP FUNCTION pn_id3(int);
