--
-- resources: drs_job_status (batch-status) and drs_job_progress
-- (batch-progress) work like drs_jobs: ids pushed down, full scans through
-- the job list, IMPORT FOREIGN SCHEMA; a join of two of them on the id asks
-- one batch call per table per batch_size ids
--
CREATE SCHEMA res;
IMPORT FOREIGN SCHEMA drs FROM SERVER drs_sim INTO res;
\d res.drs_job_status
\d res.drs_job_progress

-- ===================================================================
-- by id
-- ===================================================================
CALL sim.reset();
SELECT * FROM res.drs_job_status
 WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101', 'gone')
 ORDER BY id;
SELECT job_id, progress, incre_trans_delay, task_mode, transfer_status, process_time,
       remaining_time, progress_map->'data' AS data_progress, error_code
  FROM res.drs_job_progress
 WHERE job_id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101', 'gone')
 ORDER BY job_id;
-- batch-progress takes no page_req; batch-status does, like batch-detail
SELECT endpoint, status, body FROM sim.calls() ORDER BY endpoint;

-- a failed job carries its error in the status; it is a row, not an error
CALL sim.reset();
SELECT sim.http('POST', '/_sim/jobs/140b5236-88ad-43c8-811c-1268453jb101',
                '{"status": "FULL_TRANSFER_FAILED"}')->'ok' AS changed;
SELECT s.status, s.error_code IS NOT NULL AS has_error, p.transfer_status
  FROM res.drs_job_status s JOIN res.drs_job_progress p ON p.job_id = s.id
 WHERE s.id = '140b5236-88ad-43c8-811c-1268453jb101';
CALL sim.reset();

-- ===================================================================
-- full scans: the job list, then batch calls of the resource
-- ===================================================================
CALL sim.reset();
SELECT count(*), count(DISTINCT id), count(status) FROM res.drs_job_status;
SELECT count(*), count(progress), min(progress) >= 0 AS sane, max(progress) <= 100 AS sane2
  FROM res.drs_job_progress;
SELECT endpoint, count(*) AS calls FROM sim.calls() GROUP BY 1 ORDER BY 1;
-- statuses agree across the three resources
SELECT count(*) AS disagreements
  FROM res.drs_jobs j JOIN res.drs_job_status s ON s.id = j.id
  JOIN res.drs_job_progress p ON p.job_id = j.id
 WHERE j.status IS DISTINCT FROM s.status OR j.status IS DISTINCT FROM p.transfer_status;
-- list filters work for job_status too
CALL sim.reset();
SELECT count(*) FROM res.drs_job_status WHERE status = 'CONFIGURATION';
SELECT DISTINCT status_filter FROM sim.list_calls;

-- ===================================================================
-- joins on the id: one batch call per table per batch_size ids
-- ===================================================================
CREATE TABLE watched AS
  SELECT j->>'id' AS job_id FROM sim.dataset() j ORDER BY j->>'id' LIMIT 150;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT j.name, p.progress
  FROM res.drs_jobs j JOIN res.drs_job_progress p ON p.job_id = j.id
 WHERE j.id = ANY (ARRAY(SELECT job_id FROM watched));
CALL sim.reset();
SELECT count(*), count(p.progress)
  FROM res.drs_jobs j JOIN res.drs_job_progress p ON p.job_id = j.id
 WHERE j.id = ANY (ARRAY(SELECT job_id FROM watched));
SELECT endpoint, ids FROM sim.batch_calls ORDER BY endpoint, ids DESC;
SELECT count(*) AS list_calls FROM sim.list_calls;
-- the same with constants, and for job_status
CALL sim.reset();
SELECT j.name, s.status FROM res.drs_jobs j JOIN res.drs_job_status s ON s.id = j.id
 WHERE j.id IN ('24834eb6-be30-464e-a299-f7aa730jb101', 'x') ORDER BY 1;
SELECT endpoint, ids FROM sim.batch_calls ORDER BY endpoint;
-- an outer join keeps its rows: the implied list filters only the inner side
SELECT count(*) FROM watched w LEFT JOIN res.drs_job_progress p ON p.job_id = w.job_id
 WHERE w.job_id = ANY (ARRAY(SELECT job_id FROM watched LIMIT 10));

-- LIMIT on a resource without page_req: pagination of the list, not of ids
CALL sim.reset();
SELECT count(*) FROM (SELECT job_id, progress FROM res.drs_job_progress LIMIT 5 OFFSET 3) s;
SELECT endpoint, ids, page_req FROM sim.batch_calls;
EXPLAIN (COSTS OFF) SELECT * FROM res.drs_job_progress WHERE job_id IN ('a', 'b') LIMIT 1;

DROP TABLE watched;
DROP SCHEMA res CASCADE;
