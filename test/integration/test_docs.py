#!/usr/bin/env python3
"""test_docs.py — every ```sql block of README.md runs, in order, against
the simulator, so the user's guide cannot rot.  The OTC endpoints and the
example credentials of the guide are replaced by the simulator's; a block
that starts with "-- in the database named by cron.database_name" runs in
that database."""
import os
import re
import subprocess

from harness import (ROOT, SIM_DOMAIN, SIM_PASSWORD, SIM_URL, SIM_USER, check, psql, run,
                     sim_reset, test)

DB = "drs_it_docs"


def blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def localize(sql):
    sql = re.sub(r"'https://(drs|iam)\.[a-z0-9-]+\.otc\.t-systems\.com'", f"'{SIM_URL}'", sql)
    return (sql.replace("user 'drs-reader'", f"user '{SIM_USER}'")
               .replace("password 'my-password'", f"password '{SIM_PASSWORD}'")
               .replace("domain 'my-tenant'", f"domain '{SIM_DOMAIN}'"))


def run_block(sql, db):
    env = dict(os.environ, PGDATABASE=db)
    proc = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"], input=sql, text=True,
                          capture_output=True, env=env, cwd=ROOT, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"README block failed:\n{sql}\n{proc.stderr}")
    return proc.stdout


@test
def every_sql_block_of_the_guide_runs():
    sim_reset()
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE); CREATE DATABASE {DB};")
    found = blocks()
    check(len(found) >= 9, f"only {len(found)} sql blocks found")
    for sql in found:
        if sql.lstrip().startswith("-- in the database named by cron.database_name"):
            psql("CREATE EXTENSION IF NOT EXISTS pg_cron;")
            run_block(localize(sql), "postgres")
        else:
            run_block(localize(sql), DB)


@test
def the_guide_shows_no_secret():
    text = open(os.path.join(ROOT, "README.md")).read()
    check(SIM_PASSWORD not in text and "CANARY" not in text, "a test credential in the README")


if __name__ == "__main__":
    run("docs")
