#!/bin/bash
# Self-test of test/standin_api.py (the stand-in TopCalls API) with curl and
# small /usr/bin/python3 snippets.  Run from anywhere:  bash test/standin_selftest.sh
# Contacts only 127.0.0.1.  Prints "ok ..." lines; exits non-zero on the first failure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
STANDIN="$HERE/standin_api.py"
PY=/usr/bin/python3
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# start NAME ARGS...: start a stand-in, set $PORT and $BASE (http or https)
start() {
    local name=$1; shift
    rm -f "$WORK/$name.port"
    "$PY" "$STANDIN" --port 0 --port-file "$WORK/$name.port" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    LASTPID=$!
    for _ in $(seq 100); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
    [ -s "$WORK/$name.port" ] || fail "$name did not start: $(cat "$WORK/$name.err")"
    PORT=$(cat "$WORK/$name.port")
}

KEY="Authorization: Bearer tc_test_key"
ID1=00000000-0000-4000-8000-000000000001

# code URL [curl args]: HTTP status
code() { local u=$1; shift; curl -s -o "$WORK/body" -w '%{http_code}' "$@" "$BASE$u"; }
expect_code() {
    local want=$1; shift
    local got; got=$(code "$@")
    [ "$got" = "$want" ] || fail "$* -> $got, wanted $want; body: $(head -c 300 "$WORK/body")"
}
post() { curl -s -X POST -H 'Content-Type: application/json' --data-binary "$2" "$BASE$1"; }
stat() { curl -s "$BASE/_admin/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
jq_() { "$PY" -c "import json,sys; d=json.load(open('$WORK/body')); print($1)"; }

start main
BASE="http://127.0.0.1:$PORT"
grep -q "^standin listening on $PORT\$" "$WORK/main.out" || fail "no listening line"
[ "$(cat "$WORK/main.port")" = "$PORT" ] || fail "port file"
ok "started on $PORT"

# --- lookups --------------------------------------------------------------
expect_code 200 /v1/phone-numbers/$ID1 -H "$KEY"
[ "$(jq_ 'd["number"]')" = "+15550000001" ] || fail "lookup body"
curl -s -D - -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1" | grep -qi '^content-type: application/json' || fail "ctype"
expect_code 200 /v1/phone-numbers/00000000-0000-4000-8000-000000000050 -H "$KEY"
expect_code 404 /v1/phone-numbers/ABCDEF00-0000-4000-8000-00000000000A -H "$KEY"   # upper-case hex is a UUID
expect_code 404 /V1/phone-numbers/$ID1 -H "$KEY"
expect_code 404 /v1/phone-numbers/00000000-0000-4000-8000-000000000051 -H "$KEY"
[ "$(jq_ 'd["title"], d["status"]')" = "Not Found 404" ] || fail "404 body"
curl -s -D - -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/00000000-0000-4000-8000-000000000051" \
    | grep -qi '^content-type: application/problem+json' || fail "problem ctype"
expect_code 404 /v1/phone-numbers/3c90c3cc-0d44-4b50-8888-8dd25736052a -H "$KEY"
expect_code 400 /v1/phone-numbers/not-a-uuid -H "$KEY"
[ "$(jq_ 'd["detail"]')" = "phone_number_id must be a UUID." ] || fail "400 body"
expect_code 401 /v1/phone-numbers/$ID1
expect_code 401 /v1/phone-numbers/$ID1 -H "Authorization: Bearer wrong"
grep -q wrong "$WORK/body" && fail "key echoed"
expect_code 403 /v1/phone-numbers/$ID1 -H "Authorization: Bearer tc_noscope_key"
[ "$(jq_ 'd["title"]')" = "Forbidden" ] || fail "403 body"
expect_code 405 /v1/phone-numbers/$ID1 -H "$KEY" -X DELETE
expect_code 404 /v1/models -H "$KEY"
expect_code 404 /_admin/nothing
ok "lookup 200/404/400/401/403/405"

# --- list pagination ------------------------------------------------------
curl -s -X POST "$BASE/_admin/reset" >/dev/null
cursor=""; pages=0; rows=0
while :; do
    if [ -z "$cursor" ]; then
        curl -s --get -H "$KEY" --data-urlencode limit=10 "$BASE/v1/phone-numbers" -o "$WORK/body"
    else
        curl -s --get -H "$KEY" --data-urlencode limit=10 --data-urlencode "cursor=$cursor" "$BASE/v1/phone-numbers" -o "$WORK/body"
    fi
    pages=$((pages+1)); rows=$((rows + $(jq_ 'len(d["data"])')))
    cursor=$(jq_ 'd["next_cursor"] or ""')
    [ -z "$cursor" ] && break
    [ $pages -gt 10 ] && fail "too many pages"
done
[ $pages = 5 ] && [ $rows = 50 ] || fail "pages=$pages rows=$rows"
[ "$(jq_ 'd["next_cursor"]')" = "None" ] || fail "last next_cursor not null"
[ "$(stat lists)" = 5 ] && [ "$(stat requests)" = 5 ] || fail "list counters"
# the cursor sent without URL-encoding ('+' becomes a space) is rejected
c=$(curl -s -H "$KEY" "$BASE/v1/phone-numbers?limit=10" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
case $c in *+*) ;; *) fail "cursor $c has no +";; esac
expect_code 400 "/v1/phone-numbers?limit=10&cursor=$c" -H "$KEY"
expect_code 400 "/v1/phone-numbers?limit=0" -H "$KEY"
expect_code 400 "/v1/phone-numbers?limit=201" -H "$KEY"
expect_code 400 "/v1/phone-numbers?limit=abc" -H "$KEY"
expect_code 400 "/v1/phone-numbers?cursor=bogus" -H "$KEY"
expect_code 200 "/v1/phone-numbers" -H "$KEY"
[ "$(jq_ 'len(d["data"]), d["next_cursor"]')" = "50 None" ] || fail "default limit"
expect_code 200 "/v1/phone-numbers?limit=200" -H "$KEY"
ok "list: 5 pages of 10, cursor must be encoded, limit checks"

# --- stats / requests / reset / keep-alive -------------------------------
curl -s -X POST "$BASE/_admin/reset" >/dev/null
curl -s -o /dev/null -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1" "$BASE/v1/phone-numbers?limit=10"
curl -s "$BASE/_admin/stats" >"$WORK/body"
[ "$(jq_ 'd["requests"], d["lookups"], d["lists"], d["connections"], d["errors"], d["in_flight"]')" = "2 1 1 1 0 0" ] \
    || fail "stats after keep-alive: $(cat "$WORK/body")"
curl -s "$BASE/_admin/requests" >"$WORK/body"
[ "$(jq_ 'd["requests"]')" = "['GET /v1/phone-numbers/$ID1', 'GET /v1/phone-numbers?limit=10']" ] \
    || fail "request log: $(cat "$WORK/body")"
curl -s -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/00000000-0000-4000-8000-000000000099"
curl -s -o /dev/null "$BASE/v1/phone-numbers/$ID1"
[ "$(stat not_found) $(stat errors)" = "1 1" ] || fail "not_found/errors"
post /_admin/config '{"count": 3, "latency_ms": 0, "api_key": "tc_other"}' >"$WORK/body"
grep -q tc_other "$WORK/body" && fail "config echoes key"
expect_code 401 /v1/phone-numbers/$ID1 -H "$KEY"
expect_code 200 /v1/phone-numbers/$ID1 -H "Authorization: Bearer tc_other"
expect_code 404 /v1/phone-numbers/00000000-0000-4000-8000-000000000004 -H "Authorization: Bearer tc_other"
expect_code 400 /_admin/config -X POST -d '{"count": -1}'
curl -s -X POST "$BASE/_admin/reset" >/dev/null
[ "$(stat requests) $(stat connections)" = "0 0" ] || fail "reset"
expect_code 200 /v1/phone-numbers/00000000-0000-4000-8000-000000000004 -H "$KEY"
curl -s "$BASE/_admin/requests" | grep -q tc_ && fail "key in request log"
grep -rq tc_test_key "$WORK/main.out" "$WORK/main.err" && fail "key in output"
expect_code 200 /_admin/health
ok "stats, requests, config, reset, keep-alive (1 connection for 2 requests)"

# --- faults ----------------------------------------------------------------
setf() { post /_admin/faults "$1" >"$WORK/fresp"; grep -q '"rules"' "$WORK/fresp" || fail "faults $1: $(cat "$WORK/fresp")"; }
setf '[{"kind":"lookup","status":429,"headers":{"Retry-After":"2"},"times":1}]'
curl -s -D "$WORK/h" -o "$WORK/body" -H "$KEY" "$BASE/v1/phone-numbers/$ID1"
grep -q '^HTTP/1.1 429' "$WORK/h" && grep -qi '^retry-after: 2' "$WORK/h" && grep -qi 'problem+json' "$WORK/h" || fail "429"
expect_code 200 /v1/phone-numbers/$ID1 -H "$KEY"   # used up
setf '[{"status":502,"body":"<html>bad gateway</html>"}]'
curl -s -D "$WORK/h" -o "$WORK/body" -H "$KEY" "$BASE/v1/phone-numbers/$ID1"
grep -q '^HTTP/1.1 502' "$WORK/h" && grep -qi '^content-type: text/html' "$WORK/h" && grep -q 'bad gateway' "$WORK/body" || fail "502 html"
setf '[{"status":200,"json":{"data":[],"next_cursor":null},"path_regex":"limit=7"}]'
expect_code 200 "/v1/phone-numbers?limit=7"   # before auth: no key needed
[ "$(cat "$WORK/body")" = '{"data":[],"next_cursor":null}' ] || fail "json fault"
expect_code 401 "/v1/phone-numbers?limit=8"
setf '[{"status":500,"after_auth":true}]'
expect_code 401 "/v1/phone-numbers/$ID1"
expect_code 500 "/v1/phone-numbers/$ID1" -H "$KEY"
setf '[{"delay_ms":300}]'
t0=$(date +%s%N); expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"; t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -ge 290 ] || fail "delay_ms"
setf '[{"body_bytes":1000000}]'
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
[ "$(wc -c <"$WORK/body")" = 1000000 ] || fail "body_bytes size"
"$PY" -c "import json; json.load(open('$WORK/body'))" || fail "body_bytes json"
setf '[{"gzip_bomb":50000000}]'
curl -s -D "$WORK/h" -o "$WORK/gz" -H "$KEY" "$BASE/v1/phone-numbers/$ID1"
grep -qi '^content-encoding: gzip' "$WORK/h" || fail "bomb header"
[ "$(wc -c <"$WORK/gz")" -lt 200000 ] || fail "bomb too big"
[ "$(curl -s --compressed -H "$KEY" "$BASE/v1/phone-numbers/$ID1" | wc -c)" = 50000000 ] || fail "bomb size"
setf '[{"trickle_bytes_per_sec":200}]'
t0=$(date +%s%N); expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"; t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 )); n=$(wc -c <"$WORK/body")
[ $ms -ge $(( n * 1000 / 200 - 300 )) ] && "$PY" -c "import json; json.load(open('$WORK/body'))" || fail "trickle ($n bytes in $ms ms)"
curl -s -o /dev/null -m 1 -H "$KEY" "$BASE/v1/phone-numbers/$ID1"; rc=$?
[ $rc = 28 ] || fail "trickle timeout rc=$rc"
setf '[{"truncate":20}]'
code "/v1/phone-numbers/$ID1" -H "$KEY" >/dev/null
[ "$(wc -c <"$WORK/body")" = 20 ] || fail "truncate size"
curl -s -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1"; rc=$?
[ $rc = 18 ] || fail "truncate curl rc=$rc (want 18 partial file)"
setf '[{"close":true}]'
curl -s -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1"; rc=$?
[ $rc = 52 ] || fail "close curl rc=$rc (want 52 empty reply)"
setf '[{"redirect":"http://127.0.0.1:1/elsewhere"}]'
curl -s -D "$WORK/h" -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1"
grep -q '^HTTP/1.1 302' "$WORK/h" && grep -qi '^location: http://127.0.0.1:1/elsewhere' "$WORK/h" || fail "redirect"
setf '[{"replace_body":"{\"id\": 42"}]'
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
[ "$(cat "$WORK/body")" = '{"id": 42' ] || fail "replace_body"
expect_code 401 "/v1/phone-numbers/$ID1"
setf '[{"kind":"list","status":503,"times":2},{"kind":"any","status":418}]'
expect_code 503 "/v1/phone-numbers" -H "$KEY"
expect_code 503 "/v1/phone-numbers" -H "$KEY"
expect_code 418 "/v1/phone-numbers" -H "$KEY"
expect_code 418 "/v1/phone-numbers/$ID1" -H "$KEY"
expect_code 400 /_admin/faults -X POST -d '[{"stauts":500}]'
expect_code 400 /_admin/faults -X POST -d '[{"path_regex":"("}]'
setf '[]'
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
[ "$(stat faults_served)" -ge 18 ] || fail "faults_served $(stat faults_served)"
ok "faults: status/headers/body/json/after_auth/delay/body_bytes/gzip_bomb/trickle/truncate/close/redirect/replace_body/times"

# --- chaos -----------------------------------------------------------------
curl -s -X POST "$BASE/_admin/reset" >/dev/null
post /_admin/chaos '{"seed": 42, "rate": 1.0}' >/dev/null
grep -q 'seed=42' "$WORK/main.out" || fail "chaos seed not printed"
"$PY" - "$PORT" <<'EOF' || fail "chaos"
import http.client, json, sys, collections
port = int(sys.argv[1])
H = {"Authorization": "Bearer tc_test_key"}
kinds = collections.Counter()
for n in range(300):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    path = "/v1/phone-numbers?limit=20" if n % 2 else "/v1/phone-numbers/00000000-0000-4000-8000-%012d" % (n % 50 + 1)
    c.request("GET", path, headers=H)
    try:
        r = c.getresponse(); body = r.read()
        cl = int(r.getheader("Content-Length"))
        assert cl == len(body), (cl, len(body))
        try:
            json.loads(body.decode("utf-8")); kinds["valid json %d" % r.status] += 1
        except (ValueError, UnicodeDecodeError, RecursionError):
            kinds["bad %d" % r.status] += 1
    except http.client.IncompleteRead:
        kinds["incomplete"] += 1
    c.close()
print("   chaos outcomes:", dict(kinds))
assert kinds["bad 200"] > 50 and kinds["bad 500"] + kinds["bad 502"] > 5
EOF
[ "$(stat chaos_served)" = 300 ] || fail "chaos_served"
post /_admin/chaos '{"seed": null}' >/dev/null
for _ in 1 2 3 4 5; do expect_code 200 "/v1/phone-numbers?limit=20" -H "$KEY"; jq_ 'len(d["data"])' >/dev/null || fail "chaos still on"; done
ok "chaos on (seed printed, 300 mutated answers, Content-Length right) and off"

# --- concurrency -----------------------------------------------------------
curl -s -X POST "$BASE/_admin/reset" >/dev/null
# 2 s, not less: starting 16 curls took up to ~900 ms on a busy 2-CPU
# machine, and all 16 must be in flight at once.
post /_admin/config '{"latency_ms": 2000}' >/dev/null
t0=$(date +%s%N)
CURLS=()
for _ in $(seq 16); do curl -s -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1" & CURLS+=($!); done
wait "${CURLS[@]}"
t1=$(date +%s%N)
[ "$(stat in_flight_peak) $(stat requests) $(stat connections) $(stat in_flight)" = "16 16 16 0" ] || fail "concurrency: $(curl -s "$BASE/_admin/stats")"
ok "16 parallel requests with 2000 ms latency: in_flight_peak 16 in $(( (t1 - t0) / 1000000 )) ms"
curl -s -X POST "$BASE/_admin/reset" >/dev/null

# --- rate limit ----------------------------------------------------------------
curl -s -X POST "$BASE/_admin/reset" >/dev/null
post /_admin/config '{"rate_limit": 5, "rate_burst": 5}' >"$WORK/body"
[ "$(jq_ 'd["rate_limit"], d["rate_burst"], d["rate_mode"]')" = "5 5 retry_after" ] || fail "rate config: $(cat "$WORK/body")"
"$PY" - "$PORT" <<'EOF' || fail "rate limit 5/s, burst 5"
import http.client, json, math, sys, time, urllib.request
port = int(sys.argv[1])
H = {"Authorization": "Bearer tc_test_key"}
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
statuses = []
t0 = time.monotonic()
for n in range(20):
    c.request("GET", "/v1/phone-numbers/00000000-0000-4000-8000-%012d" % (n + 1), headers=H)
    r = c.getresponse(); body = r.read()
    statuses.append(r.status)
    if r.status == 429:
        assert r.getheader("Retry-After") == "1", r.getheaders()
        assert r.getheader("Content-Type") == "application/problem+json", r.getheaders()
        assert json.loads(body) == {"type": "about:blank", "title": "Too Many Requests",
                                    "status": 429, "detail": "Rate limit exceeded."}, body
elapsed = time.monotonic() - t0
c.close()
limited = statuses.count(429)
# The bucket starts full (5 tokens) and refills 5 tokens/s: the 20 requests
# get exactly 15 429s if they all arrive within 0.2 s (they take a few ms on
# one kept-alive connection), one fewer per further 0.2 s of a slow machine.
# No other tolerance: the count is exact.
low = 15 - math.floor(elapsed * 5)
print("   rate limit 5/s burst 5: %d x 429 of 20 in %.3f s (want %s)"
      % (limited, elapsed, 15 if low == 15 else "%d..15" % low))
assert statuses[:5] == [200] * 5, statuses
assert set(statuses) <= {200, 429}, statuses
assert low <= limited <= 15, (limited, elapsed, statuses)
st = json.load(urllib.request.urlopen("http://127.0.0.1:%d/_admin/stats" % port))
assert (st["rate_limited"], st["errors"], st["requests"], st["lookups"], st["connections"]) \
    == (limited, 0, 20, 20, 1), st
EOF
# /_admin is never limited (the bucket is empty now)
for _ in $(seq 10); do expect_code 200 /_admin/stats; done
ok "rate limit 5/s burst 5: 15 of 20 quick requests 429 with Retry-After: 1, counted in rate_limited, not errors"

# A tiny rate (1 token per 1000 s) makes the rest exact whatever the machine's speed.
curl -s -X POST "$BASE/_admin/reset" >/dev/null
post /_admin/config '{"rate_limit": 0.001, "rate_burst": 1}' >/dev/null
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
expect_code 429 "/v1/phone-numbers/$ID1"                          # before the key check
expect_code 429 "/v1/nothing-here" -H "$KEY"                       # any /v1 path
setf '[{"status":500}]'
expect_code 429 "/v1/phone-numbers/$ID1" -H "$KEY"                 # before the fault rules
setf '[]'
post /_admin/config '{"latency_ms": 2000}' >/dev/null             # keeps the bucket (empty)
t0=$(date +%s%N); expect_code 429 "/v1/phone-numbers/$ID1" -H "$KEY"; t1=$(date +%s%N)
[ $(( (t1 - t0) / 1000000 )) -lt 1500 ] || fail "429 waited for the latency"
expect_code 429 "/v1/phone-numbers/$ID1" -H "$KEY" -X POST -d 'some body'   # body read and dropped
[ "$(stat rate_limited) $(stat errors) $(stat faults_served)" = "5 0 0" ] \
    || fail "rate_limited/errors/faults_served: $(curl -s "$BASE/_admin/stats")"
post /_admin/config '{"latency_ms": 0, "rate_burst": 1}' >/dev/null   # refills: one token
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
expect_code 429 "/v1/phone-numbers/$ID1" -H "$KEY"
ok "rate limit: before key, faults and latency; body still read; a rate_burst change refills"

post /_admin/config '{"rate_mode": "none", "rate_limit": 0.001, "rate_burst": 1}' >/dev/null
expect_code 200 "/v1/phone-numbers/$ID1" -H "$KEY"
curl -s -D "$WORK/h" -o "$WORK/body" -H "$KEY" "$BASE/v1/phone-numbers/$ID1"
grep -q '^HTTP/1.1 429' "$WORK/h" || fail "rate_mode none: not a 429: $(cat "$WORK/h")"
grep -qi '^retry-after' "$WORK/h" && fail "rate_mode none: Retry-After sent"
grep -qi '^content-type: application/problem+json' "$WORK/h" || fail "rate_mode none: ctype"
[ "$(jq_ 'd["detail"]')" = "Rate limit exceeded." ] || fail "rate_mode none: body"
ok "rate_mode none: 429 without Retry-After"

# Exact under concurrency: 200 requests from 20 threads (20 connections) at
# once against a bucket of 50 that refills 0.001 token/s.
curl -s -X POST "$BASE/_admin/reset" >/dev/null
post /_admin/config '{"rate_limit": 0.001, "rate_burst": 50}' >/dev/null
"$PY" - "$PORT" <<'EOF' || fail "rate limit under concurrency"
import collections, http.client, json, sys, threading, urllib.request
port = int(sys.argv[1])
H = {"Authorization": "Bearer tc_test_key"}
got = collections.Counter(); lock = threading.Lock(); go = threading.Barrier(20)
def worker():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.connect(); go.wait()
    for _ in range(10):
        c.request("GET", "/v1/phone-numbers?limit=5", headers=H)
        r = c.getresponse(); r.read()
        with lock:
            got[r.status] += 1
    c.close()
threads = [threading.Thread(target=worker) for _ in range(20)]
for t in threads: t.start()
for t in threads: t.join()
st = json.load(urllib.request.urlopen("http://127.0.0.1:%d/_admin/stats" % port))
print("   20 threads x 10 requests, burst 50:", dict(got))
assert got == {200: 50, 429: 150}, got
assert (st["rate_limited"], st["errors"], st["requests"]) == (150, 0, 200), st
EOF
ok "rate limit exact under 20 concurrent connections (50 x 200, 150 x 429)"

# A float rate: burst 0 means ceil(2.5) = 3.
post /_admin/config '{"rate_limit": 2.5, "rate_burst": 0}' >/dev/null
# urls N: N times "-o /dev/null <lookup URL>", for one curl (one connection) sending N requests
urls() { local k; for k in $(seq "$1"); do echo "-o /dev/null $BASE/v1/phone-numbers/$ID1"; done; }
curl -s -w '%{http_code}\n' -H "$KEY" $(urls 8) >"$WORK/codes"
[ "$(tr '\n' ' ' <"$WORK/codes")" = "200 200 200 429 429 429 429 429 " ] || fail "rate 2.5: $(cat "$WORK/codes")"
curl -s -X POST "$BASE/_admin/reset" >/dev/null
curl -s "$BASE/_admin/config" >"$WORK/body"
[ "$(jq_ 'd["rate_limit"], d["rate_burst"], d["rate_mode"]')" = "0 0 retry_after" ] || fail "reset config: $(cat "$WORK/body")"
curl -s -w '%{http_code}\n' -H "$KEY" $(urls 30) >"$WORK/codes"
[ "$(sort -u "$WORK/codes")" = 200 ] && [ "$(wc -l <"$WORK/codes")" = 30 ] || fail "limit after reset: $(sort "$WORK/codes" | uniq -c)"
[ "$(stat rate_limited) $(stat requests)" = "0 30" ] || fail "rate_limited after reset"
ok "float rate 2.5 (burst 3); reset: limit off, config back to 0/0/retry_after"

for bad in '{"rate_limit": -1}' '{"rate_limit": "5"}' '{"rate_limit": true}' '{"rate_limit": null}' \
           '{"rate_limit": 100001}' '{"rate_limit": NaN}' '{"rate_limit": Infinity}' \
           '{"rate_burst": -1}' '{"rate_burst": 1.5}' '{"rate_burst": "5"}' '{"rate_burst": false}' \
           '{"rate_burst": 100001}' '{"rate_mode": "bogus"}' '{"rate_mode": null}' '{"rate_mode": 1}' \
           '{"rate_limit": 5, "rate_mode": "Retry_After"}' '{"rate_limits": 5}'; do
    expect_code 400 /_admin/config -X POST -d "$bad"
done
curl -s "$BASE/_admin/config" >"$WORK/body"
[ "$(jq_ 'd["rate_limit"], d["rate_burst"], d["rate_mode"]')" = "0 0 retry_after" ] || fail "a bad config changed something: $(cat "$WORK/body")"
expect_code 200 /_admin/config -X POST -d '{"rate_limit": 100000, "rate_burst": 100000}'
expect_code 200 /_admin/config -X POST -d '{"rate_limit": 0, "rate_burst": 0, "rate_mode": "none"}'
curl -s -X POST "$BASE/_admin/reset" >/dev/null
ok "rate config: bad values are 400 and change nothing"

# --- open connections ------------------------------------------------------------
# The gauge lags a client's close by the server thread noticing it: poll.
"$PY" - "$PORT" <<'EOF' || fail "open_connections"
import http.client, json, sys, time, urllib.request
port = int(sys.argv[1])
H = {"Authorization": "Bearer tc_test_key"}
ID1 = "/v1/phone-numbers/00000000-0000-4000-8000-000000000001"
def stats():    # one new connection each, admin only: never counted
    return json.load(urllib.request.urlopen("http://127.0.0.1:%d/_admin/stats" % port))
def wait(want, what):
    for _ in range(100):
        st = stats()
        if st["open_connections"] == want:
            return st
        time.sleep(0.05)
    raise AssertionError("%s: open_connections %d, wanted %d" % (what, st["open_connections"], want))
def conn():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", ID1, headers=H); r = c.getresponse(); r.read()
    assert r.status == 200
    return c
wait(0, "at the start (earlier clients all gone)")
admin = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
for _ in range(2):          # an admin-only kept-alive connection is not counted
    admin.request("GET", "/_admin/stats"); admin.getresponse().read()
a = conn()
st = wait(1, "one kept-alive connection")
assert st["open_connections_peak"] == 1, st
a.request("GET", ID1, headers=H); a.getresponse().read()   # the same connection again
b = conn()
st = wait(2, "two kept-alive connections")
assert (st["open_connections_peak"], st["connections"]) == (2, 2), st
a.close()
st = wait(1, "after closing one")
assert st["open_connections_peak"] == 2, st
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/_admin/reset" % port,
                                              method="POST")).read()
st = stats()
assert (st["open_connections"], st["open_connections_peak"], st["connections"]) == (1, 1, 0), st
b.close()
st = wait(0, "after closing both")
assert st["open_connections_peak"] == 1, st
admin.close()
# Closed by the server (a fault's "close"), and by a client gone mid-request.
body = json.dumps([{"close": True}]).encode()
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/_admin/faults" % port,
                       data=body, headers={"Content-Type": "application/json"})).read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.request("GET", ID1, headers=H)
try:
    c.getresponse().read()
    raise AssertionError("the close fault answered")
except (http.client.RemoteDisconnected, ConnectionError):
    pass
st = wait(0, "after a close fault")
assert st["open_connections_peak"] == 1, st
c.close()
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/_admin/faults" % port,
                       data=b"[]", headers={"Content-Type": "application/json"})).read()
EOF
# curl holding one connection for two URLs; the server sees one connection open
# while curl runs (latency keeps it there), none once it has exited.
curl -s -X POST "$BASE/_admin/reset" >/dev/null
post /_admin/config '{"latency_ms": 1000}' >/dev/null
curl -s -o /dev/null -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1" "$BASE/v1/phone-numbers/$ID1" & CURL=$!
sleep 1.3     # in the second request (open from ~0 s to ~2 s)
[ "$(stat open_connections)" = 1 ] || fail "open_connections during curl: $(stat open_connections)"
wait "$CURL"
for _ in $(seq 100); do [ "$(stat open_connections)" = 0 ] && break; sleep 0.05; done
[ "$(stat open_connections) $(stat open_connections_peak) $(stat connections)" = "0 1 1" ] \
    || fail "open_connections after curl: $(curl -s "$BASE/_admin/stats")"
curl -s -X POST "$BASE/_admin/reset" >/dev/null
ok "open_connections: kept-alive connections rise and fall (admin-only not counted), survives reset, server close; peak"

# --- throughput --------------------------------------------------------------
post /_admin/config '{"count": 100000}' >/dev/null
"$PY" - "$PORT" <<'EOF' || fail "throughput"
import http.client, json, sys, time, urllib.parse
port = int(sys.argv[1])
H = {"Authorization": "Bearer tc_test_key"}
for attempt in ("first pass", "second pass"):
    c = http.client.HTTPConnection("127.0.0.1", port)
    t0 = time.perf_counter(); rows = 0; cursor = None; pages = 0
    while True:
        q = "limit=200" + ("&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else "")
        c.request("GET", "/v1/phone-numbers?" + q, headers=H)
        r = c.getresponse(); d = json.loads(r.read())
        rows += len(d["data"]); pages += 1
        cursor = d["next_cursor"]
        if cursor is None:
            break
    dt = time.perf_counter() - t0
    assert rows == 100000 and pages == 500, (rows, pages)
    print("   throughput %s: %d rows in %d pages, %.3f s, %.0f rows/s (client parses JSON)"
          % (attempt, rows, pages, dt, rows / dt))
    assert rows / dt > 50000
# The same without parsing on the client: the stand-in's own capacity.
c = http.client.HTTPConnection("127.0.0.1", port)
t0 = time.perf_counter(); pages = 0; cursor = None
while True:
    q = "limit=200" + ("&cursor=" + urllib.parse.quote(cursor, safe="") if cursor else "")
    c.request("GET", "/v1/phone-numbers?" + q, headers=H)
    body = c.getresponse().read(); pages += 1
    tail = body[body.rindex(b'"next_cursor":') + 14:-1]
    if tail == b"null":
        break
    cursor = tail.strip(b'"').decode()
dt = time.perf_counter() - t0
print("   throughput without client parsing: %d pages, %.3f s, %.0f rows/s" % (pages, dt, 100000 / dt))
EOF
[ "$(stat connections)" = 3 ] || fail "throughput connections $(stat connections)"
curl -s -X POST "$BASE/_admin/reset" >/dev/null
ok "throughput"

# --- TLS ---------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 2 \
    -keyout "$WORK/k.pem" -out "$WORK/c.pem" 2>/dev/null || fail "openssl"
start tls --tls-cert "$WORK/c.pem" --tls-key "$WORK/k.pem" --quiet
BASE="https://127.0.0.1:$PORT"
expect_code 200 /v1/phone-numbers/$ID1 -H "$KEY" --cacert "$WORK/c.pem"
curl -s -o /dev/null -o /dev/null -H "$KEY" --cacert "$WORK/c.pem" "$BASE/v1/phone-numbers/$ID1" "$BASE/v1/phone-numbers?limit=5"
[ "$(curl -s --cacert "$WORK/c.pem" "$BASE/_admin/stats" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["requests"], d["connections"])')" = "3 2" ] || fail "tls keep-alive"
curl -s -o /dev/null -H "$KEY" "$BASE/v1/phone-numbers/$ID1"; rc=$?
[ $rc = 60 ] || fail "untrusted cert should fail with 60, got $rc"
curl -s -o /dev/null -H "$KEY" --cacert "$WORK/c.pem" "$BASE/v1/phone-numbers/$ID1" || fail "server died after failed handshake"
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/v1/phone-numbers/$ID1"
curl -s -o /dev/null -H "$KEY" --cacert "$WORK/c.pem" "$BASE/v1/phone-numbers/$ID1" || fail "server died after plain HTTP"
ok "TLS (verified with --cacert, keep-alive, bad handshakes survive)"

# --- shutdown ----------------------------------------------------------------
kill -TERM "$LASTPID"; wait "$LASTPID"; rc=$?
[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
[ -s "$WORK/tls.err" ] && fail "stderr not empty: $(cat "$WORK/tls.err")"
[ -s "$WORK/main.err" ] && fail "stderr not empty: $(cat "$WORK/main.err")"
ok "SIGTERM: clean exit, nothing on stderr"
echo "all stand-in self-tests passed"
