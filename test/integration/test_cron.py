#!/usr/bin/env python3
"""test_cron.py — pg_cron for real: examples/monitoring.sql scheduled every
minute snapshots drs_jobs into a history table; a status change shows in
drs_monitor.status_changes; failed and stalled jobs are listed; a DRS
failure inside a cron run leaves a clear message in cron.job_run_details
and no partial snapshot."""
import os
import time

from harness import (DOC_JOB_2, ROOT, check, create_database, psql, run, scalar, sim,
                     sim_fault, sim_reset, test)

DB = "drs_it_cron"
JOB_NAME = "drs-snapshot-test"


def setup():
    sim_reset()
    create_database(DB)
    with open(os.path.join(ROOT, "examples", "monitoring.sql")) as f:
        psql(f.read(), db=DB)
    psql("CREATE EXTENSION IF NOT EXISTS pg_cron;")
    psql(f"SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '{JOB_NAME}';")


def teardown():
    psql(f"SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '{JOB_NAME}';")


def wait_for_run(after_runid, timeout=150):
    """The next finished run of our cron job after run after_runid."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = psql(f"""SELECT d.runid, d.status, coalesce(d.return_message, '')
                          FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                         WHERE j.jobname = '{JOB_NAME}' AND d.runid > {after_runid}
                           AND d.status IN ('succeeded', 'failed')
                         ORDER BY d.runid LIMIT 1""")
        if rows:
            return int(rows[0][0]), rows[0][1], rows[0][2]
        time.sleep(1)
    raise AssertionError("pg_cron did not run the job in time")


STATE = {}


@test
def a_scheduled_snapshot_runs_and_fills_the_history():
    psql(f"""SELECT cron.schedule_in_database('{JOB_NAME}', '* * * * *',
               'SELECT drs_monitor.take_snapshot()', '{DB}');""")
    runid, status, message = wait_for_run(0)
    check(status == "succeeded", f"{status}: {message}")
    rows = psql("SELECT count(DISTINCT snapshot_at), count(*), count(DISTINCT job_id),"
                " count(progress) FROM drs_monitor.job_history", db=DB)
    check(rows == [["1", "250", "250", "250"]], rows)
    STATE["runid"] = runid


@test
def status_changes_between_snapshots_are_listed():
    sim("POST", f"/_sim/jobs/{DOC_JOB_2}", {"status": "FULL_TRANSFER_FAILED"})
    n = scalar("SELECT drs_monitor.take_snapshot()", db=DB)
    check(n == "250", n)
    rows = psql("SELECT job_id, old_status, new_status FROM drs_monitor.status_changes", db=DB)
    check(rows == [[DOC_JOB_2, "CONFIGURATION", "FULL_TRANSFER_FAILED"]], rows)


@test
def failed_and_stalled_jobs_are_reported():
    rows = psql("SELECT job_id, reason FROM drs_monitor.failed_or_stalled('0 seconds')", db=DB)
    reasons = {r[0]: r[1] for r in rows}
    check(reasons.get(DOC_JOB_2) == "failed", reasons.get(DOC_JOB_2))
    failed = scalar("SELECT count(*) FROM (SELECT DISTINCT ON (job_id) status FROM "
                    "drs_monitor.job_history ORDER BY job_id, snapshot_at DESC) s "
                    "WHERE status LIKE '%FAILED'", db=DB)
    check(sum(1 for v in reasons.values() if v == "failed") == int(failed), (reasons, failed))
    check(any(v == "stalled" for v in reasons.values()), "no stalled job with a zero interval")
    # with a day's patience, nothing running counts as stalled yet
    rows = psql("SELECT count(*) FROM drs_monitor.failed_or_stalled('1 day') WHERE reason = 'stalled'",
                db=DB)
    check(rows == [["0"]], rows)


@test
def a_failing_api_call_fails_the_cron_run_without_a_partial_snapshot():
    sim_fault(endpoint="batch-progress", status=500, times=-1,
              json={"error_code": "DRS.M00004", "error_msg": "Service is abnormal. Check logs."})
    try:
        last = int(scalar(f"""SELECT coalesce(max(d.runid), 0) FROM cron.job_run_details d
                               JOIN cron.job j USING (jobid) WHERE j.jobname = '{JOB_NAME}'"""))
        before = psql("SELECT count(DISTINCT snapshot_at), count(*) FROM drs_monitor.job_history", db=DB)
        runid, status, message = wait_for_run(last)
        check(status == "failed", f"{status}: {message}")
        check("DRS API error DRS.M00004" in message, message)
        after = psql("SELECT count(DISTINCT snapshot_at), count(*) FROM drs_monitor.job_history", db=DB)
        check(after == before, f"history changed from {before} to {after}")
    finally:
        psql(f"SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '{JOB_NAME}';")
        sim_reset()


if __name__ == "__main__":
    run("cron", setup=setup, teardown=teardown)
