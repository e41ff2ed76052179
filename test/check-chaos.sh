#!/usr/bin/env bash
# test/check-chaos.sh: the chaos test.  A few thousand answers of a stand-in
# API in chaos mode (truncated, flipped bytes, deep nesting, huge strings,
# wrong types, broken UTF-8, non-object bodies, 5xx HTML pages) are served to
# single and concurrent lookups, list scans and joins from several sessions
# at once.  Every query must end in rows that are right (see test/chaos.py
# for what "right" means when an answer was mutated) or in a clean ERROR of
# an expected SQLSTATE class; no backend may crash; every session must still
# work afterwards, and return exactly the right rows once chaos is off.
#
# test/run-tests.sh runs it (as postgres) against its cluster.  By hand:
#   TC_PGHOST=/tmp/topcalls_fdw.XXXX TC_PGPORT=NNNN bash test/check-chaos.sh
# with the extension installed in that cluster's PostgreSQL.
#
# It starts its own stand-in (on a port of its own, so the shared one is not
# disturbed) and works in its own database, tc_chaos, dropped on success.
#
# Knobs (environment):
#   TC_CHAOS_SEED      replay this seed (default: random, printed first)
#   TC_CHAOS_RATE      share of 200 answers mutated (default 0.15)
#   TC_CHAOS_SESSIONS  sessions in parallel (default 3)
#   TC_CHAOS_TARGET    stop after this many mutated answers (default 3000)
#   TC_CHAOS_DURATION  ... or after this many seconds (default 120)
#   TC_CHAOS_COUNT     phone numbers the stand-in serves (default 300)
#   TC_CHAOS_SERIAL=1  max_concurrency 1 and no short timeouts: with
#                      TC_CHAOS_SESSIONS=1, a seed replays exactly
#   TC_CHAOS_HOSTILE=0 skip the four answers no random mutation makes (on by
#                      default): a width bomb ([{},{},...], 4.5 MB), a list
#                      whose next_cursor never changes, integers beyond 64
#                      bits, a 1 MB id.  Each must end in a clean ERROR (the
#                      integers may also come back exactly), the bomb without
#                      the backend's memory passing 512 MB, the 1 MB id with
#                      a message under 10 kB.
#   TC_KEEP_WORK=1     keep the work directory (stand-in log, each session's
#                      queries and outcomes) even on success
#   TC_SERVER_LOG      the cluster's log (default: $TC_PGHOST/server.log,
#                      where run-tests.sh puts it), scanned for crashes
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3

SEED=${TC_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "chaos seed: $SEED   (replay: TC_CHAOS_SEED=$SEED bash test/check-chaos.sh)"

PGHOST_=${TC_PGHOST:-${PGHOST:-}}
PGPORT_=${TC_PGPORT:-${PGPORT:-5432}}
[[ -n $PGHOST_ ]] || { echo "check-chaos: set TC_PGHOST (and TC_PGPORT)" >&2; exit 2; }
STANDIN=${TC_STANDIN_SCRIPT:-$HERE/standin_api.py}
COUNT=${TC_CHAOS_COUNT:-300}
SERVER_LOG=${TC_SERVER_LOG:-$PGHOST_/server.log}

"$PY" -c 'import psycopg2' 2>/dev/null ||
	{ echo "check-chaos: needs python3-psycopg2 (test/lib.sh installs it)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/tc_chaos.XXXXXX)
STANDIN_PID=
cleanup() {
	local rc=$?
	if [[ -n $STANDIN_PID ]]; then
		kill -TERM "$STANDIN_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$STANDIN_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$STANDIN_PID" 2>/dev/null || true
		wait "$STANDIN_PID" 2>/dev/null || true
	fi
	if ((rc == 0)) && [[ ${TC_KEEP_WORK:-0} != 1 ]]; then
		rm -rf "$WORK"
	else
		echo "check-chaos: work directory kept: $WORK (stand-in log, session-N.log: each session's queries and outcomes)"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The stand-in, quiet (it still prints the chaos seed).
"$PY" "$STANDIN" --port 0 --port-file "$WORK/standin.port" --count "$COUNT" --quiet \
	>"$WORK/standin.log" 2>&1 &
STANDIN_PID=$!
PORT=
for _ in $(seq 100); do
	[[ -s $WORK/standin.port ]] && PORT=$(tr -dc 0-9 <"$WORK/standin.port")
	[[ -n $PORT ]] && break
	kill -0 "$STANDIN_PID" 2>/dev/null || break
	sleep 0.1
done
if [[ -z $PORT ]] || ! curl -sSf --max-time 5 "http://127.0.0.1:$PORT/_admin/health" >/dev/null; then
	cat "$WORK/standin.log" >&2
	echo "check-chaos: the stand-in did not start" >&2
	exit 1
fi
API_URL=http://127.0.0.1:$PORT

# Where the server log is now, to scan only what this run adds.
LOG_FROM=0
if [[ -r $SERVER_LOG ]]; then
	LOG_FROM=$(stat -c %s "$SERVER_LOG")
else
	echo "check-chaos: no readable server log at $SERVER_LOG; relying on the sentinel session"
	SERVER_LOG=
fi

rc=0
"$PY" "$HERE/chaos.py" --pghost "$PGHOST_" --pgport "$PGPORT_" \
	--api-url "$API_URL" --api-key "${TC_API_KEY:-tc_test_key}" \
	--standin-script "$STANDIN" --count "$COUNT" --seed "$SEED" --log-dir "$WORK" \
	--rate "${TC_CHAOS_RATE:-0.15}" --sessions "${TC_CHAOS_SESSIONS:-3}" \
	--target "${TC_CHAOS_TARGET:-3000}" --duration "${TC_CHAOS_DURATION:-120}" \
	${TC_CHAOS_SERIAL:+--serial} $([[ ${TC_CHAOS_HOSTILE:-1} == 1 ]] && echo --hostile) || rc=$?

# The stand-in must have survived too (its log has the chaos seed line).
if ! kill -0 "$STANDIN_PID" 2>/dev/null; then
	echo "FAILURE: the stand-in died; its log:" >&2
	tail -n 30 "$WORK/standin.log" >&2
	rc=1
fi

if [[ -n $SERVER_LOG ]]; then
	pattern='was terminated by signal|terminating any other active server processes|server process \(PID [0-9]+\) exited with exit code|PANIC:|all server processes terminated; reinitializing'
	if tail -c +"$((LOG_FROM + 1))" "$SERVER_LOG" | grep -qE "$pattern"; then
		echo "FAILURE: the server log shows a crash or restart during the chaos run:" >&2
		tail -c +"$((LOG_FROM + 1))" "$SERVER_LOG" | grep -nE -B5 "$pattern" | head -n 60 >&2
		rc=1
	fi
	# Internal errors that the driver might not have seen (say in a session
	# it had already left): XX000 is logged as "ERROR:  XX000" only with
	# log_error_verbosity = verbose, so look for the usual texts.
	if tail -c +"$((LOG_FROM + 1))" "$SERVER_LOG" |
		grep -qE 'TRAP:|unexpected (end|state)|invalid memory alloc request size|unrecognized node type|cache lookup failed'; then
		echo "FAILURE: the server log shows an internal error during the chaos run:" >&2
		tail -c +"$((LOG_FROM + 1))" "$SERVER_LOG" |
			grep -nE 'TRAP:|unexpected (end|state)|invalid memory alloc request size|unrecognized node type|cache lookup failed' |
			head -n 20 >&2
		rc=1
	fi
fi

if ((rc == 0)); then
	echo "check-chaos: ok (seed $SEED)"
else
	echo "check-chaos: FAILED (seed $SEED; replay: TC_CHAOS_SEED=$SEED)"
fi
exit "$rc"
