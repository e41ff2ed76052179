#!/usr/bin/env bash
# test/check-package.sh: build the Debian package from a copy of this tree,
# check it, install it on a system without any other topcalls_fdw, use it,
# and purge it again.
#
#   sudo bash test/check-package.sh
#
# Root is needed (apt-get, dpkg -i, dpkg -P); the build, lintian, the stand-in
# API and the cluster run as the postgres user.  Steps:
#   1. install what is missing (dpkg-dev debhelper postgresql-server-dev-all
#      lintian fakeroot and the build dependencies) with apt;
#   2. purge postgresql-15-topcalls-fdw if a run left it installed, and remove
#      the files a `make install` put into PostgreSQL 15 (the .so, its bitcode,
#      the control file and the SQL scripts): the package is tested on a system
#      that has no other topcalls_fdw.  Run `make install` again afterwards if
#      you want the extension from the tree back (test/run-tests.sh does);
#   3. copy the tree (like tc_copy_tree) and `dpkg-buildpackage -us -uc -b`;
#   4. lintian on the .changes: any E: fails, W: lines are printed;
#   5. the binary package is postgresql-15-topcalls-fdw with the version of
#      debian/changelog, and holds the .so, the control file and every
#      topcalls_fdw--*.sql of the tree;
#   6. dpkg -i (apt-get install -f when dependencies are missing);
#   7. the stand-in API and a throwaway cluster: CREATE EXTENSION, a server,
#      a user mapping, a foreign table, and one lookup by id; then the
#      package's autopkgtest (debian/tests/smoke) as postgres;
#   8. dpkg -P, and none of the package's files is left.
# Prints "check-package: ok (N s)" at the end.  Every step is bounded in
# time; the whole run takes about 30 s once the tools are installed.  It
# changes PostgreSQL 15's extension directories (step 2), so do not run it
# while something else uses a make-installed topcalls_fdw there.
#
# Environment knobs:
#   TC_KEEP_WORK=1   keep the work directory (build tree, .debs, logs) even
#                    when everything passed (it is always kept on failure)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"

PKG=postgresql-$TC_PG_MAJOR-topcalls-fdw
# What the check needs besides the build dependencies of debian/control.
TC_PACKAGES=(
	dpkg-dev
	debhelper
	postgresql-server-dev-all
	lintian
	fakeroot
	"postgresql-$TC_PG_MAJOR"
	"postgresql-server-dev-$TC_PG_MAJOR"
	libcurl4-openssl-dev
	pkg-config
	make
	gcc
	curl
	python3
)

# tc_as_postgres as a command line, for `timeout`.
AS_PG=(runuser -u postgres -- env "PATH=$TC_PATH")

TC_WORK=
PKG_TOUCHED=0 # 1 once we may have installed the package: the EXIT trap purges it
STARTED=$SECONDS

fail() {
	printf 'check-package: FAILED: %s\n' "$*" >&2
	exit 1
}

# Runs a command (a program, not a shell function) bounded in time; says
# which step ran too long.
# Usage: bounded SECONDS LOG CMD...   (LOG gets stdout and stderr; "-" = none)
bounded() {
	local secs=$1 log=$2 rc=0
	shift 2
	if [[ $log == - ]]; then
		timeout -k 10 "$secs" "$@" || rc=$?
	else
		timeout -k 10 "$secs" "$@" >"$log" 2>&1 || rc=$?
	fi
	if ((rc == 124 || rc == 137)); then
		printf 'TIMEOUT: %s ran longer than %s s\n' "$*" "$secs" >&2
	fi
	return "$rc"
}

# Installed, half-installed or only its conffiles left: anything dpkg -P removes.
pkg_installed() {
	local status
	status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null) || return 1
	[[ -n $status && $status != not-installed ]]
}

purge_package() {
	pkg_installed || return 0
	tc_log "dpkg -P $PKG"
	local log=${TC_WORK:-/tmp}/dpkg-P.log
	[[ -d ${TC_WORK:-} ]] || log=/dev/null
	bounded 300 "$log" dpkg -P "$PKG" || { [[ $log == /dev/null ]] || cat "$log" >&2; return 1; }
}

on_exit() {
	local status=$?
	set +e
	trap - EXIT INT TERM
	tc_cleanup
	if ((PKG_TOUCHED)) && pkg_installed; then
		purge_package || tc_warn "could not purge $PKG: remove it with dpkg -P $PKG"
	fi
	if [[ -n $TC_WORK && -d $TC_WORK ]]; then
		if ((status == 0)) && [[ ${TC_KEEP_WORK:-0} != 1 ]]; then
			cd / && rm -rf "$TC_WORK"
		else
			echo "work directory kept: $TC_WORK"
		fi
	fi
	if ((status != 0)); then
		echo "check-package: FAILED (exit $status, after $((SECONDS - STARTED)) s)" >&2
	fi
	exit "$status"
}

# The files of an installed topcalls_fdw in PostgreSQL 15, package or make install.
installed_files() {
	local libdir sharedir
	libdir=$("$TC_PG_CONFIG" --pkglibdir)
	sharedir=$("$TC_PG_CONFIG" --sharedir)
	compgen -G "$libdir/topcalls_fdw.so" || true
	compgen -G "$libdir/bitcode/topcalls_fdw*" || true
	compgen -G "$sharedir/extension/topcalls_fdw*" || true
}

main() {
	if [[ $(id -u) -ne 0 ]]; then
		# test/run-tests.sh runs the other test/check-*.sh as postgres; this one
		# it must run as root itself (77: "skipped", as automake has it).
		echo "check-package: skipped: needs root (it installs tools and the package): sudo bash $0" >&2
		exit 77
	fi
	trap on_exit EXIT
	export DEBIAN_FRONTEND=noninteractive
	trap 'exit 130' INT
	trap 'exit 143' TERM

	# 1. Tools (in a child bash, so that timeout can bound the lib.sh function).
	# shellcheck disable=SC2016
	bounded 900 - bash -c 'set -euo pipefail; source "$1"; shift; TC_PACKAGES=("$@"); tc_install_packages' \
		bash "$REPO/test/lib.sh" "${TC_PACKAGES[@]}" || fail "could not install the tools"

	# 2. A system without topcalls_fdw.
	PKG_TOUCHED=1
	purge_package
	local f left=()
	while read -r f; do
		[[ -n $f ]] || continue
		tc_log "removing $f (from an earlier make install)"
		rm -rf -- "$f"
	done < <(installed_files)
	mapfile -t left < <(installed_files)
	((${#left[@]} == 0)) || fail "could not remove: ${left[*]}"

	# 3. Build from a copy.
	tc_make_workdir
	tc_log "work directory $TC_WORK"
	local src=$TC_WORK/src
	tc_copy_tree "$REPO" "$src"
	[[ -f $src/debian/control && -f $src/debian/changelog ]] || fail "no debian/ in $REPO"
	local version arch
	version=$(cd "$src" && dpkg-parsechangelog -S Version)
	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	tc_log "dpkg-buildpackage -us -uc -b (topcalls-fdw $version; log: $TC_WORK/build.log)"
	(cd "$src" && bounded 900 "$TC_WORK/build.log" \
		"${AS_PG[@]}" HOME="$TC_WORK" dpkg-buildpackage -us -uc -b) ||
		{ tail -n 40 "$TC_WORK/build.log" >&2; fail "dpkg-buildpackage failed"; }
	local changes=$TC_WORK/topcalls-fdw_${version#*:}_$arch.changes
	[[ -f $changes ]] || fail "no $changes after the build"

	# 4. lintian.
	tc_log "lintian ${changes##*/}"
	local lint=$TC_WORK/lintian.log rc=0
	(cd "$TC_WORK" && bounded 600 "$lint" "${AS_PG[@]}" HOME="$TC_WORK" \
		lintian --fail-on none "$changes") || rc=$?
	if ((rc != 0)); then
		cat "$lint" >&2
		fail "lintian did not run (exit $rc)"
	fi
	sed 's/^/    /' "$lint"
	local nerr nwarn
	nerr=$(grep -c '^E: ' "$lint" || true)
	nwarn=$(grep -c '^W: ' "$lint" || true)
	((nerr == 0)) || fail "lintian reported $nerr error(s) (E: lines above)"
	tc_log "lintian: no errors, $nwarn warning(s)"

	# 5. The binary package.
	local deb=$TC_WORK/${PKG}_${version#*:}_$arch.deb
	local debs=() others=()
	for f in "$TC_WORK"/*.deb; do
		[[ -e $f ]] || continue
		debs+=("${f##*/}")
		[[ ${f##*/} == "${PKG}_"* || ${f##*/} == "${PKG}-dbgsym_"* ]] || others+=("${f##*/}")
	done
	[[ -f $deb ]] || fail "the build made no ${deb##*/}, but: ${debs[*]:-no .deb at all}"
	((${#others[@]} == 0)) || fail "unexpected binary packages: ${others[*]}"
	local name
	name=$(dpkg-deb -f "$deb" Package)
	[[ $name == "$PKG" ]] || fail "binary package is named '$name', expected '$PKG'"
	tc_log "$name $(dpkg-deb -f "$deb" Version): Depends: $(dpkg-deb -f "$deb" Depends)"
	local contents=$TC_WORK/contents.txt
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$contents"
	grep -v '/$' "$contents" | sed 's/^/    /'  # the files, without the directories
	local libdir sharedir want=()
	libdir=$("$TC_PG_CONFIG" --pkglibdir)
	sharedir=$("$TC_PG_CONFIG" --sharedir)
	want=("$libdir/topcalls_fdw.so" "$sharedir/extension/topcalls_fdw.control")
	for f in "$src"/topcalls_fdw--*.sql; do
		[[ -e $f ]] && want+=("$sharedir/extension/${f##*/}")
	done
	((${#want[@]} > 2)) || fail "no topcalls_fdw--*.sql in the tree"
	for f in "${want[@]}"; do
		grep -qxF "$f" "$contents" || fail "$deb lacks $f"
	done
	tc_log "the package holds the .so, the control file and the $((${#want[@]} - 2)) SQL script(s)"

	# 6. Install.
	tc_log "dpkg -i ${deb##*/}"
	if ! bounded 300 "$TC_WORK/dpkg-i.log" dpkg -i "$deb"; then
		tc_log "dpkg -i failed (missing dependencies?): apt-get install -f"
		sed 's/^/    /' "$TC_WORK/dpkg-i.log"
		bounded 600 "$TC_WORK/apt-f.log" \
			apt-get install -f -y -q -o Dpkg::Options::=--force-confdef \
			-o Dpkg::Options::=--force-confold ||
			{ tail -n 30 "$TC_WORK/apt-f.log" >&2; fail "apt-get install -f failed"; }
	fi
	[[ $(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null) == "install ok installed $version" ]] ||
		fail "$PKG $version is not installed after dpkg -i"
	for f in "${want[@]}"; do
		[[ -f $f ]] || fail "$f is missing after dpkg -i"
	done
	tc_log "$PKG $version installed"

	# 7. Use it.
	tc_start_standin standin "$src/test/standin_api.py"
	local api=http://127.0.0.1:$TC_STARTED_PORT
	tc_init_cluster "$TC_WORK/cluster"
	tc_start_cluster "$TC_WORK/cluster" "$TC_WORK/server.log"
	local out
	out=$(bounded 120 - "${AS_PG[@]}" psql -X -h "$TC_WORK" -p "$TC_PGPORT" -U postgres \
		-d postgres -v ON_ERROR_STOP=1 -q -At <<SQL
SET statement_timeout = '60s';
CREATE EXTENSION topcalls_fdw;
CREATE SERVER topcalls FOREIGN DATA WRAPPER topcalls_fdw
    OPTIONS (base_url '$api');
CREATE USER MAPPING FOR CURRENT_USER SERVER topcalls
    OPTIONS (api_key '$TC_API_KEY');
CREATE FOREIGN TABLE t (
  id uuid, account_id uuid, number text, source text, status text,
  phone_number_sid uuid, voip_carrier_sid uuid, carrier_name text, label text,
  error_message text, created_by_user_id uuid,
  created_at timestamptz, updated_at timestamptz
) SERVER topcalls;
SELECT 'version=' || extversion FROM pg_extension WHERE extname = 'topcalls_fdw';
SELECT number FROM t WHERE id = '00000000-0000-4000-8000-000000000001';
SQL
	) || { tail -n 20 "$TC_WORK/server.log" >&2; fail "the SQL against the installed package failed"; }
	printf '%s\n' "$out" | sed 's/^/    /'
	local dv
	dv=$(sed -nE "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']*)'.*/\1/p" "$src/topcalls_fdw.control")
	[[ $out == *"version=$dv"* ]] || fail "CREATE EXTENSION did not make version $dv"
	[[ $(printf '%s\n' "$out" | tail -n 1) == "+15550000001" ]] ||
		fail "the lookup by id returned '$(printf '%s\n' "$out" | tail -n 1)', expected +15550000001"
	tc_log "CREATE EXTENSION and a lookup through the package: ok"
	tc_cleanup

	# The package's own autopkgtest, as an unprivileged user would run it.
	local adt=$TC_WORK/autopkgtest
	mkdir -p "$adt"
	chown postgres:postgres "$adt"
	tc_log "debian/tests/smoke (autopkgtest; log: $TC_WORK/smoke.log)"
	(cd "$src" && bounded 180 "$TC_WORK/smoke.log" \
		"${AS_PG[@]}" HOME="$adt" AUTOPKGTEST_TMP="$adt" sh debian/tests/smoke) ||
		{ cat "$TC_WORK/smoke.log" >&2; fail "debian/tests/smoke failed"; }
	grep -qx '+15550000001' "$TC_WORK/smoke.log" || fail "debian/tests/smoke printed no +15550000001"

	# 8. Purge.
	purge_package || fail "dpkg -P $PKG failed"
	! pkg_installed || fail "$PKG is still installed after dpkg -P"
	mapfile -t left < <(installed_files)
	((${#left[@]} == 0)) || fail "left after dpkg -P: ${left[*]}"
	[[ ! -e /usr/share/doc/$PKG ]] || fail "left after dpkg -P: /usr/share/doc/$PKG"
	tc_log "purged; no topcalls_fdw file is left in PostgreSQL $TC_PG_MAJOR"

	echo "check-package: ok ($((SECONDS - STARTED)) s)"
}

main "$@"
