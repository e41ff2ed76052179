#!/usr/bin/env bash
# test/standin.sh: start or stop the stand-in TopCalls API (plain HTTP and
# TLS) for `make installcheck` against a server of your own.
#
#   eval "$(bash test/standin.sh start)"   starts both, prints (and so sets)
#                                          TC_API_URL, TC_TLS_URL, TC_CA_FILE
#   make installcheck                      with PGHOST, PGPORT, PGUSER set
#   bash test/standin.sh stop              stops them
#
# The stand-ins listen on 127.0.0.1 only, on ports the kernel picks; their
# state (PIDs, ports, a self-signed certificate for localhost, logs) lives in
# $TC_STANDIN_DIR (default /tmp/topcalls-standin-$USER).  The certificate and
# the directory are world-readable: the database server reads the
# certificate (the suites' TLS server uses it as its ca_file).  Needs
# python3 and openssl; runs as any user.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${TC_STANDIN_DIR:-/tmp/topcalls-standin-$(id -un)}
PY=/usr/bin/python3

die() {
	printf 'standin.sh: %s\n' "$*" >&2
	exit 1
}

# start_one NAME [standin options...]: prints the port.
start_one() {
	local name=$1 port=
	shift
	rm -f "$DIR/$name.port"
	"$PY" "$HERE/standin_api.py" --port 0 --port-file "$DIR/$name.port" --quiet "$@" \
		>"$DIR/$name.log" 2>&1 &
	echo "$!" >"$DIR/$name.pid"
	for _ in $(seq 100); do
		[[ -s $DIR/$name.port ]] && port=$(tr -dc 0-9 <"$DIR/$name.port")
		[[ -n $port ]] && break
		kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || break
		sleep 0.1
	done
	[[ -n $port ]] || { cat "$DIR/$name.log" >&2; die "the $name stand-in did not start"; }
	echo "$port"
}

stop_all() {
	local f
	for f in "$DIR"/*.pid; do
		[[ -e $f ]] || continue
		kill "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
}

case ${1:-} in
start)
	mkdir -p "$DIR"
	chmod 755 "$DIR"
	stop_all
	if [[ ! -s $DIR/cert.pem ]]; then
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=localhost \
			-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
			-keyout "$DIR/key.pem" -out "$DIR/cert.pem" >"$DIR/openssl.log" 2>&1 ||
			{ cat "$DIR/openssl.log" >&2; die "openssl failed"; }
		chmod 600 "$DIR/key.pem"
		chmod 644 "$DIR/cert.pem"
	fi
	plain=$(start_one standin)
	tls=$(start_one standin-tls --tls-cert "$DIR/cert.pem" --tls-key "$DIR/key.pem")
	echo "export TC_API_URL=http://127.0.0.1:$plain"
	echo "export TC_TLS_URL=https://localhost:$tls"
	echo "export TC_CA_FILE=$DIR/cert.pem"
	;;
stop)
	stop_all
	;;
*)
	sed -n '2,16p' "${BASH_SOURCE[0]}" >&2
	exit 2
	;;
esac
