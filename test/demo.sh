#!/usr/bin/env bash
# test/demo.sh: topcalls_fdw end to end, for a person to watch.
#
#   sudo bash test/demo.sh
#
# Installs what is missing, builds and installs the extension, starts the
# stand-in TopCalls API (25 phone numbers) and a throwaway PostgreSQL 15
# cluster in a temporary directory, runs a few real queries through the
# foreign table, shows how many HTTP requests and connections they took, then
# stops everything and removes the directory.  Nothing leaves this machine:
# the stand-in listens on 127.0.0.1 only.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"

TC_WORK=

on_exit() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	tc_cleanup
	if [[ -n $TC_WORK && -d $TC_WORK ]]; then
		if ((status == 0)); then
			rm -rf "$TC_WORK"
		else
			echo "demo failed; its files are in $TC_WORK (server.log, standin.log)" >&2
		fi
	fi
	exit "$status"
}

heading() {
	printf '\n=== %s ===\n\n' "$*"
}

# A few counters from the stand-in's /_admin/stats.
show_standin_stats() {
	curl -sS --max-time 10 "$TC_API_URL/_admin/stats" | "$TC_PYTHON" -c '
import json, sys
stats = json.load(sys.stdin)
for key in ("requests", "lookups", "lists", "connections", "errors"):
    print("  %-12s %s" % (key, stats.get(key, "?")))
'
}

main() {
	tc_require_root
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	heading "Setting up (packages, build, stand-in API, cluster)"
	tc_install_packages
	tc_make_workdir
	tc_copy_tree "$REPO" "$TC_WORK/src"
	# A subshell, so that a failed build (tc_die) still shows its log here.
	(tc_build_and_install "$TC_WORK/src") >"$TC_WORK/build.log" 2>&1 ||
		{ cat "$TC_WORK/build.log"; exit 1; }
	tc_log "built and installed"

	tc_start_standin standin "$TC_WORK/src/test/standin_api.py" --count 25
	TC_API_URL=http://127.0.0.1:$TC_STARTED_PORT

	tc_init_cluster "$TC_WORK/cluster"
	tc_start_cluster "$TC_WORK/cluster" "$TC_WORK/server.log"
	tc_psql -d postgres -q -c 'CREATE DATABASE demo'

	heading "The extension, a server, a user mapping and the foreign table"
	tc_psql -d demo -v ON_ERROR_STOP=1 -e <<SQL
CREATE EXTENSION topcalls_fdw;
CREATE SERVER topcalls FOREIGN DATA WRAPPER topcalls_fdw
    OPTIONS (base_url '$TC_API_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls
    OPTIONS (api_key '$TC_API_KEY');
CREATE FOREIGN TABLE topcalls_phone_numbers (
  id uuid, account_id uuid, number text, source text, status text,
  phone_number_sid uuid, voip_carrier_sid uuid, carrier_name text, label text,
  error_message text, created_by_user_id uuid,
  created_at timestamptz, updated_at timestamptz
) SERVER topcalls;
SQL

	# Local data for the join: calls for numbers 1..6, and two for a number
	# the API does not have (99), which the inner join drops.
	tc_psql -d demo -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE call_logs (
    call_id serial PRIMARY KEY,
    phone_number_id uuid NOT NULL,
    started_at timestamptz NOT NULL,
    duration_s integer NOT NULL
);
INSERT INTO call_logs (phone_number_id, started_at, duration_s)
SELECT format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid,
       timestamptz '2024-03-01 09:00+00' + i * interval '17 minutes',
       30 + (i * 37) % 300
  FROM generate_series(1, 20) AS i,
       LATERAL (SELECT CASE WHEN i > 18 THEN 99 ELSE 1 + i % 6 END AS n) AS pick;
SQL

	# Count only what the queries below cost.
	curl -sS --max-time 10 -X POST "$TC_API_URL/_admin/reset" >/dev/null

	# All the queries in one session, as an application would run them: the
	# extension keeps its HTTP connections open between queries.
	tc_psql -d demo -v ON_ERROR_STOP=1 -P pager=off -e <<'SQL'
\echo
\echo '=== One phone number by id (a single lookup request) ==='
\echo
SELECT id, number, source, status, carrier_name, label, created_at
  FROM topcalls_phone_numbers
 WHERE id = '00000000-0000-4000-8000-000000000007';

\echo
\echo '=== The first rows of the list ==='
\echo
SELECT id, number, status, created_at FROM topcalls_phone_numbers LIMIT 5;

\echo
\echo '=== A join with a local table of call logs ==='
\echo
SELECT p.number, p.status, count(*) AS calls, sum(c.duration_s) AS seconds
  FROM call_logs c
  JOIN topcalls_phone_numbers p ON p.id = c.phone_number_id
 GROUP BY p.number, p.status
 ORDER BY p.number;

\echo
\echo '=== Phone numbers per status ==='
\echo
SELECT status, count(*) FROM topcalls_phone_numbers GROUP BY status ORDER BY 1;

\echo
\echo '=== A materialized view of the whole list (a local snapshot) ==='
\echo
CREATE MATERIALIZED VIEW phone_numbers_snapshot AS
SELECT * FROM topcalls_phone_numbers;
SELECT count(*) AS phone_numbers, min(created_at) AS first_created,
       max(created_at) AS last_created
  FROM phone_numbers_snapshot;
REFRESH MATERIALIZED VIEW phone_numbers_snapshot;
SQL

	heading "What all that cost the API (the stand-in's counters)"
	show_standin_stats

	heading "Done: stopping the cluster and the stand-in"
}

main "$@"
