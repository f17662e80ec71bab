--
-- types: a column's value is the JSON value at its json_path, converted to
-- the column's type by the rules of DESIGN.md
--
CALL sim.reset();

-- a job crafted to exercise every rule, secrets included (POST /_sim/jobs
-- stores it as given); read from a file so that its secrets are not echoed
\set conversion_job `cat test/data/conversion_job.json`
SELECT sim.http('POST', '/_sim/jobs', :'conversion_job'::jsonb)->'ok' AS added;

CREATE FOREIGN TABLE conv (
  id text,
  name varchar(40),
  description text,
  create_time timestamptz,
  update_time timestamptz,
  actual_start_time timestamptz,
  full_transfer_complete_time timestamptz,
  create_ts timestamp OPTIONS (json_path 'create_time'),
  create_date date OPTIONS (json_path 'create_time'),
  node_num_text text OPTIONS (json_path 'node_num'),
  node_num_int int OPTIONS (json_path 'node_num'),
  need_restart boolean,
  is_target_readonly boolean,
  multi_write boolean,
  missing_key text,
  speed_limit jsonb,
  speed_limit_json json OPTIONS (json_path 'speed_limit'),
  source_endpoint jsonb,
  source_endpoint_text text OPTIONS (json_path 'source_endpoint'),
  src_ip inet OPTIONS (json_path 'source_endpoint.ip'),
  src_port int OPTIONS (json_path 'source_endpoint.db_port'),
  src_ssl boolean OPTIONS (json_path 'source_endpoint.ssl_link'),
  src_password text OPTIONS (json_path 'source_endpoint.db_password'),
  src_nested_key text OPTIONS (json_path 'source_endpoint.nested.ssl_cert_key'),
  second_shard_ip text OPTIONS (json_path 'source_sharding.1.ip'),
  shards jsonb OPTIONS (json_path 'source_sharding'),
  engine text OPTIONS (json_path 'inst_info.engine_type'),
  volume numeric OPTIONS (json_path 'inst_info.volume_size'),
  inst_start timestamptz OPTIONS (json_path 'inst_info.start_time'),
  big numeric OPTIONS (json_path 'big_number'),
  big_text text OPTIONS (json_path 'big_number'),
  flt float8 OPTIONS (json_path 'float_number'),
  num_str numeric(10,3) OPTIONS (json_path 'numeric_string'),
  text_time timestamptz OPTIONS (json_path 'text_time'),
  negative_time timestamptz OPTIONS (json_path 'negative_time'),
  ip_list inet[] OPTIONS (json_path 'ip_list'),
  tags jsonb,
  whole jsonb OPTIONS (json_path '$')
) SERVER drs_sim;

\x on
SELECT * FROM conv WHERE id = 'conv-0000-0000-0000-00000000jb1';
\x off

-- the whole job as jsonb: every secret key gone, at any depth
SELECT whole ?| ARRAY['id', 'name'] AS has_fields,
       whole::text LIKE '%CANARY%' AS leaks,
       whole->'source_endpoint'->'nested' AS nested,
       jsonb_path_query_array(whole, '$.source_sharding[*].keyvalue().key') AS shard_keys
  FROM conv WHERE id = 'conv-0000-0000-0000-00000000jb1';

-- epoch milliseconds are UTC; timestamp and date follow the session time zone
SET timezone = 'Asia/Shanghai';
SELECT create_time, create_ts, create_date FROM conv WHERE id = 'conv-0000-0000-0000-00000000jb1';
RESET timezone;

-- ===================================================================
-- a value that does not convert: the error names column, job and value
-- ===================================================================
CREATE FOREIGN TABLE conv_bad (
  id text,
  bad_int int OPTIONS (json_path 'not_a_number'),
  obj_int int OPTIONS (json_path 'source_endpoint'),
  arr_bool boolean OPTIONS (json_path 'speed_limit'),
  overflow int OPTIONS (json_path 'big_number'),
  bad_time timestamptz OPTIONS (json_path 'name')
) SERVER drs_sim;
SELECT bad_int FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';
-- the value quoted in the error has its secrets removed too
SELECT obj_int FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';
SELECT arr_bool FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';
SELECT overflow FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';
SELECT bad_time FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';
-- columns that are not read are not converted
SELECT id FROM conv_bad WHERE id = 'conv-0000-0000-0000-00000000jb1';

-- ===================================================================
-- the documented example job, and the "declared types" of the API tables
-- ===================================================================
CREATE FOREIGN TABLE doc_types (
  id text,
  create_time timestamptz,
  full_transfer_complete_time timestamptz,
  ssl_link boolean OPTIONS (json_path 'source_endpoint.ssl_link'),
  start_time timestamptz OPTIONS (json_path 'inst_info.start_time'),
  inst_status text OPTIONS (json_path 'inst_info.status'),
  node_num int,
  db_port int OPTIONS (json_path 'source_endpoint.db_port')
) SERVER drs_sim;
SELECT * FROM doc_types WHERE id = ANY (ARRAY(SELECT id FROM doc_ids)) ORDER BY id;
CALL sim.config('{"types": "declared"}');
SELECT count(*), count(ssl_link) AS ssl_link_set, bool_or(ssl_link) AS any_ssl,
       count(start_time) AS start_time_set, count(node_num) AS node_num_set
  FROM doc_types;
CALL sim.reset();
SELECT count(*), count(ssl_link) AS ssl_link_set, count(node_num) AS node_num_set FROM doc_types;

DROP FOREIGN TABLE conv, conv_bad, doc_types;
