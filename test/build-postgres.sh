#!/usr/bin/env bash
# test/build-postgres.sh: build other PostgreSQL major versions from Debian's
# source packages, so that the test suite can run against them too.
#
#   sudo bash test/build-postgres.sh 13 18
#   ...
#   pg_config 13 /opt/topcalls-pg/13/bin/pg_config
#   pg_config 18 /opt/topcalls-pg/18/bin/pg_config
#
# Why: Debian 12 ships PostgreSQL 15 only, and this machine reaches no
# network but Debian's archive (through the mirror apt is configured with).
# That archive still has the sources of other majors: postgresql-13 in
# bullseye-security (Debian 11), postgresql-17 in trixie (Debian 13) and
# postgresql-18 in sid.  PostgreSQL 16 is in no suite any more, so it cannot
# be built here.  15 means the system's own /usr/lib/postgresql/15: nothing
# is built for it, its pg_config is just printed.
#
# What it does, for each major that is not already built:
#   1. installs the build dependencies that are missing (apt-get, system
#      sources);
#   2. writes deb-src entries for the suites it needs to a PRIVATE apt
#      configuration under $TC_PG_PREFIX_ROOT/apt (its own source list, lists
#      and cache directories), so the machine's apt state is left alone.  The
#      mirror URIs are read from /etc/apt/sources.list.d/debian.sources (or
#      /etc/apt/sources.list); the suites are verified with
#      /usr/share/keyrings/debian-archive-keyring.gpg like the system's own;
#   3. `apt-get source --download-only postgresql-NN` into
#      $TC_PG_PREFIX_ROOT/src (kept, so a rebuild needs no network), and
#      extracts the upstream tarball (Debian's patches are not applied);
#   4. configure --prefix=$TC_PG_PREFIX_ROOT/NN --without-icu
#      --without-readline --with-openssl --enable-tap-tests, make -j$(nproc),
#      make install, and the same for contrib (20-75 s more on 2 cores; the
#      tests do not need it, but file_fdw, postgres_fdw etc. are then there);
#   5. makes sure PGXS has what test/run-tests.sh uses: pg_regress in
#      $(pgxs dir)/src/test/regress and the TAP modules (PostgreSQL::Test::
#      Cluster and friends) in $(pgxs dir)/src/test/perl, the layout of
#      Debian's postgresql-server-dev-15 (make install leaves out a few of
#      the modules, e.g. PostgreSQL/Version.pm in 13: they are copied in);
#   6. writes a stamp file in the prefix, and removes the build tree.
# A major whose prefix has the stamp, and whose pg_config reports the version
# the stamp names, is not touched again (no network needed either); an
# interrupted build has no stamp and is redone from scratch.
#
# Output: one short line per step; the configure/make output goes to
# $TC_PG_PREFIX_ROOT/log/build-NN.log, whose tail is printed on failure (the
# build tree is then kept).  The last lines are "pg_config NN PATH".
#
# Other modes (no root needed, nothing is built):
#   bash test/build-postgres.sh --prefix NN      prints the prefix of NN
#   bash test/build-postgres.sh --pg-config NN   prints its pg_config, or
#                                                fails when NN is not built
#   source test/build-postgres.sh                defines tcpg_prefix,
#       tcpg_pg_config, tcpg_pgxs_dir, tcpg_pg_regress, tcpg_perl_dir (each
#       takes a major and prints a path) and tcpg_build MAJOR... (runs this
#       script in a child process, progress on stderr); nothing else.
#
# Environment knobs:
#   TC_PG_PREFIX_ROOT=DIR   where everything goes (default /opt/topcalls-pg):
#                           DIR/NN (the installs), DIR/src (downloaded
#                           sources), DIR/apt (private apt state), DIR/log,
#                           DIR/build (build trees, removed after success)
#   TC_PG_REBUILD=1         rebuild even when a finished build is there
#   TC_PG_KEEP_BUILD=1      keep the build tree after a successful install
#   TC_PG_CONTRIB=0         do not build contrib
#   TC_PG_JOBS=N            make -jN (default: nproc)
#   TC_PG_DEBIAN_MIRROR=URI, TC_PG_SECURITY_MIRROR=URI
#                           override the mirrors read from apt's sources

TC_PG_PREFIX_ROOT=${TC_PG_PREFIX_ROOT:-/opt/topcalls-pg}
TCPG_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
# The major Debian 12 ships; it is used as is, from /usr/lib/postgresql.
TCPG_SYSTEM_MAJOR=15
TCPG_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# ---------------------------------------------------------------------------
# Paths (usable when sourced)
# ---------------------------------------------------------------------------
tcpg_prefix() {
	if [[ $1 == "$TCPG_SYSTEM_MAJOR" ]]; then
		printf '%s\n' "/usr/lib/postgresql/$1"
	else
		printf '%s\n' "$TC_PG_PREFIX_ROOT/$1"
	fi
}

# The pg_config of a major that is ready to use; fails (silently) otherwise.
tcpg_pg_config() {
	local pgc
	pgc=$(tcpg_prefix "$1")/bin/pg_config
	[[ -x $pgc ]] || return 1
	if [[ $1 != "$TCPG_SYSTEM_MAJOR" ]]; then
		tcpg_build_is_finished "$1" || return 1
	fi
	printf '%s\n' "$pgc"
}

# $(pg_config --pgxs) is DIR/src/makefiles/pgxs.mk: prints DIR.
tcpg_pgxs_dir() {
	local pgc pgxs
	pgc=$(tcpg_pg_config "$1") || return 1
	pgxs=$("$pgc" --pgxs) || return 1
	printf '%s\n' "${pgxs%/src/makefiles/pgxs.mk}"
}

tcpg_pg_regress() {
	local dir
	dir=$(tcpg_pgxs_dir "$1") || return 1
	printf '%s\n' "$dir/src/test/regress/pg_regress"
}

# The directory to give prove -I for PostgreSQL::Test::Cluster.
tcpg_perl_dir() {
	local dir
	dir=$(tcpg_pgxs_dir "$1") || return 1
	printf '%s\n' "$dir/src/test/perl"
}

# Builds what is missing (in a child process: a failure does not exit the
# caller); progress goes to stderr.
tcpg_build() {
	bash "$TCPG_SCRIPT" "$@" >&2
}

# ---------------------------------------------------------------------------
# Build state
# ---------------------------------------------------------------------------
tcpg_stamp() { printf '%s\n' "$(tcpg_prefix "$1")/.topcalls-pg-build"; }

tcpg_contrib_wanted() { [[ ${TC_PG_CONTRIB:-1} != 0 ]]; }

tcpg_configure_args() {
	printf '%s\n' "--prefix=$(tcpg_prefix "$1")" --without-icu --without-readline \
		--with-openssl --enable-tap-tests
}

# What the stamp must say besides the version: a change rebuilds.
tcpg_build_options() {
	local args
	args=$(tcpg_configure_args "$1" | tr '\n' ' ')
	printf 'configure: %s\ncontrib: %s\n' "${args% }" "$(tcpg_contrib_wanted && echo yes || echo no)"
}

# True when the prefix holds a finished build of this major: the stamp is
# there (it is written last), names the version pg_config reports, and that
# version is of the right major.
tcpg_build_is_finished() {
	local major=$1 pgc stamp version
	pgc=$(tcpg_prefix "$major")/bin/pg_config
	stamp=$(tcpg_stamp "$major")
	[[ -x $pgc && -f $stamp ]] || return 1
	version=$("$pgc" --version 2>/dev/null) || return 1
	[[ $version =~ ^PostgreSQL\ ${major}[.] ]] || return 1
	[[ $(head -n 1 "$stamp") == "version: $version" ]]
}

# ... and was built with the current options (else it is built again).
tcpg_build_is_current() {
	tcpg_build_is_finished "$1" &&
		[[ $(sed -n '2,3p' "$(tcpg_stamp "$1")") == "$(tcpg_build_options "$1")" ]]
}

# When sourced, stop here: only the functions above are wanted.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
	return 0
fi

set -euo pipefail
# The installs must be readable by the postgres user whatever root's umask.
umask 022

TCPG_SRC=$TC_PG_PREFIX_ROOT/src
TCPG_APT=$TC_PG_PREFIX_ROOT/apt
TCPG_LOGS=$TC_PG_PREFIX_ROOT/log
TCPG_BUILDS=$TC_PG_PREFIX_ROOT/build
TCPG_JOBS=${TC_PG_JOBS:-$(nproc)}

# Build dependencies (the tarballs come with the bison and flex output, but
# they are cheap and let a patched tree build too).
TCPG_PACKAGES=(
	gcc make bison flex perl libipc-run-perl pkg-config
	libssl-dev zlib1g-dev
	dpkg-dev tar bzip2 xz-utils gzip
)

# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------
tcpg_log() { printf '==> %s\n' "$*"; }
tcpg_warn() { printf 'WARNING: %s\n' "$*" >&2; }
tcpg_die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# Runs CMD with its output appended to LOG; on failure prints the tail of
# the log and exits.  Usage: tcpg_run LOG CMD...
tcpg_run() {
	local log=$1
	shift
	printf '\n$ %s\n' "$*" >>"$log"
	if ! "$@" >>"$log" 2>&1; then
		printf 'ERROR: "%s" failed; the last lines of %s:\n' "$*" "$log" >&2
		tail -n 40 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
}

tcpg_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Step timings, for the last line of a build: "configure 0m25s make 4m10s...".
tcpg_step_begin() {
	TCPG_STEP_START=$SECONDS
	TCPG_STEPS=''
}
tcpg_step_end() {
	TCPG_STEPS+=" $1 $(tcpg_duration $((SECONDS - TCPG_STEP_START)))"
	TCPG_STEP_START=$SECONDS
}

# The header comment.
usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$TCPG_SCRIPT"
}

# ---------------------------------------------------------------------------
# Where each major's source package is.  Prints "ARCHIVE SUITE" lines,
# ARCHIVE being main or security.
# ---------------------------------------------------------------------------
tcpg_suites_of() {
	case $1 in
	13) echo "security bullseye-security" ;;
	17) printf '%s\n' "main trixie" "security trixie-security" ;;
	18) echo "main sid" ;;
	*) return 1 ;;
	esac
}

# ---------------------------------------------------------------------------
# Mirrors, from the machine's own apt sources.  Prints "main URI" and
# "security URI" (each at most once): the main archive is the first URI whose
# suites do not end in -security, the security archive the first whose do.
# ---------------------------------------------------------------------------
tcpg_mirrors_deb822() {
	awk '
	function flush(   n, i, s) {
		if (uri != "" && enabled != "no" && types ~ /(^|[ \t])deb(-src)?([ \t]|$)/) {
			n = split(suites, s, /[ \t]+/)
			for (i = 1; i <= n; i++) {
				if (s[i] == "") continue
				if (s[i] ~ /-security$/) { if (sec == "") sec = uri }
				else if (main == "") main = uri
			}
		}
		uri = ""; suites = ""; types = ""; enabled = ""; field = ""
	}
	/^[ \t]*#/ { next }
	/^[ \t]*$/ { flush(); next }
	/^[ \t]/ {			# continuation line
		if (field == "uris" && uri == "") uri = $1
		else if (field == "suites") suites = suites " " $0
		else if (field == "types") types = types " " $0
		next
	}
	{
		field = tolower($0); sub(/:.*/, "", field)
		val = $0; sub(/^[^:]*:[ \t]*/, "", val)
		if (field == "uris") { split(val, u, /[ \t]+/); uri = u[1] }
		else if (field == "suites") suites = val
		else if (field == "types") types = val
		else if (field == "enabled") enabled = tolower(val)
	}
	END {
		flush()
		if (main != "") print "main", main
		if (sec != "") print "security", sec
	}
	' "$1"
}

tcpg_mirrors_oneline() {
	awk '
	/^[ \t]*(#|$)/ { next }
	$1 == "deb" || $1 == "deb-src" {
		line = $0
		sub(/^[ \t]*deb(-src)?[ \t]+/, "", line)
		if (line ~ /^\[/) sub(/^\[[^]]*\][ \t]*/, "", line)
		split(line, f, /[ \t]+/)
		if (f[1] == "" || f[2] == "") next
		if (f[2] ~ /-security$/) { if (sec == "") sec = f[1] }
		else if (main == "") main = f[1]
	}
	END {
		if (main != "") print "main", main
		if (sec != "") print "security", sec
	}
	' "$1"
}

# Sets TCPG_MIRROR_MAIN and TCPG_MIRROR_SECURITY (either may stay empty).
tcpg_find_mirrors() {
	local deb822=/etc/apt/sources.list.d/debian.sources oneline=/etc/apt/sources.list
	local found='' kind uri
	if [[ -r $deb822 ]]; then
		found=$(tcpg_mirrors_deb822 "$deb822")
	fi
	if [[ -z $found && -r $oneline ]]; then
		found=$(tcpg_mirrors_oneline "$oneline")
	fi
	TCPG_MIRROR_MAIN=${TC_PG_DEBIAN_MIRROR:-}
	TCPG_MIRROR_SECURITY=${TC_PG_SECURITY_MIRROR:-}
	while read -r kind uri; do
		uri=${uri%/}
		case $kind in
		main) TCPG_MIRROR_MAIN=${TCPG_MIRROR_MAIN:-$uri} ;;
		security) TCPG_MIRROR_SECURITY=${TCPG_MIRROR_SECURITY:-$uri} ;;
		esac
	done <<<"$found"
}

# ---------------------------------------------------------------------------
# Build dependencies
# ---------------------------------------------------------------------------
tcpg_install_deps() {
	local missing=() pkg log=$TCPG_LOGS/apt.log
	for pkg in "${TCPG_PACKAGES[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] ||
			missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	tcpg_log "installing build dependencies: ${missing[*]} (log: $log)"
	export DEBIAN_FRONTEND=noninteractive
	# Try with the package lists there are first; update them only if that
	# fails (an old list points at files the mirror no longer has).
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
		tcpg_run "$log" apt-get update -q
		tcpg_run "$log" apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# ---------------------------------------------------------------------------
# The private apt configuration: its own source list, lists and cache.
# ---------------------------------------------------------------------------
TCPG_APT_SOURCES=$TCPG_APT/topcalls-pg-src.sources
TCPG_APT_OPTS=(
	-o "Dir::Etc::sourcelist=$TCPG_APT_SOURCES"
	-o "Dir::Etc::sourceparts=-"
	-o "Dir::State::Lists=$TCPG_APT/lists"
	-o "Dir::Cache=$TCPG_APT/cache"
	-o "Acquire::Retries=3"
)

# Writes the deb-src stanzas for the suites the given majors need (the file
# is rewritten only when they change).
tcpg_write_apt_sources() {
	local major archive suite uri text tmp
	local -A suites_of=() # archive -> "suite suite ..."
	for major in "$@"; do
		while read -r archive suite; do
			[[ " ${suites_of[$archive]:-} " == *" $suite "* ]] ||
				suites_of[$archive]="${suites_of[$archive]:+${suites_of[$archive]} }$suite"
		done < <(tcpg_suites_of "$major")
	done
	tcpg_find_mirrors
	text="# Written by test/build-postgres.sh; apt reads it only with that script's -o options."
	for archive in main security; do
		[[ -n ${suites_of[$archive]:-} ]] || continue
		if [[ $archive == main ]]; then uri=$TCPG_MIRROR_MAIN; else uri=$TCPG_MIRROR_SECURITY; fi
		[[ -n $uri ]] ||
			tcpg_die "no Debian $archive archive in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list (needed for ${suites_of[$archive]}); set TC_PG_$([[ $archive == main ]] && echo DEBIAN || echo SECURITY)_MIRROR"
		text+=$(printf '\n\nTypes: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s' \
			"$uri" "${suites_of[$archive]}" "$TCPG_KEYRING")
	done
	mkdir -p "$TCPG_APT/lists/partial" "$TCPG_APT/cache/archives/partial"
	if [[ ! -f $TCPG_APT_SOURCES || $(<"$TCPG_APT_SOURCES") != "$text" ]]; then
		tmp=$(mktemp "$TCPG_APT/sources.XXXXXX")
		printf '%s\n' "$text" >"$tmp"
		chmod 644 "$tmp"
		mv -f "$tmp" "$TCPG_APT_SOURCES"
	fi
}

# apt-get update on the private list.  Returns non-zero (after saying why)
# when it failed; the caller may then fall back to sources already here.
tcpg_apt_update() {
	local log=$TCPG_LOGS/apt.log
	tcpg_log "apt-get update (private list $TCPG_APT_SOURCES; log: $log)"
	printf '\n$ apt-get update (private list)\n' >>"$log"
	if apt-get "${TCPG_APT_OPTS[@]}" update >>"$TCPG_APT/update.out" 2>&1 &&
		! grep -qE '^(W|E): ' "$TCPG_APT/update.out"; then
		cat "$TCPG_APT/update.out" >>"$log"
		rm -f "$TCPG_APT/update.out"
		return 0
	fi
	cat "$TCPG_APT/update.out" >>"$log"
	grep -E '^(W|E): ' "$TCPG_APT/update.out" | sed 's/^/    /' >&2 || true
	if grep -qE 'NO_PUBKEY|EXPKEYSIG|is not signed|signature' "$TCPG_APT/update.out"; then
		tcpg_warn "a suite's Release file is not signed by a key in $TCPG_KEYRING; a newer debian-archive-keyring (from bookworm-updates or a point release) has the newer keys"
	fi
	rm -f "$TCPG_APT/update.out"
	return 1
}

# Downloads postgresql-MAJOR's source package into $TCPG_SRC (apt checks
# the files against the signed Sources index; files already there with the
# right checksum are not fetched again).  Sets TCPG_TARBALL.
# Usage: tcpg_fetch_source MAJOR APT_OK
tcpg_fetch_source() {
	local major=$1 apt_ok=$2 log=$TCPG_LOGS/apt.log orig=''
	mkdir -p "$TCPG_SRC"
	# apt downloads as _apt (its sandbox user): it needs to write here.
	if id _apt >/dev/null 2>&1; then chown _apt:root "$TCPG_SRC"; fi
	if ((apt_ok)); then
		# The file names, from --print-uris run where nothing is downloaded
		# yet (it leaves out the files already in the current directory).
		rm -rf "$TCPG_APT/probe"
		mkdir -p "$TCPG_APT/probe"
		orig=$(cd "$TCPG_APT/probe" && apt-get "${TCPG_APT_OPTS[@]}" --only-source --print-uris \
			source "postgresql-$major" 2>>"$log" |
			awk '!found && $2 ~ /\.orig\.tar\.(bz2|gz|xz)$/ { print $2; found = 1 }') || orig=''
		rmdir "$TCPG_APT/probe"
		if [[ -z $orig ]]; then
			tcpg_warn "apt knows no source package postgresql-$major in $(tcpg_suites_of "$major" | awk '{ print $2 }' | tr '\n' ' ')"
		else
			tcpg_log "PostgreSQL $major: apt-get source --download-only postgresql-$major ($orig)"
			(cd "$TCPG_SRC" && tcpg_run "$log" apt-get "${TCPG_APT_OPTS[@]}" --only-source \
				source --download-only "postgresql-$major")
		fi
	fi
	if [[ -z $orig ]]; then
		# No network or no index: the newest tarball already downloaded.
		orig=$(cd "$TCPG_SRC" && find . -maxdepth 1 -name "postgresql-${major}_*.orig.tar.*" -printf '%f\n' |
			sort -V | tail -n 1)
		[[ -n $orig ]] || tcpg_die "cannot get the source of postgresql-$major (see $log)"
		# apt checked it when it downloaded it; check it is still whole
		# against the checksum in the .dsc that came with it.
		local sum
		sum=$(cd "$TCPG_SRC" && awk -v f="$orig" '
			/^Checksums-Sha256:/ { in_sums = 1; next }
			/^[^ ]/ { in_sums = 0 }
			in_sums && $3 == f { print $1; exit }' "postgresql-${major}"_*.dsc 2>/dev/null) || sum=''
		if [[ -z $sum ]] || ! sha256sum --status -c <<<"$sum  $TCPG_SRC/$orig"; then
			tcpg_die "cannot get the source of postgresql-$major (see $log), and $TCPG_SRC/$orig does not match its .dsc"
		fi
		tcpg_warn "using the source already downloaded: $TCPG_SRC/$orig"
	fi
	TCPG_TARBALL=$TCPG_SRC/$orig
	[[ -s $TCPG_TARBALL ]] || tcpg_die "$TCPG_TARBALL is missing after apt-get source (see $log)"
}

# ---------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------

# After make install: pg_regress and the TAP modules where PGXS users look
# for them.  make install (with --enable-tap-tests) installs pg_regress and
# most modules; copy in the modules it leaves out, in the source layout,
# which is that of Debian's postgresql-server-dev-NN.
tcpg_complete_pgxs() {
	local major=$1 srcdir=$2 log=$3 pgxsdir perldir pm added=()
	pgxsdir=$("$(tcpg_prefix "$major")/bin/pg_config" --pgxs)
	pgxsdir=${pgxsdir%/src/makefiles/pgxs.mk}
	[[ -x $pgxsdir/src/test/regress/pg_regress ]] ||
		tcpg_die "make install did not install $pgxsdir/src/test/regress/pg_regress"
	perldir=$pgxsdir/src/test/perl
	while IFS= read -r pm; do
		if [[ ! -f $perldir/$pm ]]; then
			install -D -m 644 "$srcdir/src/test/perl/$pm" "$perldir/$pm"
			added+=("$pm")
		fi
	done < <(cd "$srcdir/src/test/perl" && find . -name '*.pm' -printf '%P\n' | sort)
	if ((${#added[@]})); then
		printf 'copied into %s: %s\n' "$perldir" "${added[*]}" >>"$log"
	fi
	[[ -f $perldir/PostgreSQL/Test/Cluster.pm ]] ||
		tcpg_die "no PostgreSQL/Test/Cluster.pm in $perldir"
}

tcpg_build_one() {
	local major=$1 apt_ok=$2 prefix log builddir srcdir version started
	local -a configure_args
	prefix=$(tcpg_prefix "$major")
	log=$TCPG_LOGS/build-$major.log
	builddir=$TCPG_BUILDS/$major
	started=$SECONDS

	tcpg_fetch_source "$major" "$apt_ok"
	# postgresql-13_13.23.orig.tar.bz2 -> 13.23
	version=${TCPG_TARBALL##*/postgresql-"${major}"_}
	version=${version%.orig.tar.*}
	[[ $version == "$major".* ]] || tcpg_die "unexpected tarball name: $TCPG_TARBALL"

	: >"$log"
	tcpg_log "PostgreSQL $major: extracting ${TCPG_TARBALL##*/} (build log: $log)"
	rm -rf "$builddir"
	mkdir -p "$builddir"
	tcpg_run "$log" tar --no-same-owner -xf "$TCPG_TARBALL" -C "$builddir"
	srcdir=$builddir/postgresql-$version
	[[ -x $srcdir/configure ]] || tcpg_die "no $srcdir/configure in ${TCPG_TARBALL##*/}"

	mapfile -t configure_args < <(tcpg_configure_args "$major")
	tcpg_log "PostgreSQL $version: configure ${configure_args[*]}"
	tcpg_step_begin
	(cd "$srcdir" && tcpg_run "$log" ./configure "${configure_args[@]}")
	tcpg_step_end configure
	tcpg_log "PostgreSQL $version: make -j$TCPG_JOBS"
	(cd "$srcdir" && tcpg_run "$log" make -j"$TCPG_JOBS")
	tcpg_step_end make
	if tcpg_contrib_wanted; then
		tcpg_log "PostgreSQL $version: make -C contrib -j$TCPG_JOBS"
		(cd "$srcdir" && tcpg_run "$log" make -C contrib -j"$TCPG_JOBS")
		tcpg_step_end contrib
	fi

	# A clean prefix: no stamp (so an interruption from here on means
	# "rebuild"), no files of an older minor.
	tcpg_log "PostgreSQL $version: make install into $prefix"
	rm -rf "$prefix"
	(cd "$srcdir" && tcpg_run "$log" make install)
	if tcpg_contrib_wanted; then
		(cd "$srcdir" && tcpg_run "$log" make -C contrib install)
	fi
	tcpg_complete_pgxs "$major" "$srcdir" "$log"
	tcpg_step_end install

	local reported
	reported=$("$prefix/bin/pg_config" --version)
	[[ $reported == "PostgreSQL $version" ]] ||
		tcpg_die "$prefix/bin/pg_config reports '$reported', expected 'PostgreSQL $version'"
	{
		printf 'version: %s\n' "$reported"
		tcpg_build_options "$major"
		printf 'source: %s\n' "$TCPG_TARBALL"
		printf 'built: %s in %ss (%s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" $((SECONDS - started)) "${TCPG_STEPS# }"
	} >"$prefix/.topcalls-pg-build.tmp"
	mv -f "$prefix/.topcalls-pg-build.tmp" "$(tcpg_stamp "$major")"

	if [[ ${TC_PG_KEEP_BUILD:-0} == 1 ]]; then
		tcpg_log "PostgreSQL $version: build tree kept in $builddir"
	else
		rm -rf "$builddir"
		rmdir "$TCPG_BUILDS" 2>/dev/null || true
	fi
	tcpg_log "PostgreSQL $version: done in $(tcpg_duration $((SECONDS - started))) (${TCPG_STEPS# })"
}

main() {
	local mode=build major
	case ${1:-} in
	-h | --help)
		usage
		return 0
		;;
	--prefix | --pg-config)
		mode=${1#--}
		shift
		;;
	--) shift ;;
	esac
	(($#)) || {
		printf 'usage: %s [--prefix | --pg-config] MAJOR...   (--help for more)\n' "$0" >&2
		return 2
	}
	for major in "$@"; do
		[[ $major =~ ^[0-9]+$ ]] || tcpg_die "not a major version: '$major'"
		[[ $major == "$TCPG_SYSTEM_MAJOR" ]] || tcpg_suites_of "$major" >/dev/null ||
			tcpg_die "PostgreSQL $major cannot be built here: only $TCPG_SYSTEM_MAJOR (the system's), 13, 17 and 18 have sources in reach"
	done

	case $mode in
	prefix)
		for major in "$@"; do tcpg_prefix "$major"; done
		return 0
		;;
	pg-config)
		for major in "$@"; do
			tcpg_pg_config "$major" || tcpg_die "PostgreSQL $major is not built (run: sudo bash $TCPG_SCRIPT $major)"
		done
		return 0
		;;
	esac

	# What is there already, and what is to build.
	local todo=()
	for major in "$@"; do
		if [[ $major == "$TCPG_SYSTEM_MAJOR" ]]; then
			[[ -x $(tcpg_prefix "$major")/bin/pg_config ]] ||
				tcpg_die "$(tcpg_prefix "$major")/bin/pg_config is missing: install postgresql-server-dev-$major"
		elif [[ ${TC_PG_REBUILD:-0} != 1 ]] && tcpg_build_is_current "$major"; then
			tcpg_log "PostgreSQL $major: $("$(tcpg_prefix "$major")/bin/pg_config" --version | cut -d' ' -f2) already built in $(tcpg_prefix "$major")"
		elif [[ " ${todo[*]} " != *" $major "* ]]; then
			todo+=("$major")
		fi
	done

	if ((${#todo[@]})); then
		[[ $(id -u) -eq 0 ]] || tcpg_die "run me as root (sudo bash $TCPG_SCRIPT ${todo[*]}): I install packages and write $TC_PG_PREFIX_ROOT"
		mkdir -p "$TC_PG_PREFIX_ROOT" "$TCPG_LOGS" "$TCPG_APT"
		# One run at a time (two would share the build trees and the apt state).
		local lock_fd
		exec {lock_fd}>"$TC_PG_PREFIX_ROOT/.lock"
		if ! flock -n "$lock_fd"; then
			tcpg_log "waiting for another build-postgres.sh to finish"
			flock "$lock_fd"
		fi
		local apt_ok=1
		tcpg_install_deps
		tcpg_write_apt_sources "${todo[@]}"
		tcpg_apt_update || apt_ok=0
		for major in "${todo[@]}"; do
			# Another run may have built it while we waited for the lock.
			if [[ ${TC_PG_REBUILD:-0} != 1 ]] && tcpg_build_is_current "$major"; then
				tcpg_log "PostgreSQL $major: already built in $(tcpg_prefix "$major")"
				continue
			fi
			tcpg_build_one "$major" "$apt_ok"
		done
	fi

	for major in "$@"; do
		printf 'pg_config %s %s\n' "$major" "$(tcpg_prefix "$major")/bin/pg_config"
	done
}

main "$@"
