#!/usr/bin/env python3
"""test_equivalence.py — pushdown never changes a result.

The simulator's data set is loaded into a local table converted by the
rules of DESIGN.md (epoch ms to timestamptz, secrets removed, ...), and a
corpus of queries runs against both the foreign table and the local one:
id lists with duplicates and NULLs, prepared statements with custom and
generic plans, init-plans, joins, LIKE and jsonb conditions, list filters,
and every LIMIT/OFFSET shape.  Results must be equal; for LIMIT without
ORDER BY (any rows are a right answer) the count must be equal and every row
must belong to the query without LIMIT."""
import json
import random

from harness import check, create_database, psql, run, sim, sim_reset, test

DB = "drs_it_equiv"
COLUMNS = [
    ("id", "text"), ("name", "text"), ("status", "text"), ("description", "text"),
    ("create_time", "timestamptz"), ("update_time", "timestamptz"),
    ("actual_start_time", "timestamptz"), ("full_transfer_complete_time", "timestamptz"),
    ("db_use_type", "text"), ("task_type", "text"), ("job_direction", "text"),
    ("is_target_readonly", "boolean"), ("need_restart", "boolean"),
    ("source_endpoint", "jsonb"), ("target_endpoint", "jsonb"), ("inst_info", "jsonb"),
    ("speed_limit", "jsonb"), ("node_num", "text"), ("error_code", "text"),
]
COLS = ", ".join(c for c, _ in COLUMNS)


def is_secret(key):
    k = key.lower()
    return ("password" in k or "passwd" in k or "secret" in k or k == "token"
            or (len(k) > 4 and k.endswith("_key")))


def redact(v):
    if isinstance(v, dict):
        return {k: redact(x) for k, x in v.items() if not is_secret(k)}
    if isinstance(v, list):
        return [redact(x) for x in v]
    return v


def sql_value(job, col, typ):
    v = job.get(col)
    if v is None:
        return "NULL"
    if typ == "timestamptz":
        ms = int(v)
        return "NULL" if ms == 0 else f"'epoch'::timestamptz + interval '{ms} milliseconds'"
    if typ == "boolean":
        return "true" if v in (True, "true") else "false"
    if typ == "jsonb":
        return "'" + json.dumps(redact(v)).replace("'", "''") + "'::jsonb"
    if not isinstance(v, str):
        v = json.dumps(v)
    return "'" + v.replace("'", "''") + "'"


IDS = []


def setup():
    sim_reset()
    create_database(DB)
    jobs = sim("GET", "/_sim/dataset")["jobs"]
    IDS.extend(j["id"] for j in jobs)
    rows = ",\n".join("(" + ", ".join(sql_value(j, c, t) for c, t in COLUMNS) + ")" for j in jobs)
    coldefs = ", ".join(f"{c} {t}" for c, t in COLUMNS)
    psql(f"""CREATE TABLE jobs_local ({coldefs});
        INSERT INTO jobs_local VALUES {rows};
        CREATE FOREIGN TABLE jobs_remote ({coldefs}) SERVER drs;
        CREATE TABLE inventory (job_id text, owner text);
        ANALYZE jobs_local;""", db=DB)
    rnd = random.Random(7)
    inv = rnd.sample(IDS, 12) + ["retired-1", "retired-2", None, IDS[0], IDS[1]]
    values = ", ".join("(" + ("NULL" if i is None else f"'{i}'") + f", 'owner{n % 3}')"
                       for n, i in enumerate(inv))
    psql(f"INSERT INTO inventory VALUES {values}; ANALYZE inventory;", db=DB)


def rows_of(sql, table):
    return psql(sql.replace("{t}", table), db=DB)


def same(sql):
    """Both tables give the same multiset of rows."""
    remote = sorted(rows_of(sql, "jobs_remote"))
    local = sorted(rows_of(sql, "jobs_local"))
    check(remote == local, f"differs: {sql}\n remote {len(remote)} rows, local {len(local)} rows"
                           f"\n first remote {remote[:3]}\n first local {local[:3]}")
    return remote


def window(sql, base):
    """LIMIT/OFFSET without ORDER BY: same count, rows drawn from the base."""
    remote = rows_of(sql, "jobs_remote")
    local = rows_of(sql, "jobs_local")
    pool = rows_of(base, "jobs_local")
    check(len(remote) == len(local), f"count {len(remote)} vs {len(local)}: {sql}")
    pool_left = sorted(pool)
    for r in remote:
        check(r in pool_left, f"row {r} not in the base result: {sql}")
        pool_left.remove(r)


def id_list(ids):
    return ", ".join("NULL" if i is None else "'" + i + "'" for i in ids)


@test
def full_scan_and_projections():
    check(len(same(f"SELECT {COLS} FROM {{t}}")) == len(IDS), "row count")
    same("SELECT id, name, status FROM {t}")
    same("SELECT count(*), count(DISTINCT status), min(create_time), max(update_time) FROM {t}")
    same("SELECT db_use_type, status, count(*) FROM {t} GROUP BY 1, 2")
    same("SELECT {t} IS NOT NULL FROM {t}".replace("{t} IS", "{t}.id IS"))


@test
def id_conditions():
    rnd = random.Random(11)
    some = rnd.sample(IDS, 30)
    same(f"SELECT {COLS} FROM {{t}} WHERE id = '{some[0]}'")
    same(f"SELECT id, name FROM {{t}} WHERE id IN ({id_list(some[:10] + some[:3] + [None, 'nope'])})")
    same(f"SELECT id FROM {{t}} WHERE id = ANY (ARRAY[{id_list(some + [None, None])}])")
    same(f"SELECT id FROM {{t}} WHERE id IN ({id_list(some[:20])}) AND id = ANY (ARRAY[{id_list(some[10:30])}])")
    same(f"SELECT id FROM {{t}} WHERE id = '{some[0]}' OR id = '{some[1]}' OR id = 'x'")
    same(f"SELECT id FROM {{t}} WHERE id IN ({id_list([None])})")
    same("SELECT id FROM {t} WHERE id = ANY ('{}'::text[])")
    same(f"SELECT id FROM {{t}} WHERE id = ANY (ARRAY[{id_list(IDS)}])")
    same(f"SELECT id, status FROM {{t}} WHERE id IN ({id_list(some[:15])}) AND status LIKE '%FAILED'")


@test
def list_filters_and_local_conditions():
    same("SELECT id FROM {t} WHERE status = 'CONFIGURATION'")
    same("SELECT id FROM {t} WHERE status IN ('CREATING', 'CREATE_FAILED', 'NO_SUCH_STATUS')")
    same("SELECT id FROM {t} WHERE db_use_type = 'sync'")
    same("SELECT id FROM {t} WHERE db_use_type IN ('sync', 'cloudDataGuard') AND status <> 'CREATING'")
    same("SELECT id FROM {t} WHERE db_use_type = 'backup'")
    same("SELECT id FROM {t} WHERE status = 'CREATING' AND status = 'CONFIGURATION'")
    same("SELECT id, name FROM {t} WHERE status LIKE '%FAILED'")
    same("SELECT id FROM {t} WHERE name ILIKE '%db%' OR description LIKE '%ü%'")
    same("SELECT id FROM {t} WHERE source_endpoint->>'db_type' = 'mysql' AND (inst_info->>'volume_size')::int > 50")
    same("SELECT id FROM {t} WHERE source_endpoint @> '{\"ssl_link\": false}'")
    same("SELECT id FROM {t} WHERE jsonb_array_length(speed_limit) > 0")
    same("SELECT id FROM {t} WHERE create_time > '2025-01-01' AND full_transfer_complete_time IS NULL")
    same("SELECT id FROM {t} WHERE is_target_readonly AND NOT need_restart")
    same("SELECT id FROM {t} WHERE error_code IS NOT NULL")


@test
def prepared_statements_custom_and_generic():
    rnd = random.Random(13)
    ids = rnd.sample(IDS, 6)
    for mode in ("force_custom_plan", "force_generic_plan"):
        sql = (f"SET plan_cache_mode = {mode};"
               "PREPARE one(text) AS SELECT id, name FROM {t} WHERE id = $1;"
               "PREPARE many(text[]) AS SELECT id FROM {t} WHERE id = ANY ($1);"
               "PREPARE st(text) AS SELECT id FROM {t} WHERE status = $1;"
               "PREPARE page(bigint, bigint) AS SELECT count(*) FROM (SELECT id FROM {t} LIMIT $1 OFFSET $2) s;"
               f"EXECUTE one('{ids[0]}'); EXECUTE one(NULL); EXECUTE one('nope');"
               f"EXECUTE many(ARRAY[{id_list(ids + [None, ids[0]])}]); EXECUTE many(NULL);"
               "EXECUTE st('CONFIGURATION'); EXECUTE st('CREATE_FAILED');"
               "EXECUTE page(7, 3); EXECUTE page(1000, 245); EXECUTE page(NULL, 100); EXECUTE page(0, 0);")
        same(sql)


@test
def init_plans_and_joins():
    same("SELECT id, name FROM {t} WHERE id = ANY (ARRAY(SELECT job_id FROM inventory))")
    same("SELECT i.owner, t.name FROM inventory i JOIN {t} t ON t.id = i.job_id")
    same("SELECT i.owner, t.status FROM inventory i LEFT JOIN {t} t ON t.id = i.job_id")
    same("SELECT t.id FROM {t} t WHERE t.id IN (SELECT job_id FROM inventory WHERE owner = 'owner1')")
    same("SELECT t.id FROM {t} t WHERE EXISTS (SELECT 1 FROM inventory i WHERE i.job_id = t.id)")
    same("SELECT x.name FROM inventory i, LATERAL (SELECT name FROM {t} WHERE id = i.job_id) x")
    same("SELECT count(*) FROM {t} a JOIN {t} b ON a.id = b.id WHERE a.status LIKE 'FULL%'")
    same("SELECT name FROM {t} WHERE id = (SELECT job_id FROM inventory WHERE job_id IS NOT NULL"
         " ORDER BY job_id LIMIT 1)")
    for setting in ("enable_hashjoin", "enable_mergejoin", "enable_memoize"):
        same(f"SET {setting} = off; SELECT i.owner, t.name FROM inventory i JOIN {{t}} t ON t.id = i.job_id")


@test
def limit_offset_shapes():
    base = "SELECT id, name, create_time FROM {t}"
    for n, m in ((5, 0), (5, 10), (5, 7), (1, 150), (10, 145), (3, 149), (60, 150), (180, 3),
                 (100, 100), (250, 0), (1000, 0), (5, 249), (5, 250), (5, 1000), (0, 0), (0, 10)):
        window(f"{base} LIMIT {n} OFFSET {m}", base)
    window(f"{base} OFFSET 240", base)
    window(f"{base} LIMIT ALL OFFSET 3", base)
    window("SELECT id, name FROM {t} LIMIT 7 OFFSET 20", "SELECT id, name FROM {t}")
    window("SELECT count(*) FROM (SELECT id FROM {t} LIMIT 33 OFFSET 17) s",
           "SELECT count(*) FROM (SELECT id FROM {t} LIMIT 33 OFFSET 17) s")

    rnd = random.Random(17)
    ids = rnd.sample(IDS, 40)
    with_unknown = ids[:5] + ["u1"] + ids[5:12] + ["u2", "u3"] + ids[12:20] + [None] + ids[:3]
    for lst in (ids, with_unknown, ["u1", "u2", ids[0], "u3", ids[1]]):
        b = f"SELECT id, name FROM {{t}} WHERE id IN ({id_list(lst)})"
        for n, m in ((5, 0), (5, 10), (3, 4), (1, 0), (10, 30), (5, 38), (100, 0), (2, 1), (0, 3)):
            window(f"{b} LIMIT {n} OFFSET {m}", b)
    # ORDER BY with LIMIT is exact
    same("SELECT id, name FROM {t} ORDER BY id LIMIT 5 OFFSET 12")
    same(f"SELECT id FROM {{t}} WHERE id IN ({id_list(with_unknown)}) ORDER BY id DESC LIMIT 4 OFFSET 2")
    same("SELECT status, count(*) FROM {t} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3")
    same("SELECT DISTINCT db_use_type FROM {t} LIMIT 10")
    window("SELECT id FROM {t} WHERE status LIKE 'FULL%' LIMIT 4", "SELECT id FROM {t} WHERE status LIKE 'FULL%'")


@test
def with_a_small_batch_and_page_size():
    psql("ALTER SERVER drs OPTIONS (ADD batch_size '7', ADD page_size '9')", db=DB)
    try:
        same(f"SELECT {COLS} FROM {{t}}")
        same(f"SELECT id FROM {{t}} WHERE id = ANY (ARRAY[{id_list(IDS[:50] + ['x', None])}])")
        base = "SELECT id, name, update_time FROM {t}"
        for n, m in ((5, 0), (20, 4), (13, 140), (40, 200), (7, 248)):
            window(f"{base} LIMIT {n} OFFSET {m}", base)
        b = f"SELECT id, update_time FROM {{t}} WHERE id IN ({id_list(IDS[:30] + ['x1', 'x2'])})"
        for n, m in ((5, 0), (9, 6), (3, 28), (40, 0)):
            window(f"{b} LIMIT {n} OFFSET {m}", b)
    finally:
        psql("ALTER SERVER drs OPTIONS (DROP batch_size, DROP page_size)", db=DB)


if __name__ == "__main__":
    run("equivalence", setup=setup)
