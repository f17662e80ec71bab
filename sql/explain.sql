--
-- explain: EXPLAIN VERBOSE shows what will be asked (resource, ids or list
-- filters, page window); EXPLAIN ANALYZE adds what was asked
--
CALL sim.reset();
CREATE FOREIGN TABLE ex (id text, name text, status text, db_use_type text,
                         create_time timestamptz) SERVER drs_sim;

-- ids: listed while few, counted when many
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE id = 'a';
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE id IN ('a', 'b', 'c');
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex
 WHERE id = ANY (ARRAY(SELECT 'id-' || g FROM generate_series(1, 3) g));
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex
 WHERE id IN ('1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12');
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE id IN ('a', 'b') AND id = 'b';

-- the job list and its filters; conditions kept for PostgreSQL show as Filter
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex;
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE status = 'CREATING' AND db_use_type = 'sync';
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE status LIKE '%FAILED';
EXPLAIN (VERBOSE, COSTS OFF) SELECT name, create_time FROM ex;

-- the page window of a pushed-down LIMIT/OFFSET
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex LIMIT 5 OFFSET 10;
EXPLAIN (VERBOSE, COSTS OFF) SELECT name FROM ex WHERE id IN ('a', 'b', 'c') LIMIT 1;

-- EXPLAIN without VERBOSE stays short, and asks nothing
EXPLAIN (COSTS OFF) SELECT * FROM ex WHERE id = 'a';
SELECT count(*) AS calls FROM sim.calls();

-- ===================================================================
-- EXPLAIN ANALYZE: requests, retries and bytes of this scan
-- ===================================================================
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT * FROM ex WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*) FROM ex;
-- a retried 503 counts as a retry
CALL sim.fault('{"endpoint": "batch-detail", "status": 503, "headers": {"Retry-After": "0"},
  "json": {"error_code": "APIGW.0503", "error_msg": "Service unavailable"}}');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT name FROM ex WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- the backend's cumulative counters
SELECT drs_fdw_reset_stats();
SELECT * FROM drs_fdw_stats();
SELECT count(*) FROM ex WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', 'x');
SELECT requests, retries, errors, bytes_received > 0 AS got_bytes, token_requests, rows_returned
  FROM drs_fdw_stats();

DROP FOREIGN TABLE ex;
