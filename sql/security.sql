--
-- Network safety and secrets: TLS verification and a private CA, the API key
-- kept out of EXPLAIN, messages and other users' sight, bad keys refused
-- before any request.  (The loopback-only rule for http://, redirects,
-- non-UUID ids and missing mappings are in options, errors and lookup.)
--
\set VERBOSITY default
SELECT standin_reset();

-- Run a query, catch its error, and show the SQLSTATE, the message, and
-- whether the detail matches a pattern (the detail itself comes from
-- libcurl and OpenSSL, whose wording varies between versions).
CREATE FUNCTION try(query text, detail_pattern text DEFAULT NULL,
                    OUT state text, OUT message text, OUT detail_matches boolean)
LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE query;
    state := '00000';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            d = PG_EXCEPTION_DETAIL;
    detail_matches := d ~* detail_pattern;
END
$$;

--
-- TLS: the peer is always verified.
--
DO $$
BEGIN
    EXECUTE format('CREATE SERVER tls FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url %L)',
                   current_setting('topcalls_test.tls_url'));
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER tls OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE tls_numbers (id uuid, number text) SERVER tls;
-- the stand-in's self-signed certificate is not in the system's CA bundle:
-- "unable to establish connection" (HV00N), and no retry
SELECT * FROM try($$SELECT * FROM tls_numbers WHERE id = '00000000-0000-4000-8000-000000000001'$$,
                  'certificate');
SELECT * FROM try('SELECT count(*) FROM tls_numbers', 'certificate');
-- naming the system bundle explicitly changes nothing
ALTER SERVER tls OPTIONS (ADD ca_file '/etc/ssl/certs/ca-certificates.crt');
SELECT * FROM try($$SELECT * FROM tls_numbers WHERE id = '00000000-0000-4000-8000-000000000001'$$,
                  'certificate');
-- a ca_file that does not exist is a connection error, not a silent fallback
ALTER SERVER tls OPTIONS (SET ca_file '/nonexistent/ca.pem');
SELECT * FROM try($$SELECT * FROM tls_numbers WHERE id = '00000000-0000-4000-8000-000000000001'$$,
                  'certificate|/nonexistent/ca\.pem');
-- with the certificate as ca_file (a private CA), it works
DO $$
BEGIN
    EXECUTE format('ALTER SERVER tls OPTIONS (SET ca_file %L)',
                   current_setting('topcalls_test.ca_file'));
END
$$;
SELECT * FROM tls_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT count(*) FROM tls_numbers;
-- (they all went to the TLS stand-in: the plain one saw none)
SELECT (standin_stats() ->> 'requests')::int AS plain_requests;
-- https to a server that speaks plain http: a TLS failure, HV00N
DO $$
BEGIN
    EXECUTE format('ALTER SERVER tls OPTIONS (SET base_url %L)',
                   replace(current_setting('topcalls_test.api_url'), 'http://', 'https://'));
END
$$;
SELECT state, message FROM try($$SELECT * FROM tls_numbers WHERE id = '00000000-0000-4000-8000-000000000001'$$);
SELECT (standin_stats() ->> 'requests')::int AS requests_seen;
DROP SERVER tls CASCADE;

--
-- The key is not part of any EXPLAIN output, in any format.
--
CREATE FUNCTION explain_mentions(query text, needle text)
RETURNS TABLE (explain_format text, mentioned boolean)
LANGUAGE plpgsql AS $$
DECLARE
    f text;
    line text;
BEGIN
    FOREACH f IN ARRAY ARRAY['TEXT', 'JSON', 'XML', 'YAML'] LOOP
        explain_format := f;
        mentioned := false;
        FOR line IN EXECUTE format('EXPLAIN (ANALYZE, VERBOSE, SETTINGS, FORMAT %s) %s', f, query) LOOP
            mentioned := mentioned OR strpos(line, needle) > 0;
        END LOOP;
        RETURN NEXT;
    END LOOP;
END
$$;
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM topcalls_phone_numbers
  WHERE id = '00000000-0000-4000-8000-000000000001';
SELECT * FROM explain_mentions($$SELECT * FROM topcalls_phone_numbers
                                 WHERE id = '00000000-0000-4000-8000-000000000001'$$, 'tc_test_key');
SELECT * FROM explain_mentions('SELECT * FROM topcalls_phone_numbers LIMIT 3', 'tc_test_key');
-- (the check itself works: the request's path is there)
SELECT bool_and(mentioned) AS path_found
  FROM explain_mentions('SELECT * FROM topcalls_phone_numbers LIMIT 3', '/v1/phone-numbers');
-- nor in the request line the API receives (it travels in a header)
SELECT count(*) AS lines_with_key FROM standin_requests() AS r WHERE strpos(r, 'tc_test_key') > 0;

--
-- The key lives in the user mapping, which only its user (and superusers)
-- can read, even with USAGE on the server.
--
CREATE ROLE regress_tc_alice;
CREATE ROLE regress_tc_bob;
GRANT USAGE ON FOREIGN SERVER topcalls TO regress_tc_alice, regress_tc_bob;
GRANT SELECT ON topcalls_phone_numbers TO regress_tc_alice, regress_tc_bob;
CREATE USER MAPPING FOR regress_tc_alice SERVER topcalls OPTIONS (api_key 'tc_alice_secret');
SET ROLE regress_tc_bob;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'topcalls' ORDER BY usename;
SELECT umoptions FROM pg_user_mapping;
-- bob has no mapping: an error before any request, naming no key
RESET ROLE;
SELECT standin_reset();
SET ROLE regress_tc_bob;
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
RESET ROLE;
SELECT (standin_stats() ->> 'requests')::int AS requests;
SET ROLE regress_tc_alice;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'topcalls' ORDER BY usename;
-- alice's key is refused by the API: the error does not quote it
SELECT id FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
-- once the API takes it, her scans work, and EXPLAIN ANALYZE does not show it
RESET ROLE;
SELECT standin_config('{"api_key": "tc_alice_secret"}');
SET ROLE regress_tc_alice;
SELECT number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000002';
SELECT * FROM explain_mentions($$SELECT * FROM topcalls_phone_numbers
                                 WHERE id = '00000000-0000-4000-8000-000000000002'$$, 'tc_alice_secret');
SELECT * FROM explain_mentions('SELECT * FROM topcalls_phone_numbers LIMIT 3', 'tc_alice_secret');
-- alice cannot change or drop someone else's mapping
ALTER USER MAPPING FOR postgres SERVER topcalls OPTIONS (SET api_key 'stolen');
DROP USER MAPPING FOR postgres SERVER topcalls;
RESET ROLE;

-- A key with a line break would split the Authorization header: refused
-- when the mapping is created or altered, without quoting it (http.c
-- refuses such a key again before any request).
ALTER USER MAPPING FOR regress_tc_alice SERVER topcalls
  OPTIONS (SET api_key E'tc_alice_secret\r\nX-Injected: 1');
ALTER USER MAPPING FOR regress_tc_alice SERVER topcalls
  OPTIONS (SET api_key E'tc_alice\tsecret');
SELECT umoptions FROM pg_user_mappings WHERE usename = 'regress_tc_alice' AND srvname = 'topcalls';
SELECT standin_reset();

DROP USER MAPPING FOR regress_tc_alice SERVER topcalls;

-- A key shared through a PUBLIC mapping is used by every role with USAGE on
-- the server, but shown only to the server's owner (and superusers).
CREATE SERVER public_mapped FOREIGN DATA WRAPPER topcalls_fdw;
GRANT USAGE ON FOREIGN SERVER public_mapped TO regress_tc_bob;
CREATE USER MAPPING FOR PUBLIC SERVER public_mapped OPTIONS (api_key 'tc_shared_key');
SET ROLE regress_tc_bob;
SELECT usename, umoptions FROM pg_user_mappings WHERE srvname = 'public_mapped';
RESET ROLE;
DROP SERVER public_mapped CASCADE;

REVOKE ALL ON topcalls_phone_numbers FROM regress_tc_alice, regress_tc_bob;
REVOKE ALL ON FOREIGN SERVER topcalls FROM regress_tc_alice, regress_tc_bob;
DROP ROLE regress_tc_alice;
DROP ROLE regress_tc_bob;

-- the session's own mapping still works
SELECT number FROM topcalls_phone_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
DROP FUNCTION explain_mentions(text, text);
DROP FUNCTION try(text, text);
SELECT standin_reset();
