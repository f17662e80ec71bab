#!/usr/bin/env python3
"""test_memory.py — a scan holds only what is in flight: its backend's peak
memory does not grow with the number of jobs scanned, and nothing is left
behind from one query to the next.  Uses a simulator of its own with
20,000 jobs (bench/run.sh measures 100,000)."""
import os
import signal
import subprocess
import sys
import time

from harness import ROOT, SIM_PROJECT, SIM_TOKEN, WORK, check, psql, run, test

sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench import Session  # noqa: E402  (one psql process = one watched backend)

DB = "drs_it_memory"
SIMS = {}


def start_sim(jobs):
    portfile = os.path.join(WORK, f"memsim{jobs}.port")
    if os.path.exists(portfile):
        os.unlink(portfile)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "sim", "drs_sim.py"), "--quiet",
                             "--port", "0", "--port-file", portfile, "--jobs", str(jobs)])
    for _ in range(600):
        if os.path.exists(portfile) and open(portfile).read().strip():
            break
        time.sleep(0.05)
    SIMS[jobs] = proc
    return "http://127.0.0.1:" + open(portfile).read().strip()


def setup():
    small = start_sim(1000)
    large = start_sim(20000)
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE); CREATE DATABASE {DB};")
    psql(f"""CREATE EXTENSION drs_fdw;
        CREATE SERVER small FOREIGN DATA WRAPPER drs_fdw OPTIONS (endpoint '{small}', project_id '{SIM_PROJECT}');
        CREATE SERVER large FOREIGN DATA WRAPPER drs_fdw OPTIONS (endpoint '{large}', project_id '{SIM_PROJECT}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER small OPTIONS (token '{SIM_TOKEN}');
        CREATE USER MAPPING FOR CURRENT_USER SERVER large OPTIONS (token '{SIM_TOKEN}');
        CREATE SCHEMA s; CREATE SCHEMA l;
        IMPORT FOREIGN SCHEMA drs LIMIT TO (drs_jobs) FROM SERVER small INTO s;
        IMPORT FOREIGN SCHEMA drs LIMIT TO (drs_jobs) FROM SERVER large INTO l;""", db=DB)


def teardown():
    for proc in SIMS.values():
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def every_column(schema):
    cols = psql(f"SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute "
                f"WHERE attrelid = '{schema}.drs_jobs'::regclass AND attnum > 0", db=DB)[0][0]
    return f"SELECT count(*) FROM {schema}.drs_jobs WHERE num_nulls({cols}) >= 0;"


def peak_growth(sql):
    """Peak RSS growth of a fresh backend running sql (after a warm-up)."""
    s = Session(DB)
    try:
        s.run("SELECT count(*) FROM s.drs_jobs WHERE id = 'warm-up';")
        rss = s.status("VmRSS")
        s.reset_peak()
        out = s.run(sql)
        return s.status("VmHWM") - rss, out
    finally:
        s.close()


MB = 2 ** 20


@test
def full_scan_memory_does_not_grow_with_the_jobs_scanned():
    small, out_s = peak_growth(every_column("s"))
    large, out_l = peak_growth(every_column("l"))
    check(out_s == ["1000"] and out_l == ["20000"], (out_s, out_l))
    print(f"peak growth: 1,000 jobs {small / MB:.1f} MB, 20,000 jobs {large / MB:.1f} MB")
    # the 20x larger scan may hold the job list's raw text (about 8 MB) and
    # the seen-id set; nothing proportional to the rows converted
    check(large < small + 16 * MB, f"1,000 jobs: {small / MB:.1f} MB, 20,000: {large / MB:.1f} MB")


@test
def list_only_scan_memory_does_not_grow_with_the_jobs_scanned():
    small, _ = peak_growth("SELECT count(*), count(DISTINCT status) FROM s.drs_jobs;")
    large, _ = peak_growth("SELECT count(*), count(DISTINCT status) FROM l.drs_jobs;")
    print(f"peak growth: 1,000 jobs {small / MB:.1f} MB, 20,000 jobs {large / MB:.1f} MB")
    check(large < small + 16 * MB, f"1,000 jobs: {small / MB:.1f} MB, 20,000: {large / MB:.1f} MB")


@test
def nothing_leaks_across_queries():
    s = Session(DB)
    try:
        query = every_column("s") + " SELECT count(*) FROM s.drs_jobs WHERE id IN " \
                "('24834eb6-be30-464e-a299-f7aa730jb101', 'x');"
        for _ in range(5):
            s.run(query)
        early = s.status("VmRSS")
        for _ in range(20):
            s.run(query)
        late = s.status("VmRSS")
        print(f"RSS after 5 rounds {early / MB:.1f} MB, after 25 {late / MB:.1f} MB")
        check(late - early < 2 * MB, f"RSS grew by {(late - early) / MB:.1f} MB over 20 rounds")
    finally:
        s.close()


@test
def an_error_mid_scan_leaks_nothing():
    s = Session(DB)
    try:
        # a conversion error after some rows were returned, 20 times
        s.run("CREATE FOREIGN TABLE IF NOT EXISTS s.bad (id text, n int OPTIONS (json_path 'name')) "
              "SERVER small;")
        for _ in range(3):
            s.run("SELECT count(n) FROM s.bad;")
        early = s.status("VmRSS")
        for _ in range(20):
            out = s.run("SELECT count(n) FROM s.bad;")
            check(any("invalid input syntax" in line for line in out), out)
        late = s.status("VmRSS")
        check(late - early < 2 * MB, f"RSS grew by {(late - early) / MB:.1f} MB over 20 errors")
    finally:
        s.close()


if __name__ == "__main__":
    run("memory", setup=setup, teardown=teardown)
