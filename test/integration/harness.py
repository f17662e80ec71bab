"""harness.py — what the integration tests share: talking to the test
cluster through psql, to the DRS simulator's control API over HTTP, and a
tiny test runner that prints one "PASS name" / "FAIL name" line per test.

The environment comes from scripts/test.sh (PGHOST, PGPORT, PGUSER,
DRS_SIM_URL, DRS_SIM_TOKEN, DRS_SIM_PROJECT, DRS_SIM_USER, ...).  Nothing
here prints a credential: failures print SQL errors, which drs_fdw keeps
free of secrets, and the secret scan of scripts/test.sh checks that too.
"""
import csv
import io
import json
import os
import subprocess
import sys
import time
import traceback
import urllib.request

SIM_URL = os.environ.get("DRS_SIM_URL", "")
SIM_TOKEN = os.environ.get("DRS_SIM_TOKEN", "")
SIM_PROJECT = os.environ.get("DRS_SIM_PROJECT", "")
SIM_USER = os.environ.get("DRS_SIM_USER", "")
SIM_PASSWORD = os.environ.get("DRS_SIM_PASSWORD", "")
SIM_DOMAIN = os.environ.get("DRS_SIM_DOMAIN", "")
WORK = os.environ.get("DRS_TEST_WORK", "/tmp")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DOC_JOB_1 = "24834eb6-be30-464e-a299-f7aa730jb101"
DOC_JOB_2 = "140b5236-88ad-43c8-811c-1268453jb101"


class SqlError(Exception):
    """A psql command failed; .sqlstate and .message say how."""

    def __init__(self, message, sqlstate=None):
        super().__init__(message)
        self.message = message
        self.sqlstate = sqlstate


def psql(sql, db="postgres", timeout=120, env_extra=None, user=None):
    """Run SQL in a new session; return the rows as lists of strings."""
    env = dict(os.environ)
    env["PGDATABASE"] = db
    env.setdefault("PGOPTIONS", "")
    if env_extra:
        env.update(env_extra)
    # CSV output: values may contain tabs and newlines
    args = ["psql", "-X", "-q", "--csv", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]
    if user:
        args += ["-U", user]
    proc = subprocess.run(args, input=sql, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if proc.returncode != 0:
        sqlstate = None
        for line in proc.stderr.splitlines():
            # with VERBOSITY verbose: "ERROR:  57014: canceling statement ..."
            parts = line.split(":")
            if line.startswith(("ERROR:", "FATAL:")) and len(parts) > 2:
                code = parts[1].strip()
                if len(code) == 5:
                    sqlstate = code
                    break
        raise SqlError(proc.stderr.strip(), sqlstate)
    return [row for row in csv.reader(io.StringIO(proc.stdout)) if row]


def scalar(sql, db="postgres", **kw):
    rows = psql(sql, db=db, **kw)
    return rows[-1][0] if rows else None


def psql_background(sql, db="postgres", appname="drs_it"):
    """Start SQL in its own session without waiting; returns the Popen."""
    env = dict(os.environ)
    env["PGDATABASE"] = db
    env["PGAPPNAME"] = appname
    return subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                             "-v", "VERBOSITY=verbose", "-c", sql],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def backend_pid(appname, db="postgres", wait=10.0):
    """The pid of the backend of a session started by psql_background."""
    deadline = time.time() + wait
    while time.time() < deadline:
        pid = scalar(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{appname}' "
                     "AND state = 'active' LIMIT 1", db=db)
        if pid:
            return int(pid)
        time.sleep(0.05)
    raise AssertionError(f"no active backend for {appname}")


# ---------------------------------------------------------------- simulator

def sim(method, path, body=None, base=None, timeout=60):
    """A call of the simulator's control API; returns the decoded JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request((base or SIM_URL) + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return json.loads(e.read() or b"null")


def sim_reset(base=None, quiesce=False):
    """Back to the startup state.  First wait until requests still running
    in the simulator (e.g. delayed ones whose client gave up) are over, so
    they do not count in the next test's statistics."""
    if quiesce:
        deadline = time.time() + 30
        while time.time() < deadline and sim("GET", "/_sim/stats", base=base)["in_flight"] > 0:
            time.sleep(0.05)
    sim("POST", "/_sim/reset", {}, base=base)


def sim_fault(base=None, **fault):
    sim("POST", "/_sim/faults", {"faults": [fault]}, base=base)


def sim_config(base=None, **cfg):
    sim("POST", "/_sim/config", cfg, base=base)


def sim_log(base=None):
    return sim("GET", "/_sim/log", base=base)["requests"]


def sim_stats(base=None):
    return sim("GET", "/_sim/stats", base=base)


def calls(endpoint=None, base=None):
    return [r for r in sim_log(base=base) if endpoint is None or r["endpoint"] == endpoint]


# ---------------------------------------------------------------- databases

def create_database(name, server_options="", user_mapping=None, extra_sql=""):
    """A fresh database with drs_fdw, a server "drs" on the simulator, a user
    mapping with the static token (unless given) and a reference table."""
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE); CREATE DATABASE {name};")
    opts = f"endpoint '{SIM_URL}', project_id '{SIM_PROJECT}', iam_endpoint '{SIM_URL}'"
    if server_options:
        opts += ", " + server_options
    mapping = user_mapping or f"token '{SIM_TOKEN}'"
    psql(f"""
        CREATE EXTENSION drs_fdw;
        CREATE SERVER drs FOREIGN DATA WRAPPER drs_fdw OPTIONS ({opts});
        CREATE USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS ({mapping});
        CREATE SCHEMA drs;
        IMPORT FOREIGN SCHEMA drs FROM SERVER drs INTO drs;
        {extra_sql}
    """, db=name)


# ---------------------------------------------------------------- runner

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def check(cond, message="check failed"):
    if not cond:
        raise AssertionError(message)


def expect_error(fn, sqlstate=None, contains=None):
    """Run fn, which must raise SqlError; return it."""
    try:
        fn()
    except SqlError as e:
        if sqlstate and e.sqlstate != sqlstate:
            raise AssertionError(f"expected SQLSTATE {sqlstate}, got {e.sqlstate}: {e.message}")
        if contains and contains not in e.message:
            raise AssertionError(f"expected {contains!r} in: {e.message}")
        return e
    raise AssertionError("expected an error, the statement succeeded")


def run(prefix, setup=None, teardown=None):
    """Run every @test of the calling module; exit 1 if one failed."""
    failed = 0
    try:
        if setup:
            setup()
    except Exception:
        print(f"FAIL {prefix}/setup")
        traceback.print_exc(file=sys.stdout)
        sys.exit(1)
    for fn in _tests:
        name = f"{prefix}/{fn.__name__}"
        start = time.time()
        try:
            fn()
            print(f"PASS {name} ({time.time() - start:.2f}s)")
        except Exception:
            failed += 1
            print(f"FAIL {name} ({time.time() - start:.2f}s)")
            traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
    if teardown:
        try:
            teardown()
        except Exception:
            traceback.print_exc(file=sys.stdout)
    sys.exit(1 if failed else 0)
