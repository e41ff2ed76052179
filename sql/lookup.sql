--
-- WHERE id = ... sends exactly one GET /v1/phone-numbers/{id}.
--
SELECT standin_reset();
-- a constant
SELECT id, number, source, status, label
  FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000003';
SELECT * FROM standin_requests();
-- the constant on the left
SELECT id FROM topcalls_phone_numbers WHERE '00000000-0000-4000-8000-000000000010'::uuid = id;
-- a 404 gives no row
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000009999';
SELECT * FROM standin_requests();
SELECT (standin_stats())->'not_found' AS not_found;

-- id = NULL and ids that cannot match send nothing
SELECT standin_reset();
SELECT id FROM topcalls_phone_numbers WHERE id = NULL;
SELECT id FROM topcalls_phone_numbers WHERE id = NULL::uuid;
SELECT id FROM topcalls_phone_numbers
  WHERE id = '00000000-0000-4000-8000-000000000001' AND id = '00000000-0000-4000-8000-000000000002';
SELECT id FROM topcalls_phone_numbers
  WHERE id = ANY (ARRAY[NULL, NULL]::uuid[]);
SELECT (standin_stats())->'requests' AS requests;

-- the other conditions are checked locally, on the looked-up row
SELECT id FROM topcalls_phone_numbers
  WHERE id = '00000000-0000-4000-8000-000000000003' AND status = 'active';
SELECT id, status FROM topcalls_phone_numbers
  WHERE id = '00000000-0000-4000-8000-000000000003' AND status = 'pending';
-- an OR of conditions cannot be looked up: the list is read
SELECT standin_reset();
SELECT id FROM topcalls_phone_numbers
  WHERE id = '00000000-0000-4000-8000-000000000003' OR number = '+15550000004' ORDER BY id;
SELECT * FROM standin_requests();

-- a parameter, in a prepared statement with a generic plan, on every execution
SELECT standin_reset();
SET plan_cache_mode = force_generic_plan;
PREPARE by_id(uuid) AS SELECT id, number FROM topcalls_phone_numbers WHERE id = $1;
EXECUTE by_id('00000000-0000-4000-8000-000000000001');
EXECUTE by_id('00000000-0000-4000-8000-000000000002');
EXECUTE by_id('00000000-0000-4000-8000-000000000003');
EXECUTE by_id('00000000-0000-4000-8000-000000000004');
EXECUTE by_id('00000000-0000-4000-8000-000000000005');
EXECUTE by_id('00000000-0000-4000-8000-000000000006');
EXECUTE by_id(NULL);
EXECUTE by_id('00000000-0000-4000-8000-000000000404');
SELECT * FROM standin_requests();
DEALLOCATE by_id;
RESET plan_cache_mode;

-- an outer reference: one lookup per distinct outer row
CREATE TEMP TABLE call_log (call_id int, phone_number_id uuid);
INSERT INTO call_log VALUES
  (1, '00000000-0000-4000-8000-000000000001'),
  (2, '00000000-0000-4000-8000-000000000002'),
  (3, '00000000-0000-4000-8000-000000000001'),
  (4, '00000000-0000-4000-8000-000000000777'),
  (5, NULL);
SELECT standin_reset();
SELECT c.call_id, (SELECT p.number FROM topcalls_phone_numbers p WHERE p.id = c.phone_number_id)
  FROM call_log c ORDER BY c.call_id;
SELECT * FROM standin_requests();
-- LATERAL, a join the planner runs as a nested loop over the local rows
ANALYZE call_log;
SELECT standin_reset();
SELECT c.call_id, p.number FROM call_log c,
  LATERAL (SELECT number FROM topcalls_phone_numbers p WHERE p.id = c.phone_number_id) p
  ORDER BY c.call_id;
SELECT * FROM standin_requests() ORDER BY 1;

-- a text id column: ids are validated before they go into a URL, and one
-- that is not a UUID names no object: no row, no request, no error
CREATE FOREIGN TABLE phone_numbers_text_id (id text, number text) SERVER topcalls;
SELECT standin_reset();
SELECT * FROM phone_numbers_text_id WHERE id = '00000000-0000-4000-8000-000000000002';
-- upper case is normalized before it goes into the URL (and 404s here)
SELECT * FROM phone_numbers_text_id WHERE id = '00000000-0000-4000-8000-00000000000A';
SELECT * FROM phone_numbers_text_id WHERE id = '../x';
-- a long one too
SELECT * FROM phone_numbers_text_id WHERE id = repeat('../', 1000);
SELECT * FROM phone_numbers_text_id WHERE id = '00000000-0000-4000-8000-00000000000g';
SELECT * FROM phone_numbers_text_id WHERE id = ANY ('{00000000-0000-4000-8000-000000000002,../../admin}');
SELECT * FROM standin_requests();
DROP FOREIGN TABLE phone_numbers_text_id;
