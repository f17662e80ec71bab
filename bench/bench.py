#!/usr/bin/env python3
"""bench.py — drs_fdw against what a user would otherwise write.

Run by bench/run.sh, which provides a cluster (PGHOST, PGPORT, PGUSER).  For
each data-set size it starts a DRS simulator, then, at each latency, runs
each query several times, alternating the contenders:

  fdw        drs_fdw (max_concurrency 8)
  plpython   a PL/Python set-returning function calling the same endpoints
             one after another with urllib (what a user would write)
  curl       a shell loop of curl calls sending the same requests: the
             raw-transfer bound of doing it sequentially

and reports the median wall time, the requests sent against the minimum
needed, rows per second (also per second of backend CPU), and the peak
growth of the backend's memory (VmHWM after the query, minus VmRSS before).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "0123456789abcdef0123456789abcdef"
TOKEN = "tok-CANARY-static-0001"
TYPES = ("migration", "sync", "cloudDataGuard")


# ---------------------------------------------------------------- simulator

class Sim:
    def __init__(self, jobs, workdir):
        self.portfile = os.path.join(workdir, f"sim{jobs}.port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "sim", "drs_sim.py"),
                                      "--quiet", "--port", "0", "--port-file", self.portfile,
                                      "--jobs", str(jobs)])
        for _ in range(1200):
            if os.path.exists(self.portfile) and open(self.portfile).read().strip():
                break
            time.sleep(0.05)
        self.url = "http://127.0.0.1:" + open(self.portfile).read().strip()

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def stats(self):
        return self.call("GET", "/_sim/stats")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------- psql session

class Session:
    """One psql process = one backend, so its memory can be watched."""

    def __init__(self, db):
        env = dict(os.environ, PGDATABASE=db)
        self.proc = subprocess.Popen(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        self.pid = int(self.run("SELECT pg_backend_pid();")[0])

    def run(self, sql):
        self.proc.stdin.write(sql + "\n\\echo __drs_bench_done__\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == "__drs_bench_done__":
                return out
            out.append(line)
        raise RuntimeError("psql ended")

    def status(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset_peak(self):
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def measure(db, sql, warm=None, after_warm=None):
    """Wall time, backend CPU and peak memory growth of one query in a new
    session (after a warm-up query that loads the libraries)."""
    s = Session(db)
    if warm:
        s.run(warm)
    if after_warm:
        after_warm()
    rss = s.status("VmRSS")
    s.reset_peak()
    cpu0 = s.cpu_seconds()
    t0 = time.perf_counter()
    out = s.run(sql)
    wall = time.perf_counter() - t0
    cpu = s.cpu_seconds() - cpu0
    growth = max(0, s.status("VmHWM") - rss)
    s.close()
    if any(line.startswith("ERROR") for line in out):
        raise RuntimeError("\n".join(out))
    return wall, cpu, growth, out


# ---------------------------------------------------------------- setup

PLPYTHON = r"""
CREATE OR REPLACE FUNCTION drs_jobs_plpython(endpoint text, project text, token text,
                                             details boolean DEFAULT true)
RETURNS SETOF jsonb LANGUAGE plpython3u AS $$
import json, urllib.request

def post(path, body):
    req = urllib.request.Request(endpoint + "/v3/" + project + path,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "X-Auth-Token": token})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())

for dbu in ("migration", "sync", "cloudDataGuard"):
    page = 1
    while True:
        res = post("/jobs", {"cur_page": page, "per_page": 100, "db_use_type": dbu})
        jobs = res["jobs"]
        if details and jobs:
            ids = [j["id"] for j in jobs]
            detail = post("/jobs/batch-detail",
                          {"jobs": ids, "page_req": {"cur_page": 1, "per_page": len(ids)}})
            for job in detail["results"]:
                yield json.dumps(job)
        else:
            for job in jobs:
                yield json.dumps(job)
        if page * 100 >= res["total_record"]:
            break
        page += 1
$$;

CREATE OR REPLACE FUNCTION drs_jobs_by_id_plpython(endpoint text, project text, token text,
                                                   ids text[])
RETURNS SETOF jsonb LANGUAGE plpython3u AS $$
import json, urllib.request
for i in range(0, len(ids), 100):
    batch = ids[i:i + 100]
    req = urllib.request.Request(endpoint + "/v3/" + project + "/jobs/batch-detail",
                                 data=json.dumps({"jobs": batch, "page_req":
                                                  {"cur_page": 1, "per_page": len(batch)}}).encode(),
                                 headers={"Content-Type": "application/json", "X-Auth-Token": token})
    try:
        body = urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        body = e.read()
    for job in json.loads(body)["results"]:
        if "error_code" not in job or "status" in job:
            yield json.dumps(job)
$$;
"""


def psql(db, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db], input=sql,
                   text=True, check=True, capture_output=True)


def setup_db(db, sim):
    subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c",
                    f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], check=True, capture_output=True)
    subprocess.run(["psql", "-X", "-q", "-d", "postgres", "-c", f"CREATE DATABASE {db}"],
                   check=True, capture_output=True)
    psql(db, f"""
        CREATE EXTENSION drs_fdw;
        CREATE EXTENSION plpython3u;
        CREATE SERVER drs FOREIGN DATA WRAPPER drs_fdw
          OPTIONS (endpoint '{sim.url}', project_id '{PROJECT}', max_concurrency '8');
        CREATE USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS (token '{TOKEN}');
        CREATE SCHEMA drs;
        IMPORT FOREIGN SCHEMA drs LIMIT TO (drs_jobs) FROM SERVER drs INTO drs;
        {PLPYTHON}""")


# ---------------------------------------------------------------- curl loop

def curl_loop(sim, requests, workdir):
    """Send the requests one after another with a shell loop of curl."""
    script = os.path.join(workdir, "curl_loop.sh")
    with open(script, "w") as f:
        f.write("set -e\n")
        for i, (path, body) in enumerate(requests):
            bf = os.path.join(workdir, f"body{i}.json")
            with open(bf, "w") as b:
                json.dump(body, b)
            f.write(f"curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "
                    f"-H 'X-Auth-Token: {TOKEN}' --data-binary @{bf} "
                    f"{sim.url}/v3/{PROJECT}{path}\n")
    t0 = time.perf_counter()
    subprocess.run(["bash", script], check=True)
    return time.perf_counter() - t0


def sequential_requests(dataset, details):
    """The requests the PL/Python function sends for a full scan."""
    reqs = []
    for dbu in TYPES:
        ids = [j["id"] for j in dataset if j["db_use_type"] == dbu]
        pages = max(1, -(-len(ids) // 100))
        for p in range(pages):
            reqs.append(("/jobs", {"cur_page": p + 1, "per_page": 100, "db_use_type": dbu}))
            chunk = ids[p * 100:(p + 1) * 100]
            if details and chunk:
                reqs.append(("/jobs/batch-detail",
                             {"jobs": chunk, "page_req": {"cur_page": 1, "per_page": len(chunk)}}))
    return reqs


# ---------------------------------------------------------------- the benchmark

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def run_case(db, sim, label, fdw_sql, py_sql, rows, minimum, reqs, runs, baseline_runs, workdir,
             warm_sql):
    """Alternate fdw / plpython / curl runs; returns a result row."""
    fdw, py, cu, mem, cpu, fdw_requests = [], [], [], [], [], []
    for r in range(max(runs, baseline_runs)):
        if r < runs:
            before = []
            wall, c, growth, out = measure(db, fdw_sql, warm=warm_sql,
                                           after_warm=lambda: before.append(sim.stats()["requests"]))
            fdw_requests.append(sim.stats()["requests"] - before[0])
            check = int(out[-1])
            if check != rows:
                raise RuntimeError(f"{label}: fdw returned {check} rows, expected {rows}")
            fdw.append(wall)
            cpu.append(c)
            mem.append(growth)
        if r < baseline_runs and py_sql:
            wall, _, _, out = measure(db, py_sql)
            py.append(wall)
        if r < baseline_runs and reqs:
            cu.append(curl_loop(sim, reqs, workdir))
    t = median(fdw)
    return {
        "case": label, "rows": rows,
        "fdw_s": t, "fdw_cpu_s": median(cpu),
        "plpython_s": median(py), "curl_s": median(cu),
        "speedup": median(py) / t if py else float("nan"),
        "requests": max(fdw_requests), "minimum": minimum,
        "rows_per_s": rows / t if t > 0 else float("nan"),
        "rows_per_cpu_s": rows / median(cpu) if median(cpu) > 0 else float("nan"),
        "peak_mb": max(mem) / 2**20,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--latencies", default="0,20")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "doc", "benchmark.md"))
    ap.add_argument("--summary-only", action="store_true",
                    help="rewrite the summary of an existing report from its table")
    args = ap.parse_args()
    if args.summary_only:
        write_report(report_from_markdown(args.out), args.out)
        return
    workdir = tempfile.mkdtemp(prefix="drs_bench_")
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        sim = Sim(n, workdir)
        db = f"drs_bench_{n}"
        try:
            setup_db(db, sim)
            dataset = sim.call("GET", "/_sim/dataset")["jobs"]
            per_type = [sum(1 for j in dataset if j["db_use_type"] == t) for t in TYPES]
            pages = sum(max(1, -(-c // 100)) for c in per_type)
            batches = -(-n // 100)
            big = n >= 100000
            runs = 3 if big else args.runs
            baseline_runs = 1 if big else 3
            warm = "SELECT count(*) FROM drs.drs_jobs WHERE id = 'warm-up';"
            cols = subprocess.run(["psql", "-X", "-A", "-t", "-d", db, "-c",
                                   "SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute "
                                   "WHERE attrelid = 'drs.drs_jobs'::regclass AND attnum > 0"],
                                  text=True, capture_output=True, check=True).stdout.strip()
            every_column = f"num_nulls({cols}) >= 0"
            # render every detail once, so that the simulator answers from its cache
            measure(db, f"SELECT count(*) FROM drs.drs_jobs WHERE {every_column};")
            for lat in [int(x) for x in args.latencies.split(",")]:
                sim.call("POST", "/_sim/config", {"latency_ms": lat})
                fn = f"drs_jobs_plpython('{sim.url}', '{PROJECT}', '{TOKEN}'"
                results.append(run_case(
                    db, sim, f"count(*), {n} jobs, {lat} ms",
                    "SELECT count(*) FROM drs.drs_jobs;",
                    f"SELECT count(*) FROM {fn}, false);",
                    n, len(TYPES), sequential_requests(dataset, False) if not big or lat == 0 else None,
                    runs, baseline_runs, workdir, warm) | {"minimum_paged": pages})
                results.append(run_case(
                    db, sim, f"SELECT *, {n} jobs, {lat} ms",
                    f"SELECT count(*) FROM drs.drs_jobs WHERE {every_column};",
                    f"SELECT count(*) FROM {fn}) t WHERE t IS NOT NULL;",
                    n, len(TYPES) + batches,
                    sequential_requests(dataset, True) if not big or lat == 0 else None,
                    runs, baseline_runs, workdir, warm) | {"minimum_paged": pages + batches})
            if n == 10000:
                for k in (1, 100, 1000):
                    ids = [j["id"] for j in dataset[:k]]
                    arr = "ARRAY[" + ",".join(f"'{i}'" for i in ids) + "]"
                    for lat in [int(x) for x in args.latencies.split(",")]:
                        sim.call("POST", "/_sim/config", {"latency_ms": lat})
                        results.append(run_case(
                            db, sim, f"id IN ({k} ids), {lat} ms",
                            f"SELECT count(*) FROM drs.drs_jobs WHERE id = ANY ({arr}) AND {every_column};",
                            f"SELECT count(*) FROM drs_jobs_by_id_plpython('{sim.url}', '{PROJECT}', "
                            f"'{TOKEN}', {arr});",
                            k, -(-k // 100),
                            [("/jobs/batch-detail", {"jobs": ids[i:i + 100],
                                                      "page_req": {"cur_page": 1, "per_page": len(ids[i:i + 100])}})
                             for i in range(0, k, 100)],
                            args.runs, 3, workdir, warm) | {"minimum_paged": -(-k // 100)})
        finally:
            sim.stop()
        print(json.dumps(results[-1]), flush=True)
    write_report(results, args.out)


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    pg = subprocess.run(["psql", "-X", "-A", "-t", "-c", "SHOW server_version"], text=True,
                        capture_output=True).stdout.strip()
    curl = subprocess.run(["curl", "--version"], text=True, capture_output=True).stdout.split("\n")[0]
    return (f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, Linux {platform.release()}, "
            f"PostgreSQL {pg}, {curl.split(' (')[0]}; simulator and PostgreSQL on the same machine")


def fmt(x, digits=2):
    if x != x:                       # NaN
        return "–"
    return f"{x:.{digits}f}"


def write_report(results, out):
    lines = [
        "# drs_fdw benchmark",
        "",
        f"Machine: {machine()}.",
        "",
        "Command: `sudo bash bench/run.sh` (this file is its output; `--quick` runs 1,000 and 10,000 jobs only).",
        "",
        "Each figure is the median of several runs (5, or 3 at 100,000 jobs; baselines 3, or 1 at 100,000),",
        "alternating drs_fdw, the PL/Python function and the curl loop. `SELECT *` is measured as",
        "`SELECT count(*) FROM drs_jobs WHERE num_nulls(<every column>) >= 0`, which makes drs_fdw",
        "convert every column of every row (the PL/Python function returns each job as jsonb).",
        "Requests are counted by the simulator; the minimum is with `cur_page 0` (one list call per",
        "db_use_type); the paged minimum is without it. Peak memory is the growth of the backend's",
        "peak resident set (VmHWM) over its size before the query. CPU rows/s divides by the backend's",
        "own CPU time, which excludes the simulator sharing the machine.",
        "",
        "| case | rows | drs_fdw s | PL/Python s | curl loop s | speed-up vs PL/Python | requests | minimum (paged) | rows/s | rows/CPU-s | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['case']} | {r['rows']} | {fmt(r['fdw_s'], 3)} | {fmt(r['plpython_s'], 3)} | "
                     f"{fmt(r['curl_s'], 3)} | {fmt(r['speedup'], 1)}× | {r['requests']} | "
                     f"{r['minimum']} ({r['minimum_paged']}) | {fmt(r['rows_per_s'], 0)} | "
                     f"{fmt(r['rows_per_cpu_s'], 0)} | {fmt(r['peak_mb'], 1)} |")
    lines += ["", "## Against the targets", ""] + targets(results)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def targets(results):
    """The targets of the performance work, checked against these figures."""
    def rows(prefix, lat):
        return [r for r in results if r["case"].startswith(prefix) and r["case"].endswith(f", {lat} ms")]

    out = []
    full20 = rows("SELECT *,", 20)
    if full20:
        worst = min(full20, key=lambda r: r["speedup"])
        out.append(f"- Full scan at 20 ms at least 5x faster than PL/Python (max_concurrency 8): "
                   f"{'met' if worst['speedup'] >= 5 else 'missed'} — "
                   + ", ".join(f"{r['rows']} jobs {fmt(r['speedup'], 1)}x" for r in full20) + ".")
    ratio = max(r["requests"] / r["minimum"] for r in results)
    out.append(f"- Requests at most 1.05x the minimum: {'met' if ratio <= 1.05 else 'missed'} — "
               f"worst {ratio:.2f}x (the minimum reads each job list whole with cur_page 0; "
               "paged, it would be the figure in parentheses).")
    big = [r for r in results if r["rows"] >= 100000]
    if big:
        peak = max(r["peak_mb"] for r in big)
        out.append(f"- Peak memory growth under 64 MB for 100,000 jobs: {'met' if peak < 64 else 'missed'} — "
                   f"{peak:.1f} MB at most (mostly the raw text of the largest job list, read element "
                   "by element, and the set of ids already listed).")
    count0 = rows("count(*),", 0)
    if count0:
        worst = min(r["rows_per_s"] for r in count0)
        out.append(f"- At 0 ms, at least 50,000 rows/s into count(*): {'met' if worst >= 50000 else 'missed'} — "
                   f"{worst:.0f} rows/s at the least.")
    sel0 = rows("SELECT *,", 0)
    if sel0:
        out.append("- `SELECT *` converts every column of every job; it is bound by parsing each job's "
                   "JSON (about 3 kB) with json-c: about "
                   f"{min(r['rows_per_cpu_s'] for r in sel0):.0f}–{max(r['rows_per_cpu_s'] for r in sel0):.0f} "
                   "rows per second of backend CPU.")
    return out


def report_from_markdown(path):
    """Rebuild the results from a written report (to redo its summary)."""
    results = []
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 11 or not cells[1].isdigit():
            continue
        num = lambda x: float("nan") if x in ("–", "") else float(x.rstrip("×"))
        minimum, paged = cells[7].rstrip(")").split(" (")
        results.append({"case": cells[0], "rows": int(cells[1]), "fdw_s": num(cells[2]),
                        "plpython_s": num(cells[3]), "curl_s": num(cells[4]), "speedup": num(cells[5]),
                        "requests": int(cells[6]), "minimum": int(minimum), "minimum_paged": int(paged),
                        "rows_per_s": num(cells[8]), "rows_per_cpu_s": num(cells[9]),
                        "peak_mb": num(cells[10]), "fdw_cpu_s": float("nan")})
    return results


if __name__ == "__main__":
    main()
