--
-- Errors from the API, and answers that are not what they should be.
-- Every failure is an ERROR with an FDW SQLSTATE that names the request.
--
\set VERBOSITY default
ALTER SERVER topcalls OPTIONS (ADD max_retries '0');

-- 401: check the api_key
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_wrong_key');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
-- 403: the key lacks the scope
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_noscope_key');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (SET api_key 'tc_test_key');

-- no user mapping, or one without api_key: an error before any request
SELECT standin_reset();
DROP USER MAPPING FOR CURRENT_USER SERVER topcalls;
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls;
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
ALTER USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (ADD api_key 'tc_test_key');
SELECT (standin_stats())->'requests' AS requests;

-- problem+json errors: title and detail in errdetail
SELECT standin_faults('[{"status": 400, "json": {"status": 400, "title": "Invalid request body", "detail": "limit must be between 1 and 200.", "errors": [{"path": "limit", "message": "too big"}]}}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"status": 500, "json": {"status": 500, "title": "Internal Server Error"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- an empty title, and a proxy that echoes the key: never quoted back
SELECT standin_faults('[{"status": 500, "json": {"title": "", "detail": "Bad key tc_test_key for Bearer tc_test_key"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- 404 on the list is an error, not an empty table
SELECT standin_faults('[{"kind": "list", "status": 404, "json": {"status": 404, "title": "Not Found", "detail": "No such endpoint."}}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
-- a lookup's 404 is "no such row" only when it is the API's own answer: a
-- problem+json object with "status": 404 ...
SELECT standin_faults('[]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000009999';
SELECT standin_faults('[{"kind": "lookup", "status": 404, "json": {"status": 404, "title": "Not Found"}, "content_type": "application/json"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
-- ... any other 404 is an error: a proxy's HTML page, JSON of another
-- shape, an empty body
SELECT standin_faults('[{"kind": "lookup", "status": 404, "body": "<html><body><h1>404 Not Found</h1><p>nginx</p></body></html>"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "lookup", "status": 404, "json": {"error": "not found"}}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "lookup", "status": 404, "body": ""}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- a web framework's own 404 for a path it does not serve has "status" too,
-- but neither the problem+json type nor a title
SELECT standin_faults('[{"kind": "lookup", "status": 404, "json": {"timestamp": "2026-01-01T00:00:00Z", "status": 404, "error": "Not Found", "path": "/v1/phone-numbers/x"}, "content_type": "application/json"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"kind": "lookup", "status": 404, "json": {"status": 404, "title": "Not Found"}, "content_type": "text/html"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
-- ... also in a join, which would otherwise come back silently empty
SELECT standin_faults('[{"kind": "lookup", "status": 404, "body": "<html>404</html>"}]');
SELECT count(*) FROM (VALUES ('00000000-0000-4000-8000-000000000001'::uuid)) v(pid)
  JOIN topcalls_phone_numbers p ON p.id = v.pid;
SELECT standin_faults('[]');
-- a wrong path prefix in base_url: the web server's own 404 is an error,
-- and messages name the path really requested, prefix included
DO $$
BEGIN
    EXECUTE format('CREATE SERVER prefixed FOREIGN DATA WRAPPER topcalls_fdw'
                   ' OPTIONS (base_url %L, max_retries %L)',
                   current_setting('topcalls_test.api_url') || '/api/', '0');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER prefixed OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE prefixed_numbers (id uuid, number text) SERVER prefixed;
SELECT standin_reset();
SELECT * FROM prefixed_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT * FROM prefixed_numbers;
SELECT standin_requests();
EXPLAIN (COSTS OFF) SELECT * FROM prefixed_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
DROP SERVER prefixed CASCADE;
-- a non-JSON error body: the status and a short excerpt
SELECT standin_faults('[{"status": 502, "body": "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"status": 503, "body": ""}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- a redirect is not followed
SELECT standin_faults('[{"redirect": "http://127.0.0.1:1/elsewhere"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE

-- a 200 with malformed JSON, or JSON of the wrong shape
SELECT standin_faults('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\""}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "{\"id\": 1} trailing"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "{\"id\": NaN}"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "{''id'': 1}"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "{\"id\": 1 /* comment */}"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": ""}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "[1, 2, 3]"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "\"just a string\""}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"items\": []}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": {}, \"next_cursor\": null}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": [1], \"next_cursor\": null}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": [], \"next_cursor\": 7}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE

-- numbers are read as the API wrote them: integers beyond 64 bits come out
-- exactly in numeric and text columns, and are bigint's own error there
CREATE FOREIGN TABLE big_numbers (id uuid, n numeric OPTIONS (field 'n'),
  n_text text OPTIONS (field 'n'), n_big bigint OPTIONS (field 'n'),
  f float8 OPTIONS (field 'f')) SERVER topcalls;
SELECT standin_faults('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": 123456789012345678901234567890, \"f\": 1.5e300}"}]');
SELECT n, n_text, f FROM big_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT n_big FROM big_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT standin_faults('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": -9223372036854775809}"}]');
SELECT n, n_text FROM big_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT n_big FROM big_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
-- ... and the extremes of bigint fit
SELECT standin_faults('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"n\": -9223372036854775808}"}]');
SELECT n_big FROM big_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT standin_faults('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"a\": -9223372036854775808, \"b\": 18446744073709551615}"}]');
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
DROP FOREIGN TABLE big_numbers;
-- a list whose next_cursor never changes would never end
SELECT standin_reset();
SELECT standin_faults('[{"kind": "list", "replace_body": "{\"data\": [], \"next_cursor\": \"dGN+b2Zmc2V0PTEwO3Y9MQ==\"}"}]');
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS requests FROM standin_requests();
-- pages that go round in a cycle, A -> B -> A, would never end: any cursor
-- given twice in one scan is an error (statement_timeout only guards the
-- test itself)
SELECT standin_reset();
SELECT standin_faults('[{"kind": "list", "path_regex": "cursor=B$", "status": 200, "json": {"data": [{"id": "00000000-0000-4000-8000-000000000003"}], "next_cursor": "A"}},
                        {"kind": "list", "path_regex": "cursor=A$", "status": 200, "json": {"data": [{"id": "00000000-0000-4000-8000-000000000002"}], "next_cursor": "B"}},
                        {"kind": "list", "status": 200, "json": {"data": [{"id": "00000000-0000-4000-8000-000000000001"}], "next_cursor": "A"}}]');
SET statement_timeout = '10s';
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT standin_requests();
-- a next_cursor of 100 000 bytes is refused, and never quoted whole: the
-- request a message names is clipped
SELECT standin_reset();
SELECT standin_faults(format('[{"kind": "list", "path_regex": "limit=200$", "status": 200, "json": {"data": [], "next_cursor": "%s"}}]', repeat('c', 100000))::jsonb);
DO $$
BEGIN
  PERFORM count(*) FROM topcalls_phone_numbers;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%: message of % characters', SQLSTATE, length(SQLERRM);
END $$;
SELECT standin_faults(format('[{"kind": "list", "path_regex": "limit=200$", "status": 200, "json": {"data": [], "next_cursor": "%s"}}, {"kind": "list", "status": 500}]', repeat('c', 4000))::jsonb);
DO $$
BEGIN
  PERFORM count(*) FROM topcalls_phone_numbers;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%: message of % characters', SQLSTATE, length(SQLERRM);
END $$;
-- the longest next_cursor taken is 4096 bytes, and a longer one is never
-- sent, not even ahead of the page's check (4096 and 4097 bytes)
SELECT standin_reset();
SELECT standin_faults(format('[{"kind": "list", "path_regex": "limit=200$", "status": 200, "json": {"data": [], "next_cursor": "%s"}}, {"kind": "list", "status": 200, "json": {"data": [], "next_cursor": null}}]', repeat('c', 4096))::jsonb);
SELECT count(*) FROM topcalls_phone_numbers;
SELECT length(r) FROM standin_requests() r;
SELECT standin_reset();
SELECT standin_faults(format('[{"kind": "list", "path_regex": "limit=200$", "status": 200, "json": {"data": [], "next_cursor": "%s"}}]', repeat('c', 4097))::jsonb);
SELECT count(*) FROM topcalls_phone_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT length(r) FROM standin_requests() r;
-- a long run of empty pages, each naming a next page, is an error too (the
-- 101st page was asked for on the 100th page's cursor, before that page was
-- found empty)
CREATE SERVER tiny_pages FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (page_size '1');
DO $$
BEGIN
    EXECUTE format('ALTER SERVER tiny_pages OPTIONS (ADD base_url %L)',
                   current_setting('topcalls_test.api_url'));
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER tiny_pages OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE tiny_page_numbers (id uuid) SERVER tiny_pages;
SELECT standin_reset();
SELECT standin_config('{"count": 150}');
SELECT standin_faults('[{"kind": "list", "empty_data": true}]');
SELECT count(*) FROM tiny_page_numbers;
\echo :LAST_ERROR_SQLSTATE
SELECT (standin_stats())->'lists' AS lists;
-- ... while a few empty pages are only odd: the scan goes on to the end
SELECT standin_reset();
SELECT standin_config('{"count": 150}');
SELECT standin_faults('[{"kind": "list", "empty_data": true, "times": 30}]');
SELECT count(*) FROM tiny_page_numbers;
SELECT (standin_stats())->'lists' AS lists;
DROP SERVER tiny_pages CASCADE;
SELECT standin_reset();
-- a long value that does not convert: the message is clipped, the context
-- shows the start of the value
SELECT standin_faults(format('[{"replace_body": "{\"id\": \"%s\"}"}]', repeat('x', 3000))::jsonb);
DO $$
BEGIN
  PERFORM id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'sqlstate %, message of % characters ending in %', SQLSTATE, length(SQLERRM), right(SQLERRM, 5);
END $$;
-- ... and in DETAIL and CONTEXT too: jsonb quotes the bad token in DETAIL
-- and the line in CONTEXT, here 100 000 characters of them
CREATE FOREIGN TABLE pn_doc (id uuid, label jsonb) SERVER topcalls;
SELECT standin_faults(format('[{"replace_body": "{\"id\": \"00000000-0000-4000-8000-000000000001\", \"label\": \"%s\"}"}]', repeat('y', 100000))::jsonb);
DO $$
DECLARE
  msg text;
  detail text;
  context text;
BEGIN
  PERFORM label FROM pn_doc WHERE id = '00000000-0000-4000-8000-000000000001';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                          context = PG_EXCEPTION_CONTEXT;
  RAISE NOTICE 'sqlstate %: message %, detail % characters, longest context line %',
    SQLSTATE, length(msg), length(detail),
    (SELECT max(length(l)) FROM regexp_split_to_table(context, E'\n') l);
  RAISE NOTICE 'context names the column: %',
    context ~ 'column "label" of foreign table "pn_doc", value "yyy';
END $$;
DROP FOREIGN TABLE pn_doc;

-- a failed connection
CREATE SERVER nowhere FOREIGN DATA WRAPPER topcalls_fdw
  OPTIONS (base_url 'http://127.0.0.1:1', max_retries '0', connect_timeout_ms '2000');
CREATE USER MAPPING FOR CURRENT_USER SERVER nowhere OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE nowhere_numbers (id uuid) SERVER nowhere;
\set VERBOSITY terse
SELECT * FROM nowhere_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM nowhere_numbers;
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
DROP SERVER nowhere CASCADE;

-- the session still works, and the key never appeared in a message
SELECT standin_faults('[]');
SELECT id, number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
ALTER SERVER topcalls OPTIONS (DROP max_retries);
