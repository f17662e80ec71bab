#!/usr/bin/env bash
# scripts/demo.sh — from a fresh Debian 12 machine to SQL over DRS jobs.
#
# Installs what drs_fdw needs (apt-get, as root), builds and installs it,
# starts a throw-away PostgreSQL 15 cluster and the DRS simulator, runs a
# few example queries, and stops both again.  With --keep the cluster and
# simulator stay up and the script prints how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

keep=0
[ "${1:-}" = "--keep" ] && keep=1

install_deps
build_install

WORK=$(mktemp -d /tmp/drs_fdw_demo.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	if [ $keep -eq 0 ]; then
		stop_sim "$WORK/sim"
		stop_cluster "$WORK/pg"
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
start_cluster "$WORK/pg"
start_sim "$WORK/sim" --jobs 40

run_sql() { psql -X -v ON_ERROR_STOP=1 -v sim_url="$DRS_SIM_URL" -v sim_project="$DRS_SIM_PROJECT" \
	-v sim_token="$DRS_SIM_TOKEN" "$@"; }

run_sql -a <<'SQL'
CREATE EXTENSION drs_fdw;
CREATE SERVER drs FOREIGN DATA WRAPPER drs_fdw
  OPTIONS (endpoint :'sim_url', project_id :'sim_project');
CREATE USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS (token :'sim_token');
CREATE SCHEMA drs;
IMPORT FOREIGN SCHEMA drs FROM SERVER drs INTO drs;

-- every job, by scenario and state
SELECT db_use_type, status, count(*) FROM drs.drs_jobs GROUP BY 1, 2 ORDER BY 1, 2;

-- the failed ones, with their source database
SELECT name, status, source_endpoint->>'ip' AS source_ip, update_time
  FROM drs.drs_jobs WHERE status LIKE '%FAILED' ORDER BY update_time DESC LIMIT 5;

-- one job by id: a single batch-detail call
EXPLAIN (VERBOSE, COSTS OFF)
  SELECT name, status FROM drs.drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';
SELECT name, status, create_time, inst_info->>'engine_type' AS engine
  FROM drs.drs_jobs WHERE id = '24834eb6-be30-464e-a299-f7aa730jb101';

-- join with your own inventory
CREATE TABLE my_jobs (job_id text PRIMARY KEY, owner text);
INSERT INTO my_jobs VALUES ('24834eb6-be30-464e-a299-f7aa730jb101', 'alice'),
                           ('140b5236-88ad-43c8-811c-1268453jb101', 'bob');
SELECT m.owner, d.name, d.status
  FROM my_jobs m JOIN drs.drs_jobs d ON d.id = m.job_id ORDER BY 1;

-- what it cost
SELECT * FROM drs_fdw_stats();
SQL

if [ $keep -eq 1 ]; then
	echo
	echo "cluster and simulator keep running:"
	echo "  PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER psql"
	echo "  simulator: $DRS_SIM_URL (pid $(cat "$WORK/sim/sim.pid"))"
	echo "  stop: kill \$(cat $WORK/sim/sim.pid); $(pg_bindir)/pg_ctl -D $WORK/pg/data stop"
fi
