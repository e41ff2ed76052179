#!/usr/bin/env bash
# bench/run.sh: topcalls_fdw's benchmark.
#
#   sudo bash bench/run.sh
#
# Installs what is missing, builds and installs the extension from a copy of
# this tree, starts the stand-in TopCalls API and a throwaway PostgreSQL 15
# cluster in a temporary directory, and runs bench/bench.py, which measures
# (a) concurrent lookups, (b) per-query overhead and connection reuse,
# (c) full-scan throughput and memory, (d) the same as (a)/(b) in PL/Python,
# (e) a full scan of calls against the HTTP floor and against pages x
# latency, (f) a created_at lower bound, (g) detail-only columns, (h) a join
# from a few campaigns, (i) a dashboard of 16 sessions on the shared answer
# cache, (j) pgbench against a rate-limited API with and without the shared
# rate limiter, and prints a summary with targets.  One stand-in serves
# every part: each part sets the latency and the data it needs (and, for
# (j), its rate limit) through /_admin/config.  Everything is stopped and
# removed on exit, Ctrl-C included.  About 6 minutes.
#
# Exit status: 0 when the benchmark ran (a MISS is a result, not a failure),
# non-zero when something broke.  Arguments are passed to bench/bench.py
# (e.g. --parts ab, --parts efgh, --parts ij, --fast-reps 3); see
# `bench/bench.py --help`.
# TC_KEEP_WORK=1 keeps the work directory (logs) when the benchmark broke.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"

# Beyond what the tests need: PL/Python for the baseline (d), psycopg2 for
# the client that times the statements.
TC_PACKAGES+=(postgresql-plpython3-15 python3-psycopg2)

TC_WORK=
BENCH_PID=

on_exit() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $BENCH_PID ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
		kill -TERM "$BENCH_PID" 2>/dev/null
		wait "$BENCH_PID" 2>/dev/null
	fi
	tc_cleanup
	if [[ -n $TC_WORK && -d $TC_WORK ]]; then
		if ((status == 0)) || [[ -z ${TC_KEEP_WORK:-} ]]; then
			rm -rf "$TC_WORK"
		else
			echo "benchmark failed; its files are kept in $TC_WORK" >&2
		fi
	fi
	exit "$status"
}

main() {
	tc_require_root
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	tc_install_packages
	tc_make_workdir
	tc_copy_tree "$REPO" "$TC_WORK/src"
	(tc_build_and_install "$TC_WORK/src") >"$TC_WORK/build.log" 2>&1 ||
		{ cat "$TC_WORK/build.log" >&2; tc_die "build or install failed"; }
	tc_log "built and installed the extension"

	tc_start_standin standin "$TC_WORK/src/test/standin_api.py" --count 1000 --quiet
	local api_url=http://127.0.0.1:$TC_STARTED_PORT

	# preloaded, as production should be: (i) and (j) measure the state
	# every backend shares (the answer cache, the rate limiter)
	tc_init_cluster "$TC_WORK/cluster" "shared_preload_libraries = 'topcalls_fdw'"
	tc_start_cluster "$TC_WORK/cluster" "$TC_WORK/server.log"
	tc_psql -d postgres -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE bench'

	tc_log "running the benchmark (about 6 minutes)"
	# In the background, and waited for, so that a signal to this script
	# runs the trap at once; setpriv execs, so $! is the benchmark itself.
	setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- \
		env "PATH=$TC_PATH" PYTHONDONTWRITEBYTECODE=1 \
		"$TC_PYTHON" "$TC_WORK/src/bench/bench.py" \
		--pghost "$TC_WORK" --pgport "$TC_PGPORT" --dbname bench \
		--api-url "$api_url" --api-key "$TC_API_KEY" "$@" &
	BENCH_PID=$!
	local rc=0
	wait "$BENCH_PID" || rc=$?
	BENCH_PID=
	if ((rc != 0)); then
		echo "--- last lines of the server log" >&2
		tail -n 20 "$TC_WORK/server.log" | cut -c1-300 >&2 || true
		tc_die "the benchmark broke (exit status $rc)"
	fi
}

main "$@"
