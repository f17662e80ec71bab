#!/usr/bin/python3
"""drs_sim: a local simulator of the OTC DRS v3 query API and the IAM token API.

It owns the HTTP server (IAM and DRS on one host:port), the deterministic, lazily
generated job data set, fault injection and the /_sim/ control API used by the
tests.  Python 3.11 standard library only.  Usage and every position taken where
the DRS docs are silent or contradictory: sim/README.md.
"""

import argparse
import base64
import collections
import copy
import datetime
import hashlib
import http
import json
import math
import os
import random
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from bisect import bisect_right
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = "1.0"
JSON_CT = "application/json;charset=UTF-8"
MAX_BODY = 12 * 1024 * 1024          # API Gateway body limit (SPEC section 7)
BASE_MS = 1704067200000              # 2024-01-01T00:00:00Z: fixed base date, never "now"
SPAN_MS = 730 * 86400 * 1000         # generated create_time spread: two years
DB_USE_TYPES = ("migration", "sync", "cloudDataGuard")
ENDPOINT_NAMES = ("iam-token", "list", "batch-detail", "batch-status", "batch-progress", "other")

# SPEC section 8, OTC union; PAUSING spelled as in task_statuses.rst.
STATUSES = (
    "CREATING", "CREATE_FAILED", "CONFIGURATION", "STARTJOBING", "WAITING_FOR_START",
    "START_JOB_FAILED", "PAUSING", "FULL_TRANSFER_STARTED", "FULL_TRANSFER_FAILED",
    "FULL_TRANSFER_COMPLETE", "INCRE_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED",
    "RELEASE_RESOURCE_STARTED", "RELEASE_RESOURCE_FAILED", "RELEASE_RESOURCE_COMPLETE",
    "CHANGE_JOB_STARTED", "CHANGE_JOB_FAILED", "CHILD_TRANSFER_STARTING",
    "CHILD_TRANSFER_STARTED", "CHILD_TRANSFER_COMPLETE", "CHILD_TRANSFER_FAILED",
    "RELEASE_CHILD_TRANSFER_STARTED", "RELEASE_CHILD_TRANSFER_COMPLETE",
)
STATUS_WEIGHTS = {
    "CREATING": 3, "CREATE_FAILED": 2, "CONFIGURATION": 8, "STARTJOBING": 2,
    "WAITING_FOR_START": 2, "START_JOB_FAILED": 2, "PAUSING": 3,
    "FULL_TRANSFER_STARTED": 7, "FULL_TRANSFER_FAILED": 3, "FULL_TRANSFER_COMPLETE": 8,
    "INCRE_TRANSFER_STARTED": 30, "INCRE_TRANSFER_FAILED": 4,
    "RELEASE_RESOURCE_STARTED": 2, "RELEASE_RESOURCE_FAILED": 1,
    "RELEASE_RESOURCE_COMPLETE": 12, "CHANGE_JOB_STARTED": 1, "CHANGE_JOB_FAILED": 1,
    "CHILD_TRANSFER_STARTING": 1, "CHILD_TRANSFER_STARTED": 1, "CHILD_TRANSFER_COMPLETE": 1,
    "CHILD_TRANSFER_FAILED": 1, "RELEASE_CHILD_TRANSFER_STARTED": 1,
    "RELEASE_CHILD_TRANSFER_COMPLETE": 1,
}
FAILED_STATUSES = frozenset(s for s in STATUSES if s.endswith("_FAILED"))
PRE_START = frozenset(("CREATING", "CREATE_FAILED", "CONFIGURATION", "STARTJOBING",
                       "WAITING_FOR_START", "START_JOB_FAILED"))
FULL_PHASE = frozenset(("FULL_TRANSFER_STARTED", "FULL_TRANSFER_FAILED"))
# statuses of a job that got past the full phase (full_transfer_complete_time is set)
PASSED_FULL = frozenset(STATUSES) - PRE_START - FULL_PHASE
INCREMENTAL = frozenset(("INCRE_TRANSFER_STARTED", "INCRE_TRANSFER_FAILED", "PAUSING",
                         "CHANGE_JOB_STARTED", "CHANGE_JOB_FAILED", "CHILD_TRANSFER_STARTING",
                         "CHILD_TRANSFER_STARTED", "CHILD_TRANSFER_COMPLETE",
                         "CHILD_TRANSFER_FAILED"))

_cum = []
_acc = 0
for _s in STATUSES:
    _acc += STATUS_WEIGHTS[_s]
    _cum.append(_acc)
STATUS_CUM = tuple(_cum)
STATUS_TOTAL = _acc

ENGINES = {
    "migration": (("mysql", 55), ("postgresql", 70), ("mongodb", 85), ("mysql-to-taurus", 100)),
    "sync": (("mysql", 40), ("postgresql", 70), ("mysql-to-taurus", 90), ("mongodb", 100)),
    "cloudDataGuard": (("cloudDataGuard-mysql", 100),),
}
ENGINE_DB = {
    "mysql": ("mysql", "mysql"), "postgresql": ("postgresql", "postgresql"),
    "mongodb": ("mongodb", "mongodb"), "mysql-to-taurus": ("mysql", "taurus"),
    "cloudDataGuard-mysql": ("mysql", "mysql"),
}
ENGINE_SHORT = {"mysql": "mysql", "postgresql": "pg", "mongodb": "mongo",
                "mysql-to-taurus": "taurus", "cloudDataGuard-mysql": "dr"}
DB_PORTS = {"mysql": 3306, "taurus": 3306, "postgresql": 5432, "mongodb": 8635}
DB_USERS = {"mysql": ("root", "drs_repl", "migrator"), "taurus": ("root", "drs_repl"),
            "postgresql": ("postgres", "drs_repl"), "mongodb": ("rwuser", "drs_repl")}
NET_TYPES = ("eip", "vpc", "vpn")
SUFFIXES = ("101", "21", "502", "15", "17", "01")
WORDS = ("orders", "billing", "crm", "erp", "inventory", "analytics", "payments", "users",
         "ledger", "warehouse", "Zurich", "Berlin", "Frankfurt", "Munich", "logistics", "hr",
         "reports", "Shop", "CustomerDB", "eu_west", "legacy", "TeamA")
DESC_PLAIN = ("Nightly replication of the {w} database",
              "Migrate {w} from on-premises to RDS, batch {n}",
              "Owner: team {w}; change ticket CHG{n:06d}")
DESC_UNICODE = ("Migration für Zürich — 迁移 {n}",
                "Réplication des données « {w} » – étape {n}",
                "Синхронизация {w} № {n} 🚀",
                "数据复制任务 {n}：{w}")
DESC_WS = ("Line one\nLine two\twith a tab ({n})",
           "Windows line end\r\nsecond line {n}",
           "\tleading tab and trailing spaces {n}  ")
# Real descriptions exclude !<>'&"\ -- a few jobs carry them anyway (README).
DESC_SPECIAL = ("Quotes \"double\" and 'single' & <angle> brackets! path C:\\drs\\{n}",
                "Injection test: \", \"status\": \"HACKED\", \"x\": \"\\u0000 {n}",
                "5 > 3 & 2 < 4 !important '{w}' \\\\server\\share")
FAIL_MESSAGES = (
    ("DRS.M05020", "service LOGMANAGER failed, cause by: Unable to connect to DBMS: "
     "url=jdbc:{scheme}://{ip}:{port}?useUnicode=true&characterEncoding=UTF-8"
     "&connectTimeout=5000&useSSL=false user={user}"),
    ("DRS.M05021", "Full migration failed: table `{w}`.`t_{n}` has no primary key and "
     "the destination rejected duplicate rows"),
    ("DRS.M05022", "The source database binlog was purged before position mysql-bin.{n:06d}; "
     "incremental replication cannot continue"),
)

MSG = {
    "DRS.M00007": "Invalid request parameter.",
    "DRS.M00100": "Invalid token.",
    "DRS.M00201": "The parameter %s is empty.",
    "DRS.M00202": "The value of parameter %s is invalid.",
    "DRS.M00210": "The value of Page is invalid, %s",
    "DRS.M00211": "The value of Page exceeds the upper limit.",
    "DRS.M00261": "Invalid project ID.",
    "DRS.M00300": "Invalid request, %s",
    "DRS.M00301": "There are duplicate %s in request.",
    "DRS.M00004": "Service is abnormal. Check logs.",
    "DRS.M01503": "Operation too frequent. Try again later.",
    "DRS.M05003": "Task information not found.",
    "DRS.M05004": "The task has been deleted or the resource has been released.",
}

DOC_JOBS_JSON = r'''
[
  {
    "id": "24834eb6-be30-464e-a299-f7aa730jb101",
    "name": "DRS-3999-lws",
    "status": "STARTJOBING",
    "description": "",
    "create_time": "1608519469412",
    "task_type": "FULL_INCR_TRANS",
    "source_endpoint": {
      "ip": "172.22.74.56",
      "region": "eu-de",
      "db_type": "mysql",
      "db_port": 3306,
      "ssl_link": false,
      "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
      "db_user": "root"
    },
    "target_endpoint": {
      "ip": "172.21.176.219",
      "region": "eu-de",
      "db_type": "mysql",
      "db_port": 3306,
      "ssl_link": false,
      "inst_id": "3ef57dbcc8db478a9e346d26ef2575bfin01",
      "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
      "inst_name": "rds-lws-target",
      "db_user": "root",
      "vpc_id": "0ff8df7b-f0e9-4b16-ac16-1db3dacb69e4",
      "subnet_id": "f857d371-2f03-4622-85f6-2b7d42d0d82c"
    },
    "inst_info": {
      "ip": "172.16.213.101",
      "inst_type": "high",
      "engine_type": "mysql",
      "volume_size": 100,
      "public_ip": "10.154.219.202",
      "start_time": "0"
    },
    "actual_start_time": "1608520069393",
    "update_time": "1608520068979",
    "job_direction": "up",
    "db_use_type": "migration",
    "need_restart": false,
    "is_target_readonly": true,
    "speed_limit": [],
    "schema_type": "Tungsten",
    "object_switch": true,
    "replace_definer": true,
    "migrate_user": false,
    "az_code": "az2xahz",
    "vpc_id": "0ff8df7b-f0e9-4b16-ac16-1db3dacb69e4",
    "subnet_id": "f857d371-2f03-4622-85f6-2b7d42d0d82c",
    "security_group_id": "d90c971b-4b9d-402c-9c59-5c239389b8dd",
    "support_ip_v6": false
  },
  {
    "id": "140b5236-88ad-43c8-811c-1268453jb101",
    "name": "DRS-0042-linxiaolu",
    "status": "CONFIGURATION",
    "description": "",
    "create_time": "1608366204171",
    "task_type": "FULL_INCR_TRANS",
    "source_endpoint": {
      "ip": "192.168.0.27",
      "region": "eu-de",
      "db_type": "mysql",
      "db_port": 3306,
      "ssl_link": false,
      "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
      "db_user": "root"
    },
    "target_endpoint": {
      "ip": "192.168.0.131",
      "region": "eu-de",
      "db_type": "mysql",
      "db_port": 3306,
      "ssl_link": false,
      "inst_id": "e05a3679efe241d8b5dee80b17c1a863in01",
      "project_id": "054ba152d480d55b2f5dc0069e7ddef0",
      "inst_name": "rds-1417-lxl",
      "db_user": "root",
      "vpc_id": "65f0391c-0582-44a6-aa50-248f97ed82e1",
      "subnet_id": "352ad828-3467-4f03-987a-c55a5a9dd417"
    },
    "inst_info": {
      "ip": "192.168.0.229",
      "status": "ACTIVE",
      "inst_type": "high",
      "engine_type": "mysql",
      "volume_size": 100,
      "public_ip": "10.154.219.72",
      "start_time": "0"
    },
    "actual_start_time": "1608369232412",
    "full_transfer_complete_time": "1608369510202",
    "update_time": "1608517066434",
    "job_direction": "up",
    "db_use_type": "migration",
    "need_restart": false,
    "is_target_readonly": true,
    "speed_limit": [],
    "schema_type": "Tungsten",
    "object_switch": false,
    "replace_definer": true,
    "migrate_user": false,
    "az_code": "az2xahz",
    "vpc_id": "65f0391c-0582-44a6-aa50-248f97ed82e1",
    "subnet_id": "352ad828-3467-4f03-987a-c55a5a9dd417",
    "security_group_id": "d90c971b-4b9d-402c-9c59-5c239389b8dd",
    "support_ip_v6": false
  }
]
'''
# list-only attributes of the two documented jobs, from the list example
DOC_LIST_EXTRAS = {"net_type": "eip", "billing_tag": False, "node_newFramework": False}
SECRET_KEYS = ("db_password", "ssl_cert_password", "ssl_cert_key")


# ---------------------------------------------------------------- utilities

# rendered batch-detail entries kept by the simulator (see do_batch)
DETAIL_CACHE_MAX = 500000


def dumps(obj):
    """One JSON encoding per response: compact, UTF-8, non-ASCII kept."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:       # lone surrogates from a patched job: escape them
        return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _reject_constant(name):
    raise ValueError("non-standard JSON constant " + name)


def loads_strict(data):
    """Parse a request body; raises ValueError on anything that is not strict JSON."""
    text = data.decode("utf-8")
    return json.loads(text, parse_constant=_reject_constant)


def parse_offset(text):
    """'+08:00' / '-05:30' / 'Z' / 'UTC' -> seconds east of UTC."""
    if not isinstance(text, str):
        raise ValueError("offset must be a string like +08:00")
    t = text.strip()
    if t in ("Z", "UTC", "utc", "z"):
        return 0
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", t)
    if not m or int(m.group(2)) > 14 or int(m.group(3)) > 59:
        raise ValueError("offset must look like +08:00")
    secs = int(m.group(2)) * 3600 + int(m.group(3)) * 60
    return -secs if m.group(1) == "-" else secs


def to_int(value, default=0):
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return default


def list_time(value, offset_s):
    """Epoch-ms (string or number) -> 'YYYY-MM-DD HH:MM:SS' wall time at offset_s."""
    ms = to_int(value, None)
    if ms is None:
        return value if isinstance(value, str) else ""
    t = time.gmtime(ms // 1000 + offset_s)
    return "%04d-%02d-%02d %02d:%02d:%02d" % t[:6]


def iso_z(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def media_type(ct):
    return (ct or "").split(";", 1)[0].strip().lower()


def deep_merge(dst, patch):
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)
    return dst


_LONG_OPAQUE = re.compile(r"[A-Za-z0-9+/=_\-]{200,}")


def mask_passwords(obj):
    """Copy of a parsed body with every password-like value replaced by '***'."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            secret = isinstance(k, str) and ("password" in k.lower() or "token" in k.lower()
                                             or k.lower() in ("ssl_cert_key", "secret", "sk"))
            if secret and not isinstance(v, (dict, list)):
                out[k] = "***"
            else:
                out[k] = mask_passwords(v)
        return out
    if isinstance(obj, list):
        return [mask_passwords(v) for v in obj]
    return obj


# ---------------------------------------------------------------- data set

class DataSet:
    """The startup data set: two documented jobs plus N-2 generated ones.

    Only what list ordering and filtering need is kept per job (a small tuple);
    a generated job's detail is rebuilt on demand from (seed, index).
    """

    # meta tuple layout; tuples sort by (-create_ms, id) = list order
    NEG, ID, DBU, STATUS, NAMEL, ENGINE, NET, ORIGIN = range(8)

    def __init__(self, n_jobs, seed, project_id):
        self.seed = seed
        self.project_id = project_id
        docs = json.loads(DOC_JOBS_JSON)
        self.doc = []
        for d in docs[:max(0, min(2, n_jobs))]:
            for role, key in (("src", "source_endpoint"), ("tgt", "target_endpoint")):
                ep = d[key]
                ep["db_password"] = "CANARY-dbpw-%s-%s" % (role, d["id"])
                ep["ssl_cert_password"] = "CANARY-sslpw-%s-%s" % (role, d["id"])
                ep["ssl_cert_key"] = "CANARY-sslkey-%s-%s-TUlJQ2RUQ0NBZDJnQXdJQkFnSUpBTjhr" % (
                    role, d["id"])
            self.doc.append(d)
        self.n_gen = max(0, n_jobs - len(self.doc))
        self.salt = {}                  # index -> attempt, only on (improbable) id collision
        by_id = {}
        for k, d in enumerate(self.doc):
            by_id[d["id"]] = self.meta_from_detail(d, -1 - k)
        core = self.core_ids
        for i in range(self.n_gen):
            c = core(i)
            while c[1] in by_id:
                self.salt[i] = self.salt.get(i, 0) + 1
                c = core(i)
            by_id[c[1]] = (-c[5], c[1], c[2], c[3], c[4].lower(), c[6], c[7], i)
        self.by_id = by_id
        self.sorted = sort_metas(by_id)

    # -- identity and list attributes (cheap, from one digest)
    def digest(self, i):
        a = self.salt.get(i, 0)
        key = (b"%d:%d" % (self.seed, i)) if not a else (b"%d:%d:%d" % (self.seed, i, a))
        return hashlib.blake2b(key, digest_size=32).digest()

    def core_ids(self, i):
        """(digest, id, db_use_type, status, name, create_ms, engine_type, net_type)"""
        d = self.digest(i)
        h = d.hex()
        suf = SUFFIXES[d[15] % len(SUFFIXES)]
        jid = "%s-%s-%s-%s-%sjb%s" % (h[0:8], h[8:12], h[12:16], h[16:20],
                                       h[20:30 - len(suf)], suf)
        b = d[16] * 100 >> 8              # uniform 0..99
        dbu = "migration" if b < 60 else ("sync" if b < 85 else "cloudDataGuard")
        if i < len(STATUSES):           # every status appears at least once
            status = STATUSES[i]
        else:
            status = STATUSES[bisect_right(STATUS_CUM, ((d[17] << 8) | d[18]) % STATUS_TOTAL)]
        e = d[21] * 100 >> 8
        engine = next(name for name, lim in ENGINES[dbu] if e < lim)
        net = NET_TYPES[d[22] % 3]
        create_ms = BASE_MS + int.from_bytes(d[19:24], "big") % SPAN_MS
        w1 = WORDS[d[25] % len(WORDS)]
        w2 = WORDS[d[26] % len(WORDS)]
        p = d[24] % 8
        if p <= 1:
            name = "DRS-%04d-%s" % (((d[25] << 8) | d[27]) % 10000, w2.lower())
        elif p == 2:
            name = "%s-%s_%s-%d" % (w1, ENGINE_SHORT[engine], dbu, i)
        elif p == 3:
            name = "%s_%s_%d" % (w1, w2, i)
        elif p == 4:
            name = "%s-%06d" % (w1.upper(), i)
        elif p == 5:
            name = ("%s-%s-nightly-replication-task-eu-de-%d" % (w1, w2, i))[:50]
        elif p == 6:
            name = "mig%d" % i
        else:
            name = "job_%s-%d" % (w2, i)
        return d, jid, dbu, status, name, create_ms, engine, net

    def core_more(self, d, i, dbu):
        """(task_type, job_direction, billing_tag, node_newFramework, description)"""
        t = d[23] * 10 >> 8
        task_type = "FULL_INCR_TRANS" if t < 7 else ("FULL_TRANS" if t < 9 else "INCR_TRANS")
        x = d[28] * 10 >> 8
        if dbu == "migration":
            direction = "non-dbs" if x < 2 else "up"
        elif dbu == "sync":
            direction = "down" if x < 3 else "up"
        else:
            direction = "down" if x < 5 else "up"
        billing = bool(d[29] & 1)
        node_nf = bool(d[29] & 2)
        k = d[30] * 100 >> 8
        if len(STATUSES) <= i < len(STATUSES) + 5:     # guarantee each kind early on
            k = (60, 85, 95, 98, 99)[i - len(STATUSES)]
        w = WORDS[d[31] % len(WORDS)]
        v = d[31] >> 2
        if k < 55:
            desc = ""
        elif k < 80:
            desc = DESC_PLAIN[v % len(DESC_PLAIN)].format(w=w, n=i)
        elif k < 92:
            desc = DESC_UNICODE[v % len(DESC_UNICODE)].format(w=w, n=i)
        elif k < 97:
            desc = DESC_WS[v % len(DESC_WS)].format(w=w, n=i)
        else:
            desc = DESC_SPECIAL[(v + k) % len(DESC_SPECIAL)].format(w=w, n=i)
        return task_type, direction, billing, node_nf, desc

    def extras(self, origin):
        """List-only attributes (billing_tag, node_newFramework, net_type) of a job origin."""
        if origin is None:
            return {}
        if origin < 0:
            return DOC_LIST_EXTRAS
        d, _jid, dbu, _st, _nm, _cm, engine, net = self.core_ids(origin)
        _tt, _dir, billing, node_nf, _desc = self.core_more(d, origin, dbu)
        return {"net_type": net, "billing_tag": billing, "node_newFramework": node_nf,
                "engine_type": engine}

    @staticmethod
    def meta_from_detail(det, origin, extras=None):
        extras = extras or {}
        ii = det.get("inst_info") if isinstance(det.get("inst_info"), dict) else {}
        name = det.get("name")
        engine = ii.get("engine_type", extras.get("engine_type", ""))
        net = det.get("net_type", extras.get("net_type", ""))
        if origin is not None and origin < 0:
            net = det.get("net_type", DOC_LIST_EXTRAS["net_type"])
        return (-to_int(det.get("create_time"), 0), det.get("id"), det.get("db_use_type"),
                det.get("status"), name.lower() if isinstance(name, str) else "",
                engine, net, origin)

    # -- full generated detail (observed types, no field dropped)
    def gen_detail(self, i):
        d, jid, dbu, status, name, cms, engine, net = self.core_ids(i)
        task_type, direction, billing, node_nf, desc = self.core_more(d, i, dbu)
        r = random.Random(int.from_bytes(d, "big"))
        src_type, tgt_type = ENGINE_DB[engine]
        az = "eu-de-0%d" % r.randint(1, 3)
        vpc, subnet, sg = _uuid(r), _uuid(r), _uuid(r)
        start = cms + r.randint(30000, 3600000)
        full = None
        if status in PASSED_FULL and task_type != "INCR_TRANS":
            full = start + r.randint(600000, 2 * 86400000)
        update = (full or start) + r.randint(1000, 30 * 86400000)
        sharded = src_type == "mongodb" and r.random() < 0.5
        src = self._endpoint(r, jid, "src", src_type, az, direction == "non-dbs", sharded)
        tgt = self._endpoint(r, jid, "tgt", tgt_type, az, False, False, vpc, subnet, sg)
        job = {"id": jid, "parent_id": "", "name": name, "status": status, "description": desc,
               "create_time": str(cms), "task_type": task_type,
               "source_endpoint": src, "target_endpoint": tgt}
        if dbu != "migration" and r.random() < 0.3:
            job["dmq_endpoint"] = self._endpoint(r, jid, "dmq", tgt_type, az, False, False,
                                                 vpc, subnet, sg)
        if sharded:
            job["source_sharding"] = [
                self._endpoint(r, jid, "shard%d" % k, "mongodb", az, direction == "non-dbs",
                               False) for k in range(r.randint(2, 3))]
        job["net_type"] = net
        failed = status in FAILED_STATUSES
        err = None
        if failed:
            code, tmpl = FAIL_MESSAGES[r.randrange(len(FAIL_MESSAGES))]
            err = (code, tmpl.format(scheme=src_type, ip=src["ip"], port=src["db_port"],
                                     user=src["db_user"], w=WORDS[r.randrange(len(WORDS))],
                                     n=r.randrange(1, 999999)))
            job["failed_reason"] = err[1][:120]
        else:
            job["failed_reason"] = ""
        released = status in ("RELEASE_RESOURCE_COMPLETE", "RELEASE_CHILD_TRANSFER_COMPLETE")
        inst = {"engine_type": engine, "inst_type": "high", "ip": _ip(r, "172.16"),
                "public_ip": _ip(r, "80.158") if net == "eip" else "",
                "start_time": "0", "status": "deleted" if released else "active",
                "volume_size": r.choice((50, 100, 100, 200, 500))}
        job["inst_info"] = inst
        job["actual_start_time"] = str(start)
        if full is not None:
            job["full_transfer_complete_time"] = str(full)
        job["update_time"] = str(update)
        job["job_direction"] = direction
        job["db_use_type"] = dbu
        job["need_restart"] = r.random() < 0.1
        job["is_target_readonly"] = r.random() < 0.7
        job["conflict_policy"] = r.choice(("stop", "overwrite", "ignore"))
        job["filter_ddl_policy"] = r.choice(("", "", "drop_database", "drop_databasefilter_all"))
        if r.random() < 0.25:
            job["speed_limit"] = [{"begin": "%02d:00" % h, "end": "%02d:00" % (h + 6),
                                   "is_utc": r.random() < 0.5, "speed": str(r.randint(1, 9999))}
                                  for h in sorted(r.sample(range(0, 18, 6), r.randint(1, 2)))]
        else:
            job["speed_limit"] = []
        job["schema_type"] = ("PGBaseBackup" if src_type == "postgresql" else
                              "Replication" if src_type == "mongodb" else
                              r.choice(("Tungsten", "Replication")))
        job["node_num"] = str(r.choice((1, 1, 1, 2, 4)))
        job["object_switch"] = r.random() < 0.6
        job["master_job_id"] = ""
        job["full_mode"] = r.choice(("", "snapshot", "lock"))
        job["struct_trans"] = task_type != "INCR_TRANS"
        job["index_trans"] = task_type != "INCR_TRANS"
        job["replace_definer"] = src_type == "mysql" and r.random() < 0.8
        job["migrate_user"] = r.random() < 0.3
        job["sync_database"] = dbu == "sync" and r.random() < 0.5
        if err:
            job["error_code"], job["error_message"] = err
        if tgt_type in ("mysql", "taurus"):
            job["target_root_db"] = {"db_name": "%s_%d" % (WORDS[i % len(WORDS)].lower(), i),
                                     "db_encoding": r.choice(("utf8mb4", "utf8"))}
        elif tgt_type == "postgresql":
            job["target_root_db"] = {"db_name": "postgres", "db_encoding": "UTF8"}
        job["az_code"] = az
        job["vpc_id"] = vpc
        job["subnet_id"] = subnet
        job["security_group_id"] = sg
        job["multi_write"] = dbu == "cloudDataGuard" and r.random() < 0.2
        job["support_ip_v6"] = r.random() < 0.1
        job["inherit_id"] = ""
        job["gtid"] = ("3E11FA47-71CA-11E1-9E33-C80AA9429562:1-%d" % r.randint(5, 99999)
                       if src_type == "mysql" and status in INCREMENTAL else "")
        if dbu == "cloudDataGuard" or r.random() < 0.7:
            job["alarm_notify"] = {
                "subscriptions": [
                    {"endpoints": ["+491555%07d" % r.randrange(10 ** 7)], "protocol": "sms"},
                    {"endpoints": ["dba-%s@example.com" % WORDS[r.randrange(len(WORDS))].lower(),
                                   "oncall-%d@example.org" % r.randrange(1000)],
                     "protocol": "email"}],
                "topic_name": "drs-alarm-%s" % jid[:8],
                "delay_time": r.choice((0, 60, 300)),
                "rto_delay": r.choice((0, 30, 120)),
                "rpo_delay": r.choice((0, 30, 120)),
                "alarm_to_user": r.random() < 0.5}
        job["is_multi_az"] = r.random() < 0.15
        job["az_name"] = az
        job["master_az"] = az if job["is_multi_az"] else ""
        job["slave_az"] = ("eu-de-0%d" % (int(az[-1]) % 3 + 1)) if job["is_multi_az"] else ""
        job["node_role"] = "master" if direction != "down" else "slave"
        job["incre_start_position"] = (
            "mysql-bin.%06d:%d" % (r.randint(1, 999), r.randint(4, 10 ** 7))
            if src_type == "mysql" and task_type != "FULL_TRANS" else "")
        if r.random() < 0.2:
            job["issue_coupon"] = r.random() < 0.3
        if r.random() < 0.08:
            job["period_order"] = {"order_id": "CS%014d" % r.randrange(10 ** 14),
                                   "period_type": 2, "period_num": r.randint(1, 12),
                                   "is_auto_renew": 0}
        return job

    def _endpoint(self, r, jid, role, db_type, az, self_built, sharded,
                  vpc=None, subnet=None, sg=None):
        ssl_link = r.random() < 0.3
        e = {"db_type": db_type, "az_code": az, "region": "eu-de"}
        if not self_built:
            e["inst_id"] = "%032xin01" % r.getrandbits(128)
        e["vpc_id"] = vpc or _uuid(r)
        e["subnet_id"] = subnet or _uuid(r)
        e["security_group_id"] = sg or _uuid(r)
        e["project_id"] = self.project_id
        e["db_password"] = "CANARY-dbpw-%s-%s" % (role, jid)
        e["db_port"] = DB_PORTS[db_type] if r.random() < 0.85 else r.randint(1024, 65535)
        e["db_user"] = r.choice(DB_USERS[db_type])
        if not self_built:
            e["inst_name"] = "%s-%s-%s" % (("rds" if db_type != "mongodb" else "dds"), role,
                                           jid[:6])
        e["ip"] = _ip(r, "192.168")
        if db_type == "mongodb":
            e["mongo_ha_mode"] = "Sharding" if sharded else "Replica"
        e["ssl_cert_password"] = "CANARY-sslpw-%s-%s" % (role, jid)
        e["ssl_cert_check_sum"] = hashlib.sha256(("%s-%s" % (jid, role)).encode()).hexdigest()
        e["ssl_cert_key"] = "CANARY-sslkey-%s-%s-%s" % (
            role, jid, base64.b64encode(r.getrandbits(192).to_bytes(24, "big")).decode())
        e["ssl_cert_name"] = ("ca-%s.pem" % role) if ssl_link else ""
        e["ssl_link"] = ssl_link
        if sharded:
            e["cluster_mode"] = "Sharding4.0+"
        return e

    def list_item_fast(self, i, offset_s):
        """JobInfo of an unmodified generated job without building its detail."""
        d, jid, dbu, status, name, cms, engine, net = self.core_ids(i)
        if status in FAILED_STATUSES:    # error_msg needs the detail
            return list_item(self.gen_detail(i), self.extras(i), offset_s)
        task_type, direction, billing, node_nf, desc = self.core_more(d, i, dbu)
        return {"id": jid, "name": name, "status": status, "description": desc,
                "create_time": list_time(cms, offset_s), "engine_type": engine,
                "net_type": net, "billing_tag": billing, "job_direction": direction,
                "db_use_type": dbu, "task_type": task_type, "node_newFramework": node_nf,
                "children": []}


def _uuid(r):
    return "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16),
                                          r.getrandbits(16), r.getrandbits(16),
                                          r.getrandbits(48))


def _ip(r, prefix):
    return "%s.%d.%d" % (prefix, r.randrange(256), r.randint(1, 254))


def sort_metas(by_id):
    out = {u: [] for u in DB_USE_TYPES}
    for m in by_id.values():
        lst = out.get(m[DataSet.DBU])
        if lst is not None:
            lst.append(m)
    for lst in out.values():
        lst.sort(key=lambda m: (m[0], m[1]))
    return out


def list_item(det, extras, offset_s):
    """JobInfo (task list entry) derived from a job's detail record."""
    ii = det.get("inst_info") if isinstance(det.get("inst_info"), dict) else {}
    status = det.get("status", "")
    item = {"id": det.get("id"), "name": det.get("name", ""), "status": status,
            "description": det.get("description", ""),
            "create_time": list_time(det.get("create_time"), offset_s)}
    if status in FAILED_STATUSES and det.get("error_message"):
        item["error_msg"] = det["error_message"]
    item["engine_type"] = ii.get("engine_type", extras.get("engine_type", ""))
    item["net_type"] = det.get("net_type", extras.get("net_type", ""))
    item["billing_tag"] = det.get("billing_tag", extras.get("billing_tag", False))
    item["job_direction"] = det.get("job_direction", "")
    item["db_use_type"] = det.get("db_use_type", "")
    item["task_type"] = det.get("task_type", "")
    item["node_newFramework"] = det.get("node_newFramework",
                                        extras.get("node_newFramework", False))
    item["children"] = []
    return item


# ---------------------------------------------------------------- job store

class Snapshot:
    __slots__ = ("by_id", "sorted", "stored", "deleted", "version")

    def __init__(self, by_id, sorted_, stored, deleted, version):
        self.by_id, self.sorted, self.stored = by_id, sorted_, stored
        self.deleted, self.version = deleted, version


class JobStore:
    """Current jobs: the immutable data set plus mutations (copy-on-write snapshots)."""

    def __init__(self, data):
        self.data = data
        self.lock = threading.Lock()
        self.base = Snapshot(data.by_id, data.sorted, {}, frozenset(), 0)
        self.snap = self.base
        self.version = 0
        self.list_cache = collections.OrderedDict()

    def reset(self):
        with self.lock:
            self.snap = self.base
            self.list_cache.clear()

    def raw(self, jid, snap=None):
        """('ok', detail, origin, stored) | ('deleted'|'unknown', None, None, False).
        The detail is a fresh object (observed types, nothing dropped)."""
        s = snap or self.snap
        if jid in s.deleted:
            return "deleted", None, None, False
        meta = s.by_id.get(jid)
        if meta is None:
            return "unknown", None, None, False
        origin = meta[DataSet.ORIGIN]
        st = s.stored.get(jid)
        if st is not None:
            return "ok", copy.deepcopy(st), origin, True
        if origin >= 0:
            return "ok", self.data.gen_detail(origin), origin, False
        return "ok", copy.deepcopy(self.data.doc[-1 - origin]), origin, False

    def _commit(self, by_id, stored, deleted, dbus):
        s = self.snap
        if by_id is not s.by_id:
            sorted_ = dict(s.sorted)
            for u in dbus:
                if u in sorted_:
                    lst = [m for m in by_id.values() if m[DataSet.DBU] == u]
                    lst.sort(key=lambda m: (m[0], m[1]))
                    sorted_[u] = lst
        else:
            sorted_ = s.sorted
        self.version += 1
        self.snap = Snapshot(by_id, sorted_, stored, deleted, self.version)
        self.list_cache.clear()

    def mutate(self, jid, patch):
        with self.lock:
            kind, det, origin, _ = self.raw(jid)
            if kind != "ok":
                return None
            old_meta = self.snap.by_id[jid]
            old_status = det.get("status")
            deep_merge(det, patch)
            det["id"] = jid
            new_status = det.get("status")
            if "status" in patch and new_status != old_status:
                if new_status in FAILED_STATUSES:
                    if "error_code" not in patch and not det.get("error_code"):
                        det["error_code"] = "DRS.M05020"
                    if "error_message" not in patch and not det.get("error_message"):
                        det["error_message"] = "Task failed (status set by the simulator " \
                                               "control API)."
                else:
                    for k in ("error_code", "error_message"):
                        if k not in patch:
                            det.pop(k, None)
            if "update_time" not in patch:
                cur = max(to_int(det.get("update_time"), 0), to_int(det.get("create_time"), 0),
                          to_int(det.get("actual_start_time"), 0),
                          to_int(det.get("full_transfer_complete_time"), 0))
                det["update_time"] = str(cur + 60000)
            extras = self.data.extras(origin)
            meta = DataSet.meta_from_detail(det, origin, extras)
            by_id = dict(self.snap.by_id)
            by_id[jid] = meta
            stored = dict(self.snap.stored)
            stored[jid] = det
            self._commit(by_id, stored, self.snap.deleted,
                         {old_meta[DataSet.DBU], meta[DataSet.DBU]})
            return det

    def delete(self, jid):
        with self.lock:
            s = self.snap
            meta = s.by_id.get(jid)
            if meta is None:
                return False
            by_id = dict(s.by_id)
            del by_id[jid]
            stored = dict(s.stored)
            stored.pop(jid, None)
            self._commit(by_id, stored, s.deleted | {jid}, {meta[DataSet.DBU]})
            return True

    def add(self, job):
        with self.lock:
            s = self.snap
            jid = job["id"]
            if jid in s.by_id:
                return False
            det = copy.deepcopy(job)
            meta = DataSet.meta_from_detail(det, None)
            by_id = dict(s.by_id)
            by_id[jid] = meta
            stored = dict(s.stored)
            stored[jid] = det
            self._commit(by_id, stored, s.deleted - {jid}, {meta[DataSet.DBU]})
            return True

    def list_matches(self, dbu, status, name, engine, net, tags_filter):
        """All metas of a db_use_type matching the filters, in list order (cached)."""
        s = self.snap
        key = (s.version, dbu, status, name, engine, net, tags_filter)
        with self.lock:
            hit = self.list_cache.get(key)
            if hit is not None:
                self.list_cache.move_to_end(key)
                return s, hit
        seq = s.sorted.get(dbu, [])
        if tags_filter:
            res = []            # the data set has no tagged jobs
        elif not (status or name or engine or net):
            res = seq
        else:
            name_l = name.lower() if name else None
            D = DataSet
            res = [m for m in seq
                   if (not status or m[D.STATUS] == status)
                   and (not engine or m[D.ENGINE] == engine)
                   and (not net or m[D.NET] == net)
                   and (not name or m[D.ID] == name or name_l in m[D.NAMEL])]
        with self.lock:
            self.list_cache[key] = res
            while len(self.list_cache) > 64:
                self.list_cache.popitem(last=False)
        return s, res


# ---------------------------------------------------------------- output shaping

OPTIONAL_PROTECTED = frozenset(("id", "name", "status", "db_use_type", "create_time"))


def drop_optional(det, seed):
    """Deterministically drop some optional fields (about one in five) of one job."""
    r = random.Random(int.from_bytes(hashlib.blake2b(
        ("%d|drop|%s" % (seed, det.get("id"))).encode(), digest_size=16).digest(), "big"))
    for k in list(det.keys()):
        if k in OPTIONAL_PROTECTED:
            continue
        if r.random() < 0.2:
            del det[k]
            continue
        v = det[k]
        if k in ("source_endpoint", "target_endpoint", "inst_info") and isinstance(v, dict):
            for kk in list(v.keys()):
                if kk not in SECRET_KEYS and r.random() < 0.15:
                    del v[kk]
    return det


def _declared_endpoint(ep):
    if isinstance(ep, dict) and isinstance(ep.get("ssl_link"), bool):
        ep["ssl_link"] = "true" if ep["ssl_link"] else "false"


def declared_types(det):
    """B11 'declared' mode: the types the DRS tables declare instead of those observed."""
    for k in ("source_endpoint", "target_endpoint", "dmq_endpoint"):
        _declared_endpoint(det.get(k))
    if isinstance(det.get("source_sharding"), list):
        for ep in det["source_sharding"]:
            _declared_endpoint(ep)
    ii = det.get("inst_info")
    if isinstance(ii, dict):
        if isinstance(ii.get("start_time"), str) and ii["start_time"].lstrip("-").isdigit():
            ii["start_time"] = int(ii["start_time"])
        if isinstance(ii.get("status"), str):
            ii["status"] = ii["status"].upper()
    if isinstance(det.get("node_num"), str) and det["node_num"].isdigit():
        det["node_num"] = int(det["node_num"])
    return det


def progress_for(det):
    """QueryProgressResp derived from a job's (current) detail."""
    jid = det.get("id", "")
    status = det.get("status", "")
    tt = det.get("task_type") or "FULL_INCR_TRANS"
    r = random.Random(int.from_bytes(hashlib.blake2b(
        ("progress|%s|%s" % (jid, status)).encode(), digest_size=8).digest(), "big"))
    no_full = tt == "INCR_TRANS"
    if status in PRE_START:
        pct, parts, remaining = 0, (0, 0, 0), "0"
    elif status in FULL_PHASE:
        pct = r.randint(1, 99)
        parts = (100, pct, 0)
        remaining = str(r.randint(60, 7200)) if status == "FULL_TRANSFER_STARTED" else "0"
    elif status in PASSED_FULL or status not in STATUSES:
        pct, parts, remaining = 100, (100, 100, 100), "0"
    else:
        pct, parts, remaining = 0, (0, 0, 0), "0"
    if status in INCREMENTAL:
        delay = str(r.randint(0, 30))
        process_time = str(det.get("update_time") or "0")
    else:
        delay = "-1" if status in PASSED_FULL or status in FULL_PHASE else "0"
        process_time = (str(det.get("actual_start_time") or "0")
                        if status == "FULL_TRANSFER_STARTED" else "0")
        if status in ("FULL_TRANSFER_COMPLETE", "RELEASE_RESOURCE_STARTED",
                      "RELEASE_RESOURCE_FAILED", "RELEASE_RESOURCE_COMPLETE",
                      "RELEASE_CHILD_TRANSFER_STARTED", "RELEASE_CHILD_TRANSFER_COMPLETE"):
            process_time = str(det.get("full_transfer_complete_time")
                               or det.get("update_time") or "0")
    if no_full and status not in PRE_START:
        pct, remaining = 100, "0"
    res = {"progress": str(pct), "job_id": jid, "incre_trans_delay": delay, "task_mode": tt,
           "transfer_status": status, "process_time": process_time,
           "remaining_time": remaining}
    if not no_full:
        res["progress_map"] = {
            key: {"completed": "%d%%" % val,
                  "remaining_time": (remaining if key == "data" and 0 < val < 100 else None)}
            for key, val in zip(("struct", "data", "index"), parts)}
    if status in FAILED_STATUSES:
        res["error_code"] = det.get("error_code") or "DRS.M05020"
        res["error_msg"] = det.get("error_message") or "Task failed."
    return res


# ---------------------------------------------------------------- simulator state

class Resp:
    __slots__ = ("status", "body", "ctype", "headers", "stream", "length")

    def __init__(self, status, body=b"", ctype=JSON_CT, headers=None, stream=None,
                 length=None):
        self.status, self.body, self.ctype = status, body, ctype
        self.headers = headers or []
        self.stream, self.length = stream, length


def jresp(status, obj, headers=None):
    return Resp(status, dumps(obj), JSON_CT, headers)


def drs_error(status, code, *args):
    msg = MSG.get(code, code)
    if args:
        msg = msg % args
    return jresp(status, {"error_code": code, "error_msg": msg})


def apigw_error(status, code, msg, headers=None):
    return jresp(status, {"error_code": code, "error_msg": msg,
                          "request_id": uuid.uuid4().hex}, headers)


def keystone_error(status, title, message):
    return jresp(status, {"error": {"code": status, "message": message, "title": title}})


CONFIG_KEYS = ("latency_ms", "unknown_id_mode", "types", "max_batch", "count_mode",
               "token_ttl", "invalid_token_status", "rate_limit", "rate_limit_style",
               "list_tz", "drop_optional", "engine_type_default")


def validate_config(key, v):
    """Return the normalised value or raise ValueError."""
    num = (int, float)
    if key == "latency_ms":
        if isinstance(v, bool) or not isinstance(v, num) or v < 0:
            raise ValueError("latency_ms must be a number >= 0")
        return v
    if key == "unknown_id_mode":
        if v not in ("a", "b", "c"):
            raise ValueError("unknown_id_mode must be a, b or c")
        return v
    if key == "types":
        if v not in ("observed", "declared"):
            raise ValueError("types must be observed or declared")
        return v
    if key == "max_batch":
        if not is_int(v) or v < 1:
            raise ValueError("max_batch must be an integer >= 1")
        return v
    if key == "count_mode":
        if v not in ("returned", "total"):
            raise ValueError("count_mode must be returned or total")
        return v
    if key == "token_ttl":
        if isinstance(v, bool) or not isinstance(v, num) or v <= 0:
            raise ValueError("token_ttl must be a number of seconds > 0")
        return v
    if key == "invalid_token_status":
        if str(v) not in ("401", "403"):
            raise ValueError("invalid_token_status must be 401 or 403")
        return int(v)
    if key == "rate_limit":
        if isinstance(v, bool) or not isinstance(v, num) or v < 0:
            raise ValueError("rate_limit must be a number >= 0 (0 = off)")
        return v
    if key == "rate_limit_style":
        if str(v) not in ("429", "400"):
            raise ValueError("rate_limit_style must be 429 or 400")
        return int(v)
    if key == "list_tz":
        parse_offset(v)
        return v
    if key == "drop_optional":
        if not isinstance(v, bool):
            raise ValueError("drop_optional must be a boolean")
        return v
    if key == "engine_type_default":
        if v is not None and not isinstance(v, str):
            raise ValueError("engine_type_default must be null or a string")
        return v or None
    raise ValueError("unknown config key " + key)


FAULT_ACTIONS = ("status", "delay_ms", "malformed", "truncate", "html", "drop", "huge_bytes",
                 "trickle_ms", "json_response")
FAULT_KEYS = frozenset(FAULT_ACTIONS + ("endpoint", "skip", "times", "body", "json",
                                        "content_type", "headers", "chunk_bytes"))


def validate_fault(f):
    if not isinstance(f, dict):
        raise ValueError("a fault must be an object")
    bad = set(f) - FAULT_KEYS
    if bad:
        raise ValueError("unknown fault keys: " + ", ".join(sorted(bad)))
    out = dict(f)
    out["endpoint"] = f.get("endpoint", "any")
    if out["endpoint"] not in ENDPOINT_NAMES + ("any",):
        raise ValueError("endpoint must be one of " + ", ".join(ENDPOINT_NAMES + ("any",)))
    out["skip"] = f.get("skip", 0)
    out["times"] = f.get("times", 1)
    if not is_int(out["skip"]) or out["skip"] < 0:
        raise ValueError("skip must be an integer >= 0")
    if not is_int(out["times"]) or out["times"] < -1:
        raise ValueError("times must be an integer >= 1, 0, or -1 (forever)")
    if not any(k in f for k in FAULT_ACTIONS):
        raise ValueError("a fault needs an action: " + ", ".join(FAULT_ACTIONS))
    for k in ("status",):
        if k in f and (not is_int(f[k]) or not 100 <= f[k] <= 599):
            raise ValueError("status must be an HTTP status code")
    for k in ("delay_ms", "trickle_ms"):
        if k in f and (isinstance(f[k], bool) or not isinstance(f[k], (int, float)) or f[k] < 0):
            raise ValueError(k + " must be a number >= 0")
    for k in ("truncate", "huge_bytes", "chunk_bytes"):
        if k in f and (not is_int(f[k]) or f[k] < 0):
            raise ValueError(k + " must be an integer >= 0")
    if "body" in f and not isinstance(f["body"], str):
        raise ValueError("body must be a string")
    if "headers" in f and not (isinstance(f["headers"], dict)
                               and all(isinstance(v, (str, int)) for v in f["headers"].values())):
        raise ValueError("headers must be an object of strings")
    if "content_type" in f and not isinstance(f["content_type"], str):
        raise ValueError("content_type must be a string")
    out["applied"] = 0
    return out


def fault_label(f):
    parts = []
    if f.get("delay_ms"):
        parts.append("delay_ms:%s" % f["delay_ms"])
    for k in ("drop", "html", "malformed"):
        if f.get(k):
            parts.append(k)
    for k in ("huge_bytes", "truncate", "trickle_ms", "status"):
        if k in f:
            parts.append("%s:%s" % (k, f[k]))
    if "json_response" in f:
        parts.append("json_response")
    return "+".join(parts) or "none"


class Sim:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.verbose = args.verbose
        self.project_id = args.project_id
        self.project_name = args.project_name
        self.users = []
        for spec in args.user or ["drs_user:pw-CANARY-iam:drs_domain"]:
            parts = spec.split(":")
            if len(parts) < 3:
                raise SystemExit("--user must be NAME:PASSWORD:DOMAIN")
            name, domain, pw = parts[0], parts[-1], ":".join(parts[1:-1])
            self.users.append({"name": name, "password": pw, "domain": domain,
                               "id": hashlib.sha256(b"user:" + name.encode()).hexdigest()[:32],
                               "domain_id": hashlib.sha256(b"domain:" + domain.encode()
                                                           ).hexdigest()[:32]})
        self.static_tokens = {t: k for k, t in enumerate(
            args.static_token or ["tok-CANARY-static-0001"])}
        self.startup_cfg = {
            "latency_ms": args.latency_ms, "unknown_id_mode": args.unknown_id_mode,
            "types": args.types, "max_batch": args.max_batch, "count_mode": args.count_mode,
            "token_ttl": args.token_ttl, "invalid_token_status": args.invalid_token_status,
            "rate_limit": args.rate_limit, "rate_limit_style": args.rate_limit_style,
            "list_tz": args.list_tz, "drop_optional": args.drop_optional,
            "engine_type_default": args.engine_type_default}
        for k, v in self.startup_cfg.items():
            self.startup_cfg[k] = validate_config(k, v)
        self.cfg = dict(self.startup_cfg)
        self.seed = args.seed
        self.data = DataSet(args.jobs, args.seed, args.project_id)
        self.store = JobStore(self.data)
        self.detail_cache = {}          # (id, version, types, drop_optional) -> bytes
        self.tokens = {}                # sha256(token) -> info
        self.token_serial = 0
        self.revoked_upto = 0
        self.static_revoked = False
        self.faults = []
        self.log = collections.deque(maxlen=args.log_max)
        self.seq = 1
        self.conn_serial = 0
        self.counted_conns = set()
        self.rl_window = collections.deque()
        self._reset_counters()

    def _reset_counters(self):
        self.n_requests = 0
        self.tokens_issued = 0
        self.counted_conns = set()
        self.in_flight = getattr(self, "in_flight", 0)
        self.max_in_flight = self.in_flight

    # -- bookkeeping
    def new_connection(self):
        with self.lock:
            self.conn_serial += 1
            return self.conn_serial

    def begin(self, conn_id):
        with self.lock:
            self.n_requests += 1
            self.counted_conns.add(conn_id)
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight

    def end(self):
        with self.lock:
            self.in_flight -= 1

    def append_log(self, entry):
        with self.lock:
            entry["seq"] = self.seq
            self.seq += 1
            self.log.append(entry)

    def reset(self):
        with self.lock:
            self.log.clear()
            self.faults = []
            self.cfg = dict(self.startup_cfg)
            self.static_revoked = False
            self.rl_window.clear()
            self._reset_counters()
        self.store.reset()

    def stats(self):
        with self.lock:
            return {"requests": self.n_requests, "connections_opened": len(self.counted_conns),
                    "max_in_flight": self.max_in_flight, "in_flight": self.in_flight,
                    "tokens_issued": self.tokens_issued}

    # -- tokens
    def issue_token(self, user, scope, project):
        with self.lock:
            self.token_serial += 1
            self.tokens_issued += 1
            serial = self.token_serial
            ttl = self.cfg["token_ttl"]
        raw = base64.b64encode(os.urandom(6000)).decode()
        token = ("MIIZ" + raw[:3000] + "-CANARY-iam-%d-" % serial + raw[3000:5996] + "+/-"
                 + raw[5996:7990] + "==")
        now = time.time()
        info = {"serial": serial, "scope": scope, "project_id": project, "user": user,
                "issued": now, "expires": now + ttl}
        with self.lock:
            self.tokens[hashlib.sha256(token.encode()).digest()] = info
        return token, info

    def check_token(self, token):
        """-> (label, info) where info is None for an invalid token."""
        k = self.static_tokens.get(token)
        if k is not None:
            if self.static_revoked:
                return "invalid", None
            return "static:%d" % k, {"scope": "project", "project_id": self.project_id}
        info = self.tokens.get(hashlib.sha256(token.encode("utf-8", "replace")).digest())
        if info is None or info["serial"] <= self.revoked_upto or time.time() >= info["expires"]:
            return "invalid", None
        return "iam:%d" % info["serial"], info

    # -- faults and rate limit
    def take_fault(self, endpoint):
        with self.lock:
            for f in self.faults:
                if f["endpoint"] not in ("any", endpoint) or f["times"] == 0:
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                if f["times"] > 0:
                    f["times"] -= 1
                f["applied"] += 1
                return f
        return None

    def rate_limited(self):
        rps = self.cfg["rate_limit"]
        if not rps:
            return None
        now = time.monotonic()
        with self.lock:
            w = self.rl_window
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) >= rps:
                style = self.cfg["rate_limit_style"]
                if style == 429:
                    return apigw_error(429, "APIGW.0308",
                                       "The throttling threshold has been reached: policy user "
                                       "over ratelimit,limit:%s,time:1 second" % rps,
                                       [("Retry-After", "1")])
                return drs_error(400, "DRS.M01503")
            w.append(now)
        return None

    # -- output of one job
    def render_detail(self, det, origin, stored):
        cfg = self.cfg
        if cfg["drop_optional"] and not stored and origin is not None and origin >= 0:
            drop_optional(det, self.seed)
        if cfg["types"] == "declared":
            declared_types(det)
        return det


# ---------------------------------------------------------------- request processing

def _page_params(obj, defaults):
    """Validate page_req-like integers; returns (cur, per) or a Resp."""
    cur, per = defaults
    for key in ("cur_page", "per_page"):
        v = obj.get(key)
        if v is None:
            continue
        if not is_int(v):
            return drs_error(400, "DRS.M00202", key)
        if key == "cur_page":
            cur = v
        else:
            per = v
    return cur, per


def parse_batch(sim, obj, paging):
    """Common request rules of batch-detail/-status/-progress -> (ids, page) or Resp."""
    if not isinstance(obj, dict):
        return drs_error(400, "DRS.M00007")
    jobs = obj.get("jobs")
    if jobs is None or jobs == []:
        return drs_error(400, "DRS.M00201", "jobs")
    if not isinstance(jobs, list):
        return drs_error(400, "DRS.M00202", "jobs")
    for j in jobs:
        if not isinstance(j, str) or not j:
            return drs_error(400, "DRS.M00202", "jobs")
    cap = sim.cfg["max_batch"]
    if len(jobs) > cap:
        return drs_error(400, "DRS.M00300",
                         "the number of jobs (%d) exceeds the limit of %d." % (len(jobs), cap))
    if len(set(jobs)) != len(jobs):
        return drs_error(400, "DRS.M00301", "jobs")
    if not paging:
        return jobs, jobs
    pr = obj.get("page_req")
    if pr is None:
        pr = {}
    if not isinstance(pr, dict):
        return drs_error(400, "DRS.M00202", "page_req")
    r = _page_params(pr, (1, 5))
    if isinstance(r, Resp):
        return r
    cur, per = r
    if per < 0 or per > 100:
        return drs_error(400, "DRS.M00210", "per_page must be between 0 and 100.")
    if per == 0:
        return jobs, jobs
    if cur < 1:
        return drs_error(400, "DRS.M00210", "cur_page must be at least 1.")
    if cur > -(-len(jobs) // per):
        return drs_error(400, "DRS.M00211")
    return jobs, jobs[(cur - 1) * per: cur * per]


def _id_error(kind):
    code = "DRS.M05004" if kind == "deleted" else "DRS.M05003"
    return code, MSG[code]


def do_batch(sim, endpoint, obj):
    paging = endpoint != "batch-progress"
    r = parse_batch(sim, obj, paging)
    if isinstance(r, Resp):
        return r
    ids, page = r
    snap = sim.store.snap
    results, errors = [], []
    render_key = (snap.version, sim.cfg["types"], sim.cfg["drop_optional"])
    for jid in page:
        if endpoint == "batch-detail":
            # a job's rendered detail is cached per data-set version and type
            # mode, so that large benchmarks measure the client, not json.dumps
            cached = sim.detail_cache.get((jid,) + render_key)
            if cached is not None:
                results.append(cached)
                continue
        kind, det, origin, stored = sim.store.raw(jid, snap)
        if kind != "ok":
            code, msg = _id_error(kind)
            errors.append((code, msg))
            if endpoint == "batch-progress":
                results.append({"job_id": jid, "error_code": code, "error_msg": msg})
            else:
                results.append({"id": jid, "error_code": code, "error_message": msg})
            continue
        if endpoint == "batch-detail":
            rendered = dumps(sim.render_detail(det, origin, stored))
            if len(sim.detail_cache) < DETAIL_CACHE_MAX:
                sim.detail_cache[(jid,) + render_key] = rendered
            results.append(rendered)
        elif endpoint == "batch-status":
            e = {"id": jid, "status": det.get("status")}
            if det.get("error_code"):
                e["error_code"] = det["error_code"]
                e["error_message"] = det.get("error_message", "")
            results.append(e)
        else:
            results.append(progress_for(det))
    mode = sim.cfg["unknown_id_mode"]
    if errors and mode == "c":
        return jresp(400, {"error_code": errors[0][0], "error_msg": errors[0][1]})
    ok_status = 202 if endpoint == "batch-progress" else 200
    status = 400 if errors and mode == "a" else ok_status
    count = len(results) if sim.cfg["count_mode"] == "returned" else len(ids)
    if endpoint == "batch-status":
        return jresp(status, {"results": results, "count": count})
    if endpoint == "batch-detail":
        parts = [r if isinstance(r, bytes) else dumps(r) for r in results]
        body = b'{"count":%d,"results":[' % count + b",".join(parts) + b"]}"
        return Resp(status, body, JSON_CT)
    return jresp(status, {"count": count, "results": results})


def do_list(sim, obj):
    if not isinstance(obj, dict):
        return drs_error(400, "DRS.M00007")
    dbu = obj.get("db_use_type")
    if dbu is None or dbu == "":
        return drs_error(400, "DRS.M00201", "db_use_type")
    if dbu not in DB_USE_TYPES:
        return drs_error(400, "DRS.M00202", "db_use_type")
    filters = {}
    for key in ("status", "name", "engine_type", "net_type", "enterprise_project_id",
                "service_name"):
        v = obj.get(key)
        if v is not None and not isinstance(v, str):
            return drs_error(400, "DRS.M00202", key)
        filters[key] = v or None
    if "engine_type" not in obj and sim.cfg["engine_type_default"]:
        filters["engine_type"] = sim.cfg["engine_type_default"]
    tags = obj.get("tags")
    if tags is not None:
        if isinstance(tags, list):
            if not all(isinstance(t, dict) for t in tags):
                return drs_error(400, "DRS.M00202", "tags")
        elif not isinstance(tags, dict):
            return drs_error(400, "DRS.M00202", "tags")
    r = _page_params(obj, (1, 10))
    if isinstance(r, Resp):
        return r
    cur, per = r
    if cur < 0:
        return drs_error(400, "DRS.M00210", "cur_page must not be negative.")
    if cur >= 1:
        if per == 0:
            return drs_error(400, "DRS.M00210", "per_page must not be 0 when cur_page >= 1.")
        if per < 0 or per > 100:
            return drs_error(400, "DRS.M00210", "per_page must be between 1 and 100.")
    snap, matches = sim.store.list_matches(dbu, filters["status"], filters["name"],
                                           filters["engine_type"], filters["net_type"],
                                           bool(tags))
    page = matches if cur == 0 else matches[(cur - 1) * per: cur * per]
    offset = parse_offset(sim.cfg["list_tz"])
    parts = []
    data = sim.data
    for m in page:
        jid = m[DataSet.ID]
        # rendered entries are cached like batch-detail results (see do_batch)
        key = ("list", jid, snap.version, offset)
        cached = sim.detail_cache.get(key)
        if cached is None:
            origin = m[DataSet.ORIGIN]
            st = snap.stored.get(jid)
            if st is not None:
                item = list_item(st, data.extras(origin), offset)
            elif origin >= 0:
                item = data.list_item_fast(origin, offset)
            else:
                item = list_item(data.doc[-1 - origin], DOC_LIST_EXTRAS, offset)
            cached = dumps(item)
            if len(sim.detail_cache) < DETAIL_CACHE_MAX:
                sim.detail_cache[key] = cached
        parts.append(cached)
    body = b'{"total_record":%d,"jobs":[' % len(matches) + b",".join(parts) + b"]}"
    return Resp(200, body, JSON_CT)


def iam_token_body(sim, info, nocatalog, base_url):
    u = info["user"]
    tok = {"methods": ["password"], "expires_at": iso_z(info["expires"]),
           "issued_at": iso_z(info["issued"]),
           "user": {"domain": {"id": u["domain_id"], "name": u["domain"]}, "id": u["id"],
                    "name": u["name"], "password_expires_at": None}}
    dom = {"id": u["domain_id"], "name": u["domain"]}
    if info["scope"] == "project":
        tok["project"] = {"domain": dom, "id": sim.project_id, "name": sim.project_name}
    elif info["scope"] == "domain":
        tok["domain"] = dom
    if not nocatalog:
        tok["catalog"] = [
            {"type": "identity", "id": hashlib.md5(b"iam").hexdigest(), "name": "iam",
             "endpoints": [{"id": hashlib.md5(b"iam-ep").hexdigest(), "interface": "public",
                            "region": "*", "region_id": "*", "url": base_url + "/v3"}]},
            {"type": "drs", "id": hashlib.md5(b"drs").hexdigest(), "name": "drs",
             "endpoints": [{"id": hashlib.md5(b"drs-ep").hexdigest(), "interface": "public",
                            "region": sim.project_name, "region_id": sim.project_name,
                            "url": base_url + "/v3/" + sim.project_id}]}]
    tok["roles"] = [{"id": hashlib.md5(b"te_admin").hexdigest(), "name": "te_admin"},
                    {"id": hashlib.md5(b"drs_adm").hexdigest(), "name": "drs_adm"}]
    return {"token": tok}


def do_iam_issue(sim, headers, obj, parse_ok, query, base_url):
    ct = media_type(headers.get("Content-Type"))
    if ct != "application/json":
        return keystone_error(415, "Unsupported Media Type",
                              "Content-Type must be application/json;charset=utf8."), None
    if not parse_ok or not isinstance(obj, dict):
        return keystone_error(400, "Bad Request", "The request body is not valid JSON."), None
    try:
        auth = obj["auth"]
        ident = auth["identity"]
        if "password" not in ident["methods"]:
            raise KeyError("methods")
        user = ident["password"]["user"]
        name, pw = user["name"], user["password"]
        dom = user["domain"]
        if not (isinstance(name, str) and isinstance(pw, str) and isinstance(dom, dict)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        return keystone_error(400, "Bad Request",
                              "Invalid input for field 'auth/identity/password/user'."), None
    found = None
    for u in sim.users:
        if u["name"] == name and u["password"] == pw and (
                dom.get("name") == u["domain"] or dom.get("id") == u["domain_id"]):
            found = u
            break
    unauthorized = keystone_error(401, "Unauthorized",
                                  "The request you have made requires authentication.")
    if found is None:
        return unauthorized, None
    scope = auth.get("scope")
    kind, project = "none", None
    if scope is not None:
        if not isinstance(scope, dict):
            return keystone_error(400, "Bad Request", "Invalid input for field 'auth/scope'."), None
        if "project" in scope:
            p = scope["project"]
            if not isinstance(p, dict):
                return keystone_error(400, "Bad Request",
                                      "Invalid input for field 'auth/scope/project'."), None
            if "id" in p:
                ok = p["id"] == sim.project_id
            else:
                ok = p.get("name") == sim.project_name
            if not ok:
                return unauthorized, None
            kind, project = "project", sim.project_id
        elif "domain" in scope:
            d = scope["domain"]
            if not isinstance(d, dict) or not (d.get("id") == found["domain_id"]
                                               or d.get("name") == found["domain"]):
                return unauthorized, None
            kind = "domain"
    token, info = sim.issue_token(found, kind, project)
    nocatalog = bool(query.get("nocatalog", [""])[0])
    body = iam_token_body(sim, info, nocatalog, base_url)
    return jresp(201, body, [("X-Subject-Token", token)]), info


# ---------------------------------------------------------------- HTTP layer

ROUTE = re.compile(r"^/v3/([^/]+)/jobs(?:/(batch-detail|batch-status|batch-progress))?$")
MALFORMED = (b'{"count":2,"results":[{"id":"24834eb6-be30-464e-a299-f7aa730jb101",'
             b'"name":"DRS-39\x7f}}]]<<garbage>>,,,{{')
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
            b"</body>\r\n</html>\r\n")


class BodyError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def classify(path):
    if path == "/v3/auth/tokens":
        return "iam-token", None
    m = ROUTE.match(path)
    if m:
        return (m.group(2) or "list"), unquote(m.group(1))
    return "other", None


def huge_stream(endpoint, n):
    head = b'{"total_record":0,"jobs":[],"padding":"' if endpoint == "list" else \
        b'{"count":0,"results":[],"padding":"'
    tail = b'"}'
    pad = max(0, n - len(head) - len(tail))
    chunk = b"x" * 65536

    def gen():
        yield head
        left = pad
        while left > 0:
            k = min(left, len(chunk))
            yield chunk[:k]
            left -= k
        yield tail
    return gen(), len(head) + pad + len(tail)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "drs-sim/" + VERSION
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 300                         # idle keep-alive connections are closed after this

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(15)
            self.request.do_handshake()
        super().setup()
        self.sim = self.server.sim
        self.conn_id = self.sim.new_connection()

    def log_message(self, fmt, *args):      # no per-request output unless --verbose
        if self.server.sim.verbose:
            sys.stderr.write("drs_sim: %s %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- low-level writing
    def _head_bytes(self, resp, length, chunked=False):
        try:
            reason = http.HTTPStatus(resp.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = ["HTTP/1.1 %d %s" % (resp.status, reason),
                 "Server: " + self.server_version,
                 "Date: " + formatdate(usegmt=True)]
        if resp.ctype:
            lines.append("Content-Type: " + resp.ctype)
        for k, v in resp.headers:
            lines.append("%s: %s" % (str(k).replace("\r", "").replace("\n", ""),
                                     str(v).replace("\r", "").replace("\n", "")))
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append("Content-Length: %d" % length)
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def _send(self, resp, truncate=None, trickle_ms=None, chunk_bytes=64, on_last=None):
        """Write a response; returns the number of body bytes written.

        on_last(nbytes) runs just before the final bytes go out, so that the request
        log and the in-flight counter are up to date when the client has the answer.
        """
        def last(n):
            if on_last is not None:
                on_last(n)
        head_only = self.command == "HEAD"
        w = self.wfile
        if resp.stream is not None:
            chunked = resp.length is None
            head = self._head_bytes(resp, resp.length, chunked)
            if head_only:
                last(0)
                w.write(head)
                return 0
            w.write(head)
            sent = 0
            it = iter(resp.stream)
            part = next(it, None)
            while part is not None:
                nxt = next(it, None)
                if nxt is None:
                    last(sent + len(part))
                if part:
                    w.write((b"%x\r\n%s\r\n" % (len(part), part)) if chunked else part)
                sent += len(part)
                part = nxt
            if sent == 0:
                last(0)
            if chunked:
                w.write(b"0\r\n\r\n")
            return sent
        body = resp.body
        head = self._head_bytes(resp, len(body))
        if head_only:
            last(0)
            w.write(head)
            return 0
        if truncate is not None:
            self.close_connection = True
            n = min(truncate, len(body))
            last(n)
            w.write(head + body[:n])
            w.flush()
            return n
        if trickle_ms is not None and len(body) > 0:
            w.write(head)
            step = max(1, chunk_bytes)
            for k in range(0, len(body), step):
                if k:
                    time.sleep(trickle_ms / 1000.0)
                if k + step >= len(body):
                    last(len(body))
                w.write(body[k:k + step])
                w.flush()
            return len(body)
        last(len(body))
        w.write(head + body)
        return len(body)

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise BodyError(400, "truncated chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError(400, "bad chunk size")
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise BodyError(413, "request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(parts)
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            raise BodyError(400, "bad Content-Length")
        if n > MAX_BODY:
            raise BodyError(413, "request body too large")
        data = self.rfile.read(n)
        if len(data) < n:
            raise BodyError(400, "truncated body")
        return data

    # -- dispatch
    def _dispatch(self):
        try:
            parts = urlsplit(self.path)
            if parts.path == "/_sim" or parts.path.startswith("/_sim/"):
                self._control(parts.path, parts.query)
            else:
                self._api(parts.path, parts.query)
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if self.sim.verbose:
                traceback.print_exc()
            try:
                self._send(drs_error(500, "DRS.M00004"))
            except Exception:
                pass

    def _redact(self, text):
        text = _LONG_OPAQUE.sub("***", text)
        for t in self.sim.static_tokens:
            text = text.replace(t, "***")
        for u in self.sim.users:
            if u["password"]:
                text = text.replace(u["password"], "***")
        return re.sub(r'("password"\s*:\s*)"(?:[^"\\]|\\.)*"', r'\1"***"', text)

    def _api(self, path, query):
        sim = self.sim
        t0 = time.monotonic()
        endpoint, path_pid = classify(path)
        entry = {"seq": 0, "time": time.time(), "method": self.command, "path": path,
                 "query": self._redact(query), "endpoint": endpoint, "auth": "none",
                 "language": self.headers.get("X-Language"),
                 "content_type": self.headers.get("Content-Type"),
                 "body": None, "status": 0, "fault": None, "response_bytes": 0,
                 "duration_ms": 0.0, "connection": self.conn_id}
        done = []

        def finish(nbytes=None):
            if done:
                return
            done.append(True)
            if nbytes is not None:
                entry["response_bytes"] = nbytes
            entry["duration_ms"] = round((time.monotonic() - t0) * 1000.0, 3)
            sim.end()
            sim.append_log(entry)
            if sim.verbose:
                sys.stderr.write("drs_sim: %s %s -> %s (%s, %.1f ms)\n" % (
                    entry["method"], path, entry["status"], entry["fault"],
                    entry["duration_ms"]))
        sim.begin(self.conn_id)
        try:
            self._api_inner(entry, endpoint, path_pid, query, finish)
        finally:
            finish()

    def _api_inner(self, entry, endpoint, path_pid, query, finish):
        sim = self.sim
        try:
            raw = self._read_body()
        except BodyError as e:
            self.close_connection = True
            resp = apigw_error(e.status, "APIGW.0201" if e.status == 400 else "APIGW.0413",
                               "Request body error: %s" % e)
            entry["status"] = resp.status
            self._send(resp, on_last=finish)
            return
        parse_ok, obj = False, None
        if raw:
            try:
                obj = loads_strict(raw)
                parse_ok = True
                entry["body"] = mask_passwords(obj)
            except (ValueError, UnicodeDecodeError):
                entry["body"] = self._redact(raw[:4096].decode("utf-8", "replace"))
        tok = self.headers.get("X-Auth-Token")
        if tok:
            entry["auth"] = sim.check_token(tok)[0]

        cfg = sim.cfg
        if cfg["latency_ms"]:
            time.sleep(cfg["latency_ms"] / 1000.0)
        fault = sim.take_fault(endpoint)
        truncate = trickle = None
        chunk_bytes = 64
        if fault is not None:
            entry["fault"] = fault_label(fault)
            if fault.get("delay_ms"):
                time.sleep(fault["delay_ms"] / 1000.0)
            pre = self._fault_response(fault, endpoint)
            if pre == "drop":
                self.close_connection = True
                entry["status"] = 0
                return
            if pre is not None:
                entry["status"] = pre.status
                self._send(pre, on_last=finish)
                return
            truncate = fault.get("truncate")
            trickle = fault.get("trickle_ms")
            chunk_bytes = fault.get("chunk_bytes") or 64
        limited = sim.rate_limited()
        if limited is not None:
            entry["fault"] = (entry["fault"] + "+" if entry["fault"] else "") + "rate_limit"
            resp = limited
        else:
            resp = self._process(entry, endpoint, path_pid, query, obj, parse_ok)
        entry["status"] = resp.status
        self._send(resp, truncate=truncate, trickle_ms=trickle, chunk_bytes=chunk_bytes,
                   on_last=finish)

    def _fault_response(self, f, endpoint):
        if f.get("drop"):
            return "drop"
        if f.get("html"):
            return Resp(f.get("status", 502), HTML_502, "text/html")
        if f.get("malformed"):
            return Resp(200, MALFORMED, JSON_CT)
        if "huge_bytes" in f:
            gen, length = huge_stream(endpoint, f["huge_bytes"])
            return Resp(200, b"", JSON_CT, stream=gen, length=length)
        headers = [(k, str(v)) for k, v in (f.get("headers") or {}).items()]
        if "json_response" in f:
            return Resp(f.get("status", 200), dumps(f["json_response"]),
                        f.get("content_type", JSON_CT), headers)
        if "status" in f:
            st = f["status"]
            if "body" in f:
                body = f["body"].encode("utf-8")
            elif "json" in f:
                body = dumps(f["json"])
            elif st == 429:
                body = dumps({"error_code": "APIGW.0308",
                              "error_msg": "The throttling threshold has been reached.",
                              "request_id": uuid.uuid4().hex})
            else:
                body = dumps({"error_code": "SIM.F%03d" % st,
                              "error_msg": "Injected fault: HTTP %d" % st})
            return Resp(st, body, f.get("content_type", JSON_CT), headers)
        return None

    def _process(self, entry, endpoint, path_pid, query, obj, parse_ok):
        sim = self.sim
        method = self.command
        if endpoint == "other":
            return apigw_error(404, "APIGW.0101", "The API does not exist or has not been "
                                                  "published in the environment.")
        if endpoint == "iam-token":
            if method == "POST":
                host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
                scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
                resp, _info = do_iam_issue(sim, self.headers, obj, parse_ok,
                                           parse_qs(query), "%s://%s" % (scheme, host))
                return resp
            if method in ("GET", "HEAD"):
                return self._iam_verify(query)
            return keystone_error(405, "Method Not Allowed",
                                  "The method %s is not allowed here." % method)
        if method != "POST":
            return apigw_error(405, "APIGW.0101", "The method %s is not allowed for this API."
                               % method, [("Allow", "POST")])
        tok = self.headers.get("X-Auth-Token")
        if not tok:
            return apigw_error(401, "APIGW.0301",
                               "Incorrect IAM authentication information: x-auth-token not found")
        label, info = sim.check_token(tok)
        if info is None:
            if sim.cfg["invalid_token_status"] == 403:
                return drs_error(403, "DRS.M00100")
            return apigw_error(401, "APIGW.0307", "The token must be updated.")
        if info["scope"] != "project" or info["project_id"] != path_pid:
            return drs_error(403, "DRS.M00261")
        if media_type(self.headers.get("Content-Type")) != "application/json":
            return jresp(415, {"error_code": "DRS.M00007",
                               "error_msg": "Invalid request parameter. Content-Type must be "
                                            "application/json."})
        if not parse_ok:
            return drs_error(400, "DRS.M00007")
        if endpoint == "list":
            return do_list(sim, obj)
        return do_batch(sim, endpoint, obj)

    def _iam_verify(self, query):
        sim = self.sim
        tok = self.headers.get("X-Auth-Token")
        if not tok or sim.check_token(tok)[1] is None:
            return keystone_error(401, "Unauthorized",
                                  "The request you have made requires authentication.")
        subj = self.headers.get("X-Subject-Token") or ""
        _label, info = sim.check_token(subj)
        if info is None or "user" not in info:
            return keystone_error(404, "Not Found", "Could not find token.")
        host = self.headers.get("Host") or "localhost"
        body = iam_token_body(sim, info, bool(parse_qs(query).get("nocatalog", [""])[0]),
                              "http://" + host)
        return jresp(200, body)

    # -- control API
    def _control(self, path, query):
        sim = self.sim
        try:
            raw = self._read_body()
        except BodyError as e:
            self.close_connection = True
            self._send(jresp(e.status, {"ok": False, "error": str(e)}))
            return
        obj = None
        if raw.strip():
            try:
                obj = loads_strict(raw)
            except (ValueError, UnicodeDecodeError):
                self._send(jresp(400, {"ok": False, "error": "invalid JSON"}))
                return
        q = parse_qs(query)
        m = self.command
        resp = self._control_route(sim, m, path, q, obj)
        self._send(resp)

    def _control_route(self, sim, m, path, q, obj):
        def bad(msg, status=400):
            return jresp(status, {"ok": False, "error": msg})

        if path == "/_sim/health" and m in ("GET", "HEAD"):
            return jresp(200, {"ok": True})
        if path == "/_sim/log" and m == "GET":
            try:
                since = int(q.get("since", ["0"])[0])
            except ValueError:
                return bad("since must be an integer")
            with sim.lock:
                entries = [e for e in sim.log if e["seq"] >= since]
                nxt = sim.seq
            return jresp(200, {"next": nxt, "requests": entries})
        if path == "/_sim/reset" and m == "POST":
            sim.reset()
            return jresp(200, {"ok": True})
        if path == "/_sim/stats" and m == "GET":
            return jresp(200, sim.stats())
        if path == "/_sim/config":
            if m == "GET":
                return jresp(200, dict(sim.cfg))
            if m == "POST":
                if not isinstance(obj, dict):
                    return bad("expected a JSON object")
                new = {}
                for k, v in obj.items():
                    if k not in CONFIG_KEYS:
                        return bad("unknown config key: %s" % k)
                    try:
                        new[k] = validate_config(k, v)
                    except ValueError as e:
                        return bad(str(e))
                with sim.lock:
                    sim.cfg = dict(sim.cfg, **new)
                    cfg = dict(sim.cfg)
                return jresp(200, cfg)
        if path == "/_sim/tokens/revoke" and m == "POST":
            with sim.lock:
                sim.revoked_upto = sim.token_serial
                if isinstance(obj, dict) and obj.get("static"):
                    sim.static_revoked = True
            return jresp(200, {"ok": True, "revoked_upto": sim.revoked_upto,
                               "static_revoked": sim.static_revoked})
        if path == "/_sim/faults":
            if m == "POST":
                if not isinstance(obj, dict) or not isinstance(obj.get("faults"), list):
                    return bad('expected {"faults": [...]}')
                try:
                    rules = [validate_fault(f) for f in obj["faults"]]
                except ValueError as e:
                    return bad(str(e))
                with sim.lock:
                    sim.faults.extend(rules)
                    n = len(sim.faults)
                return jresp(200, {"ok": True, "rules": n})
            if m == "DELETE":
                with sim.lock:
                    sim.faults = []
                return jresp(200, {"ok": True})
            if m == "GET":
                with sim.lock:
                    return jresp(200, {"faults": [dict(f) for f in sim.faults]})
        if path == "/_sim/dataset" and m == "GET":
            return self._dataset(sim, q)
        if path == "/_sim/jobs" and m == "POST":
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
                return bad("expected a job object with a string id")
            if not sim.store.add(obj):
                return bad("job %s already exists" % obj["id"], 409)
            return jresp(201, {"ok": True, "id": obj["id"]})
        if path.startswith("/_sim/jobs/"):
            jid = unquote(path[len("/_sim/jobs/"):])
            if m == "GET":
                kind, det, origin, stored = sim.store.raw(jid)
                if kind != "ok":
                    return bad("job %s is %s" % (jid, kind), 404)
                return jresp(200, sim.render_detail(det, origin, stored))
            if m == "POST":
                if not isinstance(obj, dict):
                    return bad("expected a partial job object")
                if "id" in obj and obj["id"] != jid:
                    return bad("the id of a job cannot be changed")
                det = sim.store.mutate(jid, obj)
                if det is None:
                    return bad("no such job: %s" % jid, 404)
                return jresp(200, {"ok": True, "job": det})
            if m == "DELETE":
                if not sim.store.delete(jid):
                    return bad("no such job: %s" % jid, 404)
                return jresp(200, {"ok": True})
        return bad("unknown control endpoint %s %s" % (m, path), 404)

    def _dataset(self, sim, q):
        snap = sim.store.snap
        only = q.get("db_use_type", [None])[0]
        metas = []
        for u in DB_USE_TYPES:
            if only is None or only == u:
                metas.extend(snap.sorted.get(u, []))
        if only is None:
            extra = [mm for mm in snap.by_id.values() if mm[DataSet.DBU] not in DB_USE_TYPES]
            extra.sort(key=lambda mm: (mm[0], mm[1]))
            metas.extend(extra)

        def gen():
            yield b'{"jobs":['
            buf, first = [], True
            for mm in metas:
                kind, det, origin, stored = sim.store.raw(mm[DataSet.ID], snap)
                if kind != "ok":
                    continue
                buf.append(dumps(sim.render_detail(det, origin, stored)))
                if len(buf) >= 200:
                    yield (b"" if first else b",") + b",".join(buf)
                    first, buf = False, []
            if buf:
                yield (b"" if first else b",") + b",".join(buf)
            yield b"]}"
        return Resp(200, b"", JSON_CT, stream=gen(), length=None)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if self.sim.verbose and not isinstance(exc, (ConnectionError, TimeoutError,
                                                     ssl.SSLError)):
            traceback.print_exc()


def _atomic_write(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def build_parser():
    p = argparse.ArgumentParser(prog="drs_sim.py",
                                description="DRS v3 / IAM token API simulator for drs_fdw.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = an ephemeral port")
    p.add_argument("--port-file", help="write the bound port here once accepting connections")
    p.add_argument("--pid-file", help="write the process id here")
    p.add_argument("--jobs", type=int, default=250, help="jobs in the data set (incl. 2 doc jobs)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--project-id", default="0123456789abcdef0123456789abcdef")
    p.add_argument("--project-name", default="eu-de")
    p.add_argument("--user", action="append", metavar="NAME:PASSWORD:DOMAIN")
    p.add_argument("--static-token", action="append", metavar="TOKEN")
    p.add_argument("--token-ttl", type=float, default=86400)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--unknown-id-mode", choices=("a", "b", "c"), default="a")
    p.add_argument("--types", choices=("observed", "declared"), default="observed")
    p.add_argument("--drop-optional", action="store_true")
    p.add_argument("--max-batch", type=int, default=100)
    p.add_argument("--count-mode", choices=("returned", "total"), default="returned")
    p.add_argument("--list-tz", default="+08:00")
    p.add_argument("--engine-type-default", default=None,
                   help="engine_type filter applied when the list request omits it (B9)")
    p.add_argument("--invalid-token-status", type=int, choices=(401, 403), default=401)
    p.add_argument("--rate-limit", type=float, default=0, help="requests/s, 0 = off")
    p.add_argument("--rate-limit-style", type=int, choices=(429, 400), default=429)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--log-max", type=int, default=100000, help="request log entries kept")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--verbose", action="store_true")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.jobs < 0:
        raise SystemExit("--jobs must be >= 0")
    if not re.fullmatch(r"[0-9a-f]{32}", args.project_id):
        sys.stderr.write("drs_sim: warning: --project-id is not 32 lowercase hex characters\n")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("--tls-cert and --tls-key go together")
    try:
        parse_offset(args.list_tz)
    except ValueError as e:
        raise SystemExit("--list-tz: %s" % e)
    if args.pid_file:
        _atomic_write(args.pid_file, "%d\n" % os.getpid())
    t0 = time.monotonic()
    sim = Sim(args)
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    server.sim = sim
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        scheme = "https"
    port = server.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.port_file:
        _atomic_write(args.port_file, "%d\n" % port)
    if not args.quiet:
        print("drs_sim: listening on %s://%s:%d (%d jobs, seed %d, project %s, ready in %.2f s)"
              % (scheme, args.host, port, args.jobs, args.seed, args.project_id,
                 time.monotonic() - t0), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        for f in (args.port_file, args.pid_file):
            if f:
                try:
                    os.unlink(f)
                except OSError:
                    pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
