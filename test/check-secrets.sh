#!/usr/bin/env bash
# test/check-secrets.sh: the API key never shows up in the server log (at
# DEBUG5, with every statement, parse tree and plan logged), in what a
# session receives (DEBUG5 client messages, errors, EXPLAIN in all its
# forms), in pg_stat_activity or in a backend's process title.
#
# A random key is set in the user mappings (and in the stand-in) before the
# log level goes up, so the CREATE USER MAPPING statements are not logged;
# after that no statement names it.  The session then runs lookups, list
# scans, ANALYZE, prepared statements, EXPLAIN (VERBOSE/ANALYZE, all
# formats), and requests that fail in every way the FDW reports: HTTP 401,
# 403, 500, 503 retried, a redirect, bad JSON, a value that does not
# convert, a timeout, statement_timeout, a body too large, a TLS failure,
# a missing mapping.  Finally a backend waiting on a slow answer is looked
# at from another session.  Everything captured is searched for the key.
#
# Run by test/run-tests.sh (as postgres, with TC_PGHOST, TC_PGPORT,
# TC_API_URL and TC_TLS_URL set).  Exits non-zero if the key is found, or if
# the capture itself did not work (no DEBUG line of the FDW in the log).
set -euo pipefail

: "${TC_PGHOST:?run me from test/run-tests.sh}" "${TC_PGPORT:?}" "${TC_API_URL:?}" "${TC_TLS_URL:?}"

PSQL=(psql -X -h "$TC_PGHOST" -p "$TC_PGPORT" -U postgres)
DB=tc_check_secrets
KEY="tc_secret_$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
OUT=$(mktemp -d /tmp/tc_check_secrets.XXXXXX)
ID1=00000000-0000-4000-8000-000000000001
ID2=00000000-0000-4000-8000-000000000002

standin() {
	curl -sS --fail --max-time 30 -X POST -H 'Content-Type: application/json' \
		--data-binary "$2" "$TC_API_URL/_admin/$1" >/dev/null
}

BG_PID=
cleanup() {
	if [[ -n $BG_PID ]]; then
		kill "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	standin reset '{}' || true
	"${PSQL[@]}" -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	"${PSQL[@]}" -q -d postgres -c "DROP ROLE IF EXISTS regress_tc_nomap" >/dev/null 2>&1 || true
	rm -rf "$OUT"
}
trap cleanup EXIT

fail() {
	echo "check-secrets: FAILED: $*"
	exit 1
}

# The server log: where the postmaster's stderr goes (pg_ctl -l).
PM_PID=$("${PSQL[@]}" -At -d postgres -c "SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)")
LOG=$(readlink "/proc/$PM_PID/fd/2") || fail "cannot find the server log of postmaster $PM_PID"
[[ -f $LOG ]] || fail "the server log $LOG is not a file"
echo "server log: $LOG"

# ---------------------------------------------------------------------------
# Setup, with the log level as configured (warning): nothing here is logged.
# ---------------------------------------------------------------------------
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $DB WITH (FORCE);
DROP ROLE IF EXISTS regress_tc_nomap;
CREATE DATABASE $DB;
CREATE ROLE regress_tc_nomap;
SQL
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<SQL
CREATE EXTENSION topcalls_fdw;
CREATE SERVER topcalls FOREIGN DATA WRAPPER topcalls_fdw
  OPTIONS (base_url '$TC_API_URL', max_retries '1', max_response_bytes '65536');
CREATE SERVER tls FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (base_url '$TC_TLS_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls OPTIONS (api_key '$KEY');
CREATE USER MAPPING FOR CURRENT_USER SERVER tls OPTIONS (api_key '$KEY');
CREATE FOREIGN TABLE pn (id uuid, number text, label text, doc jsonb OPTIONS (field '*'))
  SERVER topcalls;
CREATE FOREIGN TABLE pn_int (id uuid, num int OPTIONS (field 'number')) SERVER topcalls;
CREATE FOREIGN TABLE pn_tls (id uuid, number text) SERVER tls;
GRANT USAGE ON FOREIGN SERVER topcalls TO regress_tc_nomap;
GRANT SELECT ON pn TO regress_tc_nomap;
SQL
standin reset '{}'
standin config "{\"api_key\": \"$KEY\"}"

# The rules this session switches between, from psql (\! runs a shell).
ADMIN="curl -sS --fail --max-time 30 -o /dev/null -X POST -H 'Content-Type: application/json' $TC_API_URL/_admin"

LOG_LINES_BEFORE=$(wc -l <"$LOG")

# ---------------------------------------------------------------------------
# The session, at DEBUG5 on both sides.
# ---------------------------------------------------------------------------
"${PSQL[@]}" -d "$DB" -v VERBOSITY=verbose >"$OUT/session.txt" 2>&1 <<SQL || true
SET log_min_messages = debug5;
SET client_min_messages = debug5;
SET log_statement = 'all';
SET log_min_error_statement = debug5;
SET log_error_verbosity = verbose;
SET debug_print_parse = on;
SET debug_print_rewritten = on;
SET debug_print_plan = on;
SET log_parser_stats = on;
SET log_executor_stats = on;

-- what works
SELECT id, number FROM pn WHERE id = '$ID1';
SELECT id, number FROM pn WHERE id = ANY ('{$ID1,$ID2,00000000-0000-4000-8000-000000009999}');
SELECT count(*) FROM pn;
SELECT doc FROM pn WHERE id = '$ID2';
PREPARE q(uuid) AS SELECT number FROM pn WHERE id = \$1;
EXECUTE q('$ID1');
SET plan_cache_mode = force_generic_plan;
EXECUTE q('$ID2');
RESET plan_cache_mode;
ANALYZE pn;
EXPLAIN (VERBOSE) SELECT * FROM pn WHERE id = '$ID1';
EXPLAIN (ANALYZE, VERBOSE, SETTINGS) SELECT * FROM pn WHERE id = '$ID1';
EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT count(*) FROM pn;
EXPLAIN (ANALYZE, VERBOSE, FORMAT XML) SELECT * FROM pn LIMIT 2;
EXPLAIN (ANALYZE, VERBOSE, FORMAT YAML) SELECT * FROM pn WHERE id = '$ID2';

-- what fails
\! $ADMIN/faults --data-binary '[{"status": 500}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[{"status": 503}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[{"redirect": "http://127.0.0.1:1/elsewhere"}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[{"replace_body": "{\"id\": "}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[{"kind": "list", "replace_body": "{\"data\": [5], \"next_cursor\": null}"}]'
SELECT count(*) FROM pn;
\! $ADMIN/faults --data-binary '[{"body_bytes": 100000}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[]'
SELECT * FROM pn_int WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[{"delay_ms": 2000, "times": 1}]'
SET statement_timeout = '200ms';
SELECT * FROM pn WHERE id = '$ID1';
RESET statement_timeout;
\! $ADMIN/faults --data-binary '[{"delay_ms": 2000, "times": 1}]'
ALTER SERVER topcalls OPTIONS (ADD timeout_ms '200');
SELECT * FROM pn WHERE id = '$ID1';
ALTER SERVER topcalls OPTIONS (DROP timeout_ms);
\! $ADMIN/faults --data-binary '[{"status": 403, "json": {"title": "Forbidden", "detail": "nope"}}]'
SELECT * FROM pn WHERE id = '$ID1';
\! $ADMIN/faults --data-binary '[]'
\! $ADMIN/config --data-binary '{"api_key": "some_other_key"}'
SELECT * FROM pn WHERE id = '$ID1';
SELECT count(*) FROM pn;
SELECT * FROM pn_tls WHERE id = '$ID1';
SET ROLE regress_tc_nomap;
SELECT * FROM pn WHERE id = '$ID1';
RESET ROLE;
-- back to quiet before the session ends (keeps the log readable)
RESET log_statement;
RESET debug_print_parse;
RESET debug_print_rewritten;
RESET debug_print_plan;
RESET log_parser_stats;
RESET log_executor_stats;
RESET log_error_verbosity;
RESET log_min_error_statement;
RESET client_min_messages;
RESET log_min_messages;
\echo SESSION-DONE
SQL
grep -q '^SESSION-DONE$' "$OUT/session.txt" || fail "the session did not run to its end: $(tail -n 20 "$OUT/session.txt")"
standin config "{\"api_key\": \"$KEY\"}"

# ---------------------------------------------------------------------------
# A backend waiting on a slow answer, seen from another session.
# ---------------------------------------------------------------------------
standin faults '[{"delay_ms": 5000, "times": 1}]'
"${PSQL[@]}" -d "$DB" -c "SET application_name = 'tc_secrets_waiter'" \
	-c "SELECT * FROM pn WHERE id = '$ID1'" >"$OUT/waiter.txt" 2>&1 &
BG_PID=$!
WAITER=
for _ in $(seq 1 200); do
	WAITER=$("${PSQL[@]}" -At -d "$DB" -c "SELECT pid FROM pg_stat_activity
		WHERE application_name = 'tc_secrets_waiter' AND state = 'active'
		  AND wait_event_type = 'Extension'")
	[[ -n $WAITER ]] && break
	sleep 0.05
done
[[ -n $WAITER ]] || fail "the waiting backend never showed up in pg_stat_activity"
"${PSQL[@]}" -At -d "$DB" -c "SELECT row_to_json(a) FROM pg_stat_activity a" >"$OUT/activity.txt"
"${PSQL[@]}" -At -d "$DB" -c "SELECT query FROM pg_stat_activity WHERE pid = $WAITER" >>"$OUT/activity.txt"
tr '\0' ' ' <"/proc/$WAITER/cmdline" >"$OUT/cmdline.txt"
echo "waiting backend $WAITER: $(cat "$OUT/cmdline.txt")"
wait "$BG_PID" || true
BG_PID=

# ---------------------------------------------------------------------------
# The verdict.
# ---------------------------------------------------------------------------
tail -n +"$((LOG_LINES_BEFORE + 1))" "$LOG" >"$OUT/log.txt"

# The capture worked: the FDW's own DEBUG2 lines reached the log and the
# client, the plan was logged, the statements were logged, the errors came.
grep -q 'topcalls_fdw: GET /v1/phone-numbers/' "$OUT/log.txt" ||
	fail "no topcalls_fdw DEBUG line in the server log: the log capture does not work"
grep -q 'topcalls_fdw: GET /v1/phone-numbers/' "$OUT/session.txt" ||
	fail "no topcalls_fdw DEBUG line in the session output"
grep -q ':fdw_private' "$OUT/log.txt" || fail "no plan (debug_print_plan) in the server log"
grep -q 'statement: SELECT count(\*) FROM pn' "$OUT/log.txt" || fail "statements were not logged"
for pattern in 'failed with HTTP 500' 'failed with HTTP 503 after 2 attempts' \
	'with a redirect' 'invalid JSON' 'larger than max_response_bytes' \
	'canceling statement due to statement timeout' 'failed with HTTP 401' 'failed with HTTP 403' \
	'could not connect to the TopCalls API' 'user mapping not found' 'out of range for type integer' \
	'Expected a JSON object' 'QUERY PLAN'; do
	grep -q -- "$pattern" "$OUT/session.txt" || fail "expected to see \"$pattern\" in the session output"
done
grep -q 'tc_secrets_waiter' "$OUT/activity.txt" || fail "pg_stat_activity was not captured"
grep -q 'SELECT \* FROM pn' "$OUT/activity.txt" || fail "the waiting query is not in pg_stat_activity"

found=0
for f in log.txt session.txt activity.txt cmdline.txt waiter.txt; do
	if grep -n -F -- "$KEY" "$OUT/$f"; then
		echo "check-secrets: the API key appears in $f (above)"
		found=1
	fi
done
# Also the whole server log, in case something was logged outside our window.
if grep -n -F -- "$KEY" "$LOG"; then
	echo "check-secrets: the API key appears in the server log $LOG (above)"
	found=1
fi
((found == 0)) || fail "the API key leaked"

echo "check-secrets: searched $(wc -l <"$OUT/log.txt") log lines, $(wc -l <"$OUT/session.txt") session lines, $(wc -l <"$OUT/activity.txt") pg_stat_activity rows: no key"
echo "check-secrets: ok"
