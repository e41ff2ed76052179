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

Every time is taken on the client with a monotonic clock around the
statement (execute + fetch of all rows).  Figures are medians over several
repetitions; the ratios compare figures measured in this same run.

Exit status: 0 when everything ran (whether or not targets were met),
1 when something broke (a wrong result, an error, the stand-in not answering).

Python 3.11 standard library + psycopg2 (Debian's python3-psycopg2).
"""

import argparse
import contextlib
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

    def prepare(self, count, latency_ms):
        """Counters back to zero, then the configuration a part needs (reset
        also puts the configuration back to the start-up one)."""
        self._call("POST", "/_admin/reset", {})
        self._call("POST", "/_admin/config", {"count": count, "latency_ms": latency_ms})
        cfg = self._call("GET", "/_admin/config")
        if cfg.get("count") != count or cfg.get("latency_ms") != latency_ms:
            fail("the stand-in did not take the configuration: %r" % cfg)


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
        """A cursor in a new session (a new backend), closed afterwards."""
        conn = psycopg2.connect(host=self.args.pghost, port=self.args.pgport,
                                user="postgres", dbname=self.args.dbname,
                                options="-c statement_timeout=%d" % (self.args.statement_timeout * 1000))
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
            cur.execute("CREATE FOREIGN TABLE topcalls_phone_numbers (\n  %s\n) SERVER topcalls"
                        % COLUMN_DDL)
            cur.execute("CREATE FOREIGN TABLE topcalls_phone_numbers_serial (\n  %s\n) "
                        "SERVER topcalls_serial" % COLUMN_DDL)

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

    # -- summary -----------------------------------------------------------------

    def summary(self):
        a = self.args
        ra, rb, rc = self.results["a"], self.results["b"], self.results["c"]
        rap, rbp = self.results["a_py"], self.results["b_py"]
        py_a_ratio = rap["time"] / ra["fdw"]
        py_b_ratio = rbp["time"] / rb["time"]

        self.say()
        self.say("=== Side by side (medians: %d runs for fast parts, %d for slow ones) ==="
                 % (a.fast_reps, a.slow_reps))
        rows = [
            ("(a) %d ids, %d ms latency" % (a.ids, a.latency_ms), "", ""),
            ("    FDW, max_concurrency 16", "%.3f s" % ra["fdw"],
             "in_flight_peak %d" % ra["peak"]),
            ("    FDW, max_concurrency 1", "%.3f s" % ra["serial"],
             "in_flight_peak %d" % ra["serial_peak"]),
            ("    ideal ceil(%d/16) x %d ms" % (a.ids, a.latency_ms), "%.3f s" % ra["ideal"], ""),
            ("    PL/Python loop (a')", "%.3f s" % rap["time"],
             "%d TCP connections" % rap["conns"]),
            ("(b) %d single-id queries, 0 ms" % a.queries, "", ""),
            ("    FDW", "%.3f s" % rb["time"],
             "%.0f queries/s, %d TCP connections" % (rb["qps"], rb["conns"])),
            ("    PL/Python function (b')", "%.3f s" % rbp["time"],
             "%.0f queries/s, %d TCP connections" % (rbp["qps"], rbp["conns"])),
            ("    HTTP floor (reference, no PG)", "%.3f s" % self.results["b_floor"]["time"],
             "%.0f requests/s on one keep-alive connection" % self.results["b_floor"]["qps"]),
            ("(c) full scan of %d rows, 0 ms" % rc["total"], "%.3f s" % rc["time"],
             "%.0f rows/s" % rc["rows_per_s"]),
            ("    HTTP floor (reference, no PG)", "%.3f s" % rc["floor"],
             "%.0f rows/s" % (rc["total"] / rc["floor"])),
            ("    backend VmHWM after SELECT 1", "%.1f MB" % rc["base_mb"], ""),
            ("    backend VmHWM after %d rows" % rc["small"], "%.1f MB" % rc["small_mb"], ""),
            ("    backend VmHWM after %d rows" % rc["total"], "%.1f MB" % rc["full_mb"], ""),
        ]
        for name, val, note in rows:
            self.say("  %-36s %10s  %s" % (name, val, note))
        floor_ms = self.results["b_floor"]["time"] / a.queries * 1000
        fdw_ms = rb["time"] / a.queries * 1000 - floor_ms
        py_ms = rbp["time"] / a.queries * 1000 - floor_ms
        self.say()
        self.say("  (b)/(b'): both pay the stand-in's own time per request (HTTP floor: "
                 "%.2f ms here); above it," % floor_ms)
        self.say("  the FDW adds %.2f ms per query and PL/Python %.2f ms per call%s."
                 % (fdw_ms, py_ms, " (%.1fx)" % (py_ms / fdw_ms) if fdw_ms > 0 else ""))

        def verdict(ok):
            return "PASS" if ok else "MISS"

        checks = [
            ("(a) speed-up vs max_concurrency 1", "%.1fx" % ra["speedup"], ">= 12x",
             ra["speedup"] >= 12),
            ("(a) time / ideal %.2f s" % ra["ideal"], "%.2fx" % ra["vs_ideal"], "<= 2x",
             ra["vs_ideal"] <= 2),
            ("(b) TCP connections for %d queries" % a.queries, "%d" % rb["conns"], "<= 2",
             rb["conns"] <= 2),
            ("(c) full scan throughput", "%.0f rows/s" % rc["rows_per_s"], ">= 50000 rows/s",
             rc["rows_per_s"] >= 50000),
            ("(c) VmHWM growth %dk -> %dk rows" % (rc["small"] // 1000, rc["total"] // 1000),
             "%.1f MB" % rc["growth_mb"], "< 20 MB", rc["growth_mb"] < 20),
            ("(d) FDW vs PL/Python, (a)", "%.1fx faster" % py_a_ratio, ">= 3x", py_a_ratio >= 3),
            ("(d) FDW vs PL/Python, (b)", "%.1fx faster" % py_b_ratio, ">= 3x", py_b_ratio >= 3),
        ]
        self.say()
        self.say("=== Summary ===")
        self.say("  %-40s %16s  %-16s %s" % ("figure", "measured", "target", "result"))
        self.say("  " + "-" * 82)
        for name, val, target, ok in checks:
            self.say("  %-40s %16s  %-16s %s" % (name, val, target, verdict(ok)))
        self.say("  " + "-" * 82)
        missed = sum(1 for c in checks if not c[3])
        self.say("  %d of %d targets met%s" % (len(checks) - missed, len(checks),
                                               "" if not missed else " (%d MISS)" % missed))
        self.say()
        self.say("Absolute numbers vary by machine (this one: %d CPUs, shared with the stand-in "
                 "API); the ratios, measured against baselines in this same run, are what hold."
                 % os.cpu_count())
        return missed


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
    p.add_argument("--fast-reps", type=int, default=5)
    p.add_argument("--slow-reps", type=int, default=3)
    p.add_argument("--statement-timeout", type=int, default=180, help="seconds")
    p.add_argument("--parts", default="abc", help="which of a, b, c to run (d goes with a, b)")
    args = p.parse_args()
    # run.sh starts us in the background, where SIGINT is ignored: take the
    # default back, so that Ctrl-C ends us at once, and run.sh, seeing us die
    # of SIGINT, reports an interruption rather than a failure.
    signal.signal(signal.SIGINT, signal.SIG_DFL)

    bench = Bench(args)
    t0 = time.monotonic()
    try:
        bench.setup()
        if "a" in args.parts:
            bench.part_a()
        if "b" in args.parts:
            bench.part_b()
        if "c" in args.parts:
            bench.part_c()
        if set("abc") <= set(args.parts):
            bench.summary()
    except (BenchError, psycopg2.Error, OSError) as e:
        print("ERROR: benchmark broke: %s" % str(e).strip(), file=sys.stderr, flush=True)
        return 1
    print("(benchmark time %.0f s)" % (time.monotonic() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
