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
-- VERBOSE shows what would be sent, as postgres_fdw shows its Remote SQL:
-- the id expressions (a parameter of a generic plan, an outer column of a
-- nested loop), and a list's page size
PREPARE by_id(uuid) AS SELECT number FROM topcalls_phone_numbers WHERE id = $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF, VERBOSE) EXECUTE by_id('00000000-0000-4000-8000-000000000001');
RESET plan_cache_mode;
DEALLOCATE by_id;
SELECT explain_lines($q$SELECT v.k, p.number
  FROM (VALUES (1, '00000000-0000-4000-8000-000000000001'::uuid),
               (2, '00000000-0000-4000-8000-000000000002'::uuid)) v(k, pid),
       LATERAL (SELECT number FROM topcalls_phone_numbers p WHERE p.id = v.pid) p$q$, 'COSTS OFF, VERBOSE');
EXPLAIN (COSTS OFF, VERBOSE) SELECT number FROM topcalls_phone_numbers LIMIT 3;
-- FORMAT JSON: the plan node's own keys (the others differ between versions)
CREATE FUNCTION explain_json_keys(query text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  plan json;
BEGIN
  EXECUTE 'EXPLAIN (COSTS OFF, FORMAT JSON) ' || query INTO plan;
  RETURN (SELECT jsonb_object_agg(key, value) FROM jsonb_each(plan::jsonb -> 0 -> 'Plan')
           WHERE key LIKE 'TopCalls%' OR key IN ('Node Type', 'Relation Name', 'Filter'));
END $$;
SELECT jsonb_pretty(explain_json_keys($q$SELECT * FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001'$q$));
DROP FUNCTION explain_json_keys(text);
-- even without a user mapping
DROP USER MAPPING FOR CURRENT_USER SERVER topcalls;
EXPLAIN (COSTS OFF) SELECT * FROM topcalls_phone_numbers;
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (api_key 'tc_test_key');
SELECT (standin_stats())->'requests' AS requests;

-- EXPLAIN ANALYZE shows what the scan did (the key never shows)
SELECT explain_lines($q$  SELECT * FROM topcalls_phone_numbers WHERE id = ANY ('{00000000-0000-4000-8000-000000000001,
    00000000-0000-4000-8000-000000000002,00000000-0000-4000-8000-000000000999}')$q$, 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF');
ALTER SERVER topcalls OPTIONS (ADD page_size '20');
SELECT explain_lines($q$  SELECT count(*) FROM topcalls_phone_numbers$q$, 'ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, BUFFERS OFF');
ALTER SERVER topcalls OPTIONS (DROP page_size);
