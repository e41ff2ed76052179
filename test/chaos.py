#!/usr/bin/python3
"""The chaos driver of test/check-chaos.sh (read that script first).

It sets up a scratch database whose foreign tables read a stand-in API in
chaos mode (test/standin_api.py, POST /_admin/chaos), then runs several
sessions in parallel, each a seeded random stream of queries:

    single   WHERE id = '...'                  one lookup
    prepared EXECUTE by_id(...) (generic plan) one lookup through a Param
    many     WHERE id = ANY('{...}')           10-50 ids, some twice, some 404,
                                               max_concurrency 1, 8 or 16
    list     the paginated list, page_size 7, 25 or 50, with a LIMIT, a local
             filter, or whole
    join     a local table joined on id (parameterized nested loop: one
             lookup per outer row, rescans)
    jsonb    the whole answer object and a field as jsonb (field '*')

A few per cent of the queries run under a short statement_timeout, so that
cancellation also lands in the middle of mutated answers.

What counts as correct.  The stand-in cannot say which answers it mutated,
and a mutation may still convert (a flipped byte inside a label), so during
chaos each query must end in one of:
  - an ERROR whose SQLSTATE is of an expected class:
        HV***  (the FDW's errors: HTTP errors, invalid JSON, invalid answer)
        22***  (data exceptions: a mutated value its column's type refuses)
        57014  only for the queries run under a short statement_timeout
    Anything else -- XX000, 53xxx, 54xxx, 58xxx, a lost connection, a
    statement that hits the 60 s hang guard -- is a FAILURE;
  - rows that satisfy invariants true of any answer the FDW may accept:
        lookups   every row's id is one that was asked for (the id condition
                  stays a local filter, so a mutated id drops its row rather
                  than returning a wrong one); at most one row per distinct id
                  asked for (one request per id, one row per answer); no row
                  for an id the API does not have unless the row is visibly
                  mutated; an id asked for appears at most once among the rows
                  that are exactly right
        join      each row's id equals its outer row's id; at most one row per
                  outer row
        list      no more rows than the LIMIT; every row passes the local
                  filter
        all       every text value is valid UTF-8 (bad UTF-8 must be refused,
                  never stored)
    A row "exactly right" equals the stand-in's deterministic data for its id
    (test/standin_api.py PhoneNumbers.build, imported from the script itself)
    in all 13 columns; rows that are not are counted as "accepted mutated
    rows" in the summary.
Then chaos is turned off and every session (the same connections, after all
their errors) runs a final pass that must return exactly the right rows; a
sentinel connection left idle during the whole run must still be alive (a
backend crash makes the postmaster end every session), a new connection
must work, and no session's memory contexts may have grown by more than
16 MB between its 30th query and the end (the summary shows them, and the
backends' resident sets, which glibc's malloc keeps high after huge answers).

With --hostile (TC_CHAOS_HOSTILE=1) four answers no random mutation makes
come last: see hostile_checks.

Replay: the stand-in's mutations and each session's queries derive from the
seed.  With several sessions and concurrent lookups the order in which the
stand-in sees requests (and so which answer gets which mutation) varies from
run to run.  TC_CHAOS_SESSIONS=1 TC_CHAOS_SERIAL=1 (max_concurrency 1, no
short timeouts) makes a run exactly reproducible from its seed, up to where
it stops; every failure is printed with its session, query number and SQL.
"""

import argparse
import datetime
import importlib.util
import json
import os
import random
import sys
import threading
import time
import traceback
import urllib.request

import psycopg2
import psycopg2.extensions

COLUMNS = ("id", "account_id", "number", "source", "status", "phone_number_sid",
           "voip_carrier_sid", "carrier_name", "label", "error_message",
           "created_by_user_id", "created_at", "updated_at")
UUID_COLUMNS = ("id", "account_id", "phone_number_sid", "voip_carrier_sid",
                "created_by_user_id")
TS_COLUMNS = ("created_at", "updated_at")
SELECT_LIST = ", ".join("%s::text" % c if c in UUID_COLUMNS else c for c in COLUMNS)

# name, max_concurrency, page_size, max_retries, max_response_bytes
SERVERS = (
    ("c1", 1, 50, 0, 4 * 1024 * 1024),
    ("c8", 8, 7, 1, None),              # default 16 MB
    ("c16", 16, 25, 2, 25 * 1000 * 1000),  # above the largest huge string
)

# Guard against a query that hangs: it ends in 57014, which is a failure
# unless the query ran under one of the short timeouts below.
HANG_GUARD_MS = 60000

# Growth of a session's memory contexts (pg_backend_memory_contexts) from
# its 30th query to the end of the run that counts as a leak.
CONTEXT_GROWTH_MAX = 16 * 1024 * 1024

LOCK = threading.Lock()


def log(msg):
    with LOCK:
        print(msg, flush=True)


# ---------------------------------------------------------------------------
# The oracle: the stand-in's own data
# ---------------------------------------------------------------------------

class Oracle:
    def __init__(self, standin_script, count):
        spec = importlib.util.spec_from_file_location("tc_standin", standin_script)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        self.pn = mod.PhoneNumbers
        self.count = count
        self._cache = {}

    def uuid(self, i):
        return self.pn.ID_FMT % i

    def index(self, uuid_text):
        if uuid_text is None:
            return None
        return self.pn.index_of(uuid_text)

    def expected(self, i):
        """The row (tuple in COLUMNS order) for number i, or None."""
        if i is None or not 1 <= i <= self.count:
            return None
        row = self._cache.get(i)
        if row is None:
            obj = self.pn.build(i)
            vals = []
            for c in COLUMNS:
                v = obj.get(c)
                if c in TS_COLUMNS and v is not None:
                    v = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
                vals.append(v)
            row = tuple(vals)
            self._cache[i] = row
        return row

    def is_exact(self, row):
        i = self.index(row[0])
        exp = self.expected(i)
        return exp is not None and tuple(row) == exp


# ---------------------------------------------------------------------------
# The stand-in's admin API
# ---------------------------------------------------------------------------

class Admin:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_admin/" + path, data=data,
                                     method="GET" if body is None else "POST")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
        return json.loads(text) if text.strip() else None


# ---------------------------------------------------------------------------
# Database setup
# ---------------------------------------------------------------------------

def connect(args, dbname=None, appname="tc_chaos"):
    conn = psycopg2.connect(host=args.pghost, port=args.pgport, user=args.pguser,
                            dbname=dbname or args.dbname, application_name=appname,
                            connect_timeout=30)
    conn.autocommit = True
    return conn


def setup_database(args, oracle):
    admin = connect(args, "postgres", "tc_chaos setup")
    cur = admin.cursor()
    cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % args.dbname)
    cur.execute("CREATE DATABASE %s" % args.dbname)
    admin.close()

    conn = connect(args, appname="tc_chaos setup")
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION topcalls_fdw")
    for name, conc, page, retries, maxbytes in SERVERS:
        if args.serial:
            conc = 1
        opts = ["base_url %s" % psycopg2.extensions.adapt(args.api_url).getquoted().decode(),
                "max_concurrency '%d'" % conc, "page_size '%d'" % page,
                "max_retries '%d'" % retries, "timeout_ms '30000'"]
        if maxbytes:
            opts.append("max_response_bytes '%d'" % maxbytes)
        cur.execute("CREATE SERVER s_%s FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (%s)"
                    % (name, ", ".join(opts)))
        cur.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER s_%s"
                    " OPTIONS (api_key %s)"
                    % (name, psycopg2.extensions.adapt(args.api_key).getquoted().decode()))
        # rows: a big collection, so that joins look ids up rather than list
        cur.execute("""CREATE FOREIGN TABLE ft_%s (
              id uuid, account_id uuid, number text, source text, status text,
              phone_number_sid uuid, voip_carrier_sid uuid, carrier_name text,
              label text, error_message text, created_by_user_id uuid,
              created_at timestamptz, updated_at timestamptz
            ) SERVER s_%s OPTIONS (rows '100000')""" % (name, name))
    cur.execute("""CREATE FOREIGN TABLE ft_json (
          id uuid, number text,
          doc jsonb OPTIONS (field '*'),
          extra jsonb OPTIONS (field 'extra_field')
        ) SERVER s_c16 OPTIONS (rows '100000')""")
    cur.execute("CREATE TABLE local_ids (i int PRIMARY KEY, id uuid NOT NULL)")
    cur.execute("INSERT INTO local_ids SELECT i, format('00000000-0000-4000-8000-%%s',"
                " lpad(i::text, 12, '0'))::uuid FROM generate_series(1, %s) i",
                (oracle.count + 20,))
    cur.execute("ANALYZE local_ids")
    conn.close()


# ---------------------------------------------------------------------------
# A session
# ---------------------------------------------------------------------------

class Failure(Exception):
    pass


class Session(threading.Thread):
    def __init__(self, no, args, oracle, stop, results):
        super().__init__(name="session-%d" % no, daemon=True)
        self.no = no
        self.args = args
        self.oracle = oracle
        self.stop = stop
        self.rng = random.Random("%s/%d" % (args.seed, no))
        self.results = results
        self.conn = None
        self.qno = 0
        self.stats = {"queries": 0, "ok": 0, "rows": 0, "exact_rows": 0,
                      "mutated_rows": 0, "errors": {}, "kinds": {}, "samples": {},
                      "short_timeouts": 0}
        self.failures = []
        self.mem_start = None
        self.mem_end = None
        self.qlog = None

    # -- plumbing -------------------------------------------------------------

    def open(self):
        if self.args.log_dir:
            self.qlog = open(os.path.join(self.args.log_dir, "session-%d.log" % self.no), "w")
        self.conn = connect(self.args, appname="tc_chaos session %d" % self.no)
        cur = self.conn.cursor()
        cur.execute("SET statement_timeout = %d" % HANG_GUARD_MS)
        # The ERRORs are expected, and an input function quotes the whole
        # value in its message: a huge-string mutation makes one ERROR of up
        # to 20 MB, so logging them would add hundreds of MB to the server
        # log.  Crashes are logged by the postmaster whatever this says.
        cur.execute("SET log_min_messages = fatal")
        cur.execute("SET plan_cache_mode = force_generic_plan")
        cur.execute("PREPARE by_id(uuid) AS SELECT %s FROM ft_c8 WHERE id = $1" % SELECT_LIST)

    def memory(self):
        """(bytes in the backend's memory contexts, its resident set in kB).
        pg_backend_memory_contexts came in PostgreSQL 14: before, the
        contexts count as 0 and only the resident set is shown."""
        cur = self.conn.cursor()
        cur.execute("SELECT to_regclass('pg_catalog.pg_backend_memory_contexts') IS NOT NULL,"
                    " pg_backend_pid()")
        has_view, pid = cur.fetchone()
        total = 0
        if has_view:
            cur.execute("SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts")
            total = cur.fetchone()[0]
        rss = None
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
        except OSError:
            pass
        return total, rss

    def fail(self, kind, sql, what):
        msg = ("FAILURE session %d query %d (%s): %s\n    SQL: %s"
               % (self.no, self.qno, kind, what, shorten(sql, 600)))
        self.failures.append(msg)
        log(msg)

    def reset_timeout(self, cur, kind):
        """Back to the hang guard.  The SET itself still runs under the short
        timeout, which a slow (sanitized) backend can exceed: a cancel of the
        SET is tried again, a few times, and is no finding."""
        for attempt in range(5):
            try:
                cur.execute("SET statement_timeout = %d" % HANG_GUARD_MS)
                return
            except psycopg2.Error as e:
                if isinstance(e, psycopg2.extensions.QueryCanceledError) and attempt < 4:
                    continue
                self.fail(kind, "SET statement_timeout", "could not reset: %r" % e)
                raise Failure() from e

    def run_sql(self, kind, sql, params=None, short_timeout_ms=None):
        """Rows, or None after an accepted ERROR; raises Failure otherwise."""
        self.qno += 1
        self.stats["queries"] += 1
        self.stats["kinds"][kind] = self.stats["kinds"].get(kind, 0) + 1
        cur = self.conn.cursor()
        text = cur.mogrify(sql, params).decode("utf-8", "replace") if params else sql
        try:
            if short_timeout_ms:
                self.stats["short_timeouts"] += 1
                cur.execute("SET statement_timeout = %d" % short_timeout_ms)
            try:
                cur.execute(sql, params)
                rows = cur.fetchall()
            finally:
                if short_timeout_ms and not self.conn.closed:
                    self.reset_timeout(cur, kind)
        except UnicodeDecodeError as e:
            self.fail(kind, text, "the server sent text that is not valid UTF-8: %s" % e)
            raise Failure() from e
        except psycopg2.Error as e:
            code = e.pgcode
            if code is None or self.conn.closed:
                self.fail(kind, text, "lost the connection or no SQLSTATE: %s"
                          % shorten(str(e).strip(), 2000))
                raise Failure() from e
            ok = code.startswith("HV") or code.startswith("22") or (
                code == "57014" and short_timeout_ms)
            if not ok:
                why = "a query hung (hit the %d ms guard)" % HANG_GUARD_MS if code == "57014" \
                    else "unexpected SQLSTATE %s" % code
                self.fail(kind, text, "%s: %s" % (why, shorten(str(e).strip(), 2000)))
                raise Failure() from e
            self.note(kind, text, code)
            errs = self.stats["errors"]
            errs[code] = errs.get(code, 0) + 1
            if code not in self.stats["samples"]:
                self.stats["samples"][code] = shorten(e.pgerror or str(e), 300)
            return None
        self.note(kind, text, "%d rows" % len(rows))
        self.stats["ok"] += 1
        self.stats["rows"] += len(rows)
        return rows

    def note(self, kind, sql, outcome):
        """One line per query in the session's log (--log-dir)."""
        if self.qlog:
            self.qlog.write("%d %s %s -- %s\n" % (self.qno, kind, outcome, shorten(sql, 4000)))
            self.qlog.flush()

    def count_rows(self, rows):
        exact = 0
        for r in rows:
            if self.oracle.is_exact(r[-13:]):
                exact += 1
        self.stats["exact_rows"] += exact
        self.stats["mutated_rows"] += len(rows) - exact

    # -- query kinds ------------------------------------------------------------

    def pick_index(self):
        # mostly existing ids, some past the end (404 answers, never mutated)
        return self.rng.randint(1, self.oracle.count + 10)

    def short_timeout(self):
        if self.rng.random() < 0.05:
            ms = self.rng.randint(20, 400)
            return None if self.args.serial else ms
        return None

    def check_lookup(self, kind, sql, rows, asked):
        asked_set = set(asked)
        if len(rows) > len(asked_set):
            self.fail(kind, sql, "%d rows for %d distinct ids" % (len(rows), len(asked_set)))
            raise Failure()
        seen_exact = set()
        for r in rows:
            rid = r[0]
            if rid not in asked_set:
                self.fail(kind, sql, "row with id %r, which was not asked for" % (rid,))
                raise Failure()
            if self.oracle.is_exact(r):
                if rid in seen_exact:
                    self.fail(kind, sql, "id %s returned twice, exactly right both times" % rid)
                    raise Failure()
                seen_exact.add(rid)
        self.count_rows(rows)

    def q_single(self):
        i = self.pick_index()
        uid = self.oracle.uuid(i)
        table = self.rng.choice(("ft_c1", "ft_c8", "ft_c16"))
        sql = "SELECT %s FROM %s WHERE id = %%s" % (SELECT_LIST, table)
        rows = self.run_sql("single", sql, (uid,), self.short_timeout())
        if rows is not None:
            self.check_lookup("single", sql % ("'%s'" % uid), rows, [uid])

    def q_prepared(self):
        i = self.pick_index()
        uid = self.oracle.uuid(i)
        sql = "EXECUTE by_id(%s)"
        rows = self.run_sql("prepared", sql, (uid,), self.short_timeout())
        if rows is not None:
            self.check_lookup("prepared", sql % ("'%s'" % uid), rows, [uid])

    def q_many(self):
        n = self.rng.randint(10, 50)
        asked = [self.oracle.uuid(self.pick_index()) for _ in range(n)]
        if self.rng.random() < 0.3:
            asked += self.rng.sample(asked, min(5, len(asked)))   # duplicates
        if self.rng.random() < 0.2:
            asked = [a.upper() for a in asked]                    # not normalized
        table = self.rng.choice(("ft_c1", "ft_c8", "ft_c16", "ft_c16"))
        arr = "{%s}" % ",".join(asked)
        sql = "SELECT %s FROM %s WHERE id = ANY(%%s::uuid[])" % (SELECT_LIST, table)
        rows = self.run_sql("many", sql, (arr,), self.short_timeout())
        if rows is not None:
            self.check_lookup("many", sql % ("'%s'" % arr), rows, [a.lower() for a in asked])

    def q_list(self):
        table = self.rng.choice(("ft_c1", "ft_c8", "ft_c16"))
        shape = self.rng.random()
        limit = None
        status = None
        if shape < 0.5:
            limit = self.rng.randint(1, 60)
            sql = "SELECT %s FROM %s LIMIT %d" % (SELECT_LIST, table, limit)
        elif shape < 0.8:
            status = self.rng.choice(("active", "inactive", "pending", "failed", "deleted"))
            limit = self.rng.randint(1, 40)
            sql = ("SELECT %s FROM %s WHERE status = '%s' LIMIT %d"
                   % (SELECT_LIST, table, status, limit))
        else:
            sql = "SELECT %s FROM %s" % (SELECT_LIST, table)
        rows = self.run_sql("list", sql, None, self.short_timeout())
        if rows is None:
            return
        if limit is not None and len(rows) > limit:
            self.fail("list", sql, "%d rows despite LIMIT %d" % (len(rows), limit))
            raise Failure()
        if status is not None:
            bad = [r for r in rows if r[4] != status]
            if bad:
                self.fail("list", sql, "row with status %r passed the filter" % (bad[0][4],))
                raise Failure()
        self.count_rows(rows)

    def q_join(self):
        a = self.rng.randint(1, self.oracle.count + 5)
        k = self.rng.randint(1, 30)
        table = self.rng.choice(("ft_c8", "ft_c16"))
        sql = ("SELECT l.i, l.id::text, %s FROM local_ids l JOIN %s p ON p.id = l.id"
               " WHERE l.i BETWEEN %d AND %d"
               % (", ".join("p." + c for c in SELECT_LIST.split(", ")), table, a, a + k - 1))
        rows = self.run_sql("join", sql, None, self.short_timeout())
        if rows is None:
            return
        seen = set()
        for r in rows:
            i, lid, pid = r[0], r[1], r[2]
            if lid != pid:
                self.fail("join", sql, "outer id %s joined to row with id %s" % (lid, pid))
                raise Failure()
            if i in seen:
                self.fail("join", sql, "outer row %d joined twice" % i)
                raise Failure()
            if not a <= i <= a + k - 1:
                self.fail("join", sql, "outer row %d outside the range" % i)
                raise Failure()
            seen.add(i)
        self.count_rows([r[2:] for r in rows])

    def q_jsonb(self):
        if self.rng.random() < 0.5:
            i = self.pick_index()
            uid = self.oracle.uuid(i)
            sql = ("SELECT id::text, number, doc, extra FROM ft_json"
                   " WHERE id = '%s'" % uid)
            asked = {uid}
        else:
            sql = ("SELECT id::text, number, doc, extra FROM ft_json LIMIT %d"
                   % self.rng.randint(1, 30))
            asked = None
        rows = self.run_sql("jsonb", sql, None, self.short_timeout())
        if rows is None:
            return
        for r in rows:
            if asked is not None and r[0] not in asked:
                self.fail("jsonb", sql, "row with id %r, which was not asked for" % (r[0],))
                raise Failure()
            if r[2] is not None and not isinstance(r[2], dict):
                self.fail("jsonb", sql, "doc is not an object: %r" % (shorten(repr(r[2]), 100),))
                raise Failure()
            if asked is not None and len(rows) > 1:
                self.fail("jsonb", sql, "%d rows for one id" % len(rows))
                raise Failure()

    KINDS = (("single", 20), ("prepared", 5), ("many", 35), ("list", 18),
             ("join", 15), ("jsonb", 7))

    def one_query(self):
        r = self.rng.random() * sum(w for _, w in self.KINDS)
        for name, w in self.KINDS:
            if r < w:
                return getattr(self, "q_" + name)()
            r -= w
        return self.q_many()

    # -- the final pass, chaos off ----------------------------------------------

    def final_pass(self):
        o = self.oracle
        cur = self.conn.cursor()
        cur.execute("SET statement_timeout = %d" % HANG_GUARD_MS)
        rng = random.Random("%s/final/%d" % (self.args.seed, self.no))

        def expect(kind, sql, params, want):
            rows = self.run_sql(kind, sql, params)
            if rows is None:
                self.fail(kind, sql, "an ERROR with chaos off")
                raise Failure()
            got = sorted(tuple(r) for r in rows)
            want = sorted(want)
            if got != want:
                missing = [w[0] for w in want if w not in got][:5]
                extra = [g[0] for g in got if g not in want][:5]
                self.fail(kind, sql, "wrong rows with chaos off: %d rows, want %d;"
                          " missing %s, unexpected %s" % (len(got), len(want), missing, extra))
                raise Failure()

        for table in ("ft_c1", "ft_c8", "ft_c16"):
            i = rng.randint(1, o.count)
            expect("final single", "SELECT %s FROM %s WHERE id = %%s" % (SELECT_LIST, table),
                   (o.uuid(i),), [o.expected(i)])
            idx = [rng.randint(1, o.count + 10) for _ in range(50)]
            arr = "{%s}" % ",".join(o.uuid(i) for i in idx)
            expect("final many", "SELECT %s FROM %s WHERE id = ANY(%%s::uuid[])"
                   % (SELECT_LIST, table), (arr,),
                   [o.expected(i) for i in set(idx) if o.expected(i) is not None])
            expect("final list", "SELECT %s FROM %s" % (SELECT_LIST, table), None,
                   [o.expected(i) for i in range(1, o.count + 1)])
        i = rng.randint(1, o.count)
        expect("final prepared", "EXECUTE by_id(%s)", (o.uuid(i),), [o.expected(i)])
        a = rng.randint(1, o.count - 20)
        sql = ("SELECT %s FROM local_ids l JOIN ft_c16 p ON p.id = l.id"
               " WHERE l.i BETWEEN %d AND %d"
               % (", ".join("p." + c for c in SELECT_LIST.split(", ")), a, a + 29))
        expect("final join", sql, None,
               [o.expected(i) for i in range(a, a + 30) if o.expected(i) is not None])

    # -- the thread -------------------------------------------------------------

    def run(self):
        try:
            self.open()
            n = 0
            while not self.stop.is_set():
                self.one_query()
                n += 1
                if n == 30:
                    self.mem_start = self.memory()
        except Failure:
            self.stop.set()
        except Exception:
            self.fail("driver", "-", "driver exception:\n" + traceback.format_exc())
            self.stop.set()
        finally:
            self.results[self.no] = self


def shorten(text, n):
    text = str(text)
    return text if len(text) <= n else text[:n] + "... (%d chars)" % len(text)


# ---------------------------------------------------------------------------
# Hostile answers (opt-in, --hostile): two answers no random mutation makes
# ---------------------------------------------------------------------------

def proc_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def hostile_checks(args, admin):
    """Failures (strings) of the hostile cases; [] when all pass."""
    failures = []
    conn = connect(args, appname="tc_chaos hostile")
    cur = conn.cursor()
    cur.execute("SET log_min_messages = fatal")
    cur.execute("SET statement_timeout = '20s'")
    pid = conn.get_backend_pid()

    # 1. A width bomb: 4.5 MB of empty objects ([{},{},...]), well under
    # max_response_bytes.  A parser building a tree (json-c, in earlier
    # releases, spent ~800 bytes on each) would blindly cost over 1 GB; the
    # answer must be refused (HV...) and the backend's peak memory stay
    # modest.
    before = proc_kb(pid, "VmHWM")
    body = "[" + ",".join(["{}"] * 1500000) + "]"
    admin.call("faults", [{"kind": "lookup", "status": 200, "content_type": "application/json",
                           "body": body}])
    code = None
    try:
        cur.execute("SELECT id FROM ft_c16 WHERE id = %s", ("00000000-0000-4000-8000-000000000001",))
        cur.fetchall()
    except psycopg2.Error as e:
        code = e.pgcode
    peak = proc_kb(pid, "VmHWM")
    log("  hostile width bomb  SQLSTATE %s, backend peak memory %s -> %s MB"
        % (code, before and before // 1024, peak and peak // 1024))
    if code is None or not code.startswith("HV"):
        failures.append("width bomb: ended in %s, not an HV error" % (code or "rows"))
    if peak is not None and peak > 512 * 1024:
        failures.append("width bomb: the backend's peak memory reached %d MB for a %.1f MB answer"
                        % (peak // 1024, len(body) / 1048576.0))

    # 2. A list whose next_cursor never changes: the scan must stop with an
    # error of its own, not run until statement_timeout (57014).
    admin.call("faults", [{"kind": "list", "status": 200, "content_type": "application/json",
                           "body": '{"data":[],"next_cursor":"c2FtZQ=="}'}])
    start = time.monotonic()
    code = None
    try:
        cur.execute("SELECT count(*) FROM ft_c16")
        cur.fetchall()
    except psycopg2.Error as e:
        code = e.pgcode
    took = time.monotonic() - start
    log("  hostile cursor loop SQLSTATE %s after %.1f s" % (code, took))
    if code is None or not code.startswith("HV"):
        failures.append("cursor loop: ended in %s after %.1f s, not an HV error"
                        % (code or "rows", took))
    # 3. Integers beyond 64 bits: a parser that reads numbers into machine
    # integers may saturate them silently (json-c 0.16 made
    # 123456789012345678901234567890 18446744073709551615), so they must
    # come out exactly as sent or end in an error, never changed.
    big, neg = "123456789012345678901234567890", "-9223372036854775809"
    admin.call("faults", [{"kind": "lookup", "status": 200, "content_type": "application/json",
                           "body": '{"id":"00000000-0000-4000-8000-000000000001",'
                                   '"number":%s,"label":%s}' % (big, neg)}])
    code, row = None, None
    try:
        cur.execute("SELECT number, label FROM ft_c16"
                    " WHERE id = '00000000-0000-4000-8000-000000000001'")
        row = cur.fetchone()
    except psycopg2.Error as e:
        code = e.pgcode
    log("  hostile big integers %s" % ("SQLSTATE %s" % code if code else "row %r" % (row,)))
    if code is None and row != (big, neg):
        failures.append("big integers: %s and %s came back as %r" % (big, neg, row))
    elif code is not None and not code.startswith("HV"):
        failures.append("big integers: ended in %s, not an HV error" % code)

    # 4. A value of 1 MB that its column's type refuses: uuid_in and the
    # like quote the whole value in their message, so the ERROR (and the
    # server log line) would be 1 MB.  It must end in a 22 error with a
    # message of reasonable size.
    admin.call("faults", [{"kind": "lookup", "status": 200, "content_type": "application/json",
                           "body": '{"id":"%s"}' % ("x" * 1000000)}])
    code, msglen = None, 0
    try:
        cur.execute("SELECT id FROM ft_c16 WHERE id = '00000000-0000-4000-8000-000000000001'")
        cur.fetchall()
    except psycopg2.Error as e:
        code, msglen = e.pgcode, len(e.pgerror or "")
    log("  hostile 1 MB value  SQLSTATE %s, message of %d bytes" % (code, msglen))
    if code is None or not code.startswith("22"):
        failures.append("1 MB value: ended in %s, not a 22 error" % (code or "rows"))
    elif msglen > 10000:
        failures.append("1 MB value: the ERROR message is %d bytes long" % msglen)

    admin.call("faults", [])
    conn.close()
    return failures


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pghost", required=True)
    p.add_argument("--pgport", required=True)
    p.add_argument("--pguser", default="postgres")
    p.add_argument("--dbname", default="tc_chaos")
    p.add_argument("--api-url", required=True)
    p.add_argument("--api-key", default="tc_test_key")
    p.add_argument("--standin-script", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--rate", type=float, default=0.15)
    p.add_argument("--sessions", type=int, default=3)
    p.add_argument("--target", type=int, default=3000,
                   help="stop after this many mutated answers")
    p.add_argument("--duration", type=float, default=120,
                   help="or after this many seconds")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--log-dir", help="write each session's queries and outcomes here")
    p.add_argument("--serial", action="store_true",
                   help="max_concurrency 1 everywhere and no short timeouts: with one"
                        " session, the stand-in sees the same requests in the same"
                        " order on every run of a seed")
    p.add_argument("--hostile", action="store_true",
                   help="also serve a width bomb and a cursor loop (see hostile_checks)")
    args = p.parse_args()

    oracle = Oracle(args.standin_script, args.count)
    admin = Admin(args.api_url)
    setup_database(args, oracle)

    # Idle during the whole run: a backend crash ends it too.
    sentinel = connect(args, appname="tc_chaos sentinel")
    sentinel_pid = sentinel.get_backend_pid()

    admin.call("reset", {})
    admin.call("chaos", {"seed": args.seed, "rate": args.rate})
    log("chaos on: seed %d, rate %s, %d sessions, until %d mutated answers or %.0f s"
        % (args.seed, args.rate, args.sessions, args.target, args.duration))

    stop = threading.Event()
    results = {}
    sessions = [Session(n, args, oracle, stop, results) for n in range(1, args.sessions + 1)]
    start = time.monotonic()
    for s in sessions:
        s.start()
    last_report = start
    chaos_served = 0
    while not stop.is_set():
        stop.wait(1.0)
        try:
            st = admin.call("stats")
        except Exception as e:  # the stand-in itself died: that is a failure
            log("FAILURE: the stand-in's admin API did not answer: %r" % e)
            stop.set()
            sessions[0].failures.append("stand-in admin API down")
            break
        chaos_served = st["chaos_served"]
        now = time.monotonic()
        if now - last_report >= 15:
            log("  %3.0f s: %d answers, %d mutated, %d queries"
                % (now - start, st["requests"], chaos_served,
                   sum(s.stats["queries"] for s in sessions)))
            last_report = now
        if chaos_served >= args.target or now - start >= args.duration:
            stop.set()
    for s in sessions:
        s.join(timeout=HANG_GUARD_MS / 1000 + 30)
        if s.is_alive():
            s.failures.append("session %d did not stop" % s.no)
            log("FAILURE: session %d did not stop within its hang guard" % s.no)
    elapsed = time.monotonic() - start
    st = admin.call("stats")
    admin.call("chaos", {"seed": None})
    log("chaos off after %.1f s: %d answers served, %d of them mutated"
        % (elapsed, st["requests"], st["chaos_served"]))

    failures = [f for s in sessions for f in s.failures]

    # Final pass, chaos off, in the same sessions.
    if not failures:
        for s in sessions:
            try:
                s.final_pass()
                s.mem_end = s.memory()
            except Failure:
                pass
            except Exception:
                s.fail("final", "-", "driver exception:\n" + traceback.format_exc())
        failures = [f for s in sessions for f in s.failures]

    if args.hostile and not failures:
        for f in hostile_checks(args, admin):
            msg = "FAILURE (hostile): " + f
            log(msg)
            failures.append(msg)

    # The sentinel and a new connection.
    try:
        cur = sentinel.cursor()
        cur.execute("SELECT pg_backend_pid()")
        if cur.fetchone()[0] != sentinel_pid:
            raise RuntimeError("the sentinel's backend changed")
        cur.execute("SELECT count(*) FROM ft_c8 WHERE id = %s", (oracle.uuid(1),))
        if cur.fetchone()[0] != 1:
            raise RuntimeError("the sentinel's lookup did not find row 1")
        sentinel.close()
        c2 = connect(args, appname="tc_chaos after")
        c2.cursor().execute("SELECT 1")
        c2.close()
    except Exception as e:
        msg = ("FAILURE: the idle sentinel session (backend %d) or a new connection failed"
               " after the run: %s -- did a backend crash?" % (sentinel_pid, str(e).strip()))
        log(msg)
        failures.append(msg)

    # Summary.
    tot = {"queries": 0, "ok": 0, "rows": 0, "exact_rows": 0, "mutated_rows": 0,
           "short_timeouts": 0}
    errors, kinds, samples = {}, {}, {}
    for s in sessions:
        for k in tot:
            tot[k] += s.stats[k]
        for k, v in s.stats["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in s.stats["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
        for k, v in s.stats["samples"].items():
            samples.setdefault(k, v)
    log("")
    log("chaos summary (seed %d, rate %s, %d sessions, %.1f s)"
        % (args.seed, args.rate, args.sessions, elapsed))
    log("  answers served      %d (%d mutated)" % (st["requests"], st["chaos_served"]))
    log("  queries             %d (%s)" % (tot["queries"], ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items()))))
    log("  with rows/no ERROR  %d, rows %d: %d exactly right, %d accepted with mutated values"
        % (tot["ok"], tot["rows"], tot["exact_rows"], tot["mutated_rows"]))
    log("  under short timeout %d" % tot["short_timeouts"])
    log("  ERRORs by SQLSTATE  %s" % (", ".join("%s %d" % kv for kv in sorted(errors.items()))
                                     or "none"))
    for code in sorted(samples):
        log("    %s e.g. %s" % (code, samples[code].replace("\n", " | ")))
    for s in sessions:
        if s.mem_start and s.mem_end:
            log("  session %d memory   contexts %.1f -> %.1f MB, RSS %s -> %s MB"
                % (s.no, s.mem_start[0] / 1048576.0, s.mem_end[0] / 1048576.0,
                   "?" if s.mem_start[1] is None else "%.0f" % (s.mem_start[1] / 1024.0),
                   "?" if s.mem_end[1] is None else "%.0f" % (s.mem_end[1] / 1024.0)))
            # Every query's memory goes with its contexts: what stays in the
            # backend's contexts between queries must not grow with them.
            if s.mem_end[0] - s.mem_start[0] > CONTEXT_GROWTH_MAX:
                msg = ("FAILURE: session %d's memory contexts grew by %.1f MB over the run"
                       % (s.no, (s.mem_end[0] - s.mem_start[0]) / 1048576.0))
                log(msg)
                failures.append(msg)
    if st["chaos_served"] < min(args.target, 500):
        log("  NOTE: fewer mutated answers than wanted (slow machine?)")
    if failures:
        log("  %d FAILURE(S); replay with TC_CHAOS_SEED=%d" % (len(failures), args.seed))
        return 1
    if not args.keep_db:
        admin_conn = connect(args, "postgres", "tc_chaos cleanup")
        admin_conn.cursor().execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % args.dbname)
        admin_conn.close()
    log("  no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
