--
-- setup: the extension, a server on the DRS simulator, and helpers that
-- talk to the simulator's control API (request log, faults, config).
-- The simulator's address and credentials come from the environment, so
-- that no port and no secret appears in the expected output.
--
\getenv sim_url DRS_SIM_URL
\getenv sim_token DRS_SIM_TOKEN
\getenv sim_project DRS_SIM_PROJECT
\getenv sim_user DRS_SIM_USER
\getenv sim_password DRS_SIM_PASSWORD
\getenv sim_domain DRS_SIM_DOMAIN

CREATE EXTENSION drs_fdw;
SELECT drs_fdw_version();

-- test helpers live in schema sim
CREATE SCHEMA sim;
CREATE TABLE sim.settings (url text, token text, project text,
                           iam_user text, iam_password text, iam_domain text);
INSERT INTO sim.settings VALUES (:'sim_url', :'sim_token', :'sim_project',
                                 :'sim_user', :'sim_password', :'sim_domain');

CREATE FUNCTION sim.shell_quote(s text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT '''' || replace(s, '''', '''\''''') || '''' $$;

-- one request to the simulator's control API; returns its JSON answer
CREATE FUNCTION sim.http(method text, path text, body jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  cmd text;
  answer text;
BEGIN
  cmd := format('curl -sS --max-time 30 -X %s %s', method,
                sim.shell_quote((SELECT url FROM sim.settings) || path));
  IF body IS NOT NULL THEN
    cmd := cmd || ' -H ' || sim.shell_quote('Content-Type: application/json')
               || ' --data-binary ' || sim.shell_quote(body::text);
  END IF;
  IF to_regclass('pg_temp.sim_answer') IS NULL THEN
    CREATE TEMP TABLE sim_answer (line text);
  END IF;
  TRUNCATE sim_answer;
  EXECUTE format('COPY sim_answer FROM PROGRAM %L WITH (FORMAT csv, DELIMITER %L, QUOTE %L)',
                 cmd, E'\x01', E'\x02');
  SELECT string_agg(line, E'\n') INTO answer FROM sim_answer;
  RETURN answer::jsonb;
END $$;

-- back to the startup state: empty request log, no faults, no changed jobs
CREATE PROCEDURE sim.reset()
LANGUAGE plpgsql AS $$ BEGIN PERFORM sim.http('POST', '/_sim/reset', '{}'); END $$;

-- inject one fault rule (see sim/README.md)
CREATE PROCEDURE sim.fault(f jsonb)
LANGUAGE plpgsql AS $$
BEGIN PERFORM sim.http('POST', '/_sim/faults', jsonb_build_object('faults', jsonb_build_array(f))); END $$;

-- remove every fault rule
CREATE PROCEDURE sim.clear_faults()
LANGUAGE plpgsql AS $$ BEGIN PERFORM sim.http('DELETE', '/_sim/faults'); END $$;

-- change the simulator's running configuration
CREATE PROCEDURE sim.config(c jsonb)
LANGUAGE plpgsql AS $$ BEGIN PERFORM sim.http('POST', '/_sim/config', c); END $$;

-- the DRS and IAM calls the simulator received since the last reset
CREATE FUNCTION sim.calls()
RETURNS TABLE (seq int, endpoint text, status int, body jsonb, auth text)
LANGUAGE sql AS $$
  SELECT (e->>'seq')::int, e->>'endpoint', (e->>'status')::int, e->'body', e->>'auth'
  FROM jsonb_array_elements(sim.http('GET', '/_sim/log')->'requests') e
  ORDER BY 1
$$;

-- the number of ids each batch call asked for, and its page_req
CREATE VIEW sim.batch_calls AS
  SELECT endpoint, jsonb_array_length(body->'jobs') AS ids, body->'page_req' AS page_req, status
  FROM sim.calls() WHERE endpoint LIKE 'batch-%';

CREATE VIEW sim.list_calls AS
  SELECT body->>'db_use_type' AS db_use_type, (body->>'cur_page')::int AS cur_page,
         (body->>'per_page')::int AS per_page, body->>'status' AS status_filter
  FROM sim.calls() WHERE endpoint = 'list';

-- every current job of the simulator, in full (secrets included)
CREATE FUNCTION sim.dataset() RETURNS SETOF jsonb
LANGUAGE sql AS $$ SELECT jsonb_array_elements(sim.http('GET', '/_sim/dataset')->'jobs') $$;

CALL sim.reset();

-- the server and the user mapping every test uses
DO $$
DECLARE s sim.settings;
BEGIN
  SELECT * INTO s FROM sim.settings;
  EXECUTE format('CREATE SERVER drs_sim FOREIGN DATA WRAPPER drs_fdw
                  OPTIONS (endpoint %L, project_id %L, iam_endpoint %L)',
                 s.url, s.project, s.url);
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER drs_sim OPTIONS (token %L)',
                 s.token);
END $$;

CREATE FOREIGN TABLE drs_jobs (
  id text,
  name text,
  status text,
  description text,
  create_time timestamptz,
  update_time timestamptz,
  db_use_type text,
  task_type text,
  source_endpoint jsonb,
  target_endpoint jsonb,
  inst_info jsonb,
  is_target_readonly boolean
) SERVER drs_sim;

-- the two jobs of the API documentation's example, verbatim in the simulator
CREATE TABLE doc_ids (id text);
INSERT INTO doc_ids VALUES ('24834eb6-be30-464e-a299-f7aa730jb101'),
                           ('140b5236-88ad-43c8-811c-1268453jb101');
SELECT id, name, status FROM drs_jobs WHERE id = ANY (ARRAY(SELECT id FROM doc_ids)) ORDER BY id;
