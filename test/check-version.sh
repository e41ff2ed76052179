#!/usr/bin/env bash
# test/check-version.sh: the version numbers and release metadata agree.
#
#   bash test/check-version.sh      (any user; test/run-tests.sh runs it as
#                                    postgres from its copy of the tree)
#
# Checks, reading only files in the tree (no git, no network, no writes):
#   - META.json is valid JSON and follows the PGXN Meta Spec 1.0 rules that
#     matter: the required keys, a license from the spec's list, meta-spec
#     version 1.0.x, SemVer versions, terms, tags, prereqs version ranges, no
#     keys the spec does not know (other than x_ ones);
#   - META.json's version equals provides.topcalls_fdw.version;
#   - topcalls_fdw.control's default_version has META's major.minor
#     (default_version '1.0' <-> META 1.0.x);
#   - topcalls_fdw--<default_version>.sql, or an older install script and
#     update scripts up to default_version, exist; that install script is
#     provides' file, and
#     provides' docfile exists;
#   - every topcalls_fdw--*.sql is in the Makefile's DATA, and every DATA entry
#     exists;
#   - debian/changelog's upstream version equals META.json's version, and
#     debian/pgversions' lowest major is META's lowest PostgreSQL (a tree
#     without debian/, such as a PGXN zip, skips these two).
# Prints each check, then "check-version: ok"; on failure every problem and
# "check-version: FAILED", exit 1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || {
	echo "check-version: FAILED: $PY is missing" >&2
	exit 1
}

exec "$PY" - "$ROOT" <<'PY'
import glob
import json
import os
import re
import sys

root = sys.argv[1]
EXT = "topcalls_fdw"
problems = []


def ok(msg):
    print("ok: " + msg)


def bad(msg):
    problems.append(msg)
    print("FAILED: " + msg)


def path(*parts):
    return os.path.join(root, *parts)


# --- PGXN Meta Spec 1.0.0 (https://pgxn.org/spec/) ---------------------------
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
RANGE_PART = re.compile(r"^(?:(==|!=|<=|>=|<|>)\s*)?(.+)$")
TERM = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
TAG = re.compile(r"^[^/\\\x00-\x1f\x7f]{2,255}$")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
    "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
    "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
    "restricted", "unrestricted", "unknown",
}
REQUIRED = ["name", "version", "abstract", "maintainer", "license", "provides",
            "meta-spec"]
OPTIONAL = ["description", "generated_by", "tags", "no_index", "prereqs",
            "release_status", "resources"]
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}


def custom(key):
    return re.match(r"^[xX]_.", key) is not None


def is_range(value):
    """A Version Range: 0, "0", a SemVer, or comma-ANDed [op] SemVer parts."""
    if value == 0 or value == "0":
        return True
    if not isinstance(value, str) or not value.strip():
        return False
    for part in value.split(","):
        m = RANGE_PART.match(part.strip())
        if not m or not SEMVER.match(m.group(2).strip()):
            return False
    return True


def check_spec(meta):
    n = len(problems)
    for key in REQUIRED:
        if key not in meta:
            bad("META.json: required key '%s' is missing" % key)
    for key in meta:
        if key not in REQUIRED and key not in OPTIONAL and not custom(key):
            bad("META.json: key '%s' is not in the Meta Spec (custom keys start with x_)" % key)

    if "name" in meta and not (isinstance(meta["name"], str) and TERM.match(meta["name"])):
        bad("META.json: name %r is not a term (2+ characters, no slash, backslash, space)" % (meta["name"],))
    if "version" in meta and not (isinstance(meta["version"], str) and SEMVER.match(meta["version"])):
        bad("META.json: version %r is not a SemVer" % (meta["version"],))
    for key in ("abstract", "description", "generated_by"):
        if key in meta and not (isinstance(meta[key], str) and meta[key].strip()):
            bad("META.json: %s must be a non-empty string" % key)

    m = meta.get("maintainer")
    if "maintainer" in meta and not (
            (isinstance(m, str) and m.strip()) or
            (isinstance(m, list) and m and all(isinstance(x, str) and x.strip() for x in m))):
        bad("META.json: maintainer must be a string or a non-empty list of strings")

    lic = meta.get("license")
    if "license" in meta:
        if isinstance(lic, str):
            good = lic in LICENSES
        elif isinstance(lic, list):
            good = bool(lic) and all(isinstance(x, str) and x in LICENSES for x in lic)
        elif isinstance(lic, dict):
            good = bool(lic) and all(isinstance(v, str) and re.match(r"^[a-z][a-z0-9+.-]*:", v)
                                     for v in lic.values())
        else:
            good = False
        if not good:
            bad("META.json: license %r is not one of the spec's names (e.g. 'postgresql') "
                "nor an object of name: URI" % (lic,))

    spec = meta.get("meta-spec")
    if "meta-spec" in meta:
        if not isinstance(spec, dict) or not re.match(r"^1\.0\.\d+$", str(spec.get("version", ""))):
            bad("META.json: meta-spec.version must be 1.0.x, not %r" %
                (spec.get("version") if isinstance(spec, dict) else spec,))
        elif spec.get("url") not in (None, "https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt"):
            bad("META.json: meta-spec.url %r is not the spec's URL" % (spec.get("url"),))
        elif any(k not in ("version", "url") and not custom(k) for k in spec):
            bad("META.json: meta-spec has keys other than version and url")

    prov = meta.get("provides")
    if "provides" in meta:
        if not isinstance(prov, dict) or not prov:
            bad("META.json: provides must be a non-empty object")
        else:
            for name, ext in prov.items():
                if not TERM.match(name):
                    bad("META.json: provides key %r is not a term" % name)
                if not isinstance(ext, dict):
                    bad("META.json: provides.%s must be an object" % name)
                    continue
                for key in ("file", "version"):
                    if key not in ext:
                        bad("META.json: provides.%s.%s is missing" % (name, key))
                if "version" in ext and not (isinstance(ext["version"], str) and SEMVER.match(ext["version"])):
                    bad("META.json: provides.%s.version %r is not a SemVer" % (name, ext["version"]))
                for key in ext:
                    if key not in ("file", "version", "abstract", "docfile") and not custom(key):
                        bad("META.json: provides.%s has unknown key '%s'" % (name, key))
                for key in ("file", "docfile"):
                    f = ext.get(key)
                    if f is None:
                        continue
                    if not isinstance(f, str) or f.startswith("/") or "\\" in f:
                        bad("META.json: provides.%s.%s %r is not a relative unix path" % (name, key, f))
                    elif not os.path.isfile(path(f)):
                        bad("META.json: provides.%s.%s %s does not exist" % (name, key, f))

    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        bad("META.json: release_status %r is not stable, testing or unstable" % (meta["release_status"],))

    if "tags" in meta:
        tags = meta["tags"]
        if not isinstance(tags, list) or not tags or \
                not all(isinstance(t, str) and TAG.match(t) for t in tags):
            bad("META.json: tags must be a non-empty list of 2-255 character strings without slashes")

    if "prereqs" in meta:
        pre = meta["prereqs"]
        if not isinstance(pre, dict) or not pre:
            bad("META.json: prereqs must be a non-empty object")
        else:
            for phase, rels in pre.items():
                if phase not in PHASES and not custom(phase):
                    bad("META.json: prereqs phase '%s' is not one of %s" % (phase, sorted(PHASES)))
                    continue
                if not isinstance(rels, dict):
                    bad("META.json: prereqs.%s must be an object" % phase)
                    continue
                for rel, deps in rels.items():
                    if rel not in RELATIONS and not custom(rel):
                        bad("META.json: prereqs.%s relationship '%s' is unknown" % (phase, rel))
                        continue
                    if not isinstance(deps, dict):
                        bad("META.json: prereqs.%s.%s must be an object" % (phase, rel))
                        continue
                    for dep, rng in deps.items():
                        if not is_range(rng):
                            bad("META.json: prereqs.%s.%s.%s %r is not a version range" % (phase, rel, dep, rng))

    if "no_index" in meta:
        ni = meta["no_index"]
        if not isinstance(ni, dict) or not any(k in ni for k in ("file", "directory")):
            bad("META.json: no_index must have file or directory")
        else:
            for kind in ("file", "directory"):
                v = ni.get(kind, [])
                for p in ([v] if isinstance(v, str) else v):
                    test = os.path.isdir if kind == "directory" else os.path.isfile
                    if not isinstance(p, str) or not test(path(p)):
                        bad("META.json: no_index %s %r is not in the tree" % (kind, p))

    if "resources" in meta:
        res = meta["resources"]
        if not isinstance(res, dict) or not res:
            bad("META.json: resources must be a non-empty object")
        else:
            for key, v in res.items():
                if key not in ("homepage", "bugtracker", "repository") and not custom(key):
                    bad("META.json: resources key '%s' is unknown" % key)
            urls = [res.get("homepage")]
            for sub in ("bugtracker", "repository"):
                if isinstance(res.get(sub), dict):
                    urls += [res[sub].get("web"), res[sub].get("url")]
            for u in urls:
                if u is not None and not (isinstance(u, str) and re.match(r"^[a-z][a-z0-9+.-]*://", u)):
                    bad("META.json: resources URI %r is not a URI" % (u,))
            repo = res.get("repository")
            if isinstance(repo, dict) and "url" in repo and "type" not in repo:
                bad("META.json: resources.repository has a url but no type")

    if len(problems) == n:
        ok("META.json follows the PGXN Meta Spec %s (required keys, license %r, %d tags, prereqs)"
           % (spec.get("version"), lic, len(meta.get("tags", []))))


# --- META.json -------------------------------------------------------------------
try:
    with open(path("META.json"), encoding="utf-8") as f:
        meta = json.load(f)
except (OSError, ValueError) as e:
    print("FAILED: META.json: %s" % e)
    print("check-version: FAILED")
    sys.exit(1)
if not isinstance(meta, dict):
    print("FAILED: META.json is not a JSON object")
    print("check-version: FAILED")
    sys.exit(1)

check_spec(meta)
version = meta.get("version") if isinstance(meta.get("version"), str) else ""
vm = SEMVER.match(version)
prov = meta.get("provides") if isinstance(meta.get("provides"), dict) else {}
ext = prov.get(EXT) if isinstance(prov.get(EXT), dict) else None

if meta.get("name") == EXT:
    ok("META.json name is %s" % EXT)
else:
    bad("META.json name is %r, expected %r" % (meta.get("name"), EXT))

if ext is None:
    bad("META.json provides no %r" % EXT)
elif ext.get("version") == version:
    ok("META.json version %s = provides.%s.version" % (version, EXT))
else:
    bad("META.json version %r != provides.%s.version %r" % (version, EXT, ext.get("version")))

# --- the control file --------------------------------------------------------------
control = path(EXT + ".control")
default_version = None
try:
    with open(control, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*default_version\s*=\s*'([^']*)'\s*(#.*)?$", line)
            if m:
                default_version = m.group(1)
except OSError as e:
    bad("%s.control: %s" % (EXT, e))

if default_version is None:
    bad("%s.control has no default_version = '...'" % EXT)
else:
    dv = default_version.split(".")
    if not all(p.isdigit() for p in dv) or len(dv) not in (2, 3):
        bad("%s.control default_version %r is not MAJOR.MINOR[.PATCH]" % (EXT, default_version))
    elif not vm:
        bad("cannot compare default_version %r with META.json's version %r" % (default_version, version))
    elif [int(p) for p in dv] != [int(vm.group(i)) for i in range(1, len(dv) + 1)]:
        bad("%s.control default_version %r does not match META.json's version %s "
            "(major.minor must be equal)" % (EXT, default_version, version))
    else:
        ok("%s.control default_version '%s' matches META.json's version %s"
           % (EXT, default_version, version))

    # CREATE EXTENSION runs the install script of default_version, or (as
    # postgres_fdw ships it) the install script of an older version followed
    # by the update scripts from there: find that chain, as PostgreSQL would.
    installs, updates = {}, {}
    for p in glob.glob(path(EXT + "--*.sql")):
        name = os.path.basename(p)
        mm = re.match(r"^%s--([^-]+)--([^-]+)\.sql$" % re.escape(EXT), name)
        if mm:
            updates.setdefault(mm.group(1), []).append(mm.group(2))
            continue
        mm = re.match(r"^%s--([^-]+)\.sql$" % re.escape(EXT), name)
        if mm:
            installs[mm.group(1)] = name
    script = None
    chain = None
    for base in sorted(installs):
        todo, seen = [[base]], {base}
        while todo:
            route = todo.pop(0)
            if route[-1] == default_version:
                break
            for nxt in updates.get(route[-1], []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(route + [nxt])
            route = None
        if route and (chain is None or len(route) < len(chain)):
            chain, script = route, installs[base]
    if script is None:
        bad("no install script %s--%s.sql, nor an older one with update scripts up to it"
            % (EXT, default_version))
    else:
        ok("default_version %s is installed by %s" % (default_version, " -> ".join(
            [script] + ["%s--%s--%s.sql" % (EXT, a, b) for a, b in zip(chain, chain[1:])])))
    if ext is not None and script is not None:
        if ext.get("file") == script:
            ok("META.json provides.%s.file is %s" % (EXT, script))
        else:
            bad("META.json provides.%s.file is %r, expected the install script %r"
                % (EXT, ext.get("file"), script))
        if ext.get("docfile") is not None and os.path.isfile(path(ext["docfile"])):
            ok("META.json provides.%s.docfile %s exists" % (EXT, ext["docfile"]))

# --- Makefile DATA ----------------------------------------------------------------
def makefile_data():
    """The words of every DATA =, :=, += assignment, continuation lines joined."""
    with open(path("Makefile"), encoding="utf-8") as f:
        text = re.sub(r"\\\n", " ", f.read())
    words = []
    found = False
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        m = re.match(r"^\s*(?:override\s+)?DATA\s*(?:\+|:|::|\?)?=(.*)$", line)
        if m:
            found = True
            words += m.group(1).split()
    return found, words


try:
    found, words = makefile_data()
except OSError as e:
    found, words = False, []
    bad("Makefile: %s" % e)
if not found:
    bad("the Makefile has no DATA assignment")
else:
    listed, patterns, others = set(), [], []
    joined = " ".join(words)
    for pat in re.findall(r"\$\(wildcard\s+([^)]*)\)", joined):
        patterns += pat.split()
    joined = re.sub(r"\$\(wildcard\s+[^)]*\)", " ", joined)
    for w in joined.split():
        if "$" in w:
            others.append(w)
        else:
            listed.add(w)
    if others:
        bad("Makefile DATA has words this check cannot expand: %s" % " ".join(others))
    on_disk = sorted(os.path.basename(p) for p in glob.glob(path(EXT + "--*.sql")))
    from fnmatch import fnmatch
    missing = [s for s in on_disk
               if s not in listed and not any(fnmatch(s, p) for p in patterns)]
    if missing:
        bad("not in the Makefile's DATA (so neither installed nor packaged): %s" % " ".join(missing))
    else:
        ok("every %s--*.sql is in the Makefile's DATA (%s)" % (EXT, " ".join(on_disk) or "none"))
    gone = sorted(w for w in listed if not os.path.isfile(path(w)))
    if gone:
        bad("the Makefile's DATA lists files that do not exist: %s" % " ".join(gone))

# --- debian/ ------------------------------------------------------------------------
changelog = path("debian", "changelog")
if not os.path.isdir(path("debian")):
    ok("no debian/ in this tree: debian/changelog and debian/pgversions not checked")
else:
    try:
        with open(changelog, encoding="utf-8") as f:
            first = f.readline()
        m = re.match(r"^(\S+) \(([^)\s]+)\) ", first)
        if not m:
            bad("debian/changelog: cannot read the first line: %r" % first.rstrip())
        else:
            full = m.group(2)
            upstream = re.sub(r"^\d+:", "", full)
            if "-" in upstream:
                upstream = upstream.rsplit("-", 1)[0]
            if upstream == version:
                ok("debian/changelog %s %s: upstream version %s = META.json's"
                   % (m.group(1), full, upstream))
            else:
                bad("debian/changelog's upstream version %s (%s) != META.json's version %s"
                    % (upstream, full, version))
    except OSError as e:
        bad("debian/changelog: %s" % e)

    # The lowest PostgreSQL major: debian/pgversions ("13+") and META's
    # prereqs (">= 13.0.0, ..." or "13.0.0").
    try:
        with open(path("debian", "pgversions"), encoding="utf-8") as f:
            lines = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        majors = [int(l.rstrip("+").split(".")[0]) for l in lines if re.match(r"^\d+(\.\d+)?\+?$", l)]
        pg = (((meta.get("prereqs") or {}).get("runtime") or {}).get("requires") or {}).get("PostgreSQL")
        low = None
        if isinstance(pg, str):
            for part in pg.split(","):
                mm = RANGE_PART.match(part.strip())
                if mm and mm.group(1) in (None, ">=", "==") and SEMVER.match(mm.group(2).strip()):
                    low = int(mm.group(2).split(".")[0])
        if not majors:
            bad("debian/pgversions names no PostgreSQL version: %r" % lines)
        elif low is None:
            bad("META.json prereqs.runtime.requires.PostgreSQL %r has no lower bound" % (pg,))
        elif min(majors) != low:
            bad("debian/pgversions starts at PostgreSQL %d, META.json requires PostgreSQL %r"
                % (min(majors), pg))
        else:
            ok("debian/pgversions %s and META.json PostgreSQL %r start at %d" % (" ".join(lines), pg, low))
    except OSError as e:
        bad("debian/pgversions: %s" % e)

if problems:
    print("check-version: FAILED (%d problem%s)" % (len(problems), "" if len(problems) == 1 else "s"))
    sys.exit(1)
print("check-version: ok")
PY
