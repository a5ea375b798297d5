"""Helpers for the cluster tests: `scripts/cluster` started in a test, what it talks to (an SMTP server, a webhook
receiver), the API driven over HTTP through its proxy, and what the database says afterwards; a PostgreSQL server of
one's own to restart (also bench/load.py --faults)."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import requests
from sqlalchemy.engine import make_url

from tests.conftest import Api, free_port
from workflows.clock import aware, utcnow
from workflows.platform import Platform

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 150  # a fresh database: migrations, the demo data, two nodes opening the PKI, on a shared machine
ALLOWED = {200, 201, 202, 204, 409}  # and 503 with Retry-After: what a client may see while a fault lasts


class Answer:
    """A requests response as the tests' ``Api`` reads a Flask test response (``json`` a property)."""

    def __init__(self, response):
        self.response, self.status_code, self.headers = response, response.status_code, response.headers

    @property
    def json(self):
        return self.response.json()


class Http:
    """What ``Api`` calls ``client``: the same requests over HTTP to ``base``."""

    def __init__(self, base):
        self.base = base

    def open(self, path, method="GET", json=None, headers=None):
        return Answer(requests.request(method, self.base + path, json=json, headers=headers, timeout=60))


class ClusterApi(Api):
    """The API through the proxy; the cluster's own job workers run the jobs, the test waits for them."""

    def __init__(self, cluster, base=None):
        super().__init__(Http(base or cluster.url), cluster.platform)
        self.cluster = cluster

    def run_jobs(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.platform.db.read() as session:  # what is due now (a timer's job waits for its day)
                if not [job for job in self.platform.jobs.unfinished(session) if aware(job.run_at) <= utcnow()]:
                    return 0
            time.sleep(0.2)
        raise AssertionError(f"the cluster's workers left jobs unfinished for {timeout} s")


class WebhookReceiver:
    """Records every POST: its delivery id, event and body; answers 204."""

    def __init__(self):
        self.deliveries = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append({"id": self.headers.get("X-Qianyue-Delivery"),
                                            "event": self.headers.get("X-Qianyue-Event"), "body": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def environment(database_url, **settings):
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {**keep, "DATABASE_URL": database_url, "RATELIMIT_KEY_PREFIX": f"qianyue-test-{uuid.uuid4().hex[:8]}",
            "RATELIMIT_API": "100000 per minute", "WEB_THREADS": "4", **settings}


class Cluster:
    """``scripts/cluster`` running in its own session; ``stop()`` is SIGTERM, as an operator's Ctrl-C."""

    def __init__(self, folder, database_url, **settings):
        self.folder, self.database_url = folder, database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = environment(database_url, **settings)
        self.output = open(folder.parent / f"{folder.name}.out", "w")  # noqa: SIM115  closed in stop()
        started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "cluster"), "--port", str(self.port),
                                         "--seed", "--folder", str(folder)], cwd=ROOT, env=self.env,
                                        start_new_session=True, stdout=self.output, stderr=subprocess.STDOUT)
        while not (folder / "cluster.json").exists():
            if self.process.poll() is not None or time.monotonic() - started > START_SECONDS:
                self.stop()
                raise AssertionError(f"the cluster did not start: {self.log('..')}")
            time.sleep(0.3)
        self.start_seconds = time.monotonic() - started
        self.nodes = self.state()["nodes"]
        self.platform = Platform(database_url, audit_key=b"read only: the test writes no history")

    def state(self):
        return json.loads((self.folder / "cluster.json").read_text())

    def pid(self, name):
        return self.state()["pids"][name]

    def log(self, name):
        path = self.folder.parent / f"{self.folder.name}.out" if name == ".." else self.folder / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def flask(self, *command):
        """A `flask` command with the cluster's settings (what an operator's cron runs on a node)."""
        env = {**self.env, "APP_ENV": "production", "QIANYUE_INSTANCE": str(self.folder), "BASE_URL": self.url}
        for name in ("SECRET_KEY", "AUDIT_KEY", "SIGNING_KEY_PASSPHRASE"):
            env[name] = (self.folder / name.lower()).read_text().strip()
        return subprocess.Popen([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *command], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=90)
        self.output.close()
        if getattr(self, "platform", None):
            self.platform.db.dispose()
        return self.process.returncode


def database(url, name):
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_dsn, name):
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


class Load:
    """Threads that keep drafting, editing and submitting contracts through the proxy while a fault happens; each
    answer's status (and Retry-After) is kept."""

    def __init__(self, api, fixture, threads=4):
        self.api, self.fixture, self.answers = api, fixture, []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        for username in ("sales", "legal"):
            api.token(username)  # before the threads: tokens are made once
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def keep(self, step, answer):
        """Each answer as (step, status, Retry-After, who answered: the proxy's own refusals say so)."""
        proxy = answer.status_code == 503 and "no node could answer" in answer.response.text
        with self.lock:
            self.answers.append((step, answer.status_code, answer.headers.get("Retry-After"),
                                 "proxy" if proxy else "node"))
        return answer

    def run(self):
        while not self.stopping.is_set():
            try:
                created = self.keep("create", self.api.call("POST", "/contracts", "sales", self.fixture))
                if created.status_code != 201:
                    continue
                contract_id = created.json["id"]
                self.keep("edit", self.api.call("PATCH", f"/contracts/{contract_id}", "sales", {"title": "负载之下"}))
                self.keep("submit", self.api.call("POST", f"/contracts/{contract_id}/submit", "sales"))
                self.keep("list", self.api.call("GET", "/contracts?limit=5", "legal"))
            except requests.RequestException as exc:  # the proxy must always answer: a dropped connection counts
                with self.lock:
                    self.answers.append(("connection", repr(exc), None, "client"))

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(90)
        return self.answers


def refused_wrongly(answers):
    """Answers outside 2xx/409/503-with-Retry-After (a 500, a 502, a dropped connection, a 503 that says no when)."""
    return [a for a in answers if not (a[1] in ALLOWED or (a[1] == 503 and a[2]))]


HALF_MADE = """
SELECT c.id, c.status,
       (SELECT count(*) FROM contract_version v WHERE v.contract_id = c.id) AS versions,
       (SELECT count(*) FROM process_instance i WHERE i.business_key = CAST(c.id AS TEXT)) AS instances,
       (SELECT count(*) FROM human_task t WHERE t.contract_id = c.id AND t.state = 'open') AS open_tasks,
       (SELECT min(t.role) FROM human_task t WHERE t.contract_id = c.id AND t.state = 'open') AS lane
FROM contract c
"""
LANE = {"draft": "sales", "legal_review": "legal", "finance_review": "finance"}


def half_made(database_url):
    """Contracts that are not whole: no version or no process instance, or not exactly one open task, in the lane
    their status names."""
    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(HALF_MADE).fetchall()
    return [row for row in rows if row[1] in LANE and not (
        row[2] >= 1 and row[3] == 1 and row[4] == 1 and row[5] == LANE[row[1]])], len(rows)


class NoServerBinaries(RuntimeError):
    """No PostgreSQL server binaries here to run a private server with."""


class PrivatePostgres:
    """A PostgreSQL server of the caller's own (initdb into a temporary folder, a private port), so that restarting it
    disturbs nobody else's tests or benches. ``settings``: more ``-c name=value`` server settings."""

    def __init__(self, **settings):
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            raise NoServerBinaries("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) to run a private server")
        bindir = Path(binaries[-1]).parent
        self.folder = Path(tempfile.mkdtemp(prefix="qianyue-pg-"))
        as_postgres = []
        if os.getuid() == 0:  # the server refuses to run as root
            shutil.chown(self.folder, "postgres")
            as_postgres = ["runuser", "-u", "postgres", "--"]
        data, port = self.folder / "data", free_port()
        subprocess.run([*as_postgres, bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True)
        more = "".join(f" -c {name}={value}" for name, value in settings.items())
        self.pg_ctl = [*as_postgres, bindir / "pg_ctl", "-D", data, "-l", self.folder / "server.log", "-o",
                       f"-p {port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off{more}"]
        subprocess.run([*self.pg_ctl, "start", "-w"], check=True, capture_output=True)
        self.url = f"postgresql://postgres@127.0.0.1:{port}/qianyue"

    def restart(self):
        subprocess.run([*self.pg_ctl, "restart", "-m", "fast", "-w"], check=True, capture_output=True)

    def close(self):
        subprocess.run([*self.pg_ctl, "stop", "-m", "immediate"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
