--
-- setup: the first regression test.  Every later test uses what it makes:
-- the extension, SQL helpers that drive the stand-in API, and the server,
-- user mapping and foreign table.
--
-- make installcheck passes the stand-in's URLs as the settings
-- topcalls_test.api_url, topcalls_test.tls_url and topcalls_test.ca_file
-- (from TC_API_URL, TC_TLS_URL, TC_CA_FILE; see the Makefile), so no port or
-- path appears here or in the expected output.
--

-- The Makefile's --load-extension may have created it already; hide the
-- "already exists" notice so the output is the same either way.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS topcalls_fdw;
RESET client_min_messages;

--
-- standin(action, body): call the stand-in's admin API, return its JSON.
-- Without a body, GET for the endpoints that have one (stats, requests,
-- health, and the current config, faults and chaos); POST otherwise.
--
-- curl runs through COPY ... FROM PROGRAM into a per-session temp table.
-- CSV format with a quote and a delimiter that never occur in JSON keeps
-- every line intact (text format would eat backslashes and split on tabs),
-- and the bigserial column keeps the lines in the order curl wrote them.
-- curl appends the HTTP status as a last line of its own, so that an error
-- answer is reported without the URL (and its port) in the message.
--
CREATE FUNCTION public.standin(action text, body text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    url    text := rtrim(current_setting('topcalls_test.api_url'), '/')
                   || '/_admin/' || action;
    is_get boolean := body IS NULL
                      AND action IN ('stats', 'requests', 'health',
                                     'config', 'faults', 'chaos');
    cmd    text;
    status text;
    answer text;
    detail text;
BEGIN
    IF action IS NULL OR action !~ '^[a-z_]+$' THEN
        RAISE EXCEPTION 'standin: bad action %', coalesce(quote_literal(action), 'NULL');
    END IF;

    -- Shell words in single quotes; a ' inside becomes '\''.
    cmd := 'curl -sS --max-time 60 -w ''\n%{http_code}''';
    IF NOT is_get THEN
        cmd := cmd || ' -X POST -H ''Content-Type: application/json'' --data-binary '''
               || replace(coalesce(body, ''), '''', '''\''''') || '''';
    END IF;
    cmd := cmd || ' ''' || replace(url, '''', '''\''''') || '''';

    IF to_regclass('pg_temp.standin_output') IS NULL THEN
        CREATE TEMP TABLE standin_output (n bigserial, line text);
    ELSE
        DELETE FROM pg_temp.standin_output;
    END IF;

    BEGIN
        EXECUTE format('COPY pg_temp.standin_output (line) FROM PROGRAM %L'
                       ' WITH (FORMAT csv, QUOTE %L, DELIMITER %L, ENCODING %L)',
                       cmd, E'\x01', E'\x02', 'UTF8');
    EXCEPTION WHEN external_routine_exception THEN
        -- curl itself failed (no answer at all); its message is in the server log.
        GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'standin(%): the stand-in API did not answer', action
            USING DETAIL = detail;
    END;

    -- In CSV, an empty line reads as NULL.
    SELECT o.line INTO status
      FROM pg_temp.standin_output o ORDER BY o.n DESC LIMIT 1;
    SELECT string_agg(coalesce(o.line, ''), E'\n' ORDER BY o.n) INTO answer
      FROM pg_temp.standin_output o
     WHERE o.n < (SELECT max(n) FROM pg_temp.standin_output);

    IF status IS NULL OR status !~ '^2[0-9][0-9]$' THEN
        RAISE EXCEPTION 'standin(%): HTTP %', action, coalesce(status, '?')
            USING DETAIL = coalesce(left(answer, 2000), '');
    END IF;
    IF answer IS NULL OR btrim(answer, E' \n\r\t') = '' THEN
        RETURN NULL;
    END IF;
    RETURN answer::jsonb;
END
$fn$;

-- The stand-in's counters, and the extension's: its statistics and the
-- table sizes learned from complete list reads (so that each test plans as
-- if no list had been read before it).
CREATE FUNCTION public.standin_reset() RETURNS void
LANGUAGE sql AS $$
    SELECT public.standin('reset', '{}');
    SELECT topcalls_fdw_stats_reset();
$$;

CREATE FUNCTION public.standin_stats() RETURNS jsonb
LANGUAGE sql AS $$ SELECT public.standin('stats') $$;

-- The requests the stand-in received, in arrival order, one line each.
CREATE FUNCTION public.standin_requests() RETURNS SETOF text
LANGUAGE sql AS $$
    SELECT CASE jsonb_typeof(r.e)
           WHEN 'string' THEN r.e #>> '{}'
           ELSE coalesce(r.e ->> 'line', concat_ws(' ', r.e ->> 'method', r.e ->> 'path'))
           END
      FROM (SELECT public.standin('requests') AS j) a,
           jsonb_array_elements(CASE jsonb_typeof(a.j)
                                WHEN 'array' THEN a.j
                                ELSE a.j -> 'requests' END)
           WITH ORDINALITY AS r(e, i)
     ORDER BY r.i
$$;

CREATE FUNCTION public.standin_faults(rules jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT public.standin('faults', rules::text) $$;

CREATE FUNCTION public.standin_config(cfg jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT public.standin('config', cfg::text) $$;

-- They run programs on the server: superusers only.
REVOKE ALL ON FUNCTION public.standin(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.standin_reset() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.standin_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.standin_requests() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.standin_faults(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION public.standin_config(jsonb) FROM PUBLIC;

--
-- Memoize (PostgreSQL 14 and later) would cache the lookups of a nested loop
-- above the foreign scan; the suites pin what the FDW itself does (its own
-- id cache fetches each outer id once), the same on every version.
--
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE format('ALTER DATABASE %I SET enable_memoize = off', current_database());
    END IF;
END
$$;

--
-- explain_lines(query, options): EXPLAIN's lines, the same on every version.
-- 18 prints fractional actual rows, and buffers under ANALYZE; it names an
-- initplan's result (InitPlan 1).col1 where older versions print $0 (and
-- "InitPlan 1 (returns $0)"); and versions differ in which side of a join
-- clause "a = b" they print first, so such a filter shows its two operands
-- in sorted order.
--
CREATE FUNCTION public.explain_lines(query text, options text DEFAULT 'COSTS OFF')
RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
    line text;
    m text[];
BEGIN
    FOR line IN EXECUTE format('EXPLAIN (%s) %s', options, query) LOOP
        CONTINUE WHEN line ~ '^\s*(Buffers:|Planning:)';
        line := regexp_replace(line, 'rows=(\d+)\.\d+', 'rows=\1', 'g');
        line := regexp_replace(line, ' \(returns \$\d+\)', '');
        line := regexp_replace(line, '\(InitPlan \d+\)\.col\d+', '$0', 'g');
        m := regexp_match(line, '^(\s*(?:Filter|Hash Cond|Join Filter): \()(\S+) = (\S+)\)$');
        IF m IS NOT NULL AND m[2] > m[3] THEN
            line := m[1] || m[3] || ' = ' || m[2] || ')';
        END IF;
        RETURN NEXT line;
    END LOOP;
END
$fn$;

--
-- The server, the user mapping and the foreign table every test queries.
--
DO $$
BEGIN
    EXECUTE format('CREATE SERVER topcalls FOREIGN DATA WRAPPER topcalls_fdw'
                   ' OPTIONS (base_url %L)',
                   current_setting('topcalls_test.api_url'));
END
$$;

CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls
    OPTIONS (api_key 'tc_test_key');

CREATE FOREIGN TABLE topcalls_phone_numbers (
  id uuid, account_id uuid, number text, source text, status text,
  phone_number_sid uuid, voip_carrier_sid uuid, carrier_name text, label text,
  error_message text, created_by_user_id uuid,
  created_at timestamptz, updated_at timestamptz
) SERVER topcalls;

--
-- run-tests.sh set what the TLS tests need.
--
SELECT current_setting('topcalls_test.tls_url') ~ '^https://localhost:[0-9]+$' AS tls_url_set,
       current_setting('topcalls_test.ca_file') LIKE '/%.pem' AS ca_file_set;

--
-- The helpers work.
--
SELECT standin_reset();
SELECT standin_stats()->>'requests' AS requests;
SELECT count(*) AS requests_logged FROM standin_requests();
SELECT standin('health');
-- Many calls in one statement and one transaction reuse the scratch table.
BEGIN;
SELECT count(*) AS calls, count(DISTINCT s) AS distinct_answers
  FROM generate_series(1, 3) AS i, LATERAL standin('health') AS s;
SELECT standin_stats()->>'requests' AS requests;
COMMIT;
