#!/usr/bin/env python3
"""test_iam.py — IAM password authentication: a project-scoped token from
POST /v3/auth/tokens, cached per backend and user mapping until shortly
before it expires, fetched again once on a 401 from DRS, never looping,
never shown; token and password mappings side by side on one server."""
import time

from harness import (DOC_JOB_1, SIM_DOMAIN, SIM_PASSWORD, SIM_PROJECT, SIM_TOKEN, SIM_URL, SIM_USER,
                     calls, check, create_database, expect_error, psql, run, scalar, sim,
                     sim_config, sim_fault, sim_reset, test)

DB = "drs_it_iam"
BY_ID = f"SELECT id FROM drs.drs_jobs WHERE id = '{DOC_JOB_1}'"
PASSWORD_MAPPING = f"user '{SIM_USER}', password '{SIM_PASSWORD}', domain '{SIM_DOMAIN}'"


def setup():
    create_database(DB, user_mapping=PASSWORD_MAPPING)


@test
def token_requested_once_and_reused_across_queries():
    sim_reset()
    rows = psql(f"{BY_ID}; {BY_ID}; {BY_ID}; SELECT token_requests FROM drs_fdw_stats();", db=DB)
    check(rows[-1] == ["1"], rows)
    iam = calls("iam-token")
    check(len(iam) == 1, len(iam))
    body = iam[0]["body"]["auth"]
    check(body["identity"]["methods"] == ["password"], body)
    check(body["identity"]["password"]["user"]["name"] == SIM_USER, body)
    check(body["identity"]["password"]["user"]["domain"]["name"] == SIM_DOMAIN, body)
    check(body["scope"] == {"project": {"id": SIM_PROJECT}}, body["scope"])
    # the simulator logs the password as ***; the FDW sent the issued token
    check(body["identity"]["password"]["user"]["password"] == "***", "password not masked")
    auths = {c["auth"] for c in calls("batch-detail")}
    check(len(auths) == 1 and auths.pop().startswith("iam:"), auths)


@test
def each_backend_has_its_own_cache():
    sim_reset()
    psql(BY_ID, db=DB)
    psql(BY_ID, db=DB)
    check(len(calls("iam-token")) == 2, len(calls("iam-token")))


@test
def expiring_token_is_renewed_before_it_expires():
    sim_reset()
    sim_config(token_ttl=4)
    # renewed a quarter of the lifetime before expires_at: after ~3 s
    rows = psql(f"{BY_ID}; SELECT pg_sleep(1.5); {BY_ID}; SELECT pg_sleep(2); {BY_ID};"
                "SELECT token_requests FROM drs_fdw_stats();", db=DB)
    check(rows[-1] == ["2"], rows)
    statuses = [c["status"] for c in calls("batch-detail")]
    check(statuses == [200, 200, 200], f"no 401 expected, got {statuses}")


@test
def a_401_gets_one_new_token_and_one_retry():
    sim_reset()
    # within one session: query, revoke every issued token (as if expired), query again
    revoke = f"curl -s -X POST -d {{}} {SIM_URL}/_sim/tokens/revoke"
    rows = psql(f"""{BY_ID};
        COPY (SELECT 1) TO PROGRAM '{revoke}';
        {BY_ID};
        SELECT token_requests FROM drs_fdw_stats();""", db=DB)
    check(rows[-1] == ["2"], rows)
    check(rows[1] == [DOC_JOB_1], rows)
    statuses = [c["status"] for c in calls("batch-detail")]
    check(statuses == [200, 401, 200], statuses)
    check(len(calls("iam-token")) == 2, len(calls("iam-token")))


@test
def a_second_401_is_an_error_not_a_loop():
    sim_reset()
    sim_fault(endpoint="batch-detail", status=401, times=-1,
              json={"error_code": "APIGW.0307", "error_msg": "The token must be updated."})
    err = expect_error(lambda: psql(BY_ID, db=DB), sqlstate="28000", contains="APIGW.0307")
    check(len(calls("batch-detail")) == 2, len(calls("batch-detail")))
    check(len(calls("iam-token")) == 2, len(calls("iam-token")))
    check("IAM user" in err.message, err.message)


@test
def a_403_is_not_retried_with_a_new_token():
    sim_reset()
    sim_fault(endpoint="batch-detail", status=403, times=-1,
              json={"error_code": "DRS.M00100", "error_msg": "Invalid token."})
    expect_error(lambda: psql(BY_ID, db=DB), sqlstate="28000", contains="DRS.M00100")
    check(len(calls("batch-detail")) == 1, len(calls("batch-detail")))
    check(len(calls("iam-token")) == 1, len(calls("iam-token")))


@test
def wrong_password_is_a_clear_error_without_the_password():
    sim_reset()
    psql("ALTER USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS (SET password 'wrong-pw-42')", db=DB)
    try:
        err = expect_error(lambda: psql(BY_ID, db=DB), sqlstate="28000")
        check("IAM authentication failed for user" in err.message, err.message)
        check("wrong-pw-42" not in err.message, "password in the message")
        check(len(calls("batch-detail")) == 0, "DRS called without a token")
    finally:
        psql(f"ALTER USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS (SET password '{SIM_PASSWORD}')",
             db=DB)


@test
def changing_the_user_mapping_drops_the_cached_token():
    sim_reset()
    rows = psql(f"""{BY_ID};
        ALTER USER MAPPING FOR CURRENT_USER SERVER drs OPTIONS (SET password '{SIM_PASSWORD}');
        {BY_ID};
        SELECT token_requests FROM drs_fdw_stats();""", db=DB)
    check(rows[-1] == ["2"], rows)


@test
def iam_failures_are_reported():
    for fault, sqlstate, text in (
            ({"status": 500, "json": {"error": {"code": 500, "message": "boom", "title": "x"}}},
             "HV000", "IAM token request failed with HTTP status 500"),
            ({"status": 201, "json": {"token": {}}}, "08P01", "no X-Subject-Token"),
            ({"drop": True, "times": -1}, "08006", "IAM API request failed")):
        sim_reset()
        sim_fault(endpoint="iam-token", **fault)
        expect_error(lambda: psql(BY_ID, db=DB), sqlstate=sqlstate, contains=text)


@test
def iam_endpoint_is_required_for_password_mappings():
    psql("""CREATE SERVER IF NOT EXISTS no_iam FOREIGN DATA WRAPPER drs_fdw
              OPTIONS (endpoint 'http://127.0.0.1:1', project_id 'p');
            CREATE USER MAPPING IF NOT EXISTS FOR CURRENT_USER SERVER no_iam
              OPTIONS (user 'u', password 'p', domain 'd');
            CREATE FOREIGN TABLE IF NOT EXISTS no_iam_jobs (id text) SERVER no_iam;""", db=DB)
    expect_error(lambda: psql("SELECT * FROM no_iam_jobs WHERE id = 'x'", db=DB),
                 sqlstate="HV00J", contains='needs option "iam_endpoint"')


@test
def token_and_password_mappings_coexist():
    psql(f"""DROP ROLE IF EXISTS drs_token_role;
        CREATE ROLE drs_token_role;
        GRANT USAGE ON SCHEMA drs TO drs_token_role;
        GRANT SELECT ON drs.drs_jobs TO drs_token_role;
        CREATE USER MAPPING FOR drs_token_role SERVER drs OPTIONS (token '{SIM_TOKEN}');""", db=DB)
    try:
        sim_reset()
        rows = psql(f"{BY_ID}; SET ROLE drs_token_role; {BY_ID}; RESET ROLE; {BY_ID};", db=DB)
        check(rows == [[DOC_JOB_1]] * 3, rows)
        auths = [c["auth"] for c in calls("batch-detail")]
        check(auths[0].startswith("iam:") and auths[1] == "static:0" and auths[2] == auths[0], auths)
        check(len(calls("iam-token")) == 1, len(calls("iam-token")))
    finally:
        psql("""DROP USER MAPPING FOR drs_token_role SERVER drs;
                REVOKE ALL ON drs.drs_jobs FROM drs_token_role;
                REVOKE ALL ON SCHEMA drs FROM drs_token_role;
                DROP ROLE drs_token_role;""", db=DB)


@test
def no_credential_in_the_server_log_at_debug5():
    logfile = psql("SELECT current_setting('data_directory')")[0][0]
    psql("ALTER SYSTEM SET log_min_messages = debug5; SELECT pg_reload_conf();")
    try:
        time.sleep(0.5)
        sim_reset()
        psql(f"SET client_min_messages = warning; {BY_ID};", db=DB)
        sim_fault(endpoint="batch-detail", status=401, times=-1,
                  json={"error_code": "APIGW.0307", "error_msg": "The token must be updated."})
        expect_error(lambda: psql(BY_ID, db=DB))
    finally:
        psql("ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();")
    # scripts/test.sh scans the server log for every canary; check here too
    import glob, os
    logs = glob.glob(os.path.join(os.path.dirname(logfile), "server.log"))
    for path in logs:
        text = open(path, errors="replace").read()
        check(SIM_PASSWORD not in text, "IAM password in the server log")
        check(SIM_TOKEN not in text, "static token in the server log")
        check("X-Auth-Token:" not in text, "a token header in the log")


if __name__ == "__main__":
    run("iam", setup=setup)
