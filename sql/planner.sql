--
-- The planner knows what a request costs: ANALYZE reads the list once for
-- a row count and statistics, and the plan follows from them.
--
SELECT standin_reset();
SELECT standin_config('{"count": 5000}');
-- never counted (13 says 0, 14 and later -1)
SELECT reltuples < 1 AS never_counted FROM pg_class WHERE oid = 'topcalls_phone_numbers'::regclass;
ANALYZE topcalls_phone_numbers;
-- 5000 rows in pages of 200
SELECT (s->>'requests')::int AS requests, (s->>'lists')::int AS lists FROM standin_stats() s;
SELECT reltuples FROM pg_class WHERE oid = 'topcalls_phone_numbers'::regclass;
SELECT attname, n_distinct FROM pg_stats
  WHERE tablename = 'topcalls_phone_numbers' AND attname IN ('id', 'status') ORDER BY 1;

CREATE FUNCTION pn_id2(i int) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid $$;
CREATE TEMP TABLE few_calls AS SELECT i AS call_id, pn_id2(i * 7) AS phone_number_id
  FROM generate_series(1, 5) i;
CREATE TEMP TABLE many_calls AS SELECT i AS call_id, pn_id2(i % 4000 + 1) AS phone_number_id
  FROM generate_series(1, 8000) i;
ANALYZE few_calls, many_calls;

-- a join with 5 local ids: 5 lookups in a nested loop
SELECT explain_lines($q$SELECT c.call_id, p.number FROM few_calls c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id$q$);
SELECT standin_reset();
SELECT standin_config('{"count": 5000}');
SELECT c.call_id, p.number FROM few_calls c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id
  ORDER BY 1;
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;

-- a join with thousands of local ids: the list once, and a hash join
SELECT explain_lines($q$SELECT count(*) FROM many_calls c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id$q$);
SELECT standin_reset();
SELECT standin_config('{"count": 5000}');
SELECT count(*), count(DISTINCT p.id) FROM many_calls c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id;
SELECT (s->>'lookups')::int AS lookups, (s->>'lists')::int AS lists FROM standin_stats() s;

-- the costs are server options: make requests and rows free and the
-- nested loop wins even for thousands of ids
ALTER SERVER topcalls OPTIONS (ADD request_cost '0', ADD row_cost '0');
SELECT explain_lines($q$SELECT count(*) FROM many_calls c JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id$q$);
ALTER SERVER topcalls OPTIONS (DROP request_cost, DROP row_cost);

-- estimates for lookups: one row per id
EXPLAIN SELECT * FROM topcalls_phone_numbers WHERE id = pn_id2(1);
EXPLAIN SELECT * FROM topcalls_phone_numbers WHERE id = ANY (ARRAY[pn_id2(1), pn_id2(2), pn_id2(3)]);

-- before ANALYZE, the table option "rows" gives the size
CREATE FOREIGN TABLE sized_numbers (id uuid, number text) SERVER topcalls OPTIONS (rows '123456');
EXPLAIN SELECT * FROM sized_numbers;
DROP FOREIGN TABLE sized_numbers;

-- every condition is checked on each row read, and its cost counts: 40 ids
-- of a 400-row table cost less read as the list (2 pages) than looked up
-- (3 rounds of 16), until a costly condition is to be checked on the list's
-- 400 rows rather than on the 40 looked up
CREATE FOREIGN TABLE sized_numbers (id uuid, number text) SERVER topcalls OPTIONS (rows '400');
CREATE FUNCTION costly_check(t text) RETURNS boolean LANGUAGE plpgsql STABLE COST 100000
  AS $$BEGIN RETURN t IS NOT NULL; END$$;
SELECT explain_lines($q$SELECT id FROM sized_numbers
  WHERE id = ANY (ARRAY(SELECT pn_id2(i) FROM generate_series(1, 40) AS i))$q$);
SELECT explain_lines($q$SELECT id FROM sized_numbers
  WHERE id = ANY (ARRAY(SELECT pn_id2(i) FROM generate_series(1, 40) AS i))
    AND costly_check(number)$q$);
DROP FUNCTION costly_check(text);
DROP FOREIGN TABLE sized_numbers;

SELECT standin_reset();
