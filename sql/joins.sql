--
-- joins: with a small local table, a parameterized scan fetches by id per
-- outer row instead of listing everything; rescans do not ask again for ids
-- already fetched; larger tables are better joined to one full scan
--
CREATE FOREIGN TABLE jj (id text, name text, status text) SERVER drs_sim;
CREATE TABLE watch (job_id text PRIMARY KEY, note text);
INSERT INTO watch VALUES ('24834eb6-be30-464e-a299-f7aa730jb101', 'doc job 1'),
                         ('140b5236-88ad-43c8-811c-1268453jb101', 'doc job 2'),
                         ('gone-job', 'deleted long ago');
ANALYZE watch;

EXPLAIN (VERBOSE, COSTS OFF)
  SELECT w.note, j.status FROM watch w JOIN jj j ON j.id = w.job_id;
CALL sim.reset();
SELECT w.note, j.status FROM watch w JOIN jj j ON j.id = w.job_id ORDER BY 1;
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls() ORDER BY body::text;

-- a LEFT JOIN keeps the watched job that DRS does not know
SELECT w.note, j.status FROM watch w LEFT JOIN jj j ON j.id = w.job_id ORDER BY 1;

-- repeated outer values: each id is fetched once per query (no Memoize here)
CREATE TABLE events (job_id text, at int);
INSERT INTO events SELECT CASE g % 3 WHEN 0 THEN '24834eb6-be30-464e-a299-f7aa730jb101'
                                     WHEN 1 THEN '140b5236-88ad-43c8-811c-1268453jb101'
                                     ELSE 'gone-job' END, g
  FROM generate_series(1, 9) g;
ANALYZE events;
SET enable_memoize = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT e.at, j.name FROM events e JOIN jj j ON j.id = e.job_id;
CALL sim.reset();
SELECT count(*), count(DISTINCT j.id) FROM events e JOIN jj j ON j.id = e.job_id;
SELECT count(*) AS batch_calls, count(DISTINCT body::text) AS distinct_calls FROM sim.calls();
RESET enable_memoize;
RESET enable_hashjoin;
RESET enable_mergejoin;

-- LATERAL: the outer column parameterizes the scan
CALL sim.reset();
SELECT w.note, x.name FROM watch w,
  LATERAL (SELECT name FROM jj WHERE jj.id = w.job_id) x ORDER BY 1;
SELECT count(*) AS calls FROM sim.calls();

-- a large local table: one full scan and a hash join beat a call per row
CREATE TABLE big_watch AS
  SELECT j->>'id' AS job_id, 'w' || row_number() OVER () AS note FROM sim.dataset() j;
ANALYZE big_watch;
EXPLAIN (COSTS OFF) SELECT count(*) FROM big_watch b JOIN jj j ON j.id = b.job_id;
CALL sim.reset();
SELECT count(*) FROM big_watch b JOIN jj j ON j.id = b.job_id;
SELECT endpoint, count(*) FROM sim.calls() GROUP BY 1 ORDER BY 1;

-- joining two drs_fdw tables on id
CREATE FOREIGN TABLE jj2 (id text, db_use_type text) SERVER drs_sim;
SELECT count(*) FROM jj a JOIN jj2 b ON a.id = b.id WHERE a.status LIKE 'FULL%';

DROP TABLE watch, events, big_watch;
DROP FOREIGN TABLE jj, jj2;
