--
-- regions: several regions or projects at once, one server (and user
-- mapping) each, under a partitioned table whose partition key is the
-- server's name (json_path '@server'), or under a UNION ALL view
--
-- two "regions" of the simulator: each lists other scenarios, and one
-- authenticates with IAM credentials instead of a token
DO $$
DECLARE s sim.settings;
BEGIN
  SELECT * INTO s FROM sim.settings;
  EXECUTE format('CREATE SERVER drs_eu_de FOREIGN DATA WRAPPER drs_fdw
                  OPTIONS (endpoint %L, project_id %L, db_use_types %L)',
                 s.url, s.project, 'migration');
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER drs_eu_de OPTIONS (token %L)', s.token);
  EXECUTE format('CREATE SERVER drs_eu_nl FOREIGN DATA WRAPPER drs_fdw
                  OPTIONS (endpoint %L, project_id %L, iam_endpoint %L, db_use_types %L)',
                 s.url, s.project, s.url, 'sync,cloudDataGuard');
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER drs_eu_nl
                  OPTIONS (user %L, password %L, domain %L)',
                 s.iam_user, s.iam_password, s.iam_domain);
END $$;

CREATE TABLE all_jobs (region text, id text, name text, status text, db_use_type text,
                       update_time timestamptz)
  PARTITION BY LIST (region);
CREATE FOREIGN TABLE jobs_eu_de PARTITION OF all_jobs FOR VALUES IN ('drs_eu_de')
  SERVER drs_eu_de;
CREATE FOREIGN TABLE jobs_eu_nl PARTITION OF all_jobs FOR VALUES IN ('drs_eu_nl')
  SERVER drs_eu_nl;
ALTER FOREIGN TABLE jobs_eu_de ALTER COLUMN region OPTIONS (json_path '@server');
ALTER FOREIGN TABLE jobs_eu_nl ALTER COLUMN region OPTIONS (json_path '@server');

CALL sim.reset();
SELECT region, db_use_type, count(*) FROM all_jobs GROUP BY 1, 2 ORDER BY 1, 2;
-- each server used its own credential
SELECT endpoint, auth LIKE 'iam:%' AS iam, count(*) FROM sim.calls()
 WHERE endpoint IN ('list', 'iam-token') GROUP BY 1, 2 ORDER BY 1, 2;

-- a condition on the region prunes the other server: it is not asked
CALL sim.reset();
EXPLAIN (COSTS OFF) SELECT count(*) FROM all_jobs WHERE region = 'drs_eu_nl';
SELECT count(*) FROM all_jobs WHERE region = 'drs_eu_nl';
SELECT DISTINCT db_use_type FROM sim.list_calls ORDER BY 1;

-- ids are pushed down to every partition
CALL sim.reset();
SELECT region, id, status FROM all_jobs
 WHERE id IN ('24834eb6-be30-464e-a299-f7aa730jb101', '140b5236-88ad-43c8-811c-1268453jb101')
 ORDER BY id;
SELECT endpoint, count(*) FROM sim.calls() WHERE endpoint LIKE 'batch%' GROUP BY 1;

-- @project_id and @server are also plain columns
CREATE FOREIGN TABLE where_from (id text, srv text OPTIONS (json_path '@server'),
                                 project text OPTIONS (json_path '@project_id'))
  SERVER drs_eu_de;
SELECT id, srv, project = (SELECT project FROM sim.settings) AS same_project
  FROM where_from WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- the same as a UNION ALL view
CREATE VIEW all_jobs_view AS
  SELECT 'eu-de' AS region, id, name, status FROM jobs_eu_de
  UNION ALL
  SELECT 'eu-nl', id, name, status FROM jobs_eu_nl;
SELECT region, count(*) FROM all_jobs_view GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM all_jobs_view WHERE status LIKE '%FAILED';

DROP VIEW all_jobs_view;
DROP TABLE all_jobs;
DROP FOREIGN TABLE where_from;
DROP USER MAPPING FOR CURRENT_USER SERVER drs_eu_de;
DROP USER MAPPING FOR CURRENT_USER SERVER drs_eu_nl;
DROP SERVER drs_eu_de;
DROP SERVER drs_eu_nl;
