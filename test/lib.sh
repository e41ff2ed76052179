# shellcheck shell=bash disable=SC2034
# (SC2034: the variables here are used by the scripts that source this file.)
#
# test/lib.sh: shell functions shared by test/run-tests.sh, test/demo.sh and
# the benchmark.  Source it from bash after `set -euo pipefail`; it only
# defines variables and functions.
#
# The scripts run as root (they install packages and `make install`), but
# PostgreSQL refuses to run as root, so clusters, builds of the copied tree
# and the stand-in API all run as the postgres user.  Every process started
# in the background is recorded, so that tc_cleanup can stop it by its PID.

# ---------------------------------------------------------------------------
# PostgreSQL: the system's 15 (Debian 12's packages) by default; another
# major built by test/build-postgres.sh after tc_use_pg NN.
# ---------------------------------------------------------------------------
# shellcheck source=test/build-postgres.sh
source "$(dirname "${BASH_SOURCE[0]}")/build-postgres.sh"
TC_PG_SYSTEM_MAJOR=$TCPG_SYSTEM_MAJOR

# Sets TC_PG_MAJOR, TC_PG_BIN, TC_PG_CONFIG, TC_PGXS_DIR, TC_PG_REGRESS,
# TC_PG_PERL and TC_PATH for that major.  Usage: tc_use_pg NN
tc_use_pg() {
	TC_PG_MAJOR=$1
	TC_PG_CONFIG=$(tcpg_pg_config "$1" 2>/dev/null) ||
		TC_PG_CONFIG=$(tcpg_prefix "$1")/bin/pg_config
	TC_PG_BIN=$(dirname "$TC_PG_CONFIG")
	TC_PGXS_DIR=$(tcpg_pgxs_dir "$1" 2>/dev/null) || TC_PGXS_DIR=
	TC_PG_REGRESS=$(tcpg_pg_regress "$1" 2>/dev/null) || TC_PG_REGRESS=
	TC_PG_PERL=$(tcpg_perl_dir "$1" 2>/dev/null) || TC_PG_PERL=
	# A PATH with the server binaries first and nothing from root's home.
	TC_PATH=$TC_PG_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}
# Debian's own python, not whatever a developer's PATH puts first (pyenv
# shims under /root are not even readable by the postgres user).
TC_PYTHON=/usr/bin/python3
# The API key the stand-in accepts by default.
TC_API_KEY=tc_test_key

# What building and testing need on a fresh Debian 12 machine.
TC_PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib
	libcurl4-openssl-dev
	pkg-config
	make
	gcc
	curl
	openssl
	python3
	libipc-run-perl
	perl
	nghttp2-server		# nghttpd: the HTTP/2 server of test/check-http2.sh
	python3-psycopg2	# test/chaos.py, the driver of test/check-chaos.sh
	libasan8		# test/check-sanitizer.sh: gcc's ASan/LSan runtime
	libubsan1		# ... and its UBSan runtime
	dpkg-dev		# test/check-package.sh: the Debian package
	debhelper
	fakeroot
	postgresql-server-dev-all
	lintian
)

# State for tc_cleanup.
TC_BG_PIDS=()		# background processes (stand-ins), by PID
TC_CLUSTERS=()		# data directories of clusters we started

# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
tc_log() { printf '==> %s\n' "$*"; }
tc_warn() { printf 'WARNING: %s\n' "$*" >&2; }
tc_die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

tc_require_root() {
	[[ $(id -u) -eq 0 ]] || tc_die "run me as root (sudo bash $0): I install packages and the extension"
}

# ---------------------------------------------------------------------------
# Packages: apt only when something is missing, so a second run (or an
# offline machine that already has everything) never touches the network.
# ---------------------------------------------------------------------------
tc_package_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

tc_install_packages() {
	local missing=() pkg
	for pkg in "${TC_PACKAGES[@]}"; do
		tc_package_installed "$pkg" || missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		tc_log "all required packages are installed"
		return 0
	fi
	tc_log "installing missing packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold "${missing[@]}"
	# pg_config may only now exist: work the paths out again
	tc_use_pg "$TC_PG_MAJOR"
}

# ---------------------------------------------------------------------------
# Running things as postgres
# ---------------------------------------------------------------------------
tc_use_pg "$TC_PG_SYSTEM_MAJOR"

# Foreground: runuser keeps the environment (so callers can pass variables
# with `env`), and forwards SIGTERM to the command.
tc_as_postgres() {
	runuser -u postgres -- env "PATH=$TC_PATH" "$@"
}

# Background: setpriv execs the command in place, so $! is the command's own
# PID and tc_cleanup can signal it directly.  Usage: tc_bg_as_postgres LOG CMD...
tc_bg_as_postgres() {
	local log=$1
	shift
	setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- \
		env "PATH=$TC_PATH" "$@" >"$log" 2>&1 &
	TC_BG_PIDS+=("$!")
}

# A TCP port nobody listens on right now (the kernel picks it).
tc_free_port() {
	"$TC_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------
# Work directory, copy, build, install
# ---------------------------------------------------------------------------
# Sets TC_WORK to a fresh directory owned by postgres and cds into it: the
# postgres user cannot read root's cwd, and every later step runs from here.
tc_make_workdir() {
	TC_WORK=$(mktemp -d /tmp/topcalls_fdw.XXXXXX)
	chown postgres:postgres "$TC_WORK"
	chmod 755 "$TC_WORK"
	cd "$TC_WORK" || tc_die "cannot cd to $TC_WORK"
}

# Copies the source tree without git data and without anything an in-tree
# build or test run left behind: stale objects would let make skip the
# -Werror compile, and old results would confuse pg_regress.
# Usage: tc_copy_tree REPO DEST
tc_copy_tree() {
	local repo=$1 dest=$2
	mkdir -p "$dest"
	tar -C "$repo" \
		--exclude=./.git --exclude=./results --exclude=./tmp_check \
		--exclude=./log --exclude=./regression.diffs --exclude=./regression.out \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=__pycache__ \
		-cf - . | tar -C "$dest" -xf -
	chown -R postgres:postgres "$dest"
}

# Builds as postgres, then installs as root.  Extra arguments go to the
# build's make (run-tests.sh passes COPT=-Werror).  Usage: tc_build_and_install DIR [MAKEARGS...]
tc_build_and_install() {
	local dir=$1
	shift
	tc_log "building in $dir"
	(cd "$dir" && tc_as_postgres make -j"$(nproc)" PG_CONFIG="$TC_PG_CONFIG" "$@") ||
		tc_die "build failed"
	tc_log "installing the extension"
	make -C "$dir" install PG_CONFIG="$TC_PG_CONFIG" >/dev/null ||
		tc_die "make install failed"
}

# ---------------------------------------------------------------------------
# TLS: a self-signed certificate for localhost, usable as its own CA file.
# Sets TC_CA_FILE and TC_TLS_KEY.  Usage: tc_make_cert DIR
# ---------------------------------------------------------------------------
tc_make_cert() {
	local dir=$1
	mkdir -p "$dir"
	TC_CA_FILE=$dir/cert.pem
	TC_TLS_KEY=$dir/key.pem
	openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
		-subj /CN=localhost \
		-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
		-keyout "$TC_TLS_KEY" -out "$TC_CA_FILE" >"$dir/openssl.log" 2>&1 ||
		{ cat "$dir/openssl.log" >&2; tc_die "could not make the TLS certificate"; }
	chown -R postgres:postgres "$dir"
	chmod 600 "$TC_TLS_KEY"
	chmod 644 "$TC_CA_FILE"
}

# ---------------------------------------------------------------------------
# The stand-in API
# ---------------------------------------------------------------------------
# Waits (bounded) until URL answers; extra arguments go to curl.
# Usage: tc_wait_http URL SECONDS PID [CURLARGS...]
tc_wait_http() {
	local url=$1 secs=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if curl -sSf --max-time 2 "$@" "$url" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Starts test/standin_api.py as postgres on a port the kernel picks and waits
# until /_admin/health answers.  Sets TC_STARTED_PORT and TC_STARTED_PID.
# With --tls-cert, the health check goes over https to localhost with
# TC_CA_FILE.  Usage: tc_start_standin NAME SCRIPT [standin options...]
tc_start_standin() {
	local name=$1 script=$2
	shift 2
	local portfile=$TC_WORK/$name.port log=$TC_WORK/$name.log scheme=http host=127.0.0.1
	local curlargs=() arg
	for arg in "$@"; do
		if [[ $arg == --tls-cert ]]; then
			scheme=https host=localhost curlargs=(--cacert "$TC_CA_FILE")
		fi
	done
	rm -f "$portfile"
	tc_bg_as_postgres "$log" "$TC_PYTHON" "$script" --port 0 --port-file "$portfile" "$@"
	TC_STARTED_PID=${TC_BG_PIDS[-1]}

	# The port file appears when the server listens; it may be empty for an
	# instant while being written.
	local deadline=$((SECONDS + 10))
	TC_STARTED_PORT=
	while ((SECONDS < deadline)); do
		if [[ -s $portfile ]]; then
			TC_STARTED_PORT=$(tr -dc 0-9 <"$portfile")
			[[ -n $TC_STARTED_PORT ]] && break
		fi
		kill -0 "$TC_STARTED_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $TC_STARTED_PORT ]] ||
		! tc_wait_http "$scheme://$host:$TC_STARTED_PORT/_admin/health" \
			$((deadline - SECONDS > 1 ? deadline - SECONDS : 1)) "$TC_STARTED_PID" "${curlargs[@]}"; then
		printf -- '--- %s\n' "$log" >&2
		tail -n 30 "$log" >&2 || true
		tc_die "stand-in '$name' did not answer $scheme://$host:${TC_STARTED_PORT:-?}/_admin/health within 10 s"
	fi
	tc_log "stand-in '$name' listening on $scheme://$host:$TC_STARTED_PORT"
}

# ---------------------------------------------------------------------------
# A throwaway cluster: Unix socket only, in TC_WORK.  Sets TC_PGPORT.
# Usage: tc_init_cluster DATADIR [extra postgresql.conf lines...]
# ---------------------------------------------------------------------------
tc_init_cluster() {
	local datadir=$1
	shift
	TC_PGPORT=$(tc_free_port)
	tc_log "initdb $datadir"
	tc_as_postgres initdb -D "$datadir" -U postgres --auth=trust --no-sync \
		--encoding=UTF8 --locale=C >"$TC_WORK/initdb.log" 2>&1 ||
		{ cat "$TC_WORK/initdb.log" >&2; tc_die "initdb failed"; }
	{
		echo
		echo "# added by test/lib.sh"
		echo "port = $TC_PGPORT"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$TC_WORK'"
		echo "logging_collector = off"
		echo "log_min_messages = warning"
		echo "fsync = off"
		local line
		for line in "$@"; do echo "$line"; done
	} >>"$datadir/postgresql.conf"
}

# Usage: tc_start_cluster DATADIR LOGFILE
tc_start_cluster() {
	local datadir=$1 logfile=$2
	TC_CLUSTERS+=("$datadir")
	tc_as_postgres pg_ctl -D "$datadir" -l "$logfile" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$logfile" >&2; tc_die "the cluster did not start"; }
	tc_log "cluster running, socket in $TC_WORK, port $TC_PGPORT"
}

# psql against the throwaway cluster, as postgres, no ~/.psqlrc.
tc_psql() {
	tc_as_postgres psql -X -h "$TC_WORK" -p "$TC_PGPORT" -U postgres "$@"
}

# ---------------------------------------------------------------------------
# Cleanup: safe to call more than once, and from an EXIT trap.
# ---------------------------------------------------------------------------
tc_stop_clusters() {
	local datadir
	for datadir in "${TC_CLUSTERS[@]}"; do
		[[ -f $datadir/postmaster.pid ]] || continue
		tc_as_postgres pg_ctl -D "$datadir" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			tc_as_postgres pg_ctl -D "$datadir" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
			tc_warn "could not stop the cluster in $datadir"
	done
	TC_CLUSTERS=()
}

tc_stop_background() {
	local pid i
	for pid in "${TC_BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	TC_BG_PIDS=()
}

tc_cleanup() {
	tc_stop_clusters
	tc_stop_background
}
