--
-- Without a usable id condition the scan reads the paginated list,
-- one page at a time, following next_cursor until it is null.
--
ALTER SERVER topcalls OPTIONS (ADD page_size '10');
SELECT standin_reset();
SELECT count(*), count(DISTINCT id), min(number), max(number) FROM topcalls_phone_numbers;
-- 50 rows in pages of 10: five requests, the cursors percent-encoded
SELECT * FROM standin_requests();

-- pages are fetched as the scan goes: a LIMIT the FDW sees asks for no page
-- beyond its rows; otherwise the page after the one being read is asked for
-- ahead, one page at most (the 'failed' rows are on page 2, and page 3 was
-- already asked for when the LIMIT had them)
SELECT standin_reset();
SELECT id, number FROM topcalls_phone_numbers ORDER BY id LIMIT 3;
SELECT (standin_stats())->'requests' AS requests;
SELECT standin_reset();
SELECT number FROM topcalls_phone_numbers LIMIT 12;
SELECT * FROM standin_requests();
SELECT standin_reset();
SELECT number FROM topcalls_phone_numbers WHERE status = 'failed' LIMIT 2;
SELECT * FROM standin_requests();

-- a plain LIMIT asks for a page no larger than needed
ALTER SERVER topcalls OPTIONS (SET page_size '200');
SELECT standin_reset();
SELECT id FROM topcalls_phone_numbers LIMIT 5;
SELECT * FROM standin_requests();
-- ... but not when rows are filtered, sorted or grouped before the limit
SELECT standin_reset();
SELECT count(*) FROM (SELECT id FROM topcalls_phone_numbers ORDER BY number DESC LIMIT 5) s;
SELECT count(*) FROM (SELECT status FROM topcalls_phone_numbers GROUP BY status LIMIT 2) s;
SELECT * FROM standin_requests();

-- local conditions are evaluated on every row
SELECT status, count(*) FROM topcalls_phone_numbers GROUP BY status ORDER BY status;
SELECT id, label FROM topcalls_phone_numbers WHERE label LIKE 'Line 1_' ORDER BY id;

-- an empty collection
SELECT standin_config('{"count": 0}');
SELECT count(*) FROM topcalls_phone_numbers;
SELECT standin_config('{"count": 50}');

-- a join with a local table, and a rescan of the list
CREATE TEMP TABLE crm (phone_number_id uuid, customer text);
INSERT INTO crm VALUES ('00000000-0000-4000-8000-000000000005', 'Acme'),
                       ('00000000-0000-4000-8000-000000000006', 'Globex');
SELECT c.customer, p.number, p.status
  FROM crm c JOIN topcalls_phone_numbers p ON p.number = '+1555000000' || right(c.phone_number_id::text, 1)
  ORDER BY 1;

-- memory stays flat: a long list through pages of 200 (checked by the
-- backend's own context sizes in the benchmark; here the rows are right)
SELECT standin_reset();
SELECT standin_config('{"count": 2000}');
SELECT count(*), count(DISTINCT id) FROM topcalls_phone_numbers;
SELECT (standin_stats())->'requests' AS requests;

-- pages in flight: the next page is asked for as soon as its cursor can be
-- read off the end of the page (before the page is parsed), and a list
-- still has one request in flight at a time
SELECT standin_reset();
SELECT standin_config('{"count": 1000, "latency_ms": 20}');
SELECT count(*), count(DISTINCT id) FROM topcalls_phone_numbers;
SELECT (standin_stats())->'lists' AS lists,
       (standin_stats())->'in_flight_peak' AS in_flight_peak;
-- a page that is no JSON after all: its ERROR drops the page asked for on
-- the cursor read off its end, which the API did see
SELECT standin_reset();
SELECT standin_config('{"count": 1000}');
SELECT standin_faults('[{"kind": "list", "path_regex": "limit=200$", "replace_body": "{\"data\": [}, \"next_cursor\": \"Z3Vlc3M=\"}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
SELECT * FROM standin_requests();
SELECT standin_faults('[]');
SELECT count(*) FROM topcalls_phone_numbers;
SELECT standin_config('{"count": 50}');
ALTER SERVER topcalls OPTIONS (DROP page_size);
