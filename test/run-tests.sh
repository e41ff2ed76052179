#!/usr/bin/env bash
# test/run-tests.sh: build topcalls_fdw from a copy of this tree, start the
# stand-in TopCalls API (plain and TLS) and a throwaway PostgreSQL 15 cluster,
# run every suite, and print "N passed, N failed".
#
#   sudo bash test/run-tests.sh        (.ci/run runs it the same way)
#
# Root is needed for apt-get and `make install`; everything else runs as the
# postgres user.  Nothing outside /tmp/topcalls_fdw.XXXXXX and the PostgreSQL
# extension directories is touched, so it can be run again and again.
#
# Environment knobs:
#   TC_KEEP_WORK=1        keep the work directory even when everything passed
#   TC_SUITE_TIMEOUT=SECS bound on each suite (installcheck, each TAP file,
#                         each check script); default 1200
#
# What the suites get (exported):
#   TC_STANDIN_PORT, TC_STANDIN_SCRIPT, TC_API_URL   plain-HTTP stand-in
#   TC_TLS_PORT, TC_TLS_URL, TC_CA_FILE              TLS stand-in and its cert
#   PGHOST, PGPORT, PGUSER, and the same as TC_PGHOST, TC_PGPORT (the TAP
#   modules overwrite PGHOST/PGPORT when they load)
#   PG_REGRESS, TESTDIR, PATH with the PostgreSQL 15 binaries first
# and the cluster has topcalls_test.api_url, .tls_url and .ca_file set.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"

TC_SUITE_TIMEOUT=${TC_SUITE_TIMEOUT:-1200}

PASSED=0
FAILED=0
FAILED_NAMES=()
SUITES_DONE=0
LOG_TAIL_SHOWN=0
TC_WORK=

record_pass() { PASSED=$((PASSED + 1)); }
record_fail() {
	FAILED=$((FAILED + 1))
	FAILED_NAMES+=("$1")
}

# Runs a suite as postgres in the build dir with the suites' environment,
# bounded in time.  Usage: run_suite CMD...
run_suite() {
	local rc=0
	(cd "$BUILD" && timeout --foreground -k 30 "$TC_SUITE_TIMEOUT" \
		runuser -u postgres -- env "${SUITE_ENV[@]}" "$@") || rc=$?
	if ((rc == 124)); then
		echo "TIMEOUT: '$*' ran longer than $TC_SUITE_TIMEOUT s and was stopped" >&2
	fi
	return "$rc"
}

print_summary() {
	echo
	if ((${#FAILED_NAMES[@]})); then
		echo "failed: ${FAILED_NAMES[*]}"
	fi
	if ((PASSED == 0 && FAILED == 0)); then
		echo "no test ran"
	fi
	echo "$PASSED passed, $FAILED failed"
}

# EXIT trap: stop everything we started, even after an error or Ctrl-C, and
# always end with the summary line (an error before the suites ran counts as
# one failure).
on_exit() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	tc_cleanup
	if ((!SUITES_DONE && status != 0)); then
		case $status in
		130 | 143) record_fail "interrupted" ;;
		*) record_fail "setup" ;;
		esac
	fi
	if [[ -n $TC_WORK && -d $TC_WORK ]]; then
		if ((status == 0)) && [[ ${TC_KEEP_WORK:-0} != 1 ]]; then
			rm -rf "$TC_WORK"
		else
			echo "work directory kept: $TC_WORK"
		fi
	fi
	print_summary
	exit "$status"
}

# ---------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------

# pg_regress over the Makefile's REGRESS list.  PG 15 prints
# "test NAME ... ok|FAILED" (or "     NAME ... ok" inside parallel groups);
# PG 16+ prints TAP-like "ok N - NAME" / "not ok N - NAME": count both.
run_regress() {
	tc_log "make installcheck"
	local out=$TC_WORK/installcheck.log rc=0
	run_suite make installcheck PG_CONFIG="$TC_PG_CONFIG" 2>&1 | tee "$out" || rc=$?
	local ok bad
	ok=$(grep -cE '\.\.\. ok( |$)|^ok [0-9]+ ' "$out" || true)
	bad=$(grep -cE '\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$out" || true)
	PASSED=$((PASSED + ok))
	local name
	while read -r name; do
		[[ -n $name ]] && record_fail "regress/$name"
	done < <(sed -nE 's/^(test)? +([^ ]+) +\.\.\. (FAILED|failed).*/\2/p; s/^not ok [0-9]+ +[-+] +([^ ]+).*/\1/p' "$out")
	# A failure the lines above did not name: count it once.
	if ((rc != 0 && bad == 0)); then
		record_fail "installcheck(exit $rc)"
	fi
	if ((rc != 0 || bad != 0)); then
		# pg_regress gathers the diffs at the end; when it gave up half-way
		# (a missing expected file, say) only the per-test .diff files exist.
		local diffs=("$BUILD/regression.diffs")
		[[ -s $BUILD/regression.diffs ]] || diffs=("$BUILD"/results/*.diff)
		local d
		for d in "${diffs[@]}"; do
			[[ -s $d ]] || continue
			echo "---------- ${d#"$BUILD"/} ----------"
			cat "$d"
			echo "---------- end of ${d#"$BUILD"/} ----------"
		done
	fi
}

# TAP tests, one prove per file so each file counts once.
run_tap() {
	local files=() f
	for f in "$BUILD"/t/*.pl; do
		[[ -e $f ]] && files+=("${f#"$BUILD"/}")
	done
	((${#files[@]})) || return 0
	rm -rf "$BUILD/tmp_check"
	for f in "${files[@]}"; do
		tc_log "prove $f"
		if run_suite prove -I "$TC_PG_PERL" -I "$BUILD/t" "$f"; then
			record_pass
		else
			record_fail "$f"
			# PostgreSQL::Test::Utils logs every step here.
			local log
			log=$BUILD/tmp_check/log/regress_log_$(basename "$f" .pl)
			if [[ -f $log ]]; then
				echo "---------- tail of ${log#"$BUILD"/} ----------"
				tail -n 80 "$log"
			fi
		fi
	done
}

# test/check-*.sh: standalone scripts (chaos and the like), run as postgres.
run_checks() {
	local f
	for f in "$BUILD"/test/check-*.sh; do
		[[ -e $f ]] || continue
		f=${f#"$BUILD"/}
		tc_log "bash $f"
		if run_suite bash "$f"; then
			record_pass
		else
			record_fail "$f"
		fi
	done
}

# A backend that crashed takes the others down with it, and a test that
# tolerated the error may still have passed: look at the logs for that.
# The TAP tests' own clusters log under tmp_check/log.
check_server_logs() {
	local pattern='was terminated by signal|terminating any other active server processes|server process \(PID [0-9]+\) exited with exit code|PANIC:'
	local log
	for log in "$TC_WORK/server.log" "$BUILD"/tmp_check/log/*.log; do
		[[ -f $log ]] || continue
		if grep -qE "$pattern" "$log"; then
			echo "---------- crash in $log ----------"
			grep -nE "$pattern" "$log" | head -n 20
			echo "---------- tail of $log ----------"
			tail -n 60 "$log"
			record_fail "crash:${log#"$TC_WORK"/}"
			[[ $log == "$TC_WORK/server.log" ]] && LOG_TAIL_SHOWN=1
		fi
	done
}

# ---------------------------------------------------------------------------
main() {
	tc_require_root
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	tc_install_packages
	tc_make_workdir
	tc_log "work directory $TC_WORK"

	BUILD=$TC_WORK/src
	tc_copy_tree "$REPO" "$BUILD"
	# -Werror: a warning is a bug here, and CI should say so.
	tc_build_and_install "$BUILD" COPT=-Werror

	TC_STANDIN_SCRIPT=$BUILD/test/standin_api.py
	[[ -f $TC_STANDIN_SCRIPT ]] || tc_die "missing $TC_STANDIN_SCRIPT"
	tc_make_cert "$TC_WORK/tls"

	tc_start_standin standin "$TC_STANDIN_SCRIPT"
	TC_STANDIN_PORT=$TC_STARTED_PORT
	TC_API_URL=http://127.0.0.1:$TC_STANDIN_PORT

	tc_start_standin standin-tls "$TC_STANDIN_SCRIPT" --tls-cert "$TC_CA_FILE" --tls-key "$TC_TLS_KEY"
	TC_TLS_PORT=$TC_STARTED_PORT
	TC_TLS_URL=https://localhost:$TC_TLS_PORT

	tc_init_cluster "$TC_WORK/cluster" \
		"topcalls_test.api_url = '$TC_API_URL'" \
		"topcalls_test.tls_url = '$TC_TLS_URL'" \
		"topcalls_test.ca_file = '$TC_CA_FILE'"
	tc_start_cluster "$TC_WORK/cluster" "$TC_WORK/server.log"

	SUITE_ENV=(
		"PATH=$TC_PATH"
		"PGHOST=$TC_WORK" "PGPORT=$TC_PGPORT" "PGUSER=postgres"
		"TC_PGHOST=$TC_WORK" "TC_PGPORT=$TC_PGPORT"
		"PG_REGRESS=$TC_PG_REGRESS" "TESTDIR=$BUILD"
		"TC_STANDIN_PORT=$TC_STANDIN_PORT" "TC_STANDIN_SCRIPT=$TC_STANDIN_SCRIPT"
		"TC_API_URL=$TC_API_URL"
		"TC_TLS_PORT=$TC_TLS_PORT" "TC_TLS_URL=$TC_TLS_URL" "TC_CA_FILE=$TC_CA_FILE"
		"TC_API_KEY=$TC_API_KEY"
	)

	run_regress
	run_tap
	run_checks
	check_server_logs

	if ((FAILED && !LOG_TAIL_SHOWN)); then
		echo "---------- tail of $TC_WORK/server.log ----------"
		tail -n 40 "$TC_WORK/server.log" || true
	fi
	SUITES_DONE=1
	# on_exit prints the summary after the cleanup, so that it is the last line.
	if ((FAILED || PASSED == 0)); then
		exit 1
	fi
}

main "$@"
