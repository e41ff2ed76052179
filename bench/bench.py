#!/usr/bin/python3
"""bench/bench.py: the measurements of topcalls_fdw's benchmark.

Started by bench/run.sh (as the postgres user) once the extension is
installed, the stand-in API and a throwaway cluster are running.  It creates
the objects it needs in the database it is given, then measures:

  (a)  1000 ids in one "id = ANY(array)" query at 20 ms latency:
       max_concurrency 16 (default) vs a max_concurrency '1' server
  (b)  1000 single-id queries in one session at 0 ms latency
  (c)  a full scan of 100 000 phone numbers: rows/s and backend memory
  (d)  the same as (a) and (b) with PL/Python + urllib.request
  (e)  a full scan of 100 000 calls at 0 ms against the "HTTP floor" (the
       same pages fetched without PostgreSQL), and of 20 000 calls at 20 ms
       against pages x 20 ms
  (f)  created_at >= <newest - 1 day> on 100 000 calls: pages read and time
       against the full scan of (e)
  (g)  a detail-only column (metadata) of 1000 calls at 20 ms: time above
       the same scan without detail columns
  (h)  calls JOIN campaigns for 3 campaigns: only their filtered lists read
  (i)  a dashboard of 16 sessions on a server with cache_ttl_ms: requests
       per time-to-live window, cached vs uncached medians
  (j)  pgbench, 16 clients, against the stand-in limited to 40 requests/s,
       with and without rate_limit 38: throughput, 429s, failures
  ((i) and (j) are in shared_parts.py, and need the cluster to preload
  topcalls_fdw, as run.sh has it.)

Every time is taken on the client with a monotonic clock around the
statement (execute + fetch of all rows).  Figures are medians over several
repetitions; the ratios compare figures measured in this same run.

Exit status: 0 when everything ran (whether or not targets were met),
1 when something broke (a wrong result, an error, the stand-in not answering).

Python 3.11 standard library + psycopg2 (Debian's python3-psycopg2).
"""

import argparse
import contextlib
import datetime
import decimal
import http.client
import json
import math
import os
import signal
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request

import psycopg2

ID_FMT = "00000000-0000-4000-8000-%012d"

COLUMNS = [
    ("id", "uuid"), ("account_id", "uuid"), ("number", "text"), ("source", "text"),
    ("status", "text"), ("phone_number_sid", "uuid"), ("voip_carrier_sid", "uuid"),
    ("carrier_name", "text"), ("label", "text"), ("error_message", "text"),
    ("created_by_user_id", "uuid"), ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
]
COLUMN_DDL = ",\n  ".join("%s %s" % c for c in COLUMNS)

# The calls (test/standin_api.py's Calls): call i is created at BASE_CALLS +
# (i // 2) minutes, newest first in the list; campaign_id is campaign
# (i % 3) + 1 unless i % 4 == 0; metadata is null when i % 5 == 0.
BASE_CALLS = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
CAMPAIGN_FMT = "cb000000-0000-4000-8000-%012d"
# The columns of calls that GET /v1/calls has (every column but the
# detail-only account_id, external_call_id, completed and metadata).
CALL_LIST_COLUMNS = ("id", "phone_number", "from_phone_number", "status", "call_status",
                     "duration", "transcript", "recording_url", "call_summary", "error_message",
                     "answered_by", "campaign_id", "lead_id", "created_at", "started_at",
                     "end_at", "disposition", "actual_duration_billed")
# (h): the campaigns joined.  The stand-in has campaigns 1..5, only 1..3
# with calls: from the campaigns table the three with calls (so the calls
# without a campaign must not be read), from a local table 1, 3 and 5 (so
# campaign 2's must not be read either, and 5's list is empty).
JOIN_TABLE_CAMPAIGNS = (1, 2, 3)
JOIN_LOCAL_CAMPAIGNS = (1, 3, 5)
CALLS_PAGE = 200        # the FDW's default page_size, and the floor's limit


class BenchError(Exception):
    """Something broke: the benchmark cannot give a meaningful figure."""


def fail(msg):
    raise BenchError(msg)


# ---------------------------------------------------------------------------
# The stand-in's admin API
# ---------------------------------------------------------------------------

class Standin:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def stats(self):
        return self._call("GET", "/_admin/stats")

    def requests(self):
        """The request log: ["GET /v1/...", ...], oldest first."""
        return self._call("GET", "/_admin/requests")["requests"]

    def prepare(self, count, latency_ms, **extra):
        """Counters back to zero, then the configuration a part needs (reset
        also puts the configuration back to the start-up one).  extra: more
        configuration keys (calls=N)."""
        self._call("POST", "/_admin/reset", {})
        want = dict(extra, count=count, latency_ms=latency_ms)
        self._call("POST", "/_admin/config", want)
        cfg = self._call("GET", "/_admin/config")
        if any(cfg.get(k) != v for k, v in want.items()):
            fail("the stand-in did not take the configuration %r: %r" % (want, cfg))


# ---------------------------------------------------------------------------
# Sessions and measurements
# ---------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.standin = Standin(args.api_url)
        self.results = {}

    @contextlib.contextmanager
    def session(self):
        """A cursor in a new session (a new backend), closed afterwards.
        JIT is off: a plan costed above jit_above_cost (the tables declared
        with many rows) would otherwise spend time and some 70 MB of backend
        memory compiling expressions, which is not the extension's doing."""
        conn = psycopg2.connect(host=self.args.pghost, port=self.args.pgport,
                                user="postgres", dbname=self.args.dbname,
                                options="-c statement_timeout=%d -c jit=off"
                                % (self.args.statement_timeout * 1000))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    @staticmethod
    def timed(cur, sql, params=None):
        """(seconds, rows) of one statement, execute + fetch, monotonic clock."""
        t0 = time.perf_counter()
        cur.execute(sql, params)
        rows = cur.fetchall()
        return time.perf_counter() - t0, rows

    @staticmethod
    def backend_pid(cur):
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]

    @staticmethod
    def proc_status_kb(pid, field):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        fail("no %s in /proc/%d/status" % (field, pid))

    def say(self, text=""):
        print(text, flush=True)

    # -- setup ---------------------------------------------------------------

    def setup(self):
        a = self.args
        self.say("==> creating the extension, servers, user mappings, foreign tables, "
                 "PL/Python functions")
        with self.session() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS topcalls_fdw")
            cur.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
            for server, extra in (("topcalls", ""), ("topcalls_serial", ", max_concurrency '1'")):
                cur.execute("CREATE SERVER %s FOREIGN DATA WRAPPER topcalls_fdw "
                            "OPTIONS (base_url %%s%s)" % (server, extra), (a.api_url,))
                cur.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER %s "
                            "OPTIONS (api_key %%s)" % server, (a.api_key,))
            # Sized as a large account (rows '1000000'): the planner weighs
            # lookups against reading the list, and (a) is about 1000 ids
            # among many, where lookups are the plan (with the default
            # estimate of 10 000 rows it reads the list, which would be right
            # for an account that small).
            cur.execute("CREATE FOREIGN TABLE topcalls_phone_numbers (\n  %s\n) SERVER topcalls "
                        "OPTIONS (rows '1000000')" % COLUMN_DDL)
            cur.execute("CREATE FOREIGN TABLE topcalls_phone_numbers_serial (\n  %s\n) "
                        "SERVER topcalls_serial OPTIONS (rows '1000000')" % COLUMN_DDL)
            # (e)-(h): calls and campaigns as IMPORT FOREIGN SCHEMA makes them;
            # calls sized as a large account (rows '100000'), so that a join
            # from a few campaigns plans filtered lists; a local table of
            # campaign ids for (h).
            cur.execute("CREATE SCHEMA tcb")
            cur.execute("IMPORT FOREIGN SCHEMA topcalls LIMIT TO (calls, campaigns) "
                        "FROM SERVER topcalls INTO tcb")
            cur.execute("ALTER FOREIGN TABLE tcb.calls OPTIONS (ADD rows '100000')")
            cur.execute("CREATE TABLE tcb.bench_campaigns (cid uuid PRIMARY KEY)")
            cur.execute("INSERT INTO tcb.bench_campaigns VALUES %s"
                        % ", ".join("('%s')" % (CAMPAIGN_FMT % k) for k in JOIN_LOCAL_CAMPAIGNS))
            cur.execute("ANALYZE tcb.bench_campaigns")

            # What a user without the extension would write: a row type, and
            # PL/Python functions fetching with urllib.request, one GET per id.
            cur.execute("CREATE TYPE py_phone_number AS (\n  %s\n)" % COLUMN_DDL)
            common = '''
import json, urllib.request, urllib.error
BASE = %s
KEY = %s
COLS = %s
def fetch(pid):
    req = urllib.request.Request(BASE + "/v1/phone-numbers/" + str(pid),
                                 headers={"Authorization": "Bearer " + KEY,
                                          "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            obj = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise
    return {c: obj.get(c) for c in COLS}
''' % (json.dumps(a.api_url.rstrip("/")), json.dumps(a.api_key),
                json.dumps([c for c, _ in COLUMNS]))
            cur.execute("CREATE FUNCTION py_phone_numbers_by_ids(ids uuid[]) "
                        "RETURNS SETOF py_phone_number LANGUAGE plpython3u AS $py$"
                        + common + '''
out = []
for pid in ids:
    row = fetch(pid)
    if row is not None:
        out.append(row)
return out
$py$''')
            cur.execute("CREATE FUNCTION py_phone_number(pid uuid) "
                        "RETURNS SETOF py_phone_number LANGUAGE plpython3u AS $py$"
                        + common + '''
row = fetch(pid)
return [] if row is None else [row]
$py$''')

    # -- (a) and (a') ------------------------------------------------------------

    def part_a(self):
        a = self.args
        n, lat = a.ids, a.latency_ms
        ids = [ID_FMT % i for i in range(1, n + 1)]
        sql = "SELECT count(*) FROM %s WHERE id = ANY(%%s::uuid[])"
        self.say()
        self.say("=== (a) %d distinct ids in one query, stand-in latency %d ms ===" % (n, lat))

        def run(label, table, reps, warm_ids):
            times, peaks, reqs = [], [], []
            with self.session() as cur:
                # Warm-up (untimed): loads the extension, opens connections.
                self.standin.prepare(1000, lat)
                self.timed(cur, sql % table, (warm_ids,))
                for r in range(reps):
                    self.standin.prepare(1000, lat)
                    t, rows = self.timed(cur, sql % table, (ids,))
                    if rows[0][0] != n:
                        fail("%s: count(*) = %s, expected %d" % (label, rows[0][0], n))
                    st = self.standin.stats()
                    if st["lookups"] != n or st["lists"] != 0 or st["errors"] != 0:
                        fail("%s: expected %d lookups and no list request, stand-in says %r"
                             % (label, n, st))
                    times.append(t)
                    peaks.append(st["in_flight_peak"])
                    reqs.append(st["requests"])
                    self.say("  %-34s run %d: %7.3f s  (requests %d, in_flight_peak %d)"
                             % (label, r + 1, t, st["requests"], st["in_flight_peak"]))
            return statistics.median(times), max(peaks)

        fdw_t, fdw_peak = run("FDW, max_concurrency 16 (default)",
                              "topcalls_phone_numbers", a.fast_reps, ids)
        ser_t, ser_peak = run("FDW, max_concurrency 1 (serial)",
                              "topcalls_phone_numbers_serial", a.slow_reps, ids[:5])
        ideal = math.ceil(n / 16) * lat / 1000.0
        self.results["a"] = dict(fdw=fdw_t, serial=ser_t, peak=fdw_peak, serial_peak=ser_peak,
                                 ideal=ideal, speedup=ser_t / fdw_t, vs_ideal=fdw_t / ideal)

        # (a') PL/Python: one urllib.request GET per id, in a loop.
        self.say()
        self.say("=== (a') the same %d ids with PL/Python + urllib.request, latency %d ms ==="
                 % (n, lat))
        py_sql = "SELECT count(*) FROM py_phone_numbers_by_ids(%s::uuid[])"
        times, conns = [], []
        with self.session() as cur:
            self.standin.prepare(1000, lat)
            self.timed(cur, py_sql, (ids[:5],))
            for r in range(a.slow_reps):
                self.standin.prepare(1000, lat)
                t, rows = self.timed(cur, py_sql, (ids,))
                if rows[0][0] != n:
                    fail("PL/Python (a'): count(*) = %s, expected %d" % (rows[0][0], n))
                st = self.standin.stats()
                times.append(t)
                conns.append(st["connections"])
                self.say("  %-34s run %d: %7.3f s  (requests %d, connections %d)"
                         % ("PL/Python loop", r + 1, t, st["requests"], st["connections"]))
        self.results["a_py"] = dict(time=statistics.median(times), conns=max(conns))

    # -- (b) and (b') ------------------------------------------------------------

    def part_b(self):
        a = self.args
        n = a.queries
        ids = [ID_FMT % i for i in range(1, n + 1)]
        self.say()
        self.say("=== (b) %d single-id queries in one session, latency 0 ms, and (b') the same "
                 "with a PL/Python function ===" % n)
        self.say("  each run: a fresh session per variant, the variants interleaved so that "
                 "they share the machine's noise;")
        self.say("  'HTTP floor' (a reference, no PostgreSQL): the same %d GETs from Python "
                 "http.client on one keep-alive connection" % n)

        def number_of(pid):
            return "+1555%07d" % int(pid.rsplit("-", 1)[1])

        def one_session(label, make_sql):
            with self.session() as cur:
                # The loop includes the session's first use of the extension
                # (or of PL/Python): that is part of the job.
                self.standin.prepare(1000, 0)
                t0 = time.perf_counter()
                for pid in ids:
                    cur.execute(make_sql(pid))
                    rows = cur.fetchall()
                    if rows != [(number_of(pid),)]:
                        fail("%s: wrong answer for %s: %r" % (label, pid, rows))
                t = time.perf_counter() - t0
            return t, self.check_lookups(label, n)

        def http_floor():
            port = int(urllib.parse.urlsplit(a.api_url).port)
            self.standin.prepare(1000, 0)
            h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                t0 = time.perf_counter()
                for pid in ids:
                    h.request("GET", "/v1/phone-numbers/" + pid,
                              headers={"Authorization": "Bearer " + a.api_key})
                    resp = h.getresponse()
                    body = resp.read()
                    if resp.status != 200 or json.loads(body)["number"] != number_of(pid):
                        fail("HTTP floor: bad answer for %s: %d" % (pid, resp.status))
                t = time.perf_counter() - t0
            finally:
                h.close()
            return t, self.check_lookups("HTTP floor", n)

        variants = [
            ("FDW", lambda: one_session(
                "FDW", lambda pid: "SELECT number FROM topcalls_phone_numbers WHERE id = '%s'"
                % pid)),
            ("PL/Python (b')", lambda: one_session(
                "PL/Python", lambda pid: "SELECT number FROM py_phone_number('%s')" % pid)),
            ("HTTP floor", http_floor),
        ]
        times = {name: [] for name, _ in variants}
        conns = {name: [] for name, _ in variants}
        for r in range(a.fast_reps):
            for name, fn in variants:
                t, st = fn()
                times[name].append(t)
                conns[name].append(st["connections"])
                self.say("  %-16s run %d: %7.3f s = %6.0f queries/s  (requests %d, "
                         "connections %d)" % (name, r + 1, t, n / t, st["requests"],
                                              st["connections"]))
        out = {}
        for name, _ in variants:
            t = statistics.median(times[name])
            out[name] = dict(time=t, qps=n / t, conns=max(conns[name]))
        self.results["b"] = out["FDW"]
        self.results["b_py"] = out["PL/Python (b')"]
        self.results["b_floor"] = out["HTTP floor"]

    def check_lookups(self, label, n):
        st = self.standin.stats()
        if st["lookups"] != n or st["lists"] != 0 or st["errors"] != 0:
            fail("%s: expected %d lookups and no list request, stand-in says %r"
                 % (label, n, st))
        return st

    # -- (c) ---------------------------------------------------------------------

    def part_c(self):
        a = self.args
        total, small = a.scan_rows, a.scan_rows // 10
        self.say()
        self.say("=== (c) full scan of %d phone numbers, latency 0 ms ===" % total)
        self.say("  memory: peak RSS (VmHWM in /proc/<pid>/status) of the backend, each "
                 "figure in its own fresh session,")
        self.say("  after 'SELECT 1' (baseline), after reading %d rows (LIMIT), and after "
                 "reading all %d;" % (small, total))
        self.say("  VmRSS is also sampled every 5 ms while the full scan runs.")
        self.standin.prepare(total, 0)
        full_sql = "SELECT count(*), sum(length(number)) FROM topcalls_phone_numbers"
        small_sql = ("SELECT count(*), sum(length(number)) FROM "
                     "(SELECT number FROM topcalls_phone_numbers LIMIT %d) s" % small)
        expect_full = (total, sum(len("+1555%07d" % i) for i in range(1, total + 1)))
        expect_small = (small, sum(len("+1555%07d" % i) for i in range(1, small + 1)))

        def fresh_session_hwm(sql, expect, sample):
            """(seconds, VmHWM kB at start, VmHWM kB after, RSS samples) of sql in a
            fresh session."""
            with self.session() as cur:
                cur.execute("SELECT 1")
                pid = self.backend_pid(cur)
                base = self.proc_status_kb(pid, "VmHWM")
                samples, stop = [], threading.Event()

                def sampler():
                    while not stop.is_set():
                        try:
                            samples.append((time.perf_counter(),
                                            self.proc_status_kb(pid, "VmRSS")))
                        except (OSError, BenchError):
                            return
                        stop.wait(0.005)

                th = threading.Thread(target=sampler, daemon=True) if sample else None
                if th:
                    th.start()
                t0 = time.perf_counter()
                t, rows = self.timed(cur, sql)
                if th:
                    stop.set()
                    th.join()
                after = self.proc_status_kb(pid, "VmHWM")
                if tuple(rows[0]) != expect:
                    fail("scan: got %r, expected %r" % (rows[0], expect))
                return t, base, after, [(s - t0, kb) for s, kb in samples]

        def http_floor():
            """The same pages from Python http.client + json.loads, no PostgreSQL."""
            port = int(urllib.parse.urlsplit(a.api_url).port)
            h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            cursor, rows = None, 0
            try:
                t0 = time.perf_counter()
                while True:
                    path = "/v1/phone-numbers?limit=200"
                    if cursor:
                        path += "&cursor=" + urllib.parse.quote(cursor, safe="")
                    h.request("GET", path, headers={"Authorization": "Bearer " + a.api_key})
                    resp = h.getresponse()
                    body = resp.read()
                    if resp.status != 200:
                        fail("HTTP floor: status %d for %s" % (resp.status, path))
                    page = json.loads(body)
                    rows += len(page["data"])
                    cursor = page.get("next_cursor")
                    if not cursor:
                        break
                t = time.perf_counter() - t0
            finally:
                h.close()
            if rows != total:
                fail("HTTP floor: %d rows, expected %d" % (rows, total))
            return t

        times, base_kb, small_kb, full_kb, traces, floors = [], [], [], [], [], []
        for r in range(a.fast_reps):
            floors.append(http_floor())
            _, b0, hs, _ = fresh_session_hwm(small_sql, expect_small, False)
            st0 = self.standin.stats()
            t, b1, hf, trace = fresh_session_hwm(full_sql, expect_full, True)
            st1 = self.standin.stats()
            pages = st1["lists"] - st0["lists"]
            times.append(t)
            base_kb.extend([b0, b1])
            small_kb.append(hs)
            full_kb.append(hf)
            traces.append((t, trace))
            self.say("  run %d: full scan %6.3f s = %7.0f rows/s (%d pages); VmHWM after "
                     "SELECT 1 %5.1f MB, after %d rows %5.1f MB, after %d rows %5.1f MB"
                     % (r + 1, t, total / t, pages, b1 / 1024, small, hs / 1024, total,
                        hf / 1024))
        t_med = statistics.median(times)
        # The RSS curve of the median run: at 10 %, 50 % and 100 % of its time.
        t_run, trace = sorted(traces, key=lambda x: x[0])[len(traces) // 2]
        curve = []
        for frac in (0.1, 0.5, 1.0):
            pts = [kb for s, kb in trace if s <= frac * t_run]
            curve.append((frac, max(pts) / 1024 if pts else float("nan")))
        floor = statistics.median(floors)
        self.say("  HTTP floor (reference, no PostgreSQL: the same 200-row pages read by "
                 "Python http.client + json.loads): %.3f s = %.0f rows/s" % (floor, total / floor))
        self.say("  VmRSS during the median full scan: " + ", ".join(
            "%3d%% of the time %.1f MB" % (f * 100, mb) for f, mb in curve))
        self.results["c"] = dict(
            time=t_med, rows_per_s=total / t_med,
            base_mb=statistics.median(base_kb) / 1024,
            small_mb=statistics.median(small_kb) / 1024,
            full_mb=statistics.median(full_kb) / 1024,
            growth_mb=(statistics.median(full_kb) - statistics.median(small_kb)) / 1024,
            floor=floor,
            small=small, total=total)

    # -- the calls: shared pieces ------------------------------------------------

    def calls_floor(self, extra="", collect=False, stop_before=None):
        """The "HTTP floor" of a calls list, no PostgreSQL involved: its pages
        fetched as the FDW fetches them (limit=200, then each page's
        next_cursor in turn, percent-encoded, on one keep-alive
        http.client connection).  Each page's body is read in full and its
        next_cursor found with bytes.rfind: no JSON parsing, nothing else.
        extra: "&campaign_id=<id>" for a filtered list.

        collect (untimed use only): also json.loads each page, check that
        rfind found its next_cursor, and gather the distinct ids.
        stop_before (with collect): an aware datetime; stop after the first
        page holding a row created before it, as a created_at >= bound does.

        Returns dict(time, pages, paths (as sent), ids (a set, if collect))."""
        port = int(urllib.parse.urlsplit(self.args.api_url).port)
        headers = {"Authorization": "Bearer " + self.args.api_key}
        base = "/v1/calls?limit=%d%s" % (CALLS_PAGE, extra)
        h = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        cursor, paths, ids = None, [], set()
        try:
            t0 = time.perf_counter()
            while True:
                path = base if cursor is None else (
                    base + "&cursor=" + urllib.parse.quote(cursor, safe=""))
                paths.append(path)
                h.request("GET", path, headers=headers)
                resp = h.getresponse()
                body = resp.read()
                if resp.status != 200:
                    fail("calls HTTP floor: status %d for %s" % (resp.status, path))
                k = body.rfind(b'"next_cursor":')
                if k < 0:
                    fail("calls HTTP floor: no next_cursor in the answer to %s" % path)
                tail = body[k + 14:].lstrip()
                if tail.startswith(b"null"):
                    cursor = None
                elif tail.startswith(b'"'):
                    cursor = tail[1:tail.index(b'"', 1)].decode("ascii")
                else:
                    fail("calls HTTP floor: odd next_cursor in the answer to %s" % path)
                if collect:
                    page = json.loads(body)
                    if page.get("next_cursor") != cursor:
                        fail("calls HTTP floor: next_cursor %r, json.loads says %r"
                             % (cursor, page.get("next_cursor")))
                    older = False
                    for row in page["data"]:
                        created = datetime.datetime.fromisoformat(
                            row["created_at"].replace("Z", "+00:00"))
                        if stop_before is not None and created < stop_before:
                            older = True
                            break
                        ids.add(row["id"])
                    if older:
                        break
                if cursor is None:
                    break
            t = time.perf_counter() - t0
        finally:
            h.close()
        return dict(time=t, pages=len(paths), paths=paths, ids=ids)

    def fdw_calls_paths(self):
        """The paths of the GET /v1/calls requests in the stand-in's log."""
        return [line.split(" ", 1)[1] for line in self.standin.requests()
                if line.startswith("GET /v1/calls?") or line == "GET /v1/calls"]

    @staticmethod
    def same_paths(a, b):
        unq = urllib.parse.unquote
        return [unq(x) for x in a] == [unq(x) for x in b]

    def check_same_pages(self, label, expected_paths):
        """The FDW's list requests since the last reset were exactly those
        pages, in that order: else the comparison with the floor means nothing."""
        got = self.fdw_calls_paths()
        if not self.same_paths(got, expected_paths):
            k = next((i for i, (x, y) in enumerate(zip(got, expected_paths)) if x != y),
                     min(len(got), len(expected_paths)))
            fail("%s: the FDW read other pages than the floor: %d requests vs %d; first "
                 "difference at #%d: %r vs %r"
                 % (label, len(got), len(expected_paths), k + 1,
                    got[k] if k < len(got) else None,
                    expected_paths[k] if k < len(expected_paths) else None))

    @staticmethod
    def newest_bound_sql(n):
        """A query reading one page: the session's first use of the extension
        (loads it, opens the connection), untimed."""
        ts = BASE_CALLS + datetime.timedelta(minutes=n // 2)
        return ("SELECT count(*) FROM tcb.calls WHERE created_at >= '%s'"
                % ts.strftime("%Y-%m-%dT%H:%M:%SZ"))

    @staticmethod
    def proc_cpu_s(pid):
        """CPU seconds (user + system) process pid has used so far."""
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run_calls_query(self, cur, label, sql, expect, details=0):
        """(seconds, stand-in stats, the row, backend CPU seconds) of sql,
        run after a counter reset, checking its one row and the detail
        requests (expect: the row as a tuple; None in it: not checked)."""
        pid = self.backend_pid(cur)
        cpu0 = self.proc_cpu_s(pid)
        t, rows = self.timed(cur, sql)
        cpu = self.proc_cpu_s(pid) - cpu0
        st = self.standin.stats()
        row = tuple(rows[0])
        if len(row) != len(expect) or any(
                e is not None and v != e for v, e in zip(row, expect)):
            fail("%s: got %r, expected %r" % (label, row, expect))
        if st["calls_details"] != details or st["errors"] != 0:
            fail("%s: expected %d detail requests and no error, stand-in says %r"
                 % (label, details, st))
        return t, st, row, cpu

    # -- (e) ---------------------------------------------------------------------

    def part_e(self):
        a = self.args
        n = a.calls_rows
        sum_sql = "SELECT count(*), sum(duration) FROM tcb.calls"
        all_sql = ("SELECT count(*), sum(length(ROW(%s)::text)) FROM tcb.calls"
                   % ", ".join(CALL_LIST_COLUMNS))
        self.say()
        self.say("=== (e) full scan of %d calls, latency 0 ms, against the HTTP floor ===" % n)
        self.say("  FDW 'sum':  %s" % sum_sql)
        self.say("  FDW 'all':  SELECT count(*), sum(length(ROW(<the %d list columns>)::text)) "
                 "FROM tcb.calls" % len(CALL_LIST_COLUMNS))
        self.say("              (every column of GET /v1/calls converted, no detail-only one)")
        self.say("  HTTP floor: the same pages (limit=%d, the same cursors in turn) from Python "
                 "http.client on one" % CALLS_PAGE)
        self.say("              keep-alive connection, reading each body and finding its "
                 "next_cursor with bytes.rfind (no JSON parsing)")
        self.say("  each FDW run is checked to have read exactly the floor's pages "
                 "(the stand-in's request log)")

        def scan_and_floor(n, lat, reps, label, local=False):
            # The reference pages, with every row checked once (untimed, at 0 ms).
            self.standin.prepare(1000, 0, calls=n)
            ref = self.calls_floor(collect=True)
            if len(ref["ids"]) != n:
                fail("%s: the floor saw %d distinct calls, expected %d"
                     % (label, len(ref["ids"]), n))
            pages = ref["pages"]
            expect_sum = (n, decimal.Decimal(sum(i % 7 for i in range(1, n + 1))) / 2)
            times = {"floor": [], "sum": [], "all": [], "sum_cpu": [], "all_cpu": []}
            all_value = None
            with self.session() as cur:
                self.standin.prepare(1000, lat, calls=n)
                self.timed(cur, self.newest_bound_sql(n))
                for r in range(reps):
                    self.standin.prepare(1000, lat, calls=n)
                    fl = self.calls_floor()
                    if not self.same_paths(fl["paths"], ref["paths"]):
                        fail("%s: the floor's pages changed between runs" % label)
                    times["floor"].append(fl["time"])
                    for name, sql, expect in (("sum", sum_sql, expect_sum),
                                              ("all", all_sql, (n, all_value))):
                        self.standin.prepare(1000, lat, calls=n)
                        t, st, row, cpu = self.run_calls_query(
                            cur, "%s %s" % (label, name), sql, expect)
                        self.check_same_pages("%s %s" % (label, name), ref["paths"])
                        if name == "all":
                            all_value = row[1]
                        times[name].append(t)
                        times[name + "_cpu"].append(cpu)
                    self.say("  run %d: floor %6.3f s = %6.0f rows/s | FDW sum %6.3f s = "
                             "%6.0f rows/s (CPU %.2f s) | FDW all %6.3f s = %6.0f rows/s "
                             "(CPU %.2f s)"
                             % (r + 1, times["floor"][-1], n / times["floor"][-1],
                                times["sum"][-1], n / times["sum"][-1], times["sum_cpu"][-1],
                                times["all"][-1], n / times["all"][-1], times["all_cpu"][-1]))
                if local:
                    # PostgreSQL alone: the same queries over a local copy
                    # of the rows, to show what their SQL costs without
                    # the API, the JSON and the FDW.
                    self.standin.prepare(1000, 0, calls=n)
                    cur.execute("CREATE TEMP TABLE local_calls AS SELECT %s FROM tcb.calls"
                                % ", ".join(CALL_LIST_COLUMNS))
                    cur.execute("VACUUM ANALYZE local_calls")
                    times["local_sum"], times["local_all"] = [], []
                    for r in range(reps):
                        for name, sql in (("sum", sum_sql), ("all", all_sql)):
                            t, rows = self.timed(cur, sql.replace("tcb.calls", "local_calls"))
                            expect = expect_sum if name == "sum" else (n, all_value)
                            if tuple(rows[0]) != expect:
                                fail("%s local %s: got %r, expected %r"
                                     % (label, name, tuple(rows[0]), expect))
                            times["local_" + name].append(t)
                    cur.execute("DROP TABLE local_calls")
            med = {k: statistics.median(v) for k, v in times.items()}
            med.update(n=n, pages=pages)
            return med

        self.say("  'CPU': the backend's user + system CPU time during the statement "
                 "(/proc/<pid>/stat)")
        med = scan_and_floor(n, 0, a.fast_reps, "(e) 0 ms", local=True)
        self.results["e"] = med
        self.say("  PostgreSQL alone, the same queries over a local copy of the rows: sum %.3f s, "
                 "all %.3f s (%.2fx the floor's time)"
                 % (med["local_sum"], med["local_all"], med["local_all"] / med["floor"]))
        self.say("  medians (%d pages): floor %.0f rows/s; FDW sum %.0f rows/s (%.2fx the "
                 "floor), all %.0f rows/s (%.2fx); backend CPU %.1f / %.1f ms a page"
                 % (med["pages"], n / med["floor"], n / med["sum"], med["floor"] / med["sum"],
                    n / med["all"], med["floor"] / med["all"],
                    med["sum_cpu"] / med["pages"] * 1000, med["all_cpu"] / med["pages"] * 1000))

        n20, lat = a.calls_rows_slow, a.latency_ms
        self.say()
        self.say("=== (e') full scan of %d calls at %d ms latency, against pages x %d ms ==="
                 % (n20, lat, lat))
        med = scan_and_floor(n20, lat, a.slow_reps, "(e') %d ms" % lat)
        ideal = med["pages"] * lat / 1000.0
        med.update(lat=lat, ideal=ideal)
        self.results["e20"] = med
        self.say("  medians (%d pages): pages x %d ms = %.3f s; FDW sum %.3f s (%.2fx), all "
                 "%.3f s (%.2fx); floor %.3f s (%.2fx)"
                 % (med["pages"], lat, ideal, med["sum"], med["sum"] / ideal, med["all"],
                    med["all"] / ideal, med["floor"], med["floor"] / ideal))
        self.say("  a page costs %.1f ms beyond %d ms in the floor (the stand-in's own time), "
                 "%.1f / %.1f ms in the FDW (sum / all),"
                 % ((med["floor"] - ideal) / med["pages"] * 1000, lat,
                    (med["sum"] - ideal) / med["pages"] * 1000,
                    (med["all"] - ideal) / med["pages"] * 1000))
        self.say("  whose backend uses %.1f / %.1f ms of CPU a page: the part of it not "
                 "overlapped with the wait adds to the latency"
                 % (med["sum_cpu"] / med["pages"] * 1000, med["all_cpu"] / med["pages"] * 1000))

    # -- (f) ---------------------------------------------------------------------

    def part_f(self):
        a = self.args
        n = a.calls_rows
        lo_min = n // 2 - 1440          # the newest call's minute, less one day
        lo = BASE_CALLS + datetime.timedelta(minutes=lo_min)
        day_calls = sum(1 for i in range(1, n + 1) if i // 2 >= lo_min)
        bound_pages = day_calls / CALLS_PAGE + 1
        sql = ("SELECT count(*) FROM tcb.calls WHERE created_at >= '%s'"
               % lo.strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.say()
        self.say("=== (f) the last day of %d calls, latency 0 ms ===" % n)
        self.say("  %s" % sql)
        self.say("  (the newest call is at +%d min; the day from %s holds %d calls)"
                 % (n // 2, lo.strftime("%Y-%m-%d %H:%M"), day_calls))
        self.standin.prepare(1000, 0, calls=n)
        ref = self.calls_floor(collect=True, stop_before=lo)
        if len(ref["ids"]) != day_calls:
            fail("(f): the floor saw %d calls of the day, expected %d"
                 % (len(ref["ids"]), day_calls))
        self.say("  the fewest pages that reach the first older call: %d" % ref["pages"])

        full_src = "(e)"
        if "e" in self.results and self.results["e"]["n"] == n:
            full = self.results["e"]["sum"]
        else:
            full_src = "this part"
            full_times = []
        times, pages = [], []
        with self.session() as cur:
            self.standin.prepare(1000, 0, calls=n)
            self.timed(cur, self.newest_bound_sql(n))
            if full_src != "(e)":
                for r in range(a.slow_reps):
                    self.standin.prepare(1000, 0, calls=n)
                    t, _, _, _ = self.run_calls_query(
                        cur, "(f) full scan", "SELECT count(*) FROM tcb.calls", (n,))
                    full_times.append(t)
                full = statistics.median(full_times)
            for r in range(a.f_reps):
                self.standin.prepare(1000, 0, calls=n)
                t, st, _, _ = self.run_calls_query(cur, "(f)", sql, (day_calls,))
                self.check_same_pages("(f)", ref["paths"])
                times.append(t)
                pages.append(st["calls_lists"])
                self.say("  run %d: %6.3f s, %d pages (calls_lists)" % (r + 1, t, pages[-1]))
        t = statistics.median(times)
        self.results["f"] = dict(n=n, day_calls=day_calls, time=t, pages=max(pages),
                                 bound_pages=bound_pages, min_pages=ref["pages"],
                                 full=full, full_src=full_src, ratio=full / t)
        self.say("  median %.3f s against the full scan's %.3f s (%s): 1/%.0f of it; "
                 "pages %d, bound %d/%d + 1 = %.1f"
                 % (t, full, full_src, full / t, max(pages), day_calls, CALLS_PAGE, bound_pages))

    # -- (g) ---------------------------------------------------------------------

    def part_g(self):
        a = self.args
        n, lat = a.detail_calls, a.latency_ms
        list_sql = "SELECT count(call_status) FROM tcb.calls"
        det_sql = "SELECT count(metadata) FROM tcb.calls"
        expect_det = sum(1 for i in range(1, n + 1) if i % 5)
        ideal = math.ceil(n / 16) * lat / 1000.0
        self.say()
        self.say("=== (g) a detail-only column of %d calls, latency %d ms, max_concurrency 16 ==="
                 % (n, lat))
        self.say("  details: %s   (one GET /v1/calls/{id} per call)" % det_sql)
        self.say("  list:    %s   (the same pages, no detail)" % list_sql)
        self.say("  each run: the list query, then the detail query; 'extra' = their difference")
        list_t, det_t, extra, peaks, details, pages = [], [], [], [], [], []
        with self.session() as cur:
            self.standin.prepare(1000, lat, calls=n)
            self.timed(cur, self.newest_bound_sql(n))
            for r in range(a.slow_reps):
                self.standin.prepare(1000, lat, calls=n)
                tl, stl, _, _ = self.run_calls_query(cur, "(g) list", list_sql, (n,))
                self.standin.prepare(1000, lat, calls=n)
                td, std, _, _ = self.run_calls_query(cur, "(g) details", det_sql, (expect_det,),
                                                  details=n)
                list_t.append(tl)
                det_t.append(td)
                extra.append(td - tl)
                peaks.append(std["in_flight_peak"])
                details.append(std["calls_details"])
                pages.append(std["calls_lists"])
                self.say("  run %d: list %6.3f s (%d pages) | details %6.3f s (%d pages, %d "
                         "detail requests, in_flight_peak %d) | extra %6.3f s"
                         % (r + 1, tl, stl["calls_lists"], td, std["calls_lists"],
                            std["calls_details"], std["in_flight_peak"], td - tl))
        self.results["g"] = dict(n=n, lat=lat, list=statistics.median(list_t),
                                 det=statistics.median(det_t), extra=statistics.median(extra),
                                 ideal=ideal, budget=2 * ideal, peak=max(peaks),
                                 details=max(details), pages=max(pages))
        rg = self.results["g"]
        self.say("  medians: list %.3f s, details %.3f s, extra %.3f s = %.2fx the ideal "
                 "ceil(%d/16) x %d ms = %.3f s"
                 % (rg["list"], rg["det"], rg["extra"], rg["extra"] / ideal, n, lat, ideal))

    # -- (h) ---------------------------------------------------------------------

    def part_h(self):
        a = self.args
        n = a.join_calls
        port = int(urllib.parse.urlsplit(a.api_url).port)
        self.say()
        self.say("=== (h) calls JOIN campaigns for 3 campaigns, %d calls, latency 0 ms, "
                 "calls OPTIONS (rows '100000') ===" % n)

        def ids_sql(ks):
            return ", ".join("'%s'" % (CAMPAIGN_FMT % k) for k in ks)

        variants = [
            ("from campaigns, p.id IN (%s)" % ", ".join(map(str, JOIN_TABLE_CAMPAIGNS)),
             "SELECT count(*) FROM tcb.campaigns p JOIN tcb.calls c ON c.campaign_id = p.id "
             "WHERE p.id IN (%s)" % ids_sql(JOIN_TABLE_CAMPAIGNS), JOIN_TABLE_CAMPAIGNS),
            ("from a local table of (%s)" % ", ".join(map(str, JOIN_LOCAL_CAMPAIGNS)),
             "SELECT count(*) FROM tcb.bench_campaigns f JOIN tcb.calls c "
             "ON c.campaign_id = f.cid", JOIN_LOCAL_CAMPAIGNS),
        ]
        # What each campaign has: the stand-in's stats, and its filtered list
        # as the floor reads it; and the whole list, for scale.
        self.standin.prepare(1000, 0, calls=n)
        h = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stats, lists = {}, {}
        try:
            for k in sorted(set(JOIN_TABLE_CAMPAIGNS) | set(JOIN_LOCAL_CAMPAIGNS)):
                h.request("GET", "/v1/campaigns/" + CAMPAIGN_FMT % k,
                          headers={"Authorization": "Bearer " + a.api_key})
                resp = h.getresponse()
                body = resp.read()
                if resp.status != 200:
                    fail("(h): GET /v1/campaigns/%d: status %d" % (k, resp.status))
                stats[k] = json.loads(body)["stats"]["calls"]
                lists[k] = self.calls_floor("&campaign_id=" + CAMPAIGN_FMT % k, collect=True)
                if len(lists[k]["ids"]) != stats[k]:
                    fail("(h): campaign %d: its list has %d calls, its stats say %d"
                         % (k, len(lists[k]["ids"]), stats[k]))
        finally:
            h.close()
        whole = self.calls_floor(collect=True)
        self.say("  the stand-in's campaigns: %s; the whole list: %d calls in %d pages"
                 % (", ".join("%d: %d calls in %d pages" % (k, stats[k], lists[k]["pages"])
                              for k in sorted(stats)), len(whole["ids"]), whole["pages"]))

        out = []
        with self.session() as cur:
            self.standin.prepare(1000, 0, calls=n)
            self.timed(cur, self.newest_bound_sql(n))
            for label, sql, ks in variants:
                want_ids = {CAMPAIGN_FMT % k for k in ks}
                want_rows = sum(stats[k] for k in ks)
                want_paths = sorted(urllib.parse.unquote(p) for k in ks
                                    for p in lists[k]["paths"])
                self.say()
                self.say("  (h) %s:" % label)
                self.say("    %s" % sql)
                cur.execute("EXPLAIN (COSTS OFF) " + sql)
                for (line,) in cur.fetchall():
                    self.say("    | " + line)
                times, problems = [], []
                for r in range(a.fast_reps):
                    self.standin.prepare(1000, 0, calls=n)
                    t, rows = self.timed(cur, sql)
                    st = self.standin.stats()
                    paths = self.fdw_calls_paths()
                    times.append(t)
                    bad = []
                    if rows[0][0] != want_rows:
                        bad.append("%d rows, the campaigns' stats say %d" % (rows[0][0], want_rows))
                    for p in paths:
                        q = urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)
                        if q.get("campaign_id", [None])[0] not in want_ids or \
                                len(q.get("campaign_id", [])) != 1:
                            bad.append("a list request not filtered by one of the "
                                       "campaigns: %s" % p)
                            break
                    if sorted(urllib.parse.unquote(p) for p in paths) != want_paths:
                        bad.append("%d list requests, the campaigns' lists are %d pages"
                                   % (len(paths), len(want_paths)))
                    if st["calls_details"] or st["errors"]:
                        bad.append("%d detail requests, %d errors"
                                   % (st["calls_details"], st["errors"]))
                    problems.extend(bad)
                    self.say("    run %d: %6.3f s, %d rows, %d list requests (%d pages of the "
                             "whole list), %s"
                             % (r + 1, t, rows[0][0], len(paths), whole["pages"],
                                "all filtered by the campaigns" if not bad else "; ".join(bad)))
                cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
                self.say("    EXPLAIN ANALYZE:")
                for (line,) in cur.fetchall():
                    self.say("    | " + line)
                out.append(dict(label=label, ks=ks, time=statistics.median(times),
                                rows=want_rows, pages=len(want_paths), ok=not problems,
                                problems=problems))
        self.results["h"] = dict(n=n, variants=out, whole_pages=whole["pages"])

    # -- summary -----------------------------------------------------------------

    def summary(self):
        """The side-by-side table and the targets of the parts that ran."""
        a = self.args
        R = self.results
        rows, checks = [], []

        if "a" in R:
            ra = R["a"]
            rows += [
                ("(a) %d ids, %d ms latency" % (a.ids, a.latency_ms), "", ""),
                ("    FDW, max_concurrency 16", "%.3f s" % ra["fdw"],
                 "in_flight_peak %d" % ra["peak"]),
                ("    FDW, max_concurrency 1", "%.3f s" % ra["serial"],
                 "in_flight_peak %d" % ra["serial_peak"]),
                ("    ideal ceil(%d/16) x %d ms" % (a.ids, a.latency_ms), "%.3f s" % ra["ideal"],
                 ""),
                ("    PL/Python loop (a')", "%.3f s" % R["a_py"]["time"],
                 "%d TCP connections" % R["a_py"]["conns"]),
            ]
            checks += [
                ("(a) speed-up vs max_concurrency 1", "%.1fx" % ra["speedup"], ">= 12x",
                 ra["speedup"] >= 12),
                ("(a) time / ideal %.2f s" % ra["ideal"], "%.2fx" % ra["vs_ideal"], "<= 2x",
                 ra["vs_ideal"] <= 2),
            ]
        if "b" in R:
            rb, rbp = R["b"], R["b_py"]
            rows += [
                ("(b) %d single-id queries, 0 ms" % a.queries, "", ""),
                ("    FDW", "%.3f s" % rb["time"],
                 "%.0f queries/s, %d TCP connections" % (rb["qps"], rb["conns"])),
                ("    PL/Python function (b')", "%.3f s" % rbp["time"],
                 "%.0f queries/s, %d TCP connections" % (rbp["qps"], rbp["conns"])),
                ("    HTTP floor (reference, no PG)", "%.3f s" % R["b_floor"]["time"],
                 "%.0f requests/s on one keep-alive connection" % R["b_floor"]["qps"]),
            ]
            checks.append(("(b) TCP connections for %d queries" % a.queries, "%d" % rb["conns"],
                           "<= 2", rb["conns"] <= 2))
        if "c" in R:
            rc = R["c"]
            rows += [
                ("(c) full scan of %d rows, 0 ms" % rc["total"], "%.3f s" % rc["time"],
                 "%.0f rows/s" % rc["rows_per_s"]),
                ("    HTTP floor (reference, no PG)", "%.3f s" % rc["floor"],
                 "%.0f rows/s" % (rc["total"] / rc["floor"])),
                ("    backend VmHWM after SELECT 1", "%.1f MB" % rc["base_mb"], ""),
                ("    backend VmHWM after %d rows" % rc["small"], "%.1f MB" % rc["small_mb"], ""),
                ("    backend VmHWM after %d rows" % rc["total"], "%.1f MB" % rc["full_mb"], ""),
            ]
            checks += [
                ("(c) full scan throughput", "%.0f rows/s" % rc["rows_per_s"], ">= 50000 rows/s",
                 rc["rows_per_s"] >= 50000),
                ("(c) VmHWM growth %dk -> %dk rows" % (rc["small"] // 1000, rc["total"] // 1000),
                 "%.1f MB" % rc["growth_mb"], "< 20 MB", rc["growth_mb"] < 20),
            ]
        if "a" in R:
            py_a_ratio = R["a_py"]["time"] / R["a"]["fdw"]
            checks.append(("(d) FDW vs PL/Python, (a)", "%.1fx faster" % py_a_ratio, ">= 3x",
                           py_a_ratio >= 3))
        if "b" in R:
            py_b_ratio = R["b_py"]["time"] / R["b"]["time"]
            checks.append(("(d) FDW vs PL/Python, (b)", "%.1fx faster" % py_b_ratio, ">= 3x",
                           py_b_ratio >= 3))
        if "e" in R:
            re_, r20 = R["e"], R["e20"]
            n = re_["n"]
            rows += [
                ("(e) scan of %d calls, 0 ms, %d pages" % (n, re_["pages"]), "", ""),
                ("    HTTP floor (no PG, no JSON)", "%.3f s" % re_["floor"],
                 "%.0f rows/s" % (n / re_["floor"])),
                ("    FDW count(*), sum(duration)", "%.3f s" % re_["sum"],
                 "%.0f rows/s, backend CPU %.2f s" % (n / re_["sum"], re_["sum_cpu"])),
                ("    FDW all %d list columns" % len(CALL_LIST_COLUMNS), "%.3f s" % re_["all"],
                 "%.0f rows/s, backend CPU %.2f s" % (n / re_["all"], re_["all_cpu"])),
                ("    the same two on a local copy", "%.3f / %.3f s" % (re_["local_sum"],
                                                                      re_["local_all"]),
                 "PostgreSQL alone: 'all' is %.2fx the floor's time"
                 % (re_["local_all"] / re_["floor"])),
                ("(e') scan of %d calls, %d ms, %d pages" % (r20["n"], r20["lat"], r20["pages"]),
                 "", ""),
                ("    pages x %d ms" % r20["lat"], "%.3f s" % r20["ideal"], ""),
                ("    FDW count(*), sum(duration)", "%.3f s" % r20["sum"],
                 "%.2fx pages x %d ms, backend CPU %.2f s"
                 % (r20["sum"] / r20["ideal"], r20["lat"], r20["sum_cpu"])),
                ("    FDW all %d list columns" % len(CALL_LIST_COLUMNS), "%.3f s" % r20["all"],
                 "%.2fx pages x %d ms, backend CPU %.2f s"
                 % (r20["all"] / r20["ideal"], r20["lat"], r20["all_cpu"])),
                ("    HTTP floor (reference)", "%.3f s" % r20["floor"],
                 "%.2fx pages x %d ms" % (r20["floor"] / r20["ideal"], r20["lat"])),
            ]
            ratio = re_["floor"] / re_["sum"]
            checks.append(("(e) scan (sum) rows/s vs HTTP floor",
                           "%.0f/%.0f=%.2fx" % (n / re_["sum"], n / re_["floor"], ratio),
                           ">= 0.8x", ratio >= 0.8))
            # Not the target, which is the scan's: the all-columns
            # query also formats every value, and its SQL alone (on a local
            # copy) takes longer than the floor.  Shown against the floor,
            # and against the floor plus that SQL's own time.
            ratio = re_["floor"] / re_["all"]
            checks.append(("(e) all columns rows/s vs HTTP floor",
                           "%.0f/%.0f=%.2fx" % (n / re_["all"], n / re_["floor"], ratio),
                           "info", None))
            ratio = (re_["floor"] + re_["local_all"]) / re_["all"]
            checks.append(("(e) all columns vs floor + its SQL alone",
                           "%.3f/%.3f s=%.2fx" % (re_["floor"] + re_["local_all"],
                                                   re_["all"], ratio),
                           "info", None))
            for name, key in (("sum", "sum"), ("all columns", "all")):
                ratio = r20[key] / r20["ideal"]
                checks.append(("(e') %s, time / (%d pages x %d ms)"
                               % (name, r20["pages"], r20["lat"]),
                               "%.3f s = %.2fx" % (r20[key], ratio), "<= 1.1x", ratio <= 1.1))
        if "f" in R:
            rf = R["f"]
            rows += [
                ("(f) created_at >= newest - 1 day", "%.3f s" % rf["time"],
                 "%d calls, %d pages (fewest possible %d)"
                 % (rf["day_calls"], rf["pages"], rf["min_pages"])),
                ("    full scan of %d calls %s" % (rf["n"], rf["full_src"]), "%.3f s" % rf["full"],
                 ""),
            ]
            checks += [
                ("(f) pages read", "%d" % rf["pages"],
                 "<= %d/%d+1=%.1f" % (rf["day_calls"], CALLS_PAGE, rf["bound_pages"]),
                 rf["pages"] <= rf["bound_pages"]),
                ("(f) time vs the full scan %.2f s" % rf["full"],
                 "%.3f s = 1/%.0f" % (rf["time"], rf["ratio"]), "<= 1/20", rf["ratio"] >= 20),
            ]
        if "g" in R:
            rg = R["g"]
            rows += [
                ("(g) %d calls, %d ms, count(metadata)" % (rg["n"], rg["lat"]),
                 "%.3f s" % rg["det"], "%d detail requests, in_flight_peak %d"
                 % (rg["details"], rg["peak"])),
                ("    the same list, count(call_status)", "%.3f s" % rg["list"],
                 "%d pages" % rg["pages"]),
                ("    ideal ceil(%d/16) x %d ms" % (rg["n"], rg["lat"]), "%.3f s" % rg["ideal"],
                 ""),
            ]
            checks.append(("(g) details' time above the list's", "%.3f s = %.2fx"
                           % (rg["extra"], rg["extra"] / rg["ideal"]),
                           "<= %.2f s (2x)" % rg["budget"], rg["extra"] <= rg["budget"]))
        if "h" in R:
            rh = R["h"]
            rows.append(("(h) calls JOIN campaigns, %d calls" % rh["n"], "",
                         "whole list %d pages" % rh["whole_pages"]))
            for v in rh["variants"]:
                rows.append(("    %s" % v["label"], "%.3f s" % v["time"],
                             "%d calls, %d pages" % (v["rows"], v["pages"])))
                checks.append(("(h) %s" % v["label"].replace("from ", ""),
                               "only their calls" if v["ok"] else v["problems"][0][:16],
                               "only theirs", v["ok"]))

        more_rows, more_checks = shared_parts.summary(self)
        rows += more_rows
        checks += more_checks

        self.say()
        self.say("=== Side by side (medians: %d runs for fast parts, %d for slow ones, "
                 "%d for (f)) ===" % (a.fast_reps, a.slow_reps, a.f_reps))
        for name, val, note in rows:
            self.say("  %-38s %10s  %s" % (name, val, note))
        if "b" in R:
            floor_ms = R["b_floor"]["time"] / a.queries * 1000
            fdw_ms = R["b"]["time"] / a.queries * 1000 - floor_ms
            py_ms = R["b_py"]["time"] / a.queries * 1000 - floor_ms
            self.say()
            self.say("  (b)/(b'): both pay the stand-in's own time per request (HTTP floor: "
                     "%.2f ms here); above it," % floor_ms)
            self.say("  the FDW adds %.2f ms per query and PL/Python %.2f ms per call%s."
                     % (fdw_ms, py_ms, " (%.1fx)" % (py_ms / fdw_ms) if fdw_ms > 0 else ""))
        for v in R.get("h", {}).get("variants", []):
            for p in sorted(set(v["problems"])):
                self.say("  (h) %s: %s" % (v["label"], p))

        def verdict(ok):
            return "info" if ok is None else "PASS" if ok else "MISS"

        self.say()
        self.say("=== Summary ===")
        self.say("  %-44s %20s  %-16s %s" % ("figure", "measured", "target", "result"))
        self.say("  " + "-" * 90)
        for name, val, target, ok in checks:
            self.say("  %-44s %20s  %-16s %s" % (name, val, target, verdict(ok)))
        self.say("  " + "-" * 90)
        targets = [c for c in checks if c[3] is not None]
        missed = sum(1 for c in targets if not c[3])
        self.say("  %d of %d targets met%s" % (len(targets) - missed, len(targets),
                                               "" if not missed else " (%d MISS)" % missed))
        self.say()
        self.say("Absolute numbers vary by machine (this one: %d CPUs, shared with the stand-in "
                 "API); the ratios, measured against baselines in this same run, are what hold."
                 % os.cpu_count())
        return missed


# (i) and (j) live in shared_parts.py, which imports its helpers from
# "bench": make that this very module, not a second copy of the file (whose
# BenchError main() would not catch).
sys.modules.setdefault("bench", sys.modules[__name__])
import shared_parts  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pghost", required=True)
    p.add_argument("--pgport", required=True, type=int)
    p.add_argument("--dbname", default="bench")
    p.add_argument("--api-url", required=True)
    p.add_argument("--api-key", default="tc_test_key")
    p.add_argument("--ids", type=int, default=1000)
    p.add_argument("--latency-ms", type=int, default=20)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--scan-rows", type=int, default=100000)
    p.add_argument("--calls-rows", type=int, default=100000,
                   help="calls of the 0 ms scan (e) and of (f)")
    p.add_argument("--calls-rows-slow", type=int, default=20000,
                   help="calls of the scan at --latency-ms (e')")
    p.add_argument("--detail-calls", type=int, default=1000, help="calls of (g)")
    p.add_argument("--join-calls", type=int, default=12000, help="calls of (h)")
    p.add_argument("--fast-reps", type=int, default=5)
    p.add_argument("--slow-reps", type=int, default=3)
    p.add_argument("--f-reps", type=int, default=15,
                   help="runs of (f), whose 10 ms statements need more for a steady median")
    p.add_argument("--statement-timeout", type=int, default=180, help="seconds")
    p.add_argument("--parts", default="abcefghij",
                   help="which of a, b, c, e, f, g, h, i, j to run (d goes with a, b; "
                        "f uses e's full scan time when e runs)")
    shared_parts.add_arguments(p)
    args = p.parse_args()
    if not args.parts or set(args.parts) - set("abcdefghij"):
        p.error("--parts takes letters among a, b, c, d, e, f, g, h, i, j")
    # run.sh starts us in the background, where SIGINT is ignored: take the
    # default back, so that Ctrl-C ends us at once, and run.sh, seeing us die
    # of SIGINT, reports an interruption rather than a failure.
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    bench = Bench(args)
    t0 = time.monotonic()
    try:
        bench.setup()
        # parts in order; (d) is measured within (a) and (b)
        for part in "abcefghij":
            if part in args.parts:
                if part in "ij":
                    getattr(shared_parts, "part_" + part)(bench)
                else:
                    getattr(bench, "part_" + part)()
        if bench.results:
            bench.summary()
    except (BenchError, psycopg2.Error, OSError) as e:
        print("ERROR: benchmark broke: %s" % str(e).strip(), file=sys.stderr, flush=True)
        return 1
    print("(benchmark time %.0f s)" % (time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
