--
-- params: ids from parameters of prepared statements (custom and generic
-- plans) and from init-plans are pushed down like constants
--
CREATE FOREIGN TABLE pj (id text, name text, status text) SERVER drs_sim;

PREPARE by_id(text) AS SELECT id, name FROM pj WHERE id = $1;
PREPARE by_ids(text[]) AS SELECT id FROM pj WHERE id = ANY ($1) ORDER BY id;

SET plan_cache_mode = force_custom_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id('24834eb6-be30-464e-a299-f7aa730jb101');
CALL sim.reset();
EXECUTE by_id('24834eb6-be30-464e-a299-f7aa730jb101');
EXECUTE by_ids(ARRAY['140b5236-88ad-43c8-811c-1268453jb101', NULL, 'nope']);
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls() ORDER BY seq;

SET plan_cache_mode = force_generic_plan;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id('24834eb6-be30-464e-a299-f7aa730jb101');
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_ids(ARRAY['a']);
CALL sim.reset();
EXECUTE by_id('24834eb6-be30-464e-a299-f7aa730jb101');
EXECUTE by_id('140b5236-88ad-43c8-811c-1268453jb101');
EXECUTE by_id(NULL);
EXECUTE by_ids(ARRAY['140b5236-88ad-43c8-811c-1268453jb101', '24834eb6-be30-464e-a299-f7aa730jb101']);
EXECUTE by_ids(NULL);
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls() ORDER BY seq;
RESET plan_cache_mode;
DEALLOCATE by_id;
DEALLOCATE by_ids;

-- a parameter that is an expression over parameters
PREPARE by_prefix(text, text) AS SELECT id FROM pj WHERE id = $1 || $2;
CALL sim.reset();
EXECUTE by_prefix('24834eb6-be30-464e-a299-', 'f7aa730jb101');
SELECT body->'jobs' AS jobs FROM sim.calls();
DEALLOCATE by_prefix;

-- ===================================================================
-- init-plans: id = ANY(ARRAY(SELECT ...)), the join idiom
-- ===================================================================
CREATE TABLE inventory (job_id text, owner text);
INSERT INTO inventory VALUES ('24834eb6-be30-464e-a299-f7aa730jb101', 'alice'),
                             ('140b5236-88ad-43c8-811c-1268453jb101', 'bob'),
                             ('24834eb6-be30-464e-a299-f7aa730jb101', 'carol'),
                             (NULL, 'dave'), ('retired-job', 'erin');
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT id, name FROM pj WHERE id = ANY (ARRAY(SELECT job_id FROM inventory));
CALL sim.reset();
SELECT id, name FROM pj WHERE id = ANY (ARRAY(SELECT job_id FROM inventory)) ORDER BY id;
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls();

-- id IN (SELECT ...) is a join for PostgreSQL; the ARRAY form is one call
SELECT i.owner, p.name FROM inventory i
  JOIN pj p ON p.id = ANY (ARRAY(SELECT job_id FROM inventory)) AND p.id = i.job_id
 ORDER BY 1;

-- a scalar sub-select
CALL sim.reset();
SELECT name FROM pj WHERE id = (SELECT job_id FROM inventory WHERE owner = 'bob');
SELECT endpoint, body->'jobs' AS jobs FROM sim.calls();

-- volatile values are not pushed down (evaluated per row by PostgreSQL)
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM pj WHERE id = md5(random()::text);

DROP FOREIGN TABLE pj;
