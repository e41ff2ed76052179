#!/usr/bin/env bash
# test/run-tests.sh: build topcalls_fdw from a copy of this tree and run every
# suite on each PostgreSQL version asked for, against the stand-in TopCalls
# API (plain and TLS), and print "N passed, N failed" over all of them.
#
#   sudo bash test/run-tests.sh                 the system's PostgreSQL (15)
#   sudo bash test/run-tests.sh --pg 13,15,18   each of them (.ci/run does this)
#   sudo bash test/run-tests.sh --pg 18 --no-package
#
# Versions other than the system's are built from Debian's source packages by
# test/build-postgres.sh (about 5 minutes each the first time, then reused).
# For each version: a fresh copy of the tree is built with -Werror and
# installed into that version, a throwaway cluster of it is started, and the
# pg_regress suites (`make installcheck`, the PGXS way), the TAP tests and the
# check scripts run against it.  Every failure is named with its version
# ("pg13/regress/plans").  Before that, when the system's version is among
# them, test/check-package.sh builds, installs and tries the Debian package
# (--no-package skips it), and test/check-version.sh checks that META.json,
# the control file and the install script agree.
#
# Root is needed for apt-get and `make install`; everything else runs as the
# postgres user.  Nothing outside /tmp/topcalls_fdw.XXXXXX, /opt/topcalls-pg
# and the PostgreSQL extension directories is touched, so it can be run
# again and again.
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
#   TC_PG_CONFIG, PG_REGRESS, TESTDIR (TESTDATADIR, TESTLOGDIR for 16+), and
#   PATH with the version's binaries first
# `make installcheck` passes the stand-in's URLs to the suites itself (see
# the Makefile), as it does for anyone who runs it by hand.
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

VERSION_PREFIX=		# "pgNN/" while a version's suites run
FAILED_BEFORE_VERSION=0

record_pass() { PASSED=$((PASSED + 1)); }
record_fail() {
	FAILED=$((FAILED + 1))
	FAILED_NAMES+=("$VERSION_PREFIX$1")
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
	local out=$BUILD/../installcheck.log rc=0
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
		# checks of the release, not of a version: run once (run_release_checks)
		case ${f##*/} in check-package.sh | check-version.sh) continue ;; esac
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
	for log in "$SERVER_LOG" "$BUILD"/tmp_check/log/*.log; do
		[[ -f $log ]] || continue
		if grep -qE "$pattern" "$log"; then
			echo "---------- crash in $log ----------"
			grep -nE "$pattern" "$log" | head -n 20
			echo "---------- tail of $log ----------"
			tail -n 60 "$log"
			record_fail "crash:${log#"$TC_WORK"/}"
			[[ $log == "$SERVER_LOG" ]] && LOG_TAIL_SHOWN=1
		fi
	done
}

# Checks of what is released rather than of a build: the versions in
# META.json, the control file and the install script agree, and (on the
# system's PostgreSQL, before anything is installed into it by hand) the
# Debian package builds, passes lintian, installs and works.
run_release_checks() {
	tc_log "bash test/check-version.sh"
	local copy=$TC_WORK/release-src
	tc_copy_tree "$REPO" "$copy"
	if (cd "$copy" && timeout --foreground -k 30 "$TC_SUITE_TIMEOUT" \
		runuser -u postgres -- bash test/check-version.sh); then
		record_pass
	else
		record_fail "test/check-version.sh"
	fi
	local v want_package=0
	for v in "${PG_VERSIONS[@]}"; do
		[[ $v == "$TC_PG_SYSTEM_MAJOR" ]] && want_package=$RUN_PACKAGE
	done
	if ((want_package)); then
		tc_log "bash test/check-package.sh"
		if timeout --foreground -k 30 "$TC_SUITE_TIMEOUT" bash "$REPO/test/check-package.sh"; then
			record_pass
		else
			record_fail "test/check-package.sh"
		fi
	fi
}

# The pg_regress suites, the TAP tests, the check scripts and the log scan,
# against a cluster of the major tc_use_pg chose, on a build of its own.
# Failures are recorded as "pgNN/...".  Usage: run_version NN
run_version() {
	local major=$1
	tc_use_pg "$major"
	[[ -x $TC_PG_CONFIG && -n $TC_PG_REGRESS ]] || {
		record_fail "pg$major/setup"
		return
	}
	VERSION_PREFIX=pg$major/
	local dir=$TC_WORK/pg$major
	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	tc_log "PostgreSQL $major: $("$TC_PG_CONFIG" --version)"

	BUILD=$dir/src
	tc_copy_tree "$REPO" "$BUILD"
	# -Werror: a warning is a bug here, and CI should say so.
	if ! (tc_build_and_install "$BUILD" COPT=-Werror); then
		record_fail "build"
		VERSION_PREFIX=
		return
	fi

	SERVER_LOG=$dir/server.log
	# preloaded, as production should be: the shared state is under test
	tc_init_cluster "$dir/cluster" "shared_preload_libraries = 'topcalls_fdw'"
	tc_start_cluster "$dir/cluster" "$SERVER_LOG"

	SUITE_ENV=(
		"PATH=$TC_PATH"
		"PGHOST=$TC_WORK" "PGPORT=$TC_PGPORT" "PGUSER=postgres"
		"TC_PGHOST=$TC_WORK" "TC_PGPORT=$TC_PGPORT"
		"TC_PG_CONFIG=$TC_PG_CONFIG"
		"PG_REGRESS=$TC_PG_REGRESS" "TESTDIR=$BUILD"
		"TESTDATADIR=$BUILD/tmp_check" "TESTLOGDIR=$BUILD/tmp_check/log"
		"TC_STANDIN_PORT=$TC_STANDIN_PORT" "TC_STANDIN_SCRIPT=$TC_STANDIN_SCRIPT"
		"TC_API_URL=$TC_API_URL"
		"TC_TLS_PORT=$TC_TLS_PORT" "TC_TLS_URL=$TC_TLS_URL" "TC_CA_FILE=$TC_CA_FILE"
		"TC_API_KEY=$TC_API_KEY"
	)

	run_regress
	run_tap
	run_checks
	check_server_logs

	if ((FAILED > FAILED_BEFORE_VERSION && !LOG_TAIL_SHOWN)); then
		echo "---------- tail of $SERVER_LOG ----------"
		tail -n 40 "$SERVER_LOG" || true
	fi
	tc_stop_clusters
	VERSION_PREFIX=
}

# Parses the arguments into PG_VERSIONS and RUN_PACKAGE.
parse_args() {
	PG_VERSIONS=("$TC_PG_SYSTEM_MAJOR")
	RUN_PACKAGE=1
	while (($#)); do
		case $1 in
		--pg)
			(($# >= 2)) || tc_die "--pg needs a list of versions, e.g. --pg 13,15,18"
			IFS=, read -r -a PG_VERSIONS <<<"$2"
			shift 2
			;;
		--pg=*)
			IFS=, read -r -a PG_VERSIONS <<<"${1#--pg=}"
			shift
			;;
		--no-package)
			RUN_PACKAGE=0
			shift
			;;
		-h | --help)
			sed -n '2,20p' "${BASH_SOURCE[0]}"
			exit 0
			;;
		*) tc_die "unknown argument: $1 (see --help)" ;;
		esac
	done
	local v
	for v in "${PG_VERSIONS[@]}"; do
		[[ $v =~ ^1[3-8]$ ]] || tc_die "unsupported PostgreSQL version '$v': 13 to 18"
	done
}

# ---------------------------------------------------------------------------
main() {
	parse_args "$@"
	tc_require_root
	trap on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	tc_install_packages
	local v others=()
	for v in "${PG_VERSIONS[@]}"; do
		[[ $v == "$TC_PG_SYSTEM_MAJOR" ]] || others+=("$v")
	done
	if ((${#others[@]})); then
		tc_log "PostgreSQL ${others[*]}: building from Debian's sources, or reusing a build"
		tcpg_build "${others[@]}" || tc_die "could not build PostgreSQL ${others[*]}"
	fi

	tc_make_workdir
	tc_log "work directory $TC_WORK"

	TC_STANDIN_SCRIPT=$TC_WORK/standin_api.py
	cp "$REPO/test/standin_api.py" "$TC_STANDIN_SCRIPT"
	chown postgres:postgres "$TC_STANDIN_SCRIPT"
	tc_make_cert "$TC_WORK/tls"

	tc_start_standin standin "$TC_STANDIN_SCRIPT"
	TC_STANDIN_PORT=$TC_STARTED_PORT
	TC_API_URL=http://127.0.0.1:$TC_STANDIN_PORT

	tc_start_standin standin-tls "$TC_STANDIN_SCRIPT" --tls-cert "$TC_CA_FILE" --tls-key "$TC_TLS_KEY"
	TC_TLS_PORT=$TC_STARTED_PORT
	TC_TLS_URL=https://localhost:$TC_TLS_PORT

	run_release_checks
	for v in "${PG_VERSIONS[@]}"; do
		FAILED_BEFORE_VERSION=$FAILED
		LOG_TAIL_SHOWN=0
		run_version "$v"
	done

	SUITES_DONE=1
	# on_exit prints the summary after the cleanup, so that it is the last line.
	if ((FAILED || PASSED == 0)); then
		exit 1
	fi
}

main "$@"
