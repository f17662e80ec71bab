#!/usr/bin/env python3
"""test_tls.py — HTTPS endpoints: the server certificate and host name are
verified by default, an unknown CA is refused, ca_file names the CA to
trust, ssl_verify false turns verification off.  The certificates are made
here with openssl; the simulator serves them."""
import os
import signal
import subprocess
import tempfile
import time

from harness import (DOC_JOB_1, ROOT, SIM_PROJECT, SIM_TOKEN, WORK, check, expect_error,
                     psql, run, sim, test)

DB = "drs_it_tls"
CERTS = tempfile.mkdtemp(prefix="drs_tls_", dir=WORK if os.path.isdir(WORK) else None)
PROCS = []


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=CERTS)


def make_certs():
    os.chmod(CERTS, 0o755)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=drs_fdw test CA")
    for name, san in (("good", "IP:127.0.0.1,DNS:localhost"), ("wronghost", "DNS:other.example")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}")
        with open(os.path.join(CERTS, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext")
    for f in os.listdir(CERTS):
        os.chmod(os.path.join(CERTS, f), 0o644)


def start_tls_sim(name):
    portfile = os.path.join(CERTS, f"{name}.port")
    proc = subprocess.Popen(["python3", os.path.join(ROOT, "sim", "drs_sim.py"), "--quiet",
                             "--port", "0", "--port-file", portfile,
                             "--tls-cert", os.path.join(CERTS, f"{name}.pem"),
                             "--tls-key", os.path.join(CERTS, f"{name}.key")])
    PROCS.append(proc)
    for _ in range(300):
        if os.path.exists(portfile) and open(portfile).read().strip():
            return int(open(portfile).read())
        time.sleep(0.05)
    raise RuntimeError("TLS simulator did not start")


def setup():
    make_certs()
    good = start_tls_sim("good")
    wrong = start_tls_sim("wronghost")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE); CREATE DATABASE {DB};")
    stmts = ["CREATE EXTENSION drs_fdw;"]
    for server, url in (("tls_good", f"https://127.0.0.1:{good}"),
                        ("tls_localhost", f"https://localhost:{good}"),
                        ("tls_wronghost", f"https://127.0.0.1:{wrong}")):
        stmts.append(f"""CREATE SERVER {server} FOREIGN DATA WRAPPER drs_fdw
            OPTIONS (endpoint '{url}', project_id '{SIM_PROJECT}', max_retries '0');
            CREATE USER MAPPING FOR CURRENT_USER SERVER {server} OPTIONS (token '{SIM_TOKEN}');
            CREATE FOREIGN TABLE {server}_jobs (id text, name text) SERVER {server};""")
    psql("\n".join(stmts), db=DB)


def teardown():
    for proc in PROCS:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def by_id(table):
    return f"SELECT id FROM {table} WHERE id = '{DOC_JOB_1}'"


@test
def unknown_ca_is_refused_by_default():
    err = expect_error(lambda: psql(by_id("tls_good_jobs"), db=DB), sqlstate="HV00N",
                       contains="could not establish a TLS connection")
    check("ssl_verify" in err.message, err.message)


@test
def ca_file_makes_the_certificate_trusted():
    ca = os.path.join(CERTS, "ca.pem")
    psql(f"ALTER SERVER tls_good OPTIONS (ADD ca_file '{ca}');"
         f"ALTER SERVER tls_localhost OPTIONS (ADD ca_file '{ca}');"
         f"ALTER SERVER tls_wronghost OPTIONS (ADD ca_file '{ca}');", db=DB)
    check(psql(by_id("tls_good_jobs"), db=DB) == [[DOC_JOB_1]], "https with ca_file")
    check(psql(by_id("tls_localhost_jobs"), db=DB) == [[DOC_JOB_1]], "host name localhost")


@test
def host_name_is_verified():
    expect_error(lambda: psql(by_id("tls_wronghost_jobs"), db=DB), sqlstate="HV00N",
                 contains="TLS")


@test
def ssl_verify_false_accepts_any_certificate():
    psql("ALTER SERVER tls_wronghost OPTIONS (DROP ca_file, ADD ssl_verify 'false');", db=DB)
    check(psql(by_id("tls_wronghost_jobs"), db=DB) == [[DOC_JOB_1]], "ssl_verify false")


@test
def a_full_scan_works_over_tls():
    rows = psql("SELECT count(*), count(name) FROM tls_good_jobs", db=DB)
    check(rows == [["250", "250"]], rows)


if __name__ == "__main__":
    run("tls", setup=setup, teardown=teardown)
