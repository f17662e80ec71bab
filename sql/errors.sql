--
-- errors: DRS error bodies and HTTP failures become errors that carry the
-- DRS code and text, with the HTTP status and the request path in DETAIL;
-- hostile responses are clear errors; the backend survives every one
--
CALL sim.reset();
-- no retries here: retries are tested with the transport
ALTER SERVER drs_sim OPTIONS (ADD max_retries '0');

-- ===================================================================
-- DRS error bodies
-- ===================================================================
CALL sim.fault('{"endpoint": "batch-detail", "status": 400,
  "json": {"error_code": "DRS.M00202", "error_msg": "The value of parameter jobs is invalid."}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "list", "status": 500,
  "json": {"error_code": "DRS.M00004", "error_msg": "Service is abnormal. Check logs."}}');
SELECT count(*) FROM drs_jobs;

-- a per-id error that is not "not found" fails the query
CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"count": 1, "results": [
  {"id": "24834eb6-be30-464e-a299-f7aa730jb101", "error_code": "DRS.M01501", "error_message": "Service error."}]}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- ===================================================================
-- authentication: a token DRS refuses, and a wrong project
-- ===================================================================
CALL sim.fault('{"endpoint": "batch-detail", "status": 401,
  "json": {"error_code": "APIGW.0307", "error_msg": "The token must be updated.", "request_id": "0123abcd"}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
-- a static token is not refreshed: exactly one call, no loop
SELECT endpoint, status FROM sim.calls() WHERE endpoint = 'batch-detail' ORDER BY seq DESC LIMIT 1;

CALL sim.fault('{"endpoint": "batch-detail", "status": 403,
  "json": {"error_code": "DRS.M00100", "error_msg": "Invalid token."}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CREATE SERVER drs_wrong_project FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'http://127.0.0.1:1', project_id 'ffffffffffffffffffffffffffffffff');
DO $$ BEGIN
  EXECUTE format('ALTER SERVER drs_wrong_project OPTIONS (SET endpoint %L)', (SELECT url FROM sim.settings));
  EXECUTE format('CREATE USER MAPPING FOR CURRENT_USER SERVER drs_wrong_project OPTIONS (token %L)',
                 (SELECT token FROM sim.settings));
END $$;
CREATE FOREIGN TABLE wrong_project (id text) SERVER drs_wrong_project;
SELECT * FROM wrong_project WHERE id = 'x';

-- no user mapping at all
CREATE SERVER drs_nomap FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'http://127.0.0.1:1', project_id 'p');
CREATE FOREIGN TABLE nomap (id text) SERVER drs_nomap;
CREATE ROLE drs_nomap_user;
GRANT SELECT ON nomap TO drs_nomap_user;
SET ROLE drs_nomap_user;
SELECT * FROM nomap WHERE id = 'x';
RESET ROLE;
DROP OWNED BY drs_nomap_user;
DROP ROLE drs_nomap_user;

-- ===================================================================
-- HTTP failures without a DRS body
-- ===================================================================
CALL sim.fault('{"endpoint": "batch-detail", "html": true}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "status": 404, "body": "", "content_type": "text/plain"}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- ===================================================================
-- responses that are not what the API documents
-- ===================================================================
CALL sim.fault('{"endpoint": "batch-detail", "malformed": true}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "status": 200, "body": "<html>maintenance</html>", "content_type": "text/html"}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "status": 200, "body": "{\"count\": 1, \"results\": []}", "content_type": "text/plain"}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"count": 1, "results": {"id": "x"}}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"results": []}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"count": 1, "results": [{"name": "no id"}]}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"count": 2, "results": [
  {"id": "24834eb6-be30-464e-a299-f7aa730jb101", "status": "CREATING"},
  {"id": "24834eb6-be30-464e-a299-f7aa730jb101", "status": "CREATING"}]}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": {"count": 1, "results": [
  {"id": "someone-else", "status": "CREATING"}]}}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "batch-detail", "json_response": [1, 2, 3]}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

CALL sim.fault('{"endpoint": "list", "json_response": {"jobs": []}}');
SELECT count(*) FROM drs_jobs;

CALL sim.fault('{"endpoint": "list", "json_response": {"total_record": 1, "jobs": [{"name": "no id"}]}}');
SELECT count(*) FROM drs_jobs;

-- a truncated body and a dropped connection (every time: libcurl itself
-- sends again once when a reused connection closes before any answer)
CALL sim.fault('{"endpoint": "batch-detail", "truncate": 20, "times": -1}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
CALL sim.clear_faults();
CALL sim.fault('{"endpoint": "batch-detail", "drop": true, "times": -1}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
CALL sim.clear_faults();

-- a body over drs_fdw.max_response_size
SET drs_fdw.max_response_size = '64kB';
CALL sim.fault('{"endpoint": "batch-detail", "huge_bytes": 1000000}');
SELECT id FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
RESET drs_fdw.max_response_size;

-- ===================================================================
-- an unreachable endpoint
-- ===================================================================
CREATE SERVER drs_nowhere FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'http://127.0.0.1:1', project_id 'p', max_retries '0', connect_timeout_ms '2000');
CREATE USER MAPPING FOR CURRENT_USER SERVER drs_nowhere OPTIONS (token 'not-used');
CREATE FOREIGN TABLE nowhere (id text) SERVER drs_nowhere;
\set VERBOSITY terse
SELECT * FROM nowhere WHERE id = 'x';
\set VERBOSITY default

-- ===================================================================
-- after all of that the backend answers as before
-- ===================================================================
CALL sim.reset();
SELECT id, status FROM drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
SELECT count(*) FROM drs_jobs;
SELECT errors > 0 AS errors_counted FROM drs_fdw_stats();

DROP FOREIGN TABLE wrong_project, nomap, nowhere;
DROP USER MAPPING FOR CURRENT_USER SERVER drs_wrong_project;
DROP USER MAPPING FOR CURRENT_USER SERVER drs_nowhere;
DROP SERVER drs_wrong_project;
DROP SERVER drs_nomap;
DROP SERVER drs_nowhere;
ALTER SERVER drs_sim OPTIONS (DROP max_retries);
