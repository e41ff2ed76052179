#!/usr/bin/env bash
# test/check-sanitizer.sh: the whole regression suite (the Makefile's REGRESS
# list, through `make installcheck`) once more, against a build of the
# extension with AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer,
# loaded into a PostgreSQL cluster of its own that runs with the ASan runtime
# preloaded.  It fails on
#   - any ASan or UBSan report whose stack goes through this extension
#     (topcalls_fdw.so or one of its source files),
#   - any leak report (LSan, at each backend's exit) whose allocation stack
#     goes through this extension: libcurl handles and lists
#     and anything else malloc'ed on our behalf and never freed,
#   - a backend that crashed or was stopped by a sanitizer (ASan stops a
#     backend at its first report, with SIGABRT).
# Output differences of the suite are shown but, unless
# TC_SANITIZER_STRICT=1, not counted: the plain installcheck judges them.
# After the suite, a short test/check-chaos.sh run (800 mutated answers, 2
# sessions) against the same cluster drives the error paths under the
# sanitizers too; its own failures count.
# Reports that do not involve our code (PostgreSQL's own exit-time "leaks",
# curl(1) and sh run by the suites' COPY ... FROM PROGRAM) are counted and
# ignored.
#
# Nothing is installed over the normal installation, so the other suites and
# a parallel run are never affected, and there is nothing to restore: the
# sanitized build is installed with DESTDIR into a private tree, next to a
# copy of the postgres executable.  PostgreSQL finds its library and share
# directories relative to its executable, so that copy loads the sanitized
# topcalls_fdw.so; every other file of the tree is a symlink to the real one.
#
# What ASan can and cannot see here: PostgreSQL itself is not instrumented
# and its palloc hands out chunks of larger malloc'ed blocks, so an overflow
# inside a palloc'ed chunk smaller than 8 kB goes unseen; everything else is
# covered: malloc'ed memory (libcurl's buffers), big palloc chunks (answer
# bodies, list pages' texts and tapes: each has its own malloc'ed block), the
# stack and globals of our code, leaks.  Memory is checked where our code
# (instrumented) or a libc function ASan intercepts touches it.  Shown (when
# answers were still parsed with json-c) to catch each of these injected
# bugs: a leaked json-c tree, a json-c string used after json_object_put, an
# off-by-one on a stack buffer.
#
# Run by test/run-tests.sh (as postgres); by hand, as postgres or root:
#   bash test/check-sanitizer.sh
# Environment:
#   TC_SANITIZER_SRC   source tree to build (default: this one) -- used to
#                      show that the check catches an injected bug
#   TC_KEEP_WORK=1     keep the work directory even on success
#   TC_SANITIZER_STRICT=1  also fail when the suite's output differs
#   TC_SANITIZER_CHAOS=0   skip the chaos run; TC_SANITIZER_CHAOS_TARGET=N
#                      mutated answers for it (default 800); TC_CHAOS_SEED,
#                      _RATE and _HOSTILE of test/check-chaos.sh apply too
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_IN=${TC_SANITIZER_SRC:-$(cd "$HERE/.." && pwd)}
PY=/usr/bin/python3
# The PostgreSQL to test against: run-tests.sh passes the version's.
PG_CONFIG=${TC_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PG_BIN=$("$PG_CONFIG" --bindir)
export PATH=$PG_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

T0=$SECONDS
log() { printf '[sanitizer %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() {
	printf 'check-sanitizer: %s\n' "$*" >&2
	exit 1
}

if [[ $(id -u) -eq 0 ]]; then
	# PostgreSQL refuses root: run the whole script as postgres.
	# (runuser keeps the environment, so the knobs below still apply.)
	exec runuser -u postgres -- bash "$HERE/check-sanitizer.sh"
fi

LIBASAN=$(gcc -print-file-name=libasan.so)
[[ -e $LIBASAN ]] || die "no ASan runtime ($LIBASAN): install gcc (libasan8)"
LIBASAN=$(readlink -f "$LIBASAN")

WORK=$(mktemp -d /tmp/tc_sanitizer.XXXXXX)
chmod 755 "$WORK"
SRC=$WORK/src
ROOT=$WORK/root
DATA=$WORK/data
REPORTS=$WORK/reports
mkdir -p "$REPORTS"
PIDS=()
PG_STARTED=0

cleanup() {
	local rc=$?
	set +e
	if ((PG_STARTED)) && [[ -f $DATA/postmaster.pid ]]; then
		pg_ctl -D "$DATA" -m immediate -w -t 30 stop >/dev/null 2>&1
	fi
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if ((rc == 0)) && [[ ${TC_KEEP_WORK:-0} != 1 ]]; then
		rm -rf "$WORK"
	else
		echo "check-sanitizer: work directory kept: $WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Build and stage
# ---------------------------------------------------------------------------
log "copying $SRC_IN"
mkdir -p "$SRC"
tar -C "$SRC_IN" \
	--exclude=./.git --exclude=./results --exclude=./tmp_check \
	--exclude=./log --exclude=./regression.diffs --exclude=./regression.out \
	--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=__pycache__ \
	-cf - . | tar -C "$SRC" -xf -

# COPT goes to both CFLAGS and LDFLAGS in PGXS, so the shared library is
# linked with the sanitizer runtimes too.  No bitcode: JIT is off below.
SAN_COPT="-fsanitize=address,undefined -fno-sanitize=alignment -fno-omit-frame-pointer -fno-common -g -O1"
log "building with COPT='$SAN_COPT'"
make -C "$SRC" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" with_llvm=no COPT="$SAN_COPT" \
	>"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log" >&2; die "build failed"; }
make -C "$SRC" install DESTDIR="$ROOT" PG_CONFIG="$PG_CONFIG" with_llvm=no \
	>>"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log" >&2; die "staged install failed"; }

BINDIR=$($PG_CONFIG --bindir)
LIBDIR=$($PG_CONFIG --pkglibdir)
SHAREDIR=$($PG_CONFIG --sharedir)
[[ -f $ROOT$LIBDIR/topcalls_fdw.so && -f $ROOT$SHAREDIR/extension/topcalls_fdw.control ]] ||
	die "the staged install is not where expected under $ROOT"
mkdir -p "$ROOT$BINDIR"
cp "$BINDIR/postgres" "$ROOT$BINDIR/postgres"
# Everything else: symlinks to the real files.
link_all() {
	local from=$1 to=$2 f name
	mkdir -p "$to"
	for f in "$from"/*; do
		name=$(basename "$f")
		[[ -e $to/$name || -L $to/$name ]] && continue
		ln -s "$f" "$to/$name"
	done
}
mkdir -p "$ROOT$SHAREDIR/extension"
link_all "$SHAREDIR/extension" "$ROOT$SHAREDIR/extension"
link_all "$SHAREDIR" "$ROOT$SHAREDIR"
link_all "$LIBDIR" "$ROOT$LIBDIR"
readelf -d "$ROOT$LIBDIR/topcalls_fdw.so" | grep -q 'libasan' ||
	die "the staged topcalls_fdw.so is not linked with ASan"

# ---------------------------------------------------------------------------
# Stand-ins (plain and TLS), as the regression suite expects
# ---------------------------------------------------------------------------
STANDIN=$SRC/test/standin_api.py
start_standin() {
	local name=$1
	shift
	rm -f "$WORK/$name.port"
	"$PY" "$STANDIN" --port 0 --port-file "$WORK/$name.port" --quiet "$@" \
		>"$WORK/$name.log" 2>&1 &
	PIDS+=("$!")
	local pid=$! port=
	for _ in $(seq 100); do
		[[ -s $WORK/$name.port ]] && port=$(tr -dc 0-9 <"$WORK/$name.port")
		[[ -n $port ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $port ]] || { cat "$WORK/$name.log" >&2; die "stand-in $name did not start"; }
	STARTED_PORT=$port
}
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=localhost \
	-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
	{ cat "$WORK/openssl.log" >&2; die "openssl failed"; }
chmod 600 "$WORK/key.pem"
start_standin standin
API_URL=http://127.0.0.1:$STARTED_PORT
start_standin standin-tls --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
TLS_URL=https://localhost:$STARTED_PORT
curl -sSf --max-time 5 "$API_URL/_admin/health" >/dev/null || die "stand-in not answering"
curl -sSf --max-time 5 --cacert "$WORK/cert.pem" "$TLS_URL/_admin/health" >/dev/null ||
	die "TLS stand-in not answering"

# ---------------------------------------------------------------------------
# The cluster, with the sanitizer runtime preloaded into the postmaster (and
# so into every backend it forks)
# ---------------------------------------------------------------------------
PGPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
initdb -D "$DATA" -U postgres --auth=trust --no-sync --encoding=UTF8 --locale=C \
	>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF

# added by test/check-sanitizer.sh
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '$WORK'
logging_collector = off
log_min_messages = warning
fsync = off
jit = off
max_connections = 40
EOF

# The ASan runtime, preloaded, initializes lazily at the first malloc, which
# in postgres happens inside a library constructor (libgpg-error's, or
# p11-kit's, both pulled in by libsystemd and libldap) that holds one of
# glibc's locale locks.  ASan's initialization looks up the symbol
# swift_demangle and then calls dlerror(), which translates its message and
# so takes the same lock again: the lock ends up corrupted and the process
# hangs at the next bindtextdomain or setlocale (even `postgres --version`
# does).  Providing swift_demangle (a stub that never demangles anything)
# makes the lookup succeed, dlerror() has nothing to translate, and the
# lock is left alone.
cat >"$WORK/swift_stub.c" <<'STUB'
#include <stddef.h>
#include <stdint.h>
char *swift_demangle(const char *name, size_t len, char *out, size_t *outlen, uint32_t flags);
char *
swift_demangle(const char *name, size_t len, char *out, size_t *outlen, uint32_t flags)
{
	return NULL;
}
STUB
gcc -shared -fPIC -O2 -o "$WORK/swift_stub.so" "$WORK/swift_stub.c" || die "could not build the swift_demangle stub"
PRELOAD="$LIBASAN $WORK/swift_stub.so"
env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS=detect_leaks=0 timeout 20 "$ROOT$BINDIR/postgres" --version >/dev/null ||
	die "postgres does not even start with the ASan runtime preloaded"

SYMBOLIZER=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
# abort_on_error: an ASan report ends the backend with SIGABRT, which the
# suite and the server log both show.  exitcode=0: leaks found at a
# process's exit leave its exit status alone (else the postmaster would take
# every backend's exit for a crash).  fast_unwind_on_malloc=0: libcurl
# and PostgreSQL have no frame pointers, and the leak stacks must
# reach our frames through them.
ASAN_OPTS="log_path=$REPORTS/asan:detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=40"
ASAN_OPTS+=":halt_on_error=1:abort_on_error=1:exitcode=0:allocator_may_return_null=1:detect_odr_violation=0"
ASAN_OPTS+=":detect_stack_use_after_return=0:verify_asan_link_order=0:print_suppressions=0"
UBSAN_OPTS="log_path=$REPORTS/ubsan:print_stacktrace=1:halt_on_error=0"
LSAN_OPTS="report_objects=0:use_unaligned=1"

log "starting the sanitized cluster (port $PGPORT)"
env LD_PRELOAD="$PRELOAD" ASAN_OPTIONS="$ASAN_OPTS" UBSAN_OPTIONS="$UBSAN_OPTS" \
	LSAN_OPTIONS="$LSAN_OPTS" ${SYMBOLIZER:+ASAN_SYMBOLIZER_PATH="$SYMBOLIZER"} \
	"$ROOT$BINDIR/postgres" -D "$DATA" >"$WORK/server.log" 2>&1 &
PIDS+=("$!")
PG_STARTED=1
for _ in $(seq 300); do
	pg_isready -q -h "$WORK" -p "$PGPORT" && break
	sleep 0.2
done
pg_isready -q -h "$WORK" -p "$PGPORT" || { tail -n 40 "$WORK/server.log" >&2; die "the cluster did not start"; }

# It must really load the staged, sanitized library.
loaded=$(psql -X -h "$WORK" -p "$PGPORT" -U postgres -d postgres -Atc \
	"SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'")
[[ $loaded == "$ROOT$LIBDIR" ]] || die "the staged postgres uses $loaded, not $ROOT$LIBDIR"

# ---------------------------------------------------------------------------
# The regression suite
# ---------------------------------------------------------------------------
log "make installcheck under the sanitizers"
regress_rc=0
(cd "$SRC" && env PGHOST="$WORK" PGPORT="$PGPORT" PGUSER=postgres \
	TC_STANDIN_SCRIPT="$STANDIN" TC_API_URL="$API_URL" TC_TLS_URL="$TLS_URL" \
	TC_CA_FILE="$WORK/cert.pem" \
	make installcheck PG_CONFIG="$PG_CONFIG" with_llvm=no) >"$WORK/installcheck.log" 2>&1 ||
	regress_rc=$?
grep -E '^(test | +)[a-z_0-9]+ +\.\.\. |^(not )?ok [0-9]+ |tests passed|failed' "$WORK/installcheck.log" || true

# Then a short chaos run (test/check-chaos.sh) against the same cluster:
# mutated answers drive the error paths (invalid JSON, conversion errors,
# cancels in the middle of transfers) that the suite touches only a little.
chaos_rc=0
if [[ ${TC_SANITIZER_CHAOS:-1} == 1 && -f $SRC/test/check-chaos.sh ]]; then
	log "a short chaos run under the sanitizers"
	env TC_PGHOST="$WORK" TC_PGPORT="$PGPORT" TC_SERVER_LOG="$WORK/server.log" \
		TC_STANDIN_SCRIPT="$STANDIN" TC_CHAOS_SESSIONS=2 \
		TC_CHAOS_TARGET="${TC_SANITIZER_CHAOS_TARGET:-800}" TC_CHAOS_DURATION=60 \
		bash "$SRC/test/check-chaos.sh" >"$WORK/chaos.log" 2>&1 || chaos_rc=$?
	grep -E '^  hostile ' "$WORK/chaos.log" || true
	sed -n '/^chaos summary/,$p' "$WORK/chaos.log" | grep -vE '^    [0-9A-Z]{5} e\.g\.' || true
fi

# A clean shutdown: every backend and the postmaster exit, and LSan checks
# each of them.
pg_ctl -D "$DATA" -m fast -w -t 120 stop >/dev/null 2>&1 || log "WARNING: the cluster did not stop cleanly"
PG_STARTED=0
log "cluster stopped; reading the reports"

# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------
failed=0
pattern='was terminated by signal|terminating any other active server processes|server process \(PID [0-9]+\) exited with exit code|PANIC:'
if grep -qE "$pattern" "$WORK/server.log"; then
	echo "FAILURE: a backend crashed or was stopped by a sanitizer:"
	grep -nE "$pattern" "$WORK/server.log" | head -n 20
	failed=1
fi

# Split every report file into reports, and leak reports into single leaks;
# keep those whose stacks pass through our code.
"$PY" - "$REPORTS" "$WORK/ours.txt" "$SRC" <<'EOF' || failed=1
import collections, os, re, sys
reports, out_path, src = sys.argv[1], sys.argv[2], sys.argv[3]
# Our frames: in our library, or (symbolized) in our build's sources.
OURS = re.compile(r"topcalls_fdw\.so|" + re.escape(src.rstrip("/") + "/") + r"[\w.-]+\.[ch]:\d+")
FRAME = re.compile(r"^\s*#\d+ .*$", re.M)
ours, others, leak_total = [], 0, 0
for name in sorted(os.listdir(reports)):
    text = open(os.path.join(reports, name), errors="replace").read()
    # A file holds one report per error (ASan stops at the first; UBSan may
    # have several), and LSan's report lists many leaks.
    for block in re.split(r"(?m)^(?==+\n==\d+==ERROR: |\S.*runtime error: )", text):
        if not block.strip():
            continue
        if "LeakSanitizer" in block:
            for leak in re.split(r"(?m)^(?=(?:Direct|Indirect) leak of )", block)[1:]:
                leak_total += 1
                if OURS.search(leak):
                    ours.append((name, leak.strip()))
                else:
                    others += 1
        elif OURS.search(block):
            ours.append((name, block.strip()))
        else:
            others += 1
print("sanitizer reports: %d report file(s), %d leak record(s) in all; "
      "%d involving topcalls_fdw, %d elsewhere (ignored)"
      % (len(os.listdir(reports)), leak_total, len(ours), others))
if not ours:
    sys.exit(0)
# One line per kind of report and first frame of ours, then the first few in full.
kinds = collections.Counter()
for name, rep in ours:
    m = re.search(r"(ERROR: \w+: [\w-]+|(?:Direct|Indirect) leak|runtime error: [^\n]*)", rep)
    frame = next((f.strip() for f in FRAME.findall(rep) if OURS.search(f)), "?")
    frame = re.sub(r"^#\d+ 0x[0-9a-f]+ in ", "", frame)
    kinds[(m.group(1) if m else "report", frame)] += 1
print("FAILURE: sanitizer reports involving topcalls_fdw (count, kind, first frame of ours):")
for (kind, frame), n in kinds.most_common():
    print("  %5d  %s  at %s" % (n, kind, frame))
for name, rep in ours[:3]:
    print("---------- %s ----------" % name)
    print(rep[:6000])
with open(out_path, "w") as f:
    f.write("\n\n".join("[%s] %s" % r for r in ours))
print("---------- all %d in %s ----------" % (len(ours), out_path))
sys.exit(1)
EOF

# Output differences alone are not this check's business (the plain
# installcheck judges them, and the sanitized build runs several times
# slower, which timing-sensitive tests may feel); a sanitizer stopping a
# backend shows above.  TC_SANITIZER_STRICT=1 makes them fail this check too.
if ((regress_rc != 0)); then
	if [[ ${TC_SANITIZER_STRICT:-0} == 1 ]]; then
		echo "FAILURE: make installcheck failed under the sanitizers (exit $regress_rc)"
		failed=1
	else
		echo "NOTE: make installcheck failed under the sanitizers (exit $regress_rc);" \
			"not counted unless TC_SANITIZER_STRICT=1 (see the plain run)"
	fi
	if [[ -s $SRC/regression.diffs ]]; then
		head -n 60 "$SRC/regression.diffs"
	else
		tail -n 30 "$WORK/installcheck.log"
	fi
fi

if ((chaos_rc != 0)); then
	echo "FAILURE: the chaos run under the sanitizers failed; its output:"
	grep -E 'FAILURE|seed' "$WORK/chaos.log" | head -n 40
	failed=1
fi

log "done"
if ((failed)); then
	echo "check-sanitizer: FAILED"
	exit 1
fi
echo "check-sanitizer: ok"
