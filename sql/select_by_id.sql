--
-- select_by_id: id conditions become the jobs list of batch-detail calls,
-- proved by the requests the simulator received
--

-- ===================================================================
-- id = c: one batch-detail call for one id, no job-list call
-- ===================================================================
CALL sim.reset();
SELECT id, name, status, db_use_type FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
SELECT endpoint, body FROM sim.calls();

-- ===================================================================
-- id IN (...): duplicates removed, NULLs dropped, unknown ids give no row
-- ===================================================================
CALL sim.reset();
SELECT id, name FROM drs_jobs
 WHERE id IN ('140b5236-88ad-43c8-811c-1268453jb101', '24834eb6-be30-464e-a299-f7aa730jb101',
              '140b5236-88ad-43c8-811c-1268453jb101', NULL, 'no-such-job')
 ORDER BY id;
SELECT endpoint, status, body FROM sim.calls();

-- = ANY(array) with constants and NULL elements
CALL sim.reset();
SELECT count(*) FROM drs_jobs
 WHERE id = ANY (ARRAY['24834eb6-be30-464e-a299-f7aa730jb101', NULL, '24834eb6-be30-464e-a299-f7aa730jb101']);
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls();

-- ids that cannot match send nothing at all
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE id = NULL;
SELECT count(*) FROM drs_jobs WHERE id IN (NULL, NULL);
SELECT count(*) FROM drs_jobs WHERE id = ANY ('{}'::text[]);
SELECT count(*) FROM drs_jobs WHERE id = ANY (NULL::text[]);
SELECT count(*) FROM drs_jobs WHERE id = 'a' AND id = 'b';
SELECT count(*) AS calls FROM sim.calls();

-- only unknown ids: no row, no error
CALL sim.reset();
SELECT * FROM drs_jobs WHERE id IN ('no-such-job-1', 'no-such-job-2');
SELECT endpoint, status FROM sim.calls();

-- ===================================================================
-- several id conditions ANDed together intersect
-- ===================================================================
CALL sim.reset();
SELECT id FROM drs_jobs
 WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101', 'x')
   AND id = ANY (ARRAY['140b5236-88ad-43c8-811c-1268453jb101', 'x', 'y']);
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls();

-- an OR of id equalities is a list too
CALL sim.reset();
SELECT id FROM drs_jobs
 WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101' OR id = '140b5236-88ad-43c8-811c-1268453jb101'
 ORDER BY id;
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls();

-- ===================================================================
-- batch_size: 250 ids (a few unknown) take 3 calls of at most 100 ids
-- ===================================================================
CREATE TABLE many_ids AS
  SELECT j->>'id' AS id FROM sim.dataset() j
  UNION ALL SELECT 'unknown-' || g FROM generate_series(1, 10) g;
SELECT count(*) FROM many_ids;
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE id = ANY (ARRAY(SELECT id FROM many_ids));
SELECT ids, page_req FROM sim.batch_calls ORDER BY ids DESC;
SELECT count(*) AS list_calls FROM sim.list_calls;

ALTER SERVER drs_sim OPTIONS (ADD batch_size '7');
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE id = ANY (ARRAY(SELECT id FROM many_ids ORDER BY id LIMIT 20));
SELECT ids, page_req FROM sim.batch_calls ORDER BY ids DESC;
ALTER SERVER drs_sim OPTIONS (DROP batch_size);

-- ===================================================================
-- the three ways DRS reports unknown ids (INCONSISTENCIES.md B1)
-- ===================================================================
-- (a) HTTP 400 with per-id errors next to the known jobs (the default)
CALL sim.reset();
SELECT id FROM drs_jobs WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', 'gone-1');
SELECT endpoint, status FROM sim.calls();
-- (b) HTTP 200 with the same per-id errors
CALL sim.reset();
CALL sim.config('{"unknown_id_mode": "b"}');
SELECT id FROM drs_jobs WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', 'gone-1');
SELECT endpoint, status FROM sim.calls();
-- (c) HTTP 400 with one top-level error: the batch is split until each
--     unknown id is alone
CALL sim.reset();
CALL sim.config('{"unknown_id_mode": "c"}');
SELECT id FROM drs_jobs
 WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', 'gone-1', '140b5236-88ad-43c8-811c-1268453jb101', 'gone-2')
 ORDER BY id;
SELECT status, body->'jobs' AS jobs FROM sim.calls()
 ORDER BY jsonb_array_length(body->'jobs') DESC, body::text;
CALL sim.reset();

-- a deleted job is gone (DRS.M05004), in every mode
SELECT sim.http('DELETE', '/_sim/jobs/140b5236-88ad-43c8-811c-1268453jb101')->'ok' AS deleted;
SELECT id FROM drs_jobs WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101');
CALL sim.reset();
SELECT id FROM drs_jobs WHERE id = '140b5236-88ad-43c8-811c-1268453jb101';
