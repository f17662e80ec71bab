--
-- secrets: db_password, ssl_cert_password and ssl_cert_key never reach SQL,
-- and the credentials of a user mapping appear in no output.  Every secret
-- the simulator serves contains the word CANARY.
--
CALL sim.reset();

-- no row of a full scan carries a secret, in any column
SELECT count(*) AS rows, count(*) FILTER (WHERE d::text LIKE '%CANARY%') AS rows_with_secrets
  FROM drs_jobs d;
-- ... although the simulator did send them
SELECT count(*) FILTER (WHERE j::text LIKE '%CANARY%') AS jobs_with_secrets FROM sim.dataset() j;

-- every column of the reference table, including the whole job
CREATE FOREIGN TABLE all_columns (whole jsonb OPTIONS (json_path '$'),
  source_endpoint text, target_endpoint json, dmq_endpoint jsonb, source_sharding jsonb)
  SERVER drs_sim;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE whole::text LIKE '%CANARY%' OR source_endpoint LIKE '%CANARY%'
                        OR target_endpoint::text LIKE '%CANARY%' OR dmq_endpoint::text LIKE '%CANARY%'
                        OR source_sharding::text LIKE '%CANARY%') AS leaks,
       count(*) FILTER (WHERE whole::text LIKE '%password%' OR whole::text LIKE '%ssl_cert_key%') AS secret_keys
  FROM all_columns;

-- a column pointed at a secret is NULL
CREATE FOREIGN TABLE secret_paths (
  id text,
  pw text OPTIONS (json_path 'source_endpoint.db_password'),
  cert_pw text OPTIONS (json_path 'target_endpoint.ssl_cert_password'),
  cert_key text OPTIONS (json_path 'source_endpoint.ssl_cert_key'),
  shard_pw text OPTIONS (json_path 'source_sharding.0.db_password'),
  user_name text OPTIONS (json_path 'source_endpoint.db_user')
) SERVER drs_sim;
SELECT id, pw, cert_pw, cert_key, shard_pw, user_name
  FROM secret_paths WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- nor does the token show in EXPLAIN, or in an error about it
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM secret_paths WHERE id = 'x';
CALL sim.fault('{"endpoint": "batch-detail", "status": 401, "times": -1,
  "json": {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}}');
SELECT id FROM secret_paths WHERE id = 'x';
-- the simulator saw the static token, and logs only its label
SELECT DISTINCT auth FROM sim.calls();
CALL sim.reset();

-- only the owner of a user mapping and superusers can read its options
CREATE ROLE drs_reader;
GRANT USAGE ON FOREIGN SERVER drs_sim TO drs_reader;
SET ROLE drs_reader;
SELECT srvname, usename = session_user AS superuser_mapping, umoptions
  FROM pg_user_mappings WHERE srvname = 'drs_sim';
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER drs_sim FROM drs_reader;
DROP ROLE drs_reader;

DROP FOREIGN TABLE all_columns, secret_paths;
