--
-- import_schema: IMPORT FOREIGN SCHEMA drs creates the reference tables,
-- honouring LIMIT TO and EXCEPT
--
CREATE SCHEMA imp_all;
IMPORT FOREIGN SCHEMA drs FROM SERVER drs_sim INTO imp_all;
SELECT c.relname, count(*) AS columns, ft.ftoptions
  FROM pg_class c JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
 WHERE c.relnamespace = 'imp_all'::regnamespace
 GROUP BY 1, 3 ORDER BY 1;
\d imp_all.drs_jobs

-- the reference table answers like any other
SELECT id, name, status, create_time, db_use_type, is_target_readonly, speed_limit,
       inst_info->>'engine_type' AS engine, source_endpoint ? 'db_password' AS has_password
  FROM imp_all.drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE status LIKE '%FAILED') AS failed
  FROM imp_all.drs_jobs;

CREATE SCHEMA imp_limit;
IMPORT FOREIGN SCHEMA drs LIMIT TO (drs_jobs) FROM SERVER drs_sim INTO imp_limit;
SELECT relname FROM pg_class WHERE relnamespace = 'imp_limit'::regnamespace ORDER BY 1;

CREATE SCHEMA imp_except;
IMPORT FOREIGN SCHEMA drs EXCEPT (drs_jobs) FROM SERVER drs_sim INTO imp_except;
SELECT relname FROM pg_class WHERE relnamespace = 'imp_except'::regnamespace ORDER BY 1;

-- unknown remote schema
IMPORT FOREIGN SCHEMA public FROM SERVER drs_sim INTO imp_except;

DROP SCHEMA imp_all, imp_limit, imp_except CASCADE;
