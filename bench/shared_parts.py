"""bench/shared_parts.py: parts (i) and (j) of the benchmark, the state every
backend shares (issue 10: the answer cache, the rate limiter).

  (i)  a dashboard: 16 sessions, each repeating the same 200 single-id
       lookups and the same five report queries over the whole list, for
       20 s at 20 ms latency, on a server with cache_ttl_ms; the same for
       10 s on a server without it (the baseline).  Requests the API got per
       time-to-live window, and median times cached vs uncached.
  (j)  pgbench, 16 clients, against the stand-in limited to 40 requests/s:
       with rate_limit 38 and without, 429s with Retry-After: 1 and without:
       the API's throughput as a fraction of rate_limit, its 429s, and the
       failed transactions.

bench.py calls part_i, part_j and summary from its part dispatch and its
summary, with itself (the Bench) as argument; the sessions of (i) are
processes of their own, so that 16 of them measure the server rather than
this client's GIL.  Needs the cluster to preload topcalls_fdw (run.sh does).
"""

import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

import psycopg2

from bench import COLUMN_DDL, ID_FMT, BenchError, fail

PAGE = 200              # the FDW's default page_size

# (i)'s five reports, over the whole list (no LIMIT, no condition the FDW
# sends: every one is the same list request, so the cache keeps one copy of
# it), and what each returns is checked against the stand-in's data.
REPORTS = (
    ("by status", "SELECT status, count(*) FROM %s GROUP BY status ORDER BY 1"),
    ("by source", "SELECT source, count(*) FROM %s GROUP BY source ORDER BY 1"),
    ("by carrier", "SELECT carrier_name, count(*) FROM %s GROUP BY 1 ORDER BY 2 DESC, 1"),
    ("totals", "SELECT count(*), count(DISTINCT number), min(created_at), max(created_at) FROM %s"),
    ("by day", "SELECT date_trunc('day', created_at), count(*) FROM %s GROUP BY 1 ORDER BY 1"),
)

# (j)'s pgbench script: one transaction is a single lookup, 20 lookups of
# one id = ANY and a list read with LIMIT 5 (one page): 22 requests.  The
# ids are constants to the planner (immutable functions of pgbench's
# variables, folded at plan time), as in t/014_pgbench.pl.
PGBENCH_SCRIPT = """\\set id random(1, %(n)d)
\\set lo random(1, %(lo_max)d)
SELECT number FROM phone_numbers WHERE id = pn_id(:id);
SELECT count(*) FROM phone_numbers WHERE id = ANY (pn_ids(:lo, :lo + 19));
SELECT number FROM phone_numbers LIMIT 5;
"""
PGBENCH_REQUESTS = 22


def add_arguments(p):
    p.add_argument("--dash-sessions", type=int, default=16, help="sessions of (i)")
    p.add_argument("--dash-seconds", type=float, default=20, help="(i) with the cache")
    p.add_argument("--dash-base-seconds", type=float, default=10,
                   help="(i)'s baseline, without the cache")
    p.add_argument("--dash-ttl-ms", type=int, default=5000, help="(i)'s cache_ttl_ms")
    p.add_argument("--dash-rows", type=int, default=1000, help="the list (i)'s reports read")
    p.add_argument("--dash-lookups", type=int, default=200, help="(i)'s ids")
    p.add_argument("--pgbench-seconds", type=int, default=20, help="each pgbench run of (j)")
    p.add_argument("--pgbench-clients", type=int, default=16)
    p.add_argument("--api-rate", type=int, default=40,
                   help="(j): the stand-in's rate_limit (and rate_burst)")
    p.add_argument("--fdw-rate", type=int, default=38, help="(j): the servers' rate_limit")


def q(value):
    """A string as an SQL literal (for DDL, where psycopg2's parameters also
    work, but the statement then shows as written in the server log)."""
    return "'" + str(value).replace("'", "''") + "'"


def make_server(cur, bench, name, options, tables):
    """A server of the benchmark's own, its user mapping, and foreign tables
    [(qualified name, OPTIONS text)] with every phone number column."""
    a = bench.args
    opts = ", ".join(["base_url " + q(a.api_url)] + ["%s %s" % (k, q(v)) for k, v in options])
    cur.execute("DROP SERVER IF EXISTS %s CASCADE" % name)
    cur.execute("CREATE SERVER %s FOREIGN DATA WRAPPER topcalls_fdw OPTIONS (%s)" % (name, opts))
    cur.execute("CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (api_key %s)"
                % (name, q(a.api_key)))
    for table, topts in tables:
        cur.execute("CREATE FOREIGN TABLE %s (\n  %s\n) SERVER %s OPTIONS (%s)"
                    % (table, COLUMN_DDL, name, topts))


def preloaded(cur):
    cur.execute("SELECT current_setting('shared_preload_libraries') ~ 'topcalls_fdw'")
    if not cur.fetchone()[0]:
        fail("the cluster does not preload topcalls_fdw: (i) and (j) measure the state "
             "backends share (bench/run.sh sets shared_preload_libraries)")


def server_stats(cur, server):
    cur.execute("SELECT requests, retries, rate_limited, round(throttled_ms)::bigint, "
                "cache_hits, cache_misses FROM topcalls_fdw_stats WHERE server = %s", (server,))
    row = cur.fetchone()
    keys = ("requests", "retries", "rate_limited", "throttled_ms", "cache_hits", "cache_misses")
    return dict(zip(keys, row)) if row else dict.fromkeys(keys, 0)


# ---------------------------------------------------------------------------
# (i) the dashboard
# ---------------------------------------------------------------------------

def dash_session(conninfo, table, ids, total, deadline_box, ready, start, out):
    """One dashboard session (a process): connect, warm up, wait for the
    start, then the 200 lookups and the five reports over and over until the
    deadline.  Sends back (lookup times, {report: times}, cycles) or an error."""
    try:
        conn = psycopg2.connect(**conninfo)
        conn.autocommit = True
        cur = conn.cursor()
        # Untimed: loads the extension, opens a connection to the stand-in.
        cur.execute("SELECT number FROM %s LIMIT 1" % table)
        cur.fetchall()
        ready.wait()
        start.wait()
        deadline = deadline_box.value
        lookups, reports, cycles = [], {name: [] for name, _ in REPORTS}, 0
        # the report of totals: every one of the list's rows, each once
        check = {"totals": lambda rows: rows[0][0] == total and rows[0][1] == total}
        lookup_sql = "SELECT number FROM %s WHERE id = %%s" % table
        perf = time.perf_counter
        while time.monotonic() < deadline:
            for i in ids:
                t0 = perf()
                cur.execute(lookup_sql, (ID_FMT % i,))
                rows = cur.fetchall()
                lookups.append(perf() - t0)
                if rows != [("+1555%07d" % i,)]:
                    raise BenchError("lookup of %d: %r" % (i, rows))
                if time.monotonic() >= deadline:
                    break
            else:
                for name, sql in REPORTS:
                    t0 = perf()
                    cur.execute(sql % table)
                    rows = cur.fetchall()
                    reports[name].append(perf() - t0)
                    if name in check and not check[name](rows):
                        raise BenchError("report %s: %r" % (name, rows))
                cycles += 1
        conn.close()
        out.send(("ok", lookups, reports, cycles))
    except Exception as e:              # anything: the parent says what broke
        out.send(("error", "%s: %s" % (type(e).__name__, str(e).strip())))
    finally:
        out.close()


def dashboard(bench, label, table, server, seconds, ids, ttl_ms):
    """16 sessions on table for `seconds`; returns the figures.  The stand-in
    is reset (and the cache emptied, the view's counters zeroed) once every
    session has connected and warmed up; a thread samples the stand-in's
    counters every 100 ms, to split the requests into time-to-live windows."""
    a = bench.args
    n = a.dash_sessions
    ctx = multiprocessing.get_context("fork")
    ready, start = ctx.Barrier(n + 1), ctx.Event()
    deadline = ctx.Value("d", 0.0)
    conninfo = dict(host=a.pghost, port=a.pgport, user="postgres", dbname=a.dbname,
                    options="-c statement_timeout=%d -c jit=off" % (a.statement_timeout * 1000))
    procs, pipes = [], []
    for _ in range(n):
        parent_end, child_end = ctx.Pipe(duplex=False)
        p = ctx.Process(target=dash_session,
                        args=(conninfo, table, ids, a.dash_rows, deadline, ready, start,
                              child_end),
                        daemon=True)
        p.start()
        child_end.close()
        procs.append(p)
        pipes.append(parent_end)
    try:
        try:
            ready.wait(timeout=60)
        except threading.BrokenBarrierError:
            errors = [p.recv()[1] for p in pipes if p.poll(1)]
            fail("(i) %s: the sessions did not all start: %s" % (label, "; ".join(errors)))
        with bench.session() as cur:
            cur.execute("SELECT topcalls_fdw_cache_reset(), topcalls_fdw_stats_reset()")
        bench.standin.prepare(a.dash_rows, a.latency_ms)
        series, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                st = bench.standin.stats()
                series.append((time.monotonic() - t0, st["lookups"], st["lists"]))
                stop.wait(0.1)

        t0 = time.monotonic()
        deadline.value = t0 + seconds
        start.set()
        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        results = []
        for pipe in pipes:
            if not pipe.poll(seconds + a.statement_timeout + 60):
                fail("(i) %s: a session did not finish" % label)
            results.append(pipe.recv())
        elapsed = time.monotonic() - t0
        stop.set()
        th.join()
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
    for r in results:
        if r[0] != "ok":
            fail("(i) %s: %s" % (label, r[1]))
    st = bench.standin.stats()
    if st["errors"] or st["not_found"] or st["rate_limited"]:
        fail("(i) %s: the stand-in answered errors: %r" % (label, st))
    with bench.session() as cur:
        view = server_stats(cur, server)
    lookups = [t for r in results for t in r[1]]
    reports = {name: [t for r in results for t in r[2][name]] for name, _ in REPORTS}
    all_reports = [t for ts in reports.values() for t in ts]
    cycles = sum(r[3] for r in results)
    if not lookups or not all_reports:
        fail("(i) %s: no complete cycle in %.0f s" % (label, seconds))
    fig = dict(label=label, elapsed=elapsed, sessions=n, cycles=cycles,
               lookups=len(lookups), reports=len(all_reports),
               lookup_ms=statistics.median(lookups) * 1000,
               lookup_p95_ms=sorted(lookups)[int(0.95 * (len(lookups) - 1))] * 1000,
               report_ms=statistics.median(all_reports) * 1000,
               report_each_ms={k: statistics.median(v) * 1000 for k, v in reports.items() if v},
               api_lookups=st["lookups"], api_lists=st["lists"], api_requests=st["requests"],
               view=view, series=series + [(elapsed, st["lookups"], st["lists"])])
    if ttl_ms:
        # Requests per time-to-live window from the start, and how often each
        # id was fetched (the request log).
        w = ttl_ms / 1000.0
        windows = int(elapsed // w) + 1
        per = []
        for k in range(windows):
            def at(t):
                before = [s for s in fig["series"] if s[0] <= t]
                return before[-1] if before else (0, 0, 0)
            lo, hi = at(k * w), at(min((k + 1) * w, elapsed + 1))
            per.append((hi[1] - lo[1], hi[2] - lo[2]))
        fetches = {}
        for line in bench.standin.requests():
            m = re.match(r"GET /v1/phone-numbers/([0-9a-f-]{36})$", line)
            if m:
                fetches[m.group(1)] = fetches.get(m.group(1), 0) + 1
        fig.update(windows=windows, per_window=per,
                   max_fetches=max(fetches.values()) if fetches else 0,
                   mean_fetches=statistics.mean(fetches.values()) if fetches else 0,
                   distinct_ids=len(fetches))
    return fig


def one_session(bench, ids):
    """The dashboard's cycle once in a single session, on each server: what a
    cached lookup and report cost without 15 other sessions competing for
    the CPUs or for the same entries.  The cache is filled first by one
    id = ANY of the 200 ids (concurrent lookups, a fraction of a second: a
    pass of single lookups at 20 ms each would take most of the TTL) and one
    report; the stand-in must then see no request during the cached pass."""
    fig = {}
    for kind, table in (("cached", "dash.cached_numbers"), ("uncached", "dash.uncached_numbers")):
        with bench.session() as cur:
            cur.execute("SELECT number FROM %s LIMIT 1" % table)
            cur.fetchall()
            if kind == "cached":
                cur.execute("SELECT count(*) FROM %s WHERE id = ANY(%%s::uuid[])" % table,
                            ([ID_FMT % i for i in ids],))
                cur.fetchall()
                cur.execute(REPORTS[0][1] % table)
                cur.fetchall()
            before = bench.standin.stats()["requests"]
            lookups, reports = [], []
            for i in ids:
                t, rows = bench.timed(cur, "SELECT number FROM %s WHERE id = %%s" % table,
                                      (ID_FMT % i,))
                if rows != [("+1555%07d" % i,)]:
                    fail("(i) one session, %s: lookup of %d: %r" % (kind, i, rows))
                lookups.append(t)
            for _, sql in REPORTS:
                reports.append(bench.timed(cur, sql % table)[0])
            sent = bench.standin.stats()["requests"] - before
            if kind == "cached" and sent:
                fail("(i) one session, cached: %d requests during the pass, expected none" % sent)
        fig[kind + "_lookup_ms"] = statistics.median(lookups) * 1000
        fig[kind + "_report_ms"] = statistics.median(reports) * 1000
    return fig


def part_i(bench):
    a = bench.args
    n, ttl, lat = a.dash_rows, a.dash_ttl_ms, a.latency_ms
    pages = -(-n // PAGE)
    # every fifth phone number, so the lookups are spread over the list
    ids = [1 + (k * n) // a.dash_lookups for k in range(a.dash_lookups)]
    bench.say()
    bench.say("=== (i) dashboard: %d sessions x (%d lookups + %d reports over %d rows), "
              "latency %d ms ===" % (a.dash_sessions, len(ids), len(REPORTS), n, lat))
    bench.say("  cached: cache_ttl_ms %d for %.0f s; uncached (baseline): no cache_ttl_ms "
              "for %.0f s; the whole list is %d pages"
              % (ttl, a.dash_seconds, a.dash_base_seconds, pages))
    with bench.session() as cur:
        preloaded(cur)
        cur.execute("DROP SCHEMA IF EXISTS dash CASCADE")
        cur.execute("CREATE SCHEMA dash")
        # rows '1000000': a large account, as for (a); a single id is looked
        # up whatever the estimate, the reports read the list either way.
        make_server(cur, bench, "dash_cached", [("cache_ttl_ms", ttl)],
                    [("dash.cached_numbers", "rows '1000000'")])
        make_server(cur, bench, "dash_uncached", [], [("dash.uncached_numbers", "rows '1000000'")])

    cached = dashboard(bench, "cached", "dash.cached_numbers", "dash_cached",
                       a.dash_seconds, ids, ttl)
    uncached = dashboard(bench, "uncached", "dash.uncached_numbers", "dash_uncached",
                         a.dash_base_seconds, ids, 0)
    one = one_session(bench, ids)
    for f in (cached, uncached):
        bench.say("  %-9s %5.1f s, %6d lookups (median %.2f ms, p95 %.2f ms), %5d reports "
                  "(median %.1f ms); API: %d lookups, %d list pages"
                  % (f["label"], f["elapsed"], f["lookups"], f["lookup_ms"], f["lookup_p95_ms"],
                     f["reports"], f["report_ms"], f["api_lookups"], f["api_lists"]))
        bench.say("            reports' medians: " + ", ".join(
            "%s %.1f ms" % (k, v) for k, v in f["report_each_ms"].items()))
    v = cached["view"]
    bench.say("  cached: view cache_hits %d, cache_misses %d (%.2f %% hits); %d distinct ids "
              "fetched, each %.1f times on average (at most %d) in %d windows"
              % (v["cache_hits"], v["cache_misses"],
                 100.0 * v["cache_hits"] / max(1, v["cache_hits"] + v["cache_misses"]),
                 cached["distinct_ids"], cached["mean_fetches"], cached["max_fetches"],
                 cached["windows"]))
    bench.say("  cached: API requests per %d ms window from the start (lookups, list pages): %s"
              % (ttl, ", ".join("%d: %d, %d" % (k + 1, l, p)
                                for k, (l, p) in enumerate(cached["per_window"]))))
    bench.say("  one session, warm cache (reference): lookup median %.2f ms cached, %.2f ms "
              "uncached; report median %.1f ms cached, %.1f ms uncached"
              % (one["cached_lookup_ms"], one["uncached_lookup_ms"], one["cached_report_ms"],
                 one["uncached_report_ms"]))
    # the bound of the target: per window, each id once and the list once
    w = cached["windows"]
    bench.results["i"] = dict(
        cached=cached, uncached=uncached, one=one, ttl=ttl, pages=pages, ids=len(ids), lat=lat,
        lookup_bound=len(ids) * w, list_bound=pages * w,
        lookup_ratio=uncached["lookup_ms"] / cached["lookup_ms"],
        report_ratio=uncached["report_ms"] / cached["report_ms"])


# ---------------------------------------------------------------------------
# (j) pgbench against a rate-limited API
# ---------------------------------------------------------------------------

def pgbench_run(bench, run, script):
    """One pgbench run on run's schema; returns its figures."""
    a = bench.args
    s = run["schema"]
    bench.standin.prepare(a.dash_rows, 0, rate_limit=a.api_rate, rate_burst=a.api_rate,
                          rate_mode=run["mode"])
    with bench.session() as cur:
        cur.execute("SELECT topcalls_fdw_stats_reset()")
    pgbench = shutil.which("pgbench")
    if not pgbench:
        fail("(j): no pgbench on PATH (Debian: postgresql-contrib)")
    env = dict(os.environ, PGOPTIONS="-c search_path=%s,public -c jit=off" % s,
               PGAPPNAME="pgbench")
    cmd = [pgbench, "-n", "-c", str(a.pgbench_clients), "-j", "4", "-T", str(a.pgbench_seconds),
           "-f", script, "-h", a.pghost, "-p", str(a.pgport), "-U", "postgres", a.dbname]
    t0 = time.monotonic()
    # bounded: the run, the turns still queued when it ends, and slack
    p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=a.pgbench_seconds + 120)
    elapsed = time.monotonic() - t0
    st = bench.standin.stats()
    with bench.session() as cur:
        view = server_stats(cur, run["server"])
    done = re.search(r"number of transactions actually processed: (\d+)", p.stdout)
    if not done:
        fail("(j) %s: pgbench ran no transaction (exit status %d): %s"
             % (run["label"], p.returncode, (p.stderr or p.stdout).strip()[-500:]))
    # An FDW ERROR aborts the client (--max-tries retries only serialization
    # and deadlock failures); "failed transactions" exists from 15 on.
    failed = re.search(r"number of failed transactions: (\d+)", p.stdout)
    aborted = set(re.findall(r"client (\d+) (?:script \d+ )?aborted", p.stderr))
    first = re.search(r"aborted in .*?: (ERROR: .*)", p.stderr)
    answered = st["requests"] - st["rate_limited"]
    return dict(run, elapsed=elapsed, rc=p.returncode, done=int(done.group(1)),
                failed=int(failed.group(1)) if failed else 0, aborted=len(aborted),
                requests=st["requests"], rate_limited=st["rate_limited"], answered=answered,
                throughput=answered / elapsed,
                frac429=st["rate_limited"] / st["requests"] if st["requests"] else 0.0,
                view=view, first_error=first.group(1).strip() if first else None)


def part_j(bench):
    a = bench.args
    n = a.dash_rows
    bench.say()
    bench.say("=== (j) pgbench: %d clients x %d s against the stand-in limited to %d requests/s "
              "(burst %d) ===" % (a.pgbench_clients, a.pgbench_seconds, a.api_rate, a.api_rate))
    bench.say("  each transaction: 1 lookup, id = ANY of 20 ids, a list read LIMIT 5 "
              "(%d requests); rate_limit %d vs none, 429s with Retry-After: 1 and without"
              % (PGBENCH_REQUESTS, a.fdw_rate))
    runs = []
    for rate in (a.fdw_rate, 0):
        for mode in ("retry_after", "none"):
            name = "%s_%s" % ("lim" if rate else "base", "ra" if mode == "retry_after" else "none")
            runs.append(dict(schema="pgb_" + name, server="pgb_" + name, rate=rate, mode=mode,
                             label="%s, %s" % ("rate_limit %d" % rate if rate else "no rate_limit",
                                               "Retry-After: 1" if mode == "retry_after"
                                               else "no Retry-After")))
    with bench.session() as cur:
        preloaded(cur)
        cur.execute("CREATE OR REPLACE FUNCTION pn_id(i int) RETURNS uuid IMMUTABLE LANGUAGE sql "
                    "AS $$ SELECT format('00000000-0000-4000-8000-%s', lpad(i::text, 12, '0'))"
                    "::uuid $$")
        cur.execute("CREATE OR REPLACE FUNCTION pn_ids(lo int, hi int) RETURNS uuid[] IMMUTABLE "
                    "LANGUAGE sql AS $$ SELECT array_agg(pn_id(i) ORDER BY i) "
                    "FROM generate_series(lo, hi) AS i $$")
        for run in runs:
            cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % run["schema"])
            cur.execute("CREATE SCHEMA %s" % run["schema"])
            make_server(cur, bench, run["server"],
                        [("rate_limit", run["rate"])] if run["rate"] else [],
                        [("%s.phone_numbers" % run["schema"], "rows '1000000'")])
        # The script's statements once on each server, unlimited: the plans
        # are the ones meant (1 + 20 lookups, one list page).
        for run in runs:
            bench.standin.prepare(n, 0)
            cur.execute("SET search_path = %s, public" % run["schema"])
            for sql in PGBENCH_SCRIPT.splitlines()[2:]:
                cur.execute(sql.replace(":id", "7").replace(":lo", "%d" % (n - 19)))
                cur.fetchall()
            st = bench.standin.stats()
            if (st["lookups"], st["lists"], st["requests"]) != (21, 1, PGBENCH_REQUESTS):
                fail("(j) %s: one transaction should be 21 lookups and one list page: %r"
                     % (run["label"], st))
        cur.execute("RESET search_path")
    with tempfile.TemporaryDirectory(prefix="bench_j_") as tmp:
        script = os.path.join(tmp, "lookups.sql")
        with open(script, "w") as f:
            f.write(PGBENCH_SCRIPT % dict(n=n, lo_max=n - 19))
        out = []
        for run in runs:
            r = pgbench_run(bench, run, script)
            rate = r["rate"] or a.fdw_rate
            bench.say("  %-32s %5.1f s, %4d transactions, %d failed, %2d clients aborted; API "
                      "%5d requests, %4d 429s (%5.2f %%), %.1f answered/s (%.0f %% of %d/s); "
                      "view: %d retries, throttled %.0f s"
                      % (r["label"], r["elapsed"], r["done"], r["failed"], r["aborted"],
                         r["requests"], r["rate_limited"], 100 * r["frac429"], r["throughput"],
                         100 * r["throughput"] / rate, rate, r["view"]["retries"],
                         r["view"]["throttled_ms"] / 1000.0))
            if r["first_error"]:
                bench.say("  %-32s first error: %s" % ("", r["first_error"][:150]))
            out.append(r)
    bench.results["j"] = dict(runs=out)


# ---------------------------------------------------------------------------
# The summary's rows and targets
# ---------------------------------------------------------------------------

def summary(bench):
    """(rows, checks) of (i) and (j), as bench.summary() prints them."""
    a = bench.args
    R = bench.results
    rows, checks = [], []
    if "i" in R:
        ri = R["i"]
        c, u = ri["cached"], ri["uncached"]
        rows += [
            ("(i) dashboard, %d sessions, %d ms" % (c["sessions"], ri["lat"]), "",
             "%d lookups + %d reports a cycle" % (ri["ids"], len(REPORTS))),
            ("    cached lookup (cache_ttl_ms %d)" % ri["ttl"], "%.2f ms" % c["lookup_ms"],
             "median of %d, %.1f s" % (c["lookups"], c["elapsed"])),
            ("    uncached lookup (baseline)", "%.2f ms" % u["lookup_ms"],
             "median of %d, %.1f s" % (u["lookups"], u["elapsed"])),
            ("    cached report", "%.1f ms" % c["report_ms"], "median of %d" % c["reports"]),
            ("    uncached report (baseline)", "%.1f ms" % u["report_ms"],
             "median of %d, %d pages each" % (u["reports"], ri["pages"])),
            ("    one session, warm cache (reference)", "", ""),
            ("      lookup cached / uncached", "%.2f ms" % ri["one"]["cached_lookup_ms"],
             "uncached %.2f ms" % ri["one"]["uncached_lookup_ms"]),
            ("      report cached / uncached", "%.1f ms" % ri["one"]["cached_report_ms"],
             "uncached %.1f ms" % ri["one"]["uncached_report_ms"]),
            ("    API lookups, cached", "%d" % c["api_lookups"],
             "%d windows of %d ms; per window %s" % (c["windows"], ri["ttl"],
                                                     "/".join("%d" % l for l, _ in c["per_window"]))),
            ("    API list pages, cached", "%d" % c["api_lists"],
             "per window %s" % "/".join("%d" % p for _, p in c["per_window"])),
            ("    API requests, uncached", "%d" % u["api_requests"],
             "%d lookups, %d list pages" % (u["api_lookups"], u["api_lists"])),
        ]
        checks += [
            ("(i) API lookups, %d ids x %d windows" % (ri["ids"], c["windows"]),
             "%d" % c["api_lookups"], "<= %d" % ri["lookup_bound"],
             c["api_lookups"] <= ri["lookup_bound"]),
            ("(i) API list pages, 1 list x %d windows" % c["windows"],
             "%d" % c["api_lists"], "<= %d" % ri["list_bound"],
             c["api_lists"] <= ri["list_bound"]),
            ("(i) cached lookup vs uncached", "%.2f/%.2f=1/%.0f"
             % (c["lookup_ms"], u["lookup_ms"], ri["lookup_ratio"]), "<= 1/5",
             ri["lookup_ratio"] >= 5),
            ("(i) cached report vs uncached", "%.1f/%.1f=1/%.1f"
             % (c["report_ms"], u["report_ms"], ri["report_ratio"]), "<= 1/5",
             ri["report_ratio"] >= 5),
        ]
    if "j" in R:
        runs = R["j"]["runs"]
        rows.append(("(j) pgbench %d clients x %d s, API %d/s"
                     % (a.pgbench_clients, a.pgbench_seconds, a.api_rate), "", ""))
        for r in runs:
            rate = r["rate"] or a.fdw_rate
            rows.append(("    " + r["label"], "%.1f/s" % r["throughput"],
                         "%.0f %% of %d; %d 429s (%.2f %%); %d failed, %d aborted of %d tx"
                         % (100 * r["throughput"] / rate, rate, r["rate_limited"],
                            100 * r["frac429"], r["failed"], r["aborted"], r["done"])))
        for r in runs:
            if not r["rate"]:
                continue
            mode = "Retry-After" if r["mode"] == "retry_after" else "no Retry-After"
            bad = r["failed"] + r["aborted"] + (1 if r["rc"] else 0)
            checks += [
                ("(j) %s: throughput / rate_limit" % mode,
                 "%.1f/%d=%.0f %%" % (r["throughput"], r["rate"], 100 * r["throughput"] / r["rate"]),
                 ">= 85 %", r["throughput"] >= 0.85 * r["rate"]),
                ("(j) %s: 429s / requests" % mode,
                 "%d/%d=%.2f %%" % (r["rate_limited"], r["requests"], 100 * r["frac429"]),
                 "< 1 %", r["frac429"] < 0.01),
                ("(j) %s: failed transactions" % mode,
                 "%d" % (r["failed"] + r["aborted"]) + (" (exit %d)" % r["rc"] if r["rc"] else ""),
                 "0", bad == 0),
            ]
    return rows, checks
