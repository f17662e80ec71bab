--
-- limit_offset: LIMIT and OFFSET of a query on one drs_fdw table, with no
-- condition left for PostgreSQL, become pagination; the scan asks only
-- for the pages that decide the window, and returns exactly the window
--
CREATE FOREIGN TABLE lo (id text, name text, status text, create_time timestamptz) SERVER drs_sim;
CREATE TABLE twenty AS
  SELECT j->>'id' AS id, row_number() OVER (ORDER BY j->>'id') AS n
    FROM sim.dataset() j ORDER BY j->>'id' LIMIT 20;

-- ===================================================================
-- without ids: job-list pages, then details of only those ids
-- ===================================================================
CALL sim.reset();
SELECT count(create_time) FROM (SELECT * FROM lo LIMIT 5) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls;
SELECT ids, page_req FROM sim.batch_calls;

-- only the page covering rows 11-15 (page 3 of 5 rows)
CALL sim.reset();
SELECT count(create_time), count(DISTINCT id) FROM (SELECT * FROM lo LIMIT 5 OFFSET 10) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls;
SELECT ids, page_req FROM sim.batch_calls ORDER BY ids DESC;

-- an unaligned window: rows 8-12 fit one page of 6 (rows 7-12)
CALL sim.reset();
SELECT count(*) FROM (SELECT id FROM lo LIMIT 5 OFFSET 7) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls;

-- the window is the same rows as the same window of the whole list
SELECT (SELECT array_agg(id) FROM (SELECT id FROM lo LIMIT 5 OFFSET 7) s)
     = (SELECT (array_agg(id))[8:12] FROM (SELECT id FROM lo LIMIT 20) s) AS same_rows;

-- a window that spans two db_use_type lists: pages are walked in order
SELECT count(*) AS migration_jobs FROM sim.dataset() j WHERE j->>'db_use_type' = 'migration';
CALL sim.reset();
SELECT count(create_time), count(DISTINCT id) FROM (SELECT id, create_time FROM lo LIMIT 10 OFFSET 145) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls ORDER BY db_use_type DESC, cur_page;
SELECT ids, page_req FROM sim.batch_calls ORDER BY ids DESC;

-- OFFSET past the end; LIMIT 0 asks nothing
CALL sim.reset();
SELECT * FROM lo LIMIT 5 OFFSET 1000;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls ORDER BY 1;
CALL sim.reset();
SELECT * FROM lo LIMIT 0;
SELECT * FROM lo WHERE id IN ('a', 'b') LIMIT 0;
SELECT count(*) AS calls FROM sim.calls();

-- a large window: 180 rows in as few pages as possible
CALL sim.reset();
SELECT count(create_time), count(DISTINCT id) FROM (SELECT id, create_time FROM lo LIMIT 180 OFFSET 3) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls ORDER BY db_use_type DESC, cur_page;
SELECT sum(ids) AS detail_ids, max(ids) AS largest FROM sim.batch_calls;

-- OFFSET without LIMIT
CALL sim.reset();
SELECT count(*) FROM (SELECT id FROM lo OFFSET 245) s;
SELECT db_use_type, cur_page, per_page FROM sim.list_calls ORDER BY db_use_type DESC, cur_page;

-- ===================================================================
-- with ids: page_req of batch-detail
-- ===================================================================
-- rows 11-15 of 20 ids: one call; the rows before the window decide it
CALL sim.reset();
SELECT count(*) FROM (SELECT * FROM lo WHERE id = ANY (ARRAY(SELECT id FROM twenty ORDER BY n)) LIMIT 5 OFFSET 10) s;
SELECT ids, page_req FROM sim.batch_calls;
SELECT count(*) AS list_calls FROM sim.list_calls;

-- LIMIT alone: the first page of 5
CALL sim.reset();
SELECT count(*) FROM (SELECT * FROM lo WHERE id = ANY (ARRAY(SELECT id FROM twenty ORDER BY n)) LIMIT 5) s;
SELECT ids, page_req FROM sim.batch_calls;

-- unknown ids inside and before the window: still exactly the window
CALL sim.reset();
SELECT count(*) FROM (SELECT id FROM lo
  WHERE id IN ('x1', (SELECT id FROM twenty WHERE n = 1), 'x2', (SELECT id FROM twenty WHERE n = 2),
               (SELECT id FROM twenty WHERE n = 3), 'x3', (SELECT id FROM twenty WHERE n = 4))
  LIMIT 2 OFFSET 1) s;
SELECT ids, page_req FROM sim.batch_calls ORDER BY ids DESC;
-- 2 known ids, OFFSET 1: one row, as a table would give
SELECT count(*) FROM (SELECT id FROM lo
  WHERE id IN ('x1', 'x2', (SELECT id FROM twenty WHERE n = 1), 'x3', (SELECT id FROM twenty WHERE n = 2))
  LIMIT 5 OFFSET 1) s;
-- OFFSET at or past the number of ids: no call
CALL sim.reset();
SELECT count(*) FROM (SELECT id FROM lo WHERE id IN ('a', 'b') LIMIT 5 OFFSET 2) s;
SELECT count(*) AS calls FROM sim.calls();

-- ===================================================================
-- LIMIT as a parameter, and when LIMIT is not pushed
-- ===================================================================
PREPARE page(bigint, bigint) AS SELECT id FROM lo LIMIT $1 OFFSET $2;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE page(3, 4);
SELECT (SELECT array_agg(id) FROM (SELECT id FROM lo LIMIT 3 OFFSET 4) s) AS same_as_constants;
CALL sim.reset();
EXECUTE page(3, 4);
SELECT db_use_type, cur_page, per_page FROM sim.list_calls;
EXECUTE page(NULL, 248);
EXECUTE page(-1, 0);
DEALLOCATE page;

-- a local condition, ORDER BY, an aggregate or DISTINCT keep the Limit node
EXPLAIN (COSTS OFF) SELECT id FROM lo WHERE name LIKE 'a%' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM lo ORDER BY id LIMIT 5;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lo LIMIT 5;
EXPLAIN (COSTS OFF) SELECT DISTINCT status FROM lo LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM lo WHERE status = 'CREATING' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT l.id FROM lo l JOIN twenty t ON t.id = l.id LIMIT 5;
-- ... and the result is still right
SELECT count(*) FROM (SELECT id FROM lo WHERE status = 'CONFIGURATION' LIMIT 3) s;

DROP FOREIGN TABLE lo;
DROP TABLE twenty;
