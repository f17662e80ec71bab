--
-- options: the validator checks every option of every object
--

-- ===================================================================
-- server options
-- ===================================================================
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw;                         -- no endpoint
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw OPTIONS (endpoint 'http://127.0.0.1:1');  -- no project_id
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw OPTIONS (project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'ftp://example.com', project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://', project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://user:pw@drs.example.com', project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com/?x=1', project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com:99999', project_id 'p');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'a/b');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', iam_endpoint 'iam');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', batch_size '0');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', batch_size '101');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', page_size 'ten');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', max_concurrency '0');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', connect_timeout_ms '-5');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', timeout_ms '1.5');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', max_retries '11');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', ssl_verify 'maybe');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', ca_file 'relative.pem');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', db_use_types 'migration,backup');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', db_use_types 'sync,sync');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', db_use_types '');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', language 'de-de');
CREATE SERVER bad FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', region 'eu-de');

-- every option, valid: the server is accepted; http:// is allowed for local use
CREATE SERVER good FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.eu-de.otc.t-systems.com/', project_id '0123456789abcdef0123456789abcdef',
           iam_endpoint 'https://iam.eu-de.otc.t-systems.com', batch_size '10', page_size '50',
           max_concurrency '8', connect_timeout_ms '2000', timeout_ms '10000', max_retries '0',
           ssl_verify 'false', ca_file '/etc/ssl/certs/ca-certificates.crt',
           db_use_types 'cloudDataGuard, sync', language 'zh-cn');
CREATE SERVER local_http FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'http://[::1]:8080/drs', project_id 'p');
-- ALTER is validated against the resulting option list
ALTER SERVER good OPTIONS (DROP endpoint);
ALTER SERVER good OPTIONS (SET batch_size '1000');
ALTER SERVER good OPTIONS (SET batch_size '100');

-- options of the wrapper itself: there are none
ALTER FOREIGN DATA WRAPPER drs_fdw OPTIONS (ADD endpoint 'x');

-- ===================================================================
-- user mapping options: exactly one kind of credential
-- ===================================================================
CREATE USER MAPPING FOR PUBLIC SERVER good;
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (token '');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (token 'abc', user 'u');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (user 'u', password 'p');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (user 'u', domain 'd');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (password 'p', domain 'd');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (api_key 'k');
-- a secret in an invalid value is not echoed back
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (token E'secret\nvalue');
CREATE USER MAPPING FOR PUBLIC SERVER good OPTIONS (user 'u', password 'p', domain 'd');
ALTER USER MAPPING FOR PUBLIC SERVER good OPTIONS (ADD token 't');
ALTER USER MAPPING FOR PUBLIC SERVER good OPTIONS (DROP user, DROP password, DROP domain, ADD token 't');
DROP USER MAPPING FOR PUBLIC SERVER good;

-- ===================================================================
-- table and column options
-- ===================================================================
CREATE FOREIGN TABLE bad_t (id text) SERVER good OPTIONS (resource 'tasks');
CREATE FOREIGN TABLE bad_t (id text) SERVER good OPTIONS (table_name 'x');
CREATE FOREIGN TABLE bad_t (id text OPTIONS (json_path '')) SERVER good;
CREATE FOREIGN TABLE bad_t (id text OPTIONS (json_path 'a..b')) SERVER good;
CREATE FOREIGN TABLE bad_t (id text OPTIONS (json_path 'a[0]')) SERVER good;
CREATE FOREIGN TABLE bad_t (id text OPTIONS (column_name 'x')) SERVER good;
CREATE FOREIGN TABLE good_t (
  id text,
  whole jsonb OPTIONS (json_path '$'),
  src_ip text OPTIONS (json_path 'source_endpoint.ip'),
  first_shard jsonb OPTIONS (json_path 'source_sharding.0')
) SERVER good OPTIONS (resource 'jobs');
ALTER FOREIGN TABLE good_t OPTIONS (SET resource 'job_progress');
ALTER FOREIGN TABLE good_t ALTER COLUMN src_ip OPTIONS (SET json_path 'bad path');

-- ===================================================================
-- ca_file names a server file: superusers only
-- ===================================================================
CREATE ROLE drs_option_user;
GRANT USAGE ON FOREIGN DATA WRAPPER drs_fdw TO drs_option_user;
SET ROLE drs_option_user;
CREATE SERVER mine FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p', ca_file '/etc/passwd');
CREATE SERVER mine FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint 'https://drs.example.com', project_id 'p');
RESET ROLE;
DROP SERVER mine;

DROP FOREIGN TABLE good_t;
DROP SERVER good;
DROP SERVER local_http;
REVOKE USAGE ON FOREIGN DATA WRAPPER drs_fdw FROM drs_option_user;
DROP ROLE drs_option_user;
