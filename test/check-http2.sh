#!/usr/bin/env bash
# test/check-http2.sh: concurrent lookups share one HTTP/2 connection when the
# server offers HTTP/2.
#
# The stand-in API speaks HTTP/1.1 only, so this check serves the lookup
# answers as static files from nghttpd (Debian's nghttp2-server), an HTTP/2
# server that speaks nothing else over TLS: every row that comes back came
# over HTTP/2.  nghttpd -v numbers its connections ("[id=N]"), which is how
# the check counts them.
#
# Run by test/run-tests.sh as postgres, with TC_PGHOST, TC_PGPORT and
# TC_CA_FILE (the self-signed certificate, its key beside it) in the
# environment.
set -euo pipefail

: "${TC_PGHOST:?}" "${TC_PGPORT:?}" "${TC_CA_FILE:?}"
KEY_FILE=$(dirname "$TC_CA_FILE")/key.pem
NIDS=24

if ! command -v nghttpd >/dev/null && [[ ! -x /usr/sbin/nghttpd ]]; then
	echo "check-http2: nghttpd is not installed (package nghttp2-server)" >&2
	exit 1
fi
NGHTTPD=$(command -v nghttpd || echo /usr/sbin/nghttpd)

WORK=$(mktemp -d /tmp/tc_http2.XXXXXX)
NGHTTPD_PID=
cleanup() {
	if [[ -n $NGHTTPD_PID ]]; then
		kill "$NGHTTPD_PID" 2>/dev/null || true
		wait "$NGHTTPD_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# One answer file per id, as GET /v1/phone-numbers/{id} would return it.
mkdir -p "$WORK/htdocs/v1/phone-numbers"
for i in $(seq 1 "$NIDS"); do
	id=$(printf '00000000-0000-4000-8000-%012d' "$i")
	printf '{"id":"%s","number":"+1555%07d","status":"active"}' "$id" "$i" \
		>"$WORK/htdocs/v1/phone-numbers/$id"
done

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$NGHTTPD" -v --htdocs="$WORK/htdocs" "$PORT" "$KEY_FILE" "$TC_CA_FILE" >"$WORK/nghttpd.log" 2>&1 &
NGHTTPD_PID=$!
for _ in $(seq 1 50); do
	grep -q "listen" "$WORK/nghttpd.log" 2>/dev/null && break
	(echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done

psql_run() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$TC_PGHOST" -p "$TC_PGPORT" -d postgres -At "$@"
}

psql_run <<SQL
CREATE DATABASE tc_http2;
SQL
trap 'psql_run -c "DROP DATABASE IF EXISTS tc_http2" >/dev/null 2>&1; cleanup' EXIT

rows=$(psql -X -q -v ON_ERROR_STOP=1 -h "$TC_PGHOST" -p "$TC_PGPORT" -d tc_http2 -At <<SQL
CREATE EXTENSION topcalls_fdw;
CREATE SERVER h2 FOREIGN DATA WRAPPER topcalls_fdw
  OPTIONS (base_url 'https://localhost:$PORT', ca_file '$TC_CA_FILE', max_concurrency '8');
CREATE USER MAPPING FOR CURRENT_USER SERVER h2 OPTIONS (api_key 'tc_test_key');
CREATE FOREIGN TABLE h2_numbers (id uuid, number text, status text) SERVER h2;
SELECT count(*) FROM h2_numbers
 WHERE id = ANY (ARRAY(SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))::uuid
                         FROM generate_series(1, $NIDS) i));
SELECT count(*) FROM h2_numbers WHERE id = '00000000-0000-4000-8000-000000000001';
SQL
)

connections=$(grep -oE '\[id=[0-9]+\]' "$WORK/nghttpd.log" | sort -u | wc -l)
streams=$(grep -cE ':path: /v1/phone-numbers/' "$WORK/nghttpd.log" || true)

echo "check-http2: rows=$(echo "$rows" | tr '\n' ' ') connections=$connections streams=$streams"
fail=0
if [[ $rows != "$NIDS"$'\n'"1" ]]; then
	echo "check-http2: FAIL: expected $NIDS rows then 1 row over HTTP/2" >&2
	fail=1
fi
if [[ $connections -ne 1 ]]; then
	echo "check-http2: FAIL: expected all $((NIDS + 1)) requests on one HTTP/2 connection, saw $connections connections" >&2
	fail=1
fi
if [[ $streams -ne $((NIDS + 1)) ]]; then
	echo "check-http2: FAIL: expected $((NIDS + 1)) HTTP/2 streams, saw $streams" >&2
	fail=1
fi
if ((fail)); then
	tail -n 30 "$WORK/nghttpd.log" >&2
	exit 1
fi
echo "check-http2: ok"
