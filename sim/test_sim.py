#!/usr/bin/python3
"""Tests of the DRS/IAM simulator (sim/drs_sim.py): python3 sim/test_sim.py

Starts the simulator as a subprocess on an ephemeral port (--port 0 --port-file),
talks to it with http.client, and stops it by its pid.  Standard library only.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_PY = os.path.join(HERE, "drs_sim.py")
PID = "0123456789abcdef0123456789abcdef"
STATIC = "tok-CANARY-static-0001"
USER, PASSWORD, DOMAIN = "drs_user", "pw-CANARY-iam", "drs_domain"
DOC1 = "24834eb6-be30-464e-a299-f7aa730jb101"
DOC2 = "140b5236-88ad-43c8-811c-1268453jb101"
ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{6,10}jb[0-9]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{4,50}$")
STATUSES = (
    "CREATING", "CREATE_FAILED", "CONFIGURATION", "STARTJOBING", "WAITING_FOR_START",
    "START_JOB_FAILED", "PAUSING", "FULL_TRANSFER_STARTED", "FULL_TRANSFER_FAILED",
    "FULL_TRANSFER_COMPLETE", "INCRE_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED",
    "RELEASE_RESOURCE_STARTED", "RELEASE_RESOURCE_FAILED", "RELEASE_RESOURCE_COMPLETE",
    "CHANGE_JOB_STARTED", "CHANGE_JOB_FAILED", "CHILD_TRANSFER_STARTING",
    "CHILD_TRANSFER_STARTED", "CHILD_TRANSFER_COMPLETE", "CHILD_TRANSFER_FAILED",
    "RELEASE_CHILD_TRANSFER_STARTED", "RELEASE_CHILD_TRANSFER_COMPLETE")
JOBINFO_KEYS = {"id", "name", "status", "description", "create_time", "engine_type",
                "net_type", "billing_tag", "job_direction", "db_use_type", "task_type",
                "node_newFramework", "children"}
QUERYJOBRESP = ("id", "parent_id", "name", "status", "description", "create_time", "task_type",
                "source_endpoint", "target_endpoint", "net_type", "failed_reason", "inst_info",
                "actual_start_time", "update_time", "job_direction", "db_use_type",
                "need_restart", "is_target_readonly", "conflict_policy", "filter_ddl_policy",
                "speed_limit", "schema_type", "node_num", "object_switch", "master_job_id",
                "full_mode", "struct_trans", "index_trans", "replace_definer", "migrate_user",
                "sync_database", "az_code", "vpc_id", "subnet_id", "security_group_id",
                "multi_write", "support_ip_v6", "inherit_id", "gtid", "alarm_notify",
                "is_multi_az", "az_name", "master_az", "slave_az", "node_role",
                "incre_start_position")
SECRETS = ("db_password", "ssl_cert_password", "ssl_cert_key")


class SimProcess:
    """One simulator subprocess on an ephemeral port."""

    def __init__(self, *args, timeout=20):
        self.dir = tempfile.mkdtemp(prefix="drs_sim_test_")
        self.port_file = os.path.join(self.dir, "port")
        self.pid_file = os.path.join(self.dir, "pid")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, SIM_PY, "--port", "0", "--port-file", self.port_file,
             "--pid-file", self.pid_file, "--quiet"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited: %r" % (self.proc.communicate(),))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        self.startup_s = time.monotonic() - self.t_start
        with open(self.port_file) as f:
            self.port = int(f.read())
        with open(self.pid_file) as f:
            self.pid = int(f.read())
        self.scheme = "http"
        self.ssl_context = None

    def conn(self, timeout=10):
        if self.scheme == "https":
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        c = conn or self.conn()
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, r, data
        finally:
            if own:
                c.close()

    def ctl(self, method, path, obj=None):
        st, _r, data = self.request(method, "/_sim/" + path, obj)
        return st, json.loads(data)

    def api(self, endpoint, obj, token=STATIC, ctype="application/json", pid=PID,
            headers=None, conn=None):
        path = "/v3/%s/jobs%s" % (pid, "" if endpoint == "list" else "/" + endpoint)
        h = {}
        if ctype is not None:
            h["Content-Type"] = ctype
        if token is not None:
            h["X-Auth-Token"] = token
        h.update(headers or {})
        st, r, data = self.request("POST", path, obj, h, conn)
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        return st, parsed, r, data

    def iam(self, user=USER, password=PASSWORD, domain=DOMAIN, scope=None, query="",
            ctype="application/json;charset=utf8", raw=None):
        body = raw if raw is not None else {"auth": {
            "identity": {"methods": ["password"],
                         "password": {"user": {"name": user, "password": password,
                                               "domain": {"name": domain}}}},
            "scope": scope if scope is not None else {"project": {"id": PID}}}}
        h = {"Content-Type": ctype} if ctype else {}
        st, r, data = self.request("POST", "/v3/auth/tokens" + query, body, h)
        return st, r.getheader("X-Subject-Token"), json.loads(data) if data else None

    def stop(self):
        os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


SIM = None


def setUpModule():
    global SIM
    SIM = SimProcess()


def tearDownModule():
    if SIM is not None:
        SIM.stop()


class Base(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.assertEqual(SIM.ctl("POST", "reset")[0], 200)

    def cfg(self, **kw):
        st, body = SIM.ctl("POST", "config", kw)
        self.assertEqual(st, 200, body)
        return body

    def dataset(self, **q):
        qs = "&".join("%s=%s" % kv for kv in q.items())
        st, body = SIM.ctl("GET", "dataset" + ("?" + qs if qs else ""))
        self.assertEqual(st, 200)
        return body["jobs"]

    def details(self, ids):
        out = {}
        for k in range(0, len(ids), 100):
            st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids[k:k + 100],
                                                        "page_req": {"cur_page": 1,
                                                                     "per_page": 0}})
            self.assertEqual(st, 200, body)
            for j in body["results"]:
                out[j["id"]] = j
        return out

    def full_list(self, dbu, **filters):
        body = dict(cur_page=0, per_page=0, db_use_type=dbu, **filters)
        st, resp, _r, _d = SIM.api("list", body)
        self.assertEqual(st, 200, resp)
        return resp

    def log(self, since=0):
        st, body = SIM.ctl("GET", "log?since=%d" % since)
        self.assertEqual(st, 200)
        return body

    def assertError(self, st, body, status, code):
        self.assertEqual(st, status, body)
        self.assertEqual(body.get("error_code"), code, body)
        self.assertIsInstance(body.get("error_msg"), str)


# ---------------------------------------------------------------- IAM

class TestIAM(Base):
    def test_password_token_project_id(self):
        st, tok, body = SIM.iam()
        self.assertEqual(st, 201)
        self.assertTrue(7000 <= len(tok) <= 9000, len(tok))
        for ch in "+/=-":
            self.assertIn(ch, tok)
        t = body["token"]
        iso = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"
        self.assertRegex(t["expires_at"], iso)
        self.assertRegex(t["issued_at"], iso)
        self.assertEqual(t["methods"], ["password"])
        self.assertEqual(t["project"]["id"], PID)
        self.assertEqual(t["project"]["name"], "eu-de")
        self.assertEqual(t["user"]["name"], USER)
        self.assertEqual(t["user"]["domain"]["name"], DOMAIN)
        self.assertIn("catalog", t)
        self.assertTrue(t["roles"])
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
        import datetime
        delta = (datetime.datetime.strptime(t["expires_at"], fmt)
                 - datetime.datetime.strptime(t["issued_at"], fmt)).total_seconds()
        self.assertAlmostEqual(delta, 86400, delta=1)
        st, body, _r, _d = SIM.api("batch-status", {"jobs": [DOC1]}, token=tok)
        self.assertEqual(st, 200, body)
        entries = self.log()["requests"]
        self.assertEqual(entries[0]["endpoint"], "iam-token")
        self.assertEqual(entries[0]["status"], 201)
        self.assertRegex(entries[1]["auth"], r"^iam:\d+$")
        self.assertEqual(SIM.ctl("GET", "stats")[1]["tokens_issued"], 1)

    def test_tokens_unique_and_nocatalog(self):
        _st, t1, b1 = SIM.iam()
        st, t2, b2 = SIM.iam(query="?nocatalog=true")
        self.assertEqual(st, 201)
        self.assertNotEqual(t1, t2)
        self.assertIn("catalog", b1["token"])
        self.assertNotIn("catalog", b2["token"])
        _st, _t3, b3 = SIM.iam(query="?nocatalog=")
        self.assertIn("catalog", b3["token"])

    def test_project_name_scope(self):
        st, tok, body = SIM.iam(scope={"project": {"name": "eu-de"}})
        self.assertEqual(st, 201)
        self.assertEqual(body["token"]["project"]["id"], PID)
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"}, token=tok)[0], 200)
        st, tok, body = SIM.iam(scope={"project": {"name": "eu-nl"}})
        self.assertEqual(st, 401)
        st, tok, body = SIM.iam(scope={"project": {"id": "f" * 32}})
        self.assertEqual(st, 401)

    def test_wrong_credentials_401(self):
        for kw in ({"password": "wrong"}, {"user": "nobody"}, {"domain": "other"}):
            st, tok, body = SIM.iam(**kw)
            self.assertEqual(st, 401, kw)
            self.assertIsNone(tok)
            self.assertEqual(body["error"]["code"], 401)
            self.assertEqual(body["error"]["title"], "Unauthorized")
            self.assertIsInstance(body["error"]["message"], str)

    def test_malformed_400(self):
        for raw in ('{"auth": ', '[]', '{"auth": {"identity": {"methods": ["password"]}}}',
                    '{"auth": {"identity": {"methods": ["token"], "password": {}}}}'):
            st, tok, body = SIM.iam(raw=raw)
            self.assertEqual(st, 400, raw)
            self.assertEqual(body["error"]["code"], 400)

    def test_content_type(self):
        self.assertEqual(SIM.iam(ctype="application/json")[0], 201)
        self.assertEqual(SIM.iam(ctype="application/json;charset=utf8")[0], 201)
        self.assertEqual(SIM.iam(ctype="text/plain")[0], 415)
        self.assertEqual(SIM.iam(ctype=None)[0], 415)

    def test_domain_scoped_token_is_refused_by_drs(self):
        st, tok, body = SIM.iam(scope={"domain": {"name": DOMAIN}})
        self.assertEqual(st, 201)
        self.assertNotIn("project", body["token"])
        self.assertEqual(body["token"]["domain"]["name"], DOMAIN)
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, token=tok)
        self.assertError(st, body, 403, "DRS.M00261")

    def test_token_ttl_expiry(self):
        self.cfg(token_ttl=1)
        st, tok, _b = SIM.iam()
        self.assertEqual(SIM.api("batch-status", {"jobs": [DOC1]}, token=tok)[0], 200)
        time.sleep(1.2)
        st, body, _r, _d = SIM.api("batch-status", {"jobs": [DOC1]}, token=tok)
        self.assertError(st, body, 401, "APIGW.0307")

    def test_verify_token(self):
        _st, tok, _b = SIM.iam()
        st, _r, _d = SIM.request("HEAD", "/v3/auth/tokens", None,
                                 {"X-Auth-Token": tok, "X-Subject-Token": tok})
        self.assertEqual(st, 200)
        st, _r, _d = SIM.request("GET", "/v3/auth/tokens", None,
                                 {"X-Auth-Token": tok, "X-Subject-Token": "bogus"})
        self.assertEqual(st, 404)


# ---------------------------------------------------------------- auth and common rules

class TestAuthAndHeaders(Base):
    def test_missing_token(self):
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, token=None)
        self.assertError(st, body, 401, "APIGW.0301")
        self.assertEqual(self.log()["requests"][0]["auth"], "none")

    def test_unknown_token(self):
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, token="bogus")
        self.assertError(st, body, 401, "APIGW.0307")
        self.assertEqual(body["error_msg"], "The token must be updated.")
        self.assertRegex(body["request_id"], r"^[0-9a-f]{32}$")
        self.assertEqual(self.log()["requests"][0]["auth"], "invalid")

    def test_invalid_token_403_switch(self):
        self.cfg(invalid_token_status=403)
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, token="bogus")
        self.assertError(st, body, 403, "DRS.M00100")
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, token=None)
        self.assertError(st, body, 401, "APIGW.0301")

    def test_revoke(self):
        _st, old, _b = SIM.iam()
        st, body = SIM.ctl("POST", "tokens/revoke", {})
        self.assertEqual(st, 200)
        self.assertError(*SIM.api("list", {"db_use_type": "sync"}, token=old)[:2],
                         401, "APIGW.0307")
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)   # static
        _st, new, _b = SIM.iam()
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"}, token=new)[0], 200)
        SIM.ctl("POST", "tokens/revoke", {"static": True})
        self.assertError(*SIM.api("list", {"db_use_type": "sync"})[:2], 401, "APIGW.0307")
        SIM.ctl("POST", "reset")
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)
        # reset does not resurrect revoked IAM tokens
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"}, token=old)[0], 401)

    def test_project_mismatch(self):
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, pid="f" * 32)
        self.assertError(st, body, 403, "DRS.M00261")

    def test_content_type_rules(self):
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"},
                                 ctype="application/json; charset=UTF-8")[0], 200)
        for ct in ("text/plain", None, "application/x-www-form-urlencoded"):
            st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"}, ctype=ct)
            self.assertEqual(st, 415, ct)
            self.assertIn("error_code", body)

    def test_response_headers(self):
        st, body, r, data = SIM.api("list", {"db_use_type": "sync"})
        self.assertEqual(r.getheader("Content-Type"), "application/json;charset=UTF-8")
        self.assertEqual(int(r.getheader("Content-Length")), len(data))

    def test_x_language(self):
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"},
                                   headers={"X-Language": "zh-cn"})
        self.assertEqual(st, 200)
        st, body, _r, _d = SIM.api("list", {}, headers={"X-Language": "zh-cn"})
        self.assertError(st, body, 400, "DRS.M00201")
        SIM.api("list", {"db_use_type": "sync"})
        langs = [e["language"] for e in self.log()["requests"]]
        self.assertEqual(langs, ["zh-cn", "zh-cn", None])

    def test_unknown_path_and_method(self):
        st, _r, data = SIM.request("POST", "/v3/%s/jobs/nothing" % PID, "{}",
                                   {"Content-Type": "application/json",
                                    "X-Auth-Token": STATIC})
        self.assertError(st, json.loads(data), 404, "APIGW.0101")
        st, _r, data = SIM.request("POST", "/drs/v3/%s/jobs/batch-progress" % PID, "{}",
                                   {"Content-Type": "application/json"})
        self.assertEqual(st, 404)
        st, r, data = SIM.request("GET", "/v3/%s/jobs/batch-detail" % PID, None,
                                  {"X-Auth-Token": STATIC})
        self.assertEqual(st, 405)
        self.assertIn("error_code", json.loads(data))
        self.assertEqual(r.getheader("Allow"), "POST")
        self.assertEqual(SIM.request("DELETE", "/v3/auth/tokens")[0], 405)
        eps = [e["endpoint"] for e in self.log()["requests"]]
        self.assertEqual(eps, ["other", "other", "batch-detail", "iam-token"])


# ---------------------------------------------------------------- task list

class TestList(Base):
    def test_db_use_type_required(self):
        self.assertError(*SIM.api("list", {"cur_page": 1, "per_page": 10})[:2],
                         400, "DRS.M00201")
        self.assertError(*SIM.api("list", {"db_use_type": ""})[:2], 400, "DRS.M00201")
        self.assertError(*SIM.api("list", {"db_use_type": "backup"})[:2], 400, "DRS.M00202")
        self.assertError(*SIM.api("list", "{bad")[:2], 400, "DRS.M00007")

    def test_totals_and_distribution(self):
        totals = {u: self.full_list(u)["total_record"]
                  for u in ("migration", "sync", "cloudDataGuard")}
        self.assertEqual(sum(totals.values()), 250)
        self.assertTrue(0.5 <= totals["migration"] / 250 <= 0.72, totals)
        self.assertTrue(0.15 <= totals["sync"] / 250 <= 0.35, totals)
        self.assertTrue(0.07 <= totals["cloudDataGuard"] / 250 <= 0.25, totals)

    def test_order_and_paging(self):
        full = self.full_list("migration")
        ids = [j["id"] for j in full["jobs"]]
        self.assertEqual(len(ids), full["total_record"])
        ds = self.dataset(db_use_type="migration")
        self.assertEqual(ids, [j["id"] for j in ds])
        keys = [(-int(j["create_time"]), j["id"]) for j in ds]
        self.assertEqual(keys, sorted(keys))
        times = [j["create_time"] for j in full["jobs"]]
        self.assertEqual(times, sorted(times, reverse=True))
        paged, page = [], 1
        while True:
            st, body, _r, _d = SIM.api("list", {"db_use_type": "migration", "cur_page": page,
                                                "per_page": 17})
            self.assertEqual(st, 200)
            self.assertEqual(body["total_record"], len(ids))
            if not body["jobs"]:
                break
            paged += [j["id"] for j in body["jobs"]]
            page += 1
        self.assertEqual(paged, ids)
        self.assertEqual(page, -(-len(ids) // 17) + 1)     # the page past the end is empty
        st, body, _r, _d = SIM.api("list", {"db_use_type": "migration"})    # defaults 1/10
        self.assertEqual([j["id"] for j in body["jobs"]], ids[:10])
        st, body, _r, _d = SIM.api("list", {"db_use_type": "migration", "cur_page": 0,
                                            "per_page": 3})
        self.assertEqual(len(body["jobs"]), len(ids))

    def test_page_errors(self):
        for cur, per in ((1, 0), (1, 101), (1, -1), (-1, 10), (2, 0)):
            st, body, _r, _d = SIM.api("list", {"db_use_type": "sync", "cur_page": cur,
                                                "per_page": per})
            self.assertError(st, body, 400, "DRS.M00210")
        for cur, per in (("1", 10), (1, "10"), (1.5, 10), (True, 10)):
            st, body, _r, _d = SIM.api("list", {"db_use_type": "sync", "cur_page": cur,
                                                "per_page": per})
            self.assertError(st, body, 400, "DRS.M00202")
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync", "cur_page": 1,
                                            "per_page": 100})
        self.assertEqual(st, 200)
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync", "cur_page": 999,
                                            "per_page": 100})
        self.assertEqual(st, 200)
        self.assertEqual(body["jobs"], [])
        self.assertGreater(body["total_record"], 0)

    def test_filters(self):
        full = self.full_list("migration")["jobs"]
        # documented example: empty strings mean no filter
        st, body, _r, _d = SIM.api("list", {"cur_page": 0, "db_use_type": "migration",
                                            "engine_type": "", "name": "", "net_type": "",
                                            "per_page": 5, "status": ""})
        self.assertEqual(body["total_record"], len(full))
        for key in ("status", "engine_type", "net_type"):
            value = full[3][key]
            got = self.full_list("migration", **{key: value})
            want = [j["id"] for j in full if j[key] == value]
            self.assertEqual([j["id"] for j in got["jobs"]], want, key)
            self.assertEqual(got["total_record"], len(want))
        name = full[5]["name"]
        sub = name[1:-1].swapcase()
        got = self.full_list("migration", name=sub)
        want = [j["id"] for j in full if sub.lower() in j["name"].lower()]
        self.assertEqual([j["id"] for j in got["jobs"]], want)
        self.assertIn(full[5]["id"], want)
        got = self.full_list("migration", name=full[7]["id"])
        self.assertEqual([j["id"] for j in got["jobs"]], [full[7]["id"]])
        got = self.full_list("migration", status="FULL_TRANSFER_FAILED", net_type="eip")
        self.assertEqual([j["id"] for j in got["jobs"]],
                         [j["id"] for j in full
                          if j["status"] == "FULL_TRANSFER_FAILED" and j["net_type"] == "eip"])
        self.assertEqual(self.full_list("migration", status="NOPE")["total_record"], 0)
        st, body, _r, _d = SIM.api("list", {"db_use_type": "migration", "status": 3})
        self.assertError(st, body, 400, "DRS.M00202")
        got = self.full_list("migration", tags=[{"key": "k", "value": "v"}])
        self.assertEqual(got["total_record"], 0)
        got = self.full_list("migration", tags=[], enterprise_project_id="0")
        self.assertEqual(got["total_record"], len(full))

    def test_engine_type_default_switch(self):
        self.cfg(engine_type_default="mysql")
        got = self.full_list("migration")
        self.assertTrue(all(j["engine_type"] == "mysql" for j in got["jobs"]))
        got2 = self.full_list("migration", engine_type="")
        self.assertGreater(got2["total_record"], got["total_record"])

    def test_doc_jobs_in_list(self):
        jobs = {j["id"]: j for j in self.full_list("migration")["jobs"]}
        j1, j2 = jobs[DOC1], jobs[DOC2]
        self.assertEqual(j1["create_time"], "2020-12-21 10:57:49")
        self.assertEqual(j2["create_time"], "2020-12-19 16:23:24")
        self.assertEqual(j1["status"], "STARTJOBING")        # same record as batch-detail
        self.assertEqual(j2["status"], "CONFIGURATION")
        self.assertEqual((j1["net_type"], j1["billing_tag"], j1["node_newFramework"]),
                         ("eip", False, False))
        self.assertEqual(j1["name"], "DRS-3999-lws")
        self.cfg(list_tz="+00:00")
        jobs = {j["id"]: j for j in self.full_list("migration")["jobs"]}
        self.assertEqual(jobs[DOC1]["create_time"], "2020-12-21 02:57:49")
        self.cfg(list_tz="-05:30")
        jobs = {j["id"]: j for j in self.full_list("migration")["jobs"]}
        self.assertEqual(jobs[DOC1]["create_time"], "2020-12-20 21:27:49")

    def test_list_agrees_with_detail(self):
        import datetime
        tz = datetime.timezone(datetime.timedelta(hours=8))
        for dbu in ("migration", "sync", "cloudDataGuard"):
            items = self.full_list(dbu)["jobs"]
            det = self.details([j["id"] for j in items])
            for j in items:
                d = det[j["id"]]
                self.assertTrue(JOBINFO_KEYS <= set(j), j)
                self.assertEqual(j["children"], [])
                for k in ("name", "status", "description", "db_use_type", "task_type",
                          "job_direction"):
                    self.assertEqual(j[k], d[k], (k, j["id"]))
                self.assertEqual(j["engine_type"], d["inst_info"]["engine_type"])
                self.assertEqual(j["net_type"], d.get("net_type", "eip"))
                wall = datetime.datetime.fromtimestamp(int(d["create_time"]) / 1000, tz)
                self.assertEqual(j["create_time"], wall.strftime("%Y-%m-%d %H:%M:%S"))
                if d["status"].endswith("_FAILED"):
                    self.assertEqual(j["error_msg"], d["error_message"])
                else:
                    self.assertNotIn("error_msg", j)

    def test_list_page_of_100_is_fast(self):
        SIM.api("list", {"db_use_type": "migration", "cur_page": 1, "per_page": 100})
        e = self.log()["requests"][-1]
        self.assertLess(e["duration_ms"], 200)


# ---------------------------------------------------------------- batch-detail

class TestBatchDetail(Base):
    def some_ids(self, n, dbu="migration"):
        return [j["id"] for j in self.full_list(dbu)["jobs"][:n]]

    def test_documented_example(self):
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": [DOC1, DOC2],
                                                    "page_req": {"cur_page": 1,
                                                                 "per_page": 10}})
        self.assertEqual(st, 200)
        self.assertEqual(body["count"], 2)
        r1, r2 = body["results"]
        self.assertEqual((r1["id"], r2["id"]), (DOC1, DOC2))
        self.assertEqual(list(r1)[:6], ["id", "name", "status", "description", "create_time",
                                        "task_type"])
        self.assertEqual(r1["status"], "STARTJOBING")
        self.assertEqual(r1["create_time"], "1608519469412")
        self.assertEqual(r1["actual_start_time"], "1608520069393")
        self.assertEqual(r1["update_time"], "1608520068979")      # verbatim, even if odd
        self.assertNotIn("full_transfer_complete_time", r1)
        self.assertEqual(r2["full_transfer_complete_time"], "1608369510202")
        self.assertEqual(r1["inst_info"], {"ip": "172.16.213.101", "inst_type": "high",
                                           "engine_type": "mysql", "volume_size": 100,
                                           "public_ip": "10.154.219.202", "start_time": "0"})
        self.assertEqual(r2["inst_info"]["status"], "ACTIVE")
        src = dict(r1["source_endpoint"])
        for k in SECRETS:
            self.assertIn("CANARY", src.pop(k))
        self.assertEqual(src, {"ip": "172.22.74.56", "region": "eu-de", "db_type": "mysql",
                               "db_port": 3306, "ssl_link": False,
                               "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
                               "db_user": "root"})
        self.assertEqual(r1["speed_limit"], [])
        self.assertEqual(r2["target_endpoint"]["inst_id"], "e05a3679efe241d8b5dee80b17c1a863in01")

    def test_default_paging_and_order(self):
        ids = self.some_ids(7)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids})
        self.assertEqual(st, 200)
        self.assertEqual([j["id"] for j in body["results"]], ids[:5])
        self.assertEqual(body["count"], 5)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids, "page_req": {"cur_page": 2}})
        self.assertEqual([j["id"] for j in body["results"]], ids[5:])
        rev = list(reversed(ids))
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": rev,
                                                    "page_req": {"cur_page": 1, "per_page": 0}})
        self.assertEqual([j["id"] for j in body["results"]], rev)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids, "pageReq": {"cur_page": 1,
                                                                             "per_page": 10},
                                                    "whatever": 1})
        self.assertEqual(st, 200)
        self.assertEqual(len(body["results"]), 5)           # camel-case key is ignored
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids, "page_req": {"per_page": 3,
                                                                              "cur_page": 3}})
        self.assertEqual([j["id"] for j in body["results"]], ids[6:])

    def test_count_mode_total(self):
        ids = self.some_ids(7)
        self.cfg(count_mode="total")
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids})
        self.assertEqual((body["count"], len(body["results"])), (7, 5))

    def test_page_errors(self):
        ids = self.some_ids(7)
        cases = (({"cur_page": 3, "per_page": 5}, "DRS.M00211"),
                 ({"cur_page": 0, "per_page": 5}, "DRS.M00210"),
                 ({"cur_page": 1, "per_page": 101}, "DRS.M00210"),
                 ({"cur_page": 1, "per_page": -1}, "DRS.M00210"),
                 ({"cur_page": "1", "per_page": 5}, "DRS.M00202"),
                 ("x", "DRS.M00202"))
        for pr, code in cases:
            st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids, "page_req": pr})
            self.assertError(st, body, 400, code)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": ids, "page_req": {"cur_page": -4,
                                                                              "per_page": 0}})
        self.assertEqual((st, body["count"]), (200, 7))

    def test_request_validation(self):
        ids = self.some_ids(3)
        cases = (({"page_req": {}}, "DRS.M00201"), ({"jobs": []}, "DRS.M00201"),
                 ({"jobs": None}, "DRS.M00201"), ({"jobs": [ids[0], 5]}, "DRS.M00202"),
                 ({"jobs": ids[0]}, "DRS.M00202"), ({"jobs": [ids[0], ""]}, "DRS.M00202"),
                 ({"jobs": [ids[0], ids[1], ids[0]]}, "DRS.M00301"),
                 (["x"], "DRS.M00007"), ("{not json", "DRS.M00007"), ("", "DRS.M00007"),
                 ('{"jobs": [NaN]}', "DRS.M00007"))
        for body_in, code in cases:
            st, body, _r, _d = SIM.api("batch-detail", body_in)
            self.assertError(st, body, 400, code)
        st, body, _r, _d = SIM.api("batch-detail", b'\xff\xfe{"jobs"')
        self.assertError(st, body, 400, "DRS.M00007")

    def test_batch_cap(self):
        many = ["id-%03djb1" % k for k in range(101)]
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": many})
        self.assertError(st, body, 400, "DRS.M00300")
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": many[:100]})
        self.assertEqual(st, 400)                                   # all unknown: mode a
        self.assertEqual(body["count"], 5)
        self.cfg(max_batch=3)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": self.some_ids(4)})
        self.assertError(st, body, 400, "DRS.M00300")
        self.assertEqual(SIM.api("batch-detail", {"jobs": self.some_ids(3)})[0], 200)

    def test_unknown_ids_modes(self):
        k = self.some_ids(3)
        unk = "00000000-0000-0000-0000-000000000jb0"
        req = {"jobs": [k[0], unk, k[1], k[2]], "page_req": {"cur_page": 1, "per_page": 2}}
        # (a) default: 400 with the detail-shaped body
        st, body, _r, _d = SIM.api("batch-detail", req)
        self.assertEqual(st, 400)
        self.assertEqual(body["count"], 2)
        self.assertEqual(body["results"][0]["id"], k[0])
        self.assertIn("source_endpoint", body["results"][0])
        self.assertEqual(body["results"][1], {"id": unk, "error_code": "DRS.M05003",
                                              "error_message": "Task information not found."})
        # the unknown id occupies a position; page 2 holds only known jobs
        req2 = dict(req, page_req={"cur_page": 2, "per_page": 2})
        st, body, _r, _d = SIM.api("batch-detail", req2)
        self.assertEqual(st, 200)
        self.assertEqual([j["id"] for j in body["results"]], k[1:3])
        # (b) same body, 200
        self.cfg(unknown_id_mode="b")
        st, body, _r, _d = SIM.api("batch-detail", req)
        self.assertEqual(st, 200)
        self.assertEqual(body["results"][1]["error_code"], "DRS.M05003")
        # (c) top-level error
        self.cfg(unknown_id_mode="c")
        st, body, _r, _d = SIM.api("batch-detail", req)
        self.assertEqual(st, 400)
        self.assertEqual(body, {"error_code": "DRS.M05003",
                                "error_msg": "Task information not found."})
        st, body, _r, _d = SIM.api("batch-detail", req2)
        self.assertEqual(st, 200)

    def test_deleted_jobs(self):
        k = self.some_ids(2)
        self.assertEqual(SIM.ctl("DELETE", "jobs/" + k[0])[0], 200)
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": k})
        self.assertEqual(st, 400)
        self.assertEqual(body["results"][0], {
            "id": k[0], "error_code": "DRS.M05004",
            "error_message": "The task has been deleted or the resource has been released."})
        self.assertEqual(body["results"][1]["id"], k[1])
        self.cfg(unknown_id_mode="b")
        self.assertEqual(SIM.api("batch-detail", {"jobs": k})[0], 200)
        self.cfg(unknown_id_mode="c")
        st, body, _r, _d = SIM.api("batch-detail", {"jobs": k})
        self.assertError(st, body, 400, "DRS.M05004")


# ---------------------------------------------------------------- batch-status / progress

class TestBatchStatusProgress(Base):
    def test_status_consistent_with_detail(self):
        ds = self.dataset()
        ids = [j["id"] for j in ds]
        byid = {j["id"]: j for j in ds}
        for k in range(0, len(ids), 100):
            st, body, _r, data = SIM.api("batch-status", {"jobs": ids[k:k + 100],
                                                          "page_req": {"cur_page": 1,
                                                                       "per_page": 0}})
            self.assertEqual(st, 200)
            self.assertTrue(data.startswith(b'{"results":'))
            self.assertEqual(body["count"], len(body["results"]))
            for r in body["results"]:
                d = byid[r["id"]]
                self.assertEqual(r["status"], d["status"])
                if d["status"].endswith("_FAILED"):
                    self.assertEqual(r["error_code"], d["error_code"])
                    self.assertEqual(r["error_message"], d["error_message"])
                else:
                    self.assertEqual(set(r), {"id", "status"})

    def test_status_paging_and_unknown(self):
        unk = "ffffffff-0000-0000-0000-00000000jb99"
        st, body, _r, _d = SIM.api("batch-status", {"jobs": [DOC1, unk, DOC2]})
        self.assertEqual(st, 400)
        self.assertEqual(body["results"][1], {"id": unk, "error_code": "DRS.M05003",
                                              "error_message": "Task information not found."})
        st, body, _r, _d = SIM.api("batch-status", {"jobs": [DOC1, unk, DOC2],
                                                    "page_req": {"cur_page": 2, "per_page": 2}})
        self.assertEqual((st, body["results"]), (200, [{"id": DOC2,
                                                        "status": "CONFIGURATION"}]))
        self.assertError(*SIM.api("batch-status", {"jobs": [DOC1, DOC1]})[:2],
                         400, "DRS.M00301")
        self.cfg(unknown_id_mode="c")
        self.assertError(*SIM.api("batch-status", {"jobs": [unk]})[:2], 400, "DRS.M05003")

    def test_progress(self):
        ds = self.dataset()
        byid = {j["id"]: j for j in ds}
        ids = list(byid)
        seen = set()
        for k in range(0, len(ids), 100):
            st, body, _r, _d = SIM.api("batch-progress", {"jobs": ids[k:k + 100],
                                                          "page_req": {"cur_page": 1,
                                                                       "per_page": 1}})
            self.assertEqual(st, 202)
            self.assertEqual(body["count"], len(ids[k:k + 100]))    # page_req is ignored
            for p in body["results"]:
                d = byid[p["job_id"]]
                self.assertNotIn("id", p)
                self.assertEqual(p["transfer_status"], d["status"])
                self.assertEqual(p["task_mode"], d["task_type"])
                for key in ("progress", "incre_trans_delay", "process_time", "remaining_time"):
                    self.assertIsInstance(p[key], str)
                    self.assertRegex(p[key], r"^-?\d+$")
                s = d["status"]
                seen.add(s)
                if s in ("FULL_TRANSFER_COMPLETE", "INCRE_TRANSFER_STARTED"):
                    self.assertEqual(p["progress"], "100")
                if s in ("CREATING", "CONFIGURATION"):
                    self.assertEqual(p["progress"], "0")
                if s == "FULL_TRANSFER_STARTED" and d["task_type"] != "INCR_TRANS":
                    self.assertTrue(0 < int(p["progress"]) < 100)
                if "progress_map" in p:
                    self.assertEqual(set(p["progress_map"]), {"struct", "data", "index"})
                    for v in p["progress_map"].values():
                        self.assertRegex(v["completed"], r"^\d+%$")
                        self.assertIn("remaining_time", v)
                else:
                    self.assertEqual(d["task_type"], "INCR_TRANS")
                if s.endswith("_FAILED"):
                    self.assertEqual((p["error_code"], p["error_msg"]),
                                     (d["error_code"], d["error_message"]))
                else:
                    self.assertNotIn("error_code", p)
        self.assertIn("FULL_TRANSFER_COMPLETE", seen)

    def test_progress_unknown_modes(self):
        unk = "ffffffff-0000-0000-0000-00000000jb99"
        st, body, _r, _d = SIM.api("batch-progress", {"jobs": [DOC1, unk]})
        self.assertEqual(st, 400)
        self.assertEqual(body["results"][1], {"job_id": unk, "error_code": "DRS.M05003",
                                              "error_msg": "Task information not found."})
        self.cfg(unknown_id_mode="b")
        self.assertEqual(SIM.api("batch-progress", {"jobs": [DOC1, unk]})[0], 202)
        self.cfg(unknown_id_mode="c")
        self.assertError(*SIM.api("batch-progress", {"jobs": [DOC1, unk]})[:2],
                         400, "DRS.M05003")
        self.assertError(*SIM.api("batch-progress", {})[:2], 400, "DRS.M00201")


# ---------------------------------------------------------------- data set

def endpoints_of(job):
    eps = [job.get(k) for k in ("source_endpoint", "target_endpoint", "dmq_endpoint")]
    eps += job.get("source_sharding") or []
    return [e for e in eps if e is not None]


class TestDataSet(Base):
    @classmethod
    def setUpClass(cls):
        SIM.ctl("POST", "reset")
        st, body = SIM.ctl("GET", "dataset")
        cls.jobs = body["jobs"]

    def test_size_ids_names(self):
        self.assertEqual(len(self.jobs), 250)
        ids = [j["id"] for j in self.jobs]
        self.assertEqual(len(set(ids)), 250)
        self.assertIn(DOC1, ids)
        self.assertIn(DOC2, ids)
        for j in self.jobs:
            self.assertEqual(len(j["id"]), 36, j["id"])
            self.assertRegex(j["id"], ID_RE)
            self.assertRegex(j["name"], NAME_RE)

    def test_statuses_and_types(self):
        statuses = {j["status"] for j in self.jobs}
        self.assertEqual(statuses, set(STATUSES))
        dbus = {j["db_use_type"] for j in self.jobs}
        self.assertEqual(dbus, {"migration", "sync", "cloudDataGuard"})
        for j in self.jobs:
            failed = j["status"].endswith("_FAILED")
            self.assertEqual("error_code" in j, failed, j["id"])
            self.assertEqual("error_message" in j, failed, j["id"])

    def test_descriptions(self):
        descs = [j["description"] for j in self.jobs]
        self.assertTrue(any(d == "" for d in descs))
        self.assertTrue(any("Zürich" in d or any(ord(c) > 0x2000 for c in d) for d in descs))
        self.assertTrue(any("\n" in d for d in descs))
        self.assertTrue(any("\t" in d for d in descs))
        special = [d for d in descs if any(c in d for c in "!<>'&\"\\")]
        self.assertTrue(0 < len(special) <= 25, len(special))
        self.assertTrue(all(len(d) <= 256 for d in descs))

    def test_times(self):
        for j in self.jobs:
            if j["id"] in (DOC1, DOC2):
                continue                  # verbatim doc examples (see README)
            c, a, u = (int(j[k]) for k in ("create_time", "actual_start_time", "update_time"))
            for k in ("create_time", "actual_start_time", "update_time"):
                self.assertRegex(j[k], r"^\d{13}$")
            self.assertLess(c, a)
            f = j.get("full_transfer_complete_time")
            if f is not None:
                self.assertTrue(a <= int(f) <= u)
                self.assertNotIn(j["status"], ("CREATING", "CONFIGURATION",
                                               "FULL_TRANSFER_STARTED"))
            else:
                self.assertLessEqual(a, u)
            if j["status"] in ("CREATING", "CONFIGURATION", "FULL_TRANSFER_STARTED"):
                self.assertIsNone(f)
        self.assertTrue(any("full_transfer_complete_time" in j for j in self.jobs))

    def test_canary_secrets_everywhere(self):
        n_shard = n_dmq = 0
        for j in self.jobs:
            eps = endpoints_of(j)
            self.assertGreaterEqual(len(eps), 2)
            n_shard += "source_sharding" in j
            n_dmq += "dmq_endpoint" in j
            for e in eps:
                for k in SECRETS:
                    self.assertIn("CANARY", e[k], (j["id"], k))
        self.assertGreater(n_shard, 0)
        self.assertGreater(n_dmq, 0)
        self.assertIn("CANARY", STATIC)
        self.assertIn("CANARY", PASSWORD)
        # canaries are only in the secret keys
        for j in self.jobs:
            clean = json.loads(json.dumps(j))
            for e in endpoints_of(clean):
                for k in SECRETS:
                    e.pop(k)
            self.assertNotIn("CANARY", json.dumps(clean))

    def test_fields_present(self):
        gen = [j for j in self.jobs if j["id"] not in (DOC1, DOC2)]
        for f in QUERYJOBRESP:
            n = sum(f in j for j in gen)
            self.assertGreater(n, len(gen) * 0.5, f)
        self.assertTrue(any(j["speed_limit"] for j in gen))
        self.assertTrue(any("issue_coupon" in j for j in gen))
        self.assertTrue(any("period_order" in j for j in gen))
        self.assertTrue(any("target_root_db" in j for j in gen))
        an = [j["alarm_notify"] for j in gen if "alarm_notify" in j]
        self.assertTrue(an)
        protos = {s["protocol"] for a in an for s in a["subscriptions"]}
        self.assertEqual(protos, {"sms", "email"})
        for j in gen:
            for s in j["speed_limit"]:
                self.assertEqual(set(s), {"begin", "end", "is_utc", "speed"})
                self.assertIsInstance(s["is_utc"], bool)
            for e in endpoints_of(j):
                self.assertIsInstance(e["db_port"], int)
                self.assertTrue(1 <= e["db_port"] <= 65535)
                self.assertIsInstance(e["ssl_link"], bool)
                for k in ("db_type", "ip", "db_user"):
                    self.assertIsInstance(e[k], str)
            self.assertEqual(j["inst_info"]["start_time"], "0")
            self.assertIsInstance(j["node_num"], str)

    def test_declared_types_mode(self):
        self.cfg(types="declared")
        ds = self.dataset()
        det = self.details([DOC1, DOC2])
        self.assertEqual(det[DOC2]["inst_info"]["start_time"], 0)
        self.assertEqual(det[DOC1]["source_endpoint"]["ssl_link"], "false")
        self.assertEqual(det[DOC1]["source_endpoint"]["db_port"], 3306)
        for j in ds:
            for e in endpoints_of(j):
                self.assertIn(e["ssl_link"], ("true", "false"))
                self.assertIsInstance(e["db_port"], int)
            ii = j["inst_info"]
            self.assertIsInstance(ii["start_time"], int)
            if "status" in ii:
                self.assertEqual(ii["status"], ii["status"].upper())
            if "node_num" in j:
                self.assertIsInstance(j["node_num"], int)

    def test_drop_optional(self):
        self.cfg(drop_optional=True)
        a = self.dataset()
        b = self.dataset()
        self.assertEqual(a, b)                       # deterministic
        gen = [j for j in a if j["id"] not in (DOC1, DOC2)]
        missing = sum(len(set(QUERYJOBRESP) - set(j)) for j in gen)
        self.assertGreater(missing, len(gen))
        for j in gen:
            for k in ("id", "name", "status", "db_use_type", "create_time"):
                self.assertIn(k, j)
        docs = [j for j in a if j["id"] in (DOC1, DOC2)]
        self.assertEqual(docs, [j for j in self.jobs if j["id"] in (DOC1, DOC2)])

    def test_dataset_equals_batch_detail(self):
        det = self.details([j["id"] for j in self.jobs])
        for j in self.jobs:
            self.assertEqual(det[j["id"]], j)


# ---------------------------------------------------------------- control API

class TestControl(Base):
    def test_health_stats_reset(self):
        self.assertEqual(SIM.ctl("GET", "health"), (200, {"ok": True}))
        SIM.api("list", {"db_use_type": "sync"})
        SIM.iam()
        st, s = SIM.ctl("GET", "stats")
        self.assertEqual(s["requests"], 2)
        self.assertEqual(s["tokens_issued"], 1)
        self.assertEqual(s["in_flight"], 0)
        self.assertGreaterEqual(s["max_in_flight"], 1)
        self.assertEqual(s["connections_opened"], 2)
        SIM.ctl("POST", "reset")
        st, s = SIM.ctl("GET", "stats")
        self.assertEqual((s["requests"], s["tokens_issued"], s["connections_opened"]), (0, 0, 0))
        self.assertEqual(self.log()["requests"], [])

    def test_log_fields_and_secrets(self):
        _st, tok, _b = SIM.iam()
        SIM.iam(password="wrong-CANARY-pw")
        SIM.iam(raw='{"auth": {"password": "pw-CANARY-iam", "x": ')    # invalid JSON
        SIM.api("batch-detail", {"jobs": [DOC1]}, token=tok)
        st, _r, _d = SIM.request("POST", "/v3/%s/jobs/batch-status?x=1" % PID,
                                 '{"jobs": ["%s"]}' % DOC1,
                                 {"Content-Type": "application/json", "X-Auth-Token": STATIC,
                                  "X-Language": "en-us"})
        self.assertEqual(st, 200)
        lg = self.log()
        text = json.dumps(lg)
        self.assertNotIn("CANARY", text)
        self.assertNotIn(tok[:40], text)
        self.assertNotIn("wrong-CANARY", text)
        entries = lg["requests"]
        self.assertEqual(len(entries), 5)
        self.assertEqual(lg["next"], entries[-1]["seq"] + 1)
        keys = {"seq", "time", "method", "path", "query", "endpoint", "auth", "language",
                "content_type", "body", "status", "fault", "response_bytes", "duration_ms",
                "connection"}
        for e in entries:
            self.assertEqual(set(e), keys)
        e0 = entries[0]
        self.assertEqual(e0["body"]["auth"]["identity"]["password"]["user"]["password"], "***")
        self.assertEqual(e0["body"]["auth"]["identity"]["password"]["user"]["name"], USER)
        self.assertIsInstance(entries[2]["body"], str)
        self.assertEqual(entries[3]["auth"], "iam:%s" % entries[3]["auth"].split(":")[1])
        e4 = entries[4]
        self.assertEqual((e4["method"], e4["path"], e4["query"], e4["endpoint"], e4["auth"],
                          e4["language"], e4["content_type"], e4["status"], e4["fault"]),
                         ("POST", "/v3/%s/jobs/batch-status" % PID, "x=1", "batch-status",
                          "static:0", "en-us", "application/json", 200, None))
        self.assertEqual(e4["body"], {"jobs": [DOC1]})
        self.assertGreater(e4["response_bytes"], 10)
        self.assertIsInstance(e4["connection"], int)
        since = self.log(since=entries[3]["seq"])["requests"]
        self.assertEqual([e["seq"] for e in since], [entries[3]["seq"], entries[4]["seq"]])
        self.assertEqual(self.log(since=lg["next"])["requests"], [])
        SIM.ctl("GET", "stats")                                      # control: not logged
        self.assertEqual(self.log(since=lg["next"])["requests"], [])

    def test_config(self):
        st, cfg = SIM.ctl("GET", "config")
        self.assertEqual(cfg["unknown_id_mode"], "a")
        self.assertEqual(cfg["max_batch"], 100)
        for bad in ({"nope": 1}, {"unknown_id_mode": "d"}, {"types": "x"}, {"max_batch": 0},
                    {"latency_ms": -1}, {"list_tz": "8h"}, {"invalid_token_status": 404},
                    {"rate_limit_style": 500}, {"count_mode": "all"}):
            st, body = SIM.ctl("POST", "config", bad)
            self.assertEqual(st, 400, bad)
        new = self.cfg(unknown_id_mode="b", latency_ms=1, list_tz="+01:00")
        self.assertEqual((new["unknown_id_mode"], new["latency_ms"]), ("b", 1))
        SIM.ctl("POST", "reset")
        self.assertEqual(SIM.ctl("GET", "config")[1], cfg)

    def test_mutate_job(self):
        full = self.full_list("sync")["jobs"]
        j = full[4]
        jid = j["id"]
        old = self.details([jid])[jid]
        st, body = SIM.ctl("POST", "jobs/" + jid, {"status": "FULL_TRANSFER_FAILED",
                                                   "name": "renamed_job",
                                                   "source_endpoint": {"ip": "10.9.9.9"}})
        self.assertEqual(st, 200, body)
        new = self.details([jid])[jid]
        self.assertEqual(new["status"], "FULL_TRANSFER_FAILED")
        self.assertEqual(new["name"], "renamed_job")
        self.assertEqual(new["source_endpoint"]["ip"], "10.9.9.9")
        self.assertEqual(new["source_endpoint"]["db_user"], old["source_endpoint"]["db_user"])
        self.assertGreater(int(new["update_time"]), int(old["update_time"]))
        self.assertIn("error_code", new)
        st, body, _r, _d = SIM.api("batch-status", {"jobs": [jid]})
        self.assertEqual(body["results"][0]["status"], "FULL_TRANSFER_FAILED")
        st, body, _r, _d = SIM.api("batch-progress", {"jobs": [jid]})
        self.assertEqual(body["results"][0]["transfer_status"], "FULL_TRANSFER_FAILED")
        lst = self.full_list("sync", status="FULL_TRANSFER_FAILED")["jobs"]
        item = [x for x in lst if x["id"] == jid][0]
        self.assertEqual((item["name"], item["error_msg"]), ("renamed_job", new["error_message"]))
        self.assertEqual([x["id"] for x in self.full_list("sync", name="RENAMED")["jobs"]],
                         [jid])
        # back to a non-failed state: error fields go away
        SIM.ctl("POST", "jobs/" + jid, {"status": "INCRE_TRANSFER_STARTED"})
        again = self.details([jid])[jid]
        self.assertNotIn("error_code", again)
        self.assertGreater(int(again["update_time"]), int(new["update_time"]))
        # moving create_time moves the job in the list order
        SIM.ctl("POST", "jobs/" + jid, {"create_time": "1999999999999"})
        self.assertEqual(self.full_list("sync")["jobs"][0]["id"], jid)
        self.assertEqual(SIM.ctl("POST", "jobs/nope", {"status": "X"})[0], 404)
        SIM.ctl("POST", "reset")
        self.assertEqual(self.details([jid])[jid], old)

    def test_delete_and_add(self):
        full = self.full_list("cloudDataGuard")
        jid = full["jobs"][0]["id"]
        self.assertEqual(SIM.ctl("DELETE", "jobs/" + jid)[0], 200)
        after = self.full_list("cloudDataGuard")
        self.assertEqual(after["total_record"], full["total_record"] - 1)
        self.assertNotIn(jid, [j["id"] for j in after["jobs"]])
        self.assertEqual(SIM.ctl("DELETE", "jobs/" + jid)[0], 404)
        st, body, _r, _d = SIM.api("batch-progress", {"jobs": [jid]})
        self.assertEqual(body["results"][0]["error_code"], "DRS.M05004")
        new = {"id": "abcdef01-2345-6789-abcd-ef01234jb777", "name": "added_job",
               "status": "INCRE_TRANSFER_STARTED", "description": "added",
               "create_time": "1999999999000", "update_time": "1999999999500",
               "task_type": "FULL_INCR_TRANS", "db_use_type": "cloudDataGuard",
               "inst_info": {"engine_type": "cloudDataGuard-mysql"}, "net_type": "vpc",
               "job_direction": "up"}
        st, body = SIM.ctl("POST", "jobs", new)
        self.assertEqual(st, 201, body)
        self.assertEqual(SIM.ctl("POST", "jobs", new)[0], 409)
        first = self.full_list("cloudDataGuard")["jobs"][0]
        self.assertEqual((first["id"], first["name"], first["net_type"]),
                         (new["id"], "added_job", "vpc"))
        self.assertEqual(self.details([new["id"]])[new["id"]], new)
        st, body = SIM.ctl("GET", "jobs/" + new["id"])
        self.assertEqual(body, new)
        SIM.ctl("POST", "reset")
        self.assertEqual(self.full_list("cloudDataGuard")["total_record"],
                         full["total_record"])


# ---------------------------------------------------------------- faults

class TestFaults(Base):
    def faults(self, *rules):
        st, body = SIM.ctl("POST", "faults", {"faults": list(rules)})
        self.assertEqual(st, 200, body)

    def test_status_headers_skip_times(self):
        self.faults({"endpoint": "batch-detail", "skip": 1, "times": 2, "status": 503,
                     "json": {"error_code": "APIGW.0503", "error_msg": "busy"},
                     "headers": {"Retry-After": "2"}})
        req = {"jobs": [DOC1]}
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)   # other endpoint
        self.assertEqual(SIM.api("batch-detail", req)[0], 200)               # skipped
        for _ in range(2):
            st, body, r, _d = SIM.api("batch-detail", req)
            self.assertEqual((st, body["error_code"], r.getheader("Retry-After")),
                             (503, "APIGW.0503", "2"))
        self.assertEqual(SIM.api("batch-detail", req)[0], 200)               # used up
        faults = [e["fault"] for e in self.log()["requests"]]
        self.assertEqual(faults, [None, None, "status:503", "status:503", None])

    def test_forever_body_content_type_and_clear(self):
        self.faults({"times": -1, "status": 429, "body": "slow down", "content_type": "text/plain",
                     "headers": {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}})
        for _ in range(3):
            st, _r, data = SIM.request("POST", "/v3/auth/tokens", "{}",
                                       {"Content-Type": "application/json"})
            self.assertEqual((st, data), (429, b"slow down"))
        st, body, r, _d = SIM.api("list", {"db_use_type": "sync"})
        self.assertEqual(r.getheader("Content-Type"), "text/plain")
        self.assertEqual(r.getheader("Retry-After"), "Wed, 21 Oct 2015 07:28:00 GMT")
        SIM.ctl("DELETE", "faults")
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)
        self.faults({"status": 500})
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"})
        self.assertEqual(st, 500)
        self.assertIn("error_code", body)
        self.assertEqual(SIM.ctl("POST", "faults", {"faults": [{"nope": 1}]})[0], 400)
        self.assertEqual(SIM.ctl("POST", "faults", {"faults": [{"endpoint": "list"}]})[0], 400)

    def test_delay(self):
        self.faults({"endpoint": "batch-status", "delay_ms": 300})
        t = time.monotonic()
        st = SIM.api("batch-status", {"jobs": [DOC1]})[0]
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.29)
        self.faults({"delay_ms": 100, "status": 504})
        t = time.monotonic()
        self.assertEqual(SIM.api("batch-status", {"jobs": [DOC1]})[0], 504)
        self.assertGreaterEqual(time.monotonic() - t, 0.09)

    def test_malformed(self):
        self.faults({"malformed": True})
        st, body, r, data = SIM.api("batch-detail", {"jobs": [DOC1]})
        self.assertEqual(st, 200)
        self.assertIsNone(body)
        self.assertRaises(ValueError, json.loads, data)

    def test_truncate(self):
        self.faults({"endpoint": "batch-detail", "truncate": 20})
        c = SIM.conn()
        c.request("POST", "/v3/%s/jobs/batch-detail" % PID, json.dumps({"jobs": [DOC1]}),
                  {"Content-Type": "application/json", "X-Auth-Token": STATIC})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.getheader("Content-Length")), 20)
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        self.assertEqual(len(cm.exception.partial), 20)
        c.close()
        self.assertEqual(self.log()["requests"][-1]["response_bytes"], 20)

    def test_html(self):
        self.faults({"html": True})
        st, r, data = SIM.request("POST", "/v3/%s/jobs" % PID, "{}",
                                  {"Content-Type": "application/json"})
        self.assertEqual(st, 502)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        self.assertIn(b"<html>", data)

    def test_drop(self):
        self.faults({"endpoint": "iam-token", "drop": True})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            SIM.iam()
        self.assertEqual(SIM.iam()[0], 201)
        self.assertEqual(self.log()["requests"][0]["fault"], "drop")

    def test_huge(self):
        n = 3 * 1000 * 1000
        self.faults({"huge_bytes": n})
        st, body, r, data = SIM.api("batch-detail", {"jobs": [DOC1]})
        self.assertEqual(st, 200)
        self.assertAlmostEqual(len(data), n, delta=100)
        self.assertEqual(int(r.getheader("Content-Length")), len(data))
        self.assertEqual(body["results"], [])

    def test_trickle(self):
        self.faults({"trickle_ms": 30, "chunk_bytes": 40})
        t = time.monotonic()
        st, body, _r, data = SIM.api("batch-status", {"jobs": [DOC1, DOC2]})
        took = time.monotonic() - t
        self.assertEqual(st, 200)
        chunks = -(-len(data) // 40)
        self.assertGreater(chunks, 2)
        self.assertGreaterEqual(took, (chunks - 1) * 0.03 * 0.9)
        self.assertEqual(body["count"], 2)

    def test_json_response(self):
        self.faults({"endpoint": "list", "json_response": {"total_record": "x", "jobs": {}}})
        st, body, _r, _d = SIM.api("list", {"db_use_type": "sync"})
        self.assertEqual((st, body), (200, {"total_record": "x", "jobs": {}}))

    def test_latency(self):
        self.cfg(latency_ms=200)
        t = time.monotonic()
        SIM.ctl("GET", "health")
        self.assertLess(time.monotonic() - t, 0.15)              # not for /_sim/
        t = time.monotonic()
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.19)


# ---------------------------------------------------------------- HTTP behaviour

class TestHTTP(Base):
    def test_keep_alive(self):
        c = SIM.conn()
        for k in range(4):
            st, body, r, _d = SIM.api("batch-status", {"jobs": [DOC1]}, conn=c)
            self.assertEqual(st, 200)
        st, body, r, _d = SIM.api("batch-detail", {"jobs": [DOC1, "unknown-jb1"]}, conn=c)
        self.assertEqual(st, 400)                     # an error keeps the connection open
        st, body, r, _d = SIM.api("list", {"db_use_type": "sync"}, conn=c)
        self.assertEqual(st, 200)
        c.close()
        conns = {e["connection"] for e in self.log()["requests"]}
        self.assertEqual(len(conns), 1)
        self.assertEqual(SIM.ctl("GET", "stats")[1]["connections_opened"], 1)

    def test_concurrency(self):
        self.cfg(latency_ms=400)
        results = []

        def one():
            results.append(SIM.api("batch-status", {"jobs": [DOC1]})[0])
        threads = [threading.Thread(target=one) for _ in range(4)]
        t = time.monotonic()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        took = time.monotonic() - t
        self.assertEqual(results, [200] * 4)
        self.assertLess(took, 1.2)
        self.assertGreaterEqual(SIM.ctl("GET", "stats")[1]["max_in_flight"], 4)

    def test_garbage_and_disconnects(self):
        for payload in (b"\x00\x01garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                        b"POST /v3/x/jobs HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                        b"POST /v3/x/jobs HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
            s = socket.create_connection(("127.0.0.1", SIM.port), timeout=5)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            try:
                s.recv(4096)
            except OSError:
                pass
            s.close()
        self.cfg(latency_ms=200)
        s = socket.create_connection(("127.0.0.1", SIM.port), timeout=5)
        body = json.dumps({"jobs": [DOC1]}).encode()
        s.sendall(b"POST /v3/%s/jobs/batch-detail HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/json\r\nX-Auth-Token: %s\r\nContent-Length: %d\r\n\r\n%s"
                  % (PID.encode(), STATIC.encode(), len(body), body))
        s.close()                                        # gone before the answer
        time.sleep(0.3)
        self.cfg(latency_ms=0)
        self.assertEqual(SIM.ctl("GET", "health"), (200, {"ok": True}))
        self.assertEqual(SIM.api("list", {"db_use_type": "sync"})[0], 200)

    def test_chunked_request_and_expect(self):
        body = json.dumps({"jobs": [DOC1]}).encode()
        s = socket.create_connection(("127.0.0.1", SIM.port), timeout=5)
        s.sendall(b"POST /v3/%s/jobs/batch-status HTTP/1.1\r\nHost: x\r\nContent-Type: "
                  b"application/json\r\nX-Auth-Token: %s\r\nTransfer-Encoding: chunked\r\n"
                  b"Expect: 100-continue\r\n\r\n" % (PID.encode(), STATIC.encode()))
        first = s.recv(100)
        self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        data = b""
        while b'"count"' not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
        s.close()
        self.assertIn(b"HTTP/1.1 200", data)
        self.assertIn(b"STARTJOBING", data)

    def test_rate_limit(self):
        self.cfg(rate_limit=3)
        codes = [SIM.api("list", {"db_use_type": "sync"}) for _ in range(6)]
        limited = [c for c in codes if c[0] == 429]
        self.assertTrue(limited)
        self.assertEqual(limited[0][1]["error_code"], "APIGW.0308")
        self.assertEqual(limited[0][2].getheader("Retry-After"), "1")
        self.assertEqual(codes[0][0], 200)
        time.sleep(1.05)
        self.cfg(rate_limit_style=400)
        codes = [SIM.api("list", {"db_use_type": "sync"})[:2] for _ in range(6)]
        self.assertIn((400, {"error_code": "DRS.M01503",
                             "error_msg": "Operation too frequent. Try again later."}), codes)
        self.assertIn("rate_limit", [e["fault"] for e in self.log()["requests"]])


# ---------------------------------------------------------------- separate processes

class TestProcesses(unittest.TestCase):
    def test_cli_options_and_determinism(self):
        p = SimProcess("--types", "declared", "--unknown-id-mode", "c", "--count-mode", "total",
                       "--max-batch", "3", "--list-tz", "+00:00", "--jobs", "60",
                       "--user", "alice:se:cr:et:acme", "--static-token", "t0",
                       "--static-token", "t1", "--project-id", "f" * 32,
                       "--project-name", "eu-nl", "--invalid-token-status", "403")
        try:
            p2 = SimProcess("--jobs", "60", "--seed", "7")
            try:
                ids2 = [j["id"] for j in p2.ctl("GET", "dataset")[1]["jobs"]]
            finally:
                self.assertEqual(p2.stop(), 0)
            jobs = p.ctl("GET", "dataset")[1]["jobs"]
            self.assertEqual(len(jobs), 60)
            self.assertNotEqual(sorted(j["id"] for j in jobs), sorted(ids2))
            same = [j["id"] for j in SIM.ctl("GET", "dataset")[1]["jobs"]]
            gen = [j["id"] for j in jobs if j["id"] not in (DOC1, DOC2)]
            self.assertTrue(set(gen) <= set(same))       # same seed: same ids per index
            self.assertIsInstance(jobs[0]["inst_info"]["start_time"], int)
            st, body, _r, _d = p.api("batch-detail", {"jobs": [DOC1, "x-jb1"]}, token="t1",
                                     pid="f" * 32)
            self.assertEqual(body, {"error_code": "DRS.M05003",
                                    "error_msg": "Task information not found."})
            st, body, _r, _d = p.api("batch-detail", {"jobs": ["a", "b", "c", "d"]},
                                     token="t0", pid="f" * 32)
            self.assertEqual(body["error_code"], "DRS.M00300")
            st, body, _r, _d = p.api("batch-detail", {"jobs": [DOC1, DOC2],
                                                      "page_req": {"per_page": 1}},
                                     token="t0", pid="f" * 32)
            self.assertEqual((body["count"], len(body["results"])), (2, 1))
            st, body, _r, _d = p.api("list", {"db_use_type": "migration", "name": DOC1},
                                     token="t0", pid="f" * 32)
            self.assertEqual(body["jobs"][0]["create_time"], "2020-12-21 02:57:49")
            st, body, _r, _d = p.api("list", {"db_use_type": "migration"}, token="bad",
                                     pid="f" * 32)
            self.assertEqual((st, body["error_code"]), (403, "DRS.M00100"))
            st, tok, body = p.iam(user="alice", password="se:cr:et", domain="acme",
                                  scope={"project": {"name": "eu-nl"}})
            self.assertEqual(st, 201)
            self.assertEqual(body["token"]["project"]["id"], "f" * 32)
            self.assertEqual(p.api("list", {"db_use_type": "sync"}, token=tok,
                                   pid="f" * 32)[0], 200)
        finally:
            port_file, pid_file = p.port_file, p.pid_file
            self.assertEqual(p.stop(), 0)
        self.assertFalse(os.path.exists(port_file))
        self.assertFalse(os.path.exists(pid_file))

    def test_sigint_and_small_data_set(self):
        p = SimProcess("--jobs", "1", "--drop-optional")
        try:
            jobs = p.ctl("GET", "dataset")[1]["jobs"]
            self.assertEqual([j["id"] for j in jobs], [DOC1])
        finally:
            os.kill(p.pid, signal.SIGINT)
            self.assertEqual(p.proc.wait(10), 0)
            p.proc.stdout.close()
            p.proc.stderr.close()
            shutil.rmtree(p.dir, ignore_errors=True)

    @unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
    def test_tls(self):
        d = tempfile.mkdtemp()
        try:
            cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           check=True, capture_output=True)
            p = SimProcess("--tls-cert", cert, "--tls-key", key)
            try:
                p.scheme = "https"
                p.ssl_context = ssl.create_default_context(cafile=cert)
                self.assertEqual(p.ctl("GET", "health"), (200, {"ok": True}))
                st, tok, body = p.iam()
                self.assertEqual(st, 201)
                self.assertTrue(body["token"]["catalog"][1]["endpoints"][0]["url"]
                                .startswith("https://"))
                c = p.conn()
                for _ in range(3):
                    self.assertEqual(p.api("batch-status", {"jobs": [DOC1]}, token=tok,
                                           conn=c)[0], 200)
                c.close()
                # a plain-HTTP client must not hang or kill the server
                s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
                s.sendall(b"GET /_sim/health HTTP/1.1\r\n\r\n")
                try:
                    s.recv(100)
                except OSError:
                    pass
                s.close()
                self.assertEqual(p.ctl("GET", "health")[0], 200)
            finally:
                self.assertEqual(p.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_100k_jobs(self):
        p = SimProcess("--jobs", "100000")
        try:
            self.assertLess(p.startup_s, 5.0)
            st, body, _r, _d = p.api("list", {"db_use_type": "sync", "cur_page": 3,
                                              "per_page": 100})
            self.assertEqual(len(body["jobs"]), 100)
            total = sum(p.api("list", {"db_use_type": u, "per_page": 1})[1]["total_record"]
                        for u in ("migration", "sync", "cloudDataGuard"))
            self.assertEqual(total, 100000)
            ids = [j["id"] for j in body["jobs"]]
            st, det, _r, _d = p.api("batch-detail", {"jobs": ids,
                                                     "page_req": {"cur_page": 1, "per_page": 0}})
            self.assertEqual((st, det["count"]), (200, 100))
            self.assertEqual([j["id"] for j in det["results"]], ids)
            log = p.ctl("GET", "log")[1]["requests"]
            list_ms = log[0]["duration_ms"]
            detail_ms = log[-1]["duration_ms"]
            self.assertLess(list_ms, 100)
            self.assertLess(detail_ms, 200)
            print("\n  100k jobs: startup %.2f s, list page of 100: %.1f ms, batch-detail of 100: "
                  "%.1f ms (server time)" % (p.startup_s, list_ms, detail_ms), file=sys.stderr)
        finally:
            self.assertEqual(p.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=1)
