--
-- EXPLAIN shows the request; plain EXPLAIN contacts nothing.
--
SELECT standin_reset();
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers;
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers LIMIT 7;
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers WHERE status = 'active';
EXPLAIN (COSTS OFF, VERBOSE) SELECT id, number FROM topcalls_phone_numbers
  WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000002}');
EXPLAIN (COSTS OFF, FORMAT JSON) SELECT * FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
-- even without a user mapping
DROP USER MAPPING FOR CURRENT_USER SERVER topcalls;
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers;
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (api_key 'tc_test_key');
SELECT (standin_stats())->'requests' AS requests;

-- EXPLAIN ANALYZE shows what the scan did (the key never shows)
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT * FROM topcalls_phone_numbers WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,
    00000000-0000-4000-8000-000000000002,00000000-0000-4000-8000-000000000999}');
ALTER SERVER topcalls OPTIONS (ADD page_size '20');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*) FROM topcalls_phone_numbers;
ALTER SERVER topcalls OPTIONS (DROP page_size);
