--
-- full_scan: with no id condition the scan lists the jobs of every
-- configured db_use_type, each list whole in one call (cur_page 0) or, if
-- that answer would be too large, page by page; then it fetches their
-- details in batches of at most batch_size ids
--
SELECT count(*) AS jobs_in_simulator FROM sim.dataset();

-- ===================================================================
-- every job exactly once
-- ===================================================================
CALL sim.reset();
SELECT count(*), count(DISTINCT id), count(create_time) AS with_create_time FROM drs_jobs;
-- one list call per db_use_type, for the whole list (cur_page 0)
SELECT db_use_type, count(*) AS calls, min(cur_page), max(cur_page)
  FROM sim.list_calls GROUP BY 1 ORDER BY 1;
-- details in batches of at most 100 ids, each with an explicit page_req
SELECT count(*) AS batch_calls, sum(ids) AS ids_asked, max(ids) AS largest,
       bool_and(page_req->>'cur_page' = '1' AND (page_req->>'per_page')::int = ids) AS page_req_explicit
  FROM sim.batch_calls;

-- the same rows as the simulator's data set
SELECT count(*) AS missing FROM sim.dataset() j
 WHERE NOT EXISTS (SELECT 1 FROM drs_jobs d WHERE d.id = j->>'id' AND d.name = j->>'name'
                   AND d.status = j->>'status');

-- ===================================================================
-- a list too large for one answer is read page by page (page_size), and
-- batch_size shapes the batch calls
-- ===================================================================
ALTER SERVER drs_sim OPTIONS (ADD page_size '40', ADD batch_size '5');
SET drs_fdw.max_response_size = '32kB';
CALL sim.reset();
SELECT count(*), count(DISTINCT id), count(update_time) FROM drs_jobs;
-- migration's whole list is over 32kB: its pages follow; the others fit
SELECT db_use_type, cur_page, per_page, count(*) AS calls
  FROM sim.list_calls GROUP BY 1, 2, 3 ORDER BY 1, 2;
SELECT count(*) AS batch_calls, sum(ids) AS ids_asked, max(ids) AS largest FROM sim.batch_calls;
-- list-only scans take the same way
CALL sim.reset();
SELECT count(*), count(DISTINCT id), count(DISTINCT name) FROM drs_jobs;
SELECT db_use_type, cur_page, count(*) AS calls FROM sim.list_calls GROUP BY 1, 2 ORDER BY 1, 2;
RESET drs_fdw.max_response_size;
ALTER SERVER drs_sim OPTIONS (DROP page_size, DROP batch_size);

-- ===================================================================
-- db_use_types narrows what a full scan lists
-- ===================================================================
ALTER SERVER drs_sim OPTIONS (ADD db_use_types 'sync');
CALL sim.reset();
SELECT db_use_type, count(*) FROM drs_jobs GROUP BY 1;
SELECT DISTINCT db_use_type FROM sim.list_calls;
ALTER SERVER drs_sim OPTIONS (DROP db_use_types);

-- ===================================================================
-- db_use_type = c and status = c narrow the list calls
-- ===================================================================
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE db_use_type = 'cloudDataGuard';
SELECT DISTINCT db_use_type, status_filter FROM sim.list_calls;

CALL sim.reset();
SELECT id, status, db_use_type FROM drs_jobs WHERE status = 'CREATE_FAILED' ORDER BY id;
SELECT db_use_type, status_filter FROM sim.list_calls ORDER BY 1;

CALL sim.reset();
SELECT count(*) FROM drs_jobs
 WHERE status IN ('CONFIGURATION', 'PAUSING') AND db_use_type IN ('sync', 'migration');
SELECT db_use_type, status_filter FROM sim.list_calls ORDER BY 1, 2;

-- the local table agrees: the filters only narrow what is asked
SELECT count(*) FROM sim.dataset() j
 WHERE j->>'status' IN ('CONFIGURATION', 'PAUSING') AND j->>'db_use_type' IN ('sync', 'migration');

-- a db_use_type outside the configured ones, or contradicting filters: no call
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE db_use_type = 'backup';
SELECT count(*) FROM drs_jobs WHERE status = 'CONFIGURATION' AND status = 'CREATING';
SELECT count(*) AS calls FROM sim.calls();

-- conditions the API cannot answer are evaluated by PostgreSQL
CALL sim.reset();
SELECT count(*) FROM drs_jobs WHERE status LIKE '%FAILED';
SELECT count(*) FROM sim.dataset() j WHERE j->>'status' LIKE '%FAILED';
SELECT count(DISTINCT status_filter) AS status_filters FROM sim.list_calls;

-- ===================================================================
-- ANALYZE samples a full scan; the planner then knows the table's size
-- ===================================================================
CREATE FOREIGN TABLE analyzed_jobs (id text, status text, create_time timestamptz) SERVER drs_sim;
EXPLAIN (COSTS ON) SELECT * FROM analyzed_jobs;
ANALYZE analyzed_jobs;
SELECT reltuples FROM pg_class WHERE oid = 'analyzed_jobs'::regclass;
SELECT attname, n_distinct > 0 OR n_distinct < 0 AS has_stats FROM pg_stats
 WHERE tablename = 'analyzed_jobs' ORDER BY attname;
EXPLAIN (COSTS ON) SELECT * FROM analyzed_jobs;
DROP FOREIGN TABLE analyzed_jobs;
