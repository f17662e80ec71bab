-- examples/monitoring.sql — keep a history of DRS jobs and watch it.
--
-- Run it once in a database where drs_fdw is set up and IMPORT FOREIGN
-- SCHEMA drs FROM SERVER ... INTO drs has created drs.drs_jobs and
-- drs.drs_job_progress.  It creates, in schema drs_monitor:
--   job_history           one row per job and snapshot, keyed by (snapshot_at, job_id)
--   take_snapshot()       one snapshot of every job, in one statement: an API
--                         failure leaves no partial snapshot behind
--   status_changes        every status change between consecutive snapshots
--   failed_or_stalled(d)  jobs that failed, or whose progress has not moved
--                         for the interval d although they are still running
-- and schedule it with pg_cron:
--   SELECT cron.schedule('drs-snapshot', '* * * * *', 'SELECT drs_monitor.take_snapshot()');
-- scripts/test.sh runs this file and the schedule for real (test_cron.py).

CREATE SCHEMA IF NOT EXISTS drs_monitor;

CREATE TABLE IF NOT EXISTS drs_monitor.job_history (
  snapshot_at   timestamptz NOT NULL,
  job_id        text        NOT NULL,
  name          text,
  db_use_type   text,
  status        text,
  progress      numeric,
  update_time   timestamptz,
  error_code    text,
  PRIMARY KEY (snapshot_at, job_id)
);
CREATE INDEX IF NOT EXISTS job_history_job ON drs_monitor.job_history (job_id, snapshot_at);

-- One snapshot: every job with its progress, stamped with the transaction's
-- start time.  A single INSERT ... SELECT: if any DRS call fails, nothing
-- of this snapshot is kept, and pg_cron records the error.
CREATE OR REPLACE FUNCTION drs_monitor.take_snapshot()
RETURNS bigint LANGUAGE sql AS $$
  WITH inserted AS (
    INSERT INTO drs_monitor.job_history
      (snapshot_at, job_id, name, db_use_type, status, progress, update_time, error_code)
    SELECT now(), j.id, j.name, j.db_use_type, j.status, p.progress, j.update_time, j.error_code
      FROM drs.drs_jobs j
      LEFT JOIN drs.drs_job_progress p ON p.job_id = j.id
    RETURNING 1)
  SELECT count(*) FROM inserted
$$;

-- Status changes between consecutive snapshots of a job.
CREATE OR REPLACE VIEW drs_monitor.status_changes AS
SELECT job_id, name, changed_at, old_status, new_status
  FROM (SELECT job_id, name, snapshot_at AS changed_at, status AS new_status,
               lag(status) OVER (PARTITION BY job_id ORDER BY snapshot_at) AS old_status
          FROM drs_monitor.job_history) h
 WHERE old_status IS DISTINCT FROM new_status AND old_status IS NOT NULL;

-- Jobs that need attention in the latest snapshot: failed, or still
-- running with the same progress for at least 'stalled_for'.
CREATE OR REPLACE FUNCTION drs_monitor.failed_or_stalled(stalled_for interval DEFAULT '30 minutes')
RETURNS TABLE (job_id text, name text, status text, progress numeric, reason text, since timestamptz)
LANGUAGE sql STABLE AS $$
  WITH latest AS (
    SELECT DISTINCT ON (job_id) *
      FROM drs_monitor.job_history
     ORDER BY job_id, snapshot_at DESC),
  unchanged_since AS (
    -- the earliest snapshot after which status and progress stayed as they are now
    SELECT l.job_id, min(h.snapshot_at) AS since
      FROM latest l
      JOIN drs_monitor.job_history h ON h.job_id = l.job_id
     WHERE h.snapshot_at > coalesce((SELECT max(x.snapshot_at) FROM drs_monitor.job_history x
                                      WHERE x.job_id = l.job_id
                                        AND (x.status IS DISTINCT FROM l.status
                                             OR x.progress IS DISTINCT FROM l.progress)),
                                     '-infinity')
     GROUP BY l.job_id)
  SELECT l.job_id, l.name, l.status, l.progress,
         CASE WHEN l.status LIKE '%FAILED' THEN 'failed' ELSE 'stalled' END,
         u.since
    FROM latest l JOIN unchanged_since u USING (job_id)
   WHERE l.status LIKE '%FAILED'
      OR (l.status IN ('FULL_TRANSFER_STARTED', 'INCRE_TRANSFER_STARTED', 'STARTJOBING',
                       'CHILD_TRANSFER_STARTED', 'CHILD_TRANSFER_STARTING')
          AND coalesce(l.progress, 0) < 100
          AND l.snapshot_at - u.since >= stalled_for)
$$;
