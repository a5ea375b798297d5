"""The product under load: concurrent clients doing the real mix against `make serve`, then against `make run`.

    .venv/bin/python bench/load.py [--duration 60] [--clients 50] [--quick] [--pg postgresql://postgres@127.0.0.1:5432/test]
                                   [--no-baseline] [--faults]

Starts `make serve` (scripts/serve: gunicorn and a job worker, PostgreSQL) on a private port and a database of its
own, and drives it with N clients over HTTP for the duration (they start, and sign in, over the first 10 s). Each
client is a team with API tokens of its own: users from pools of sales, legal, finance and signatories, and a customer
integration account of its own bound to seed 003's school; legal is also signed in to the pages. A client's round is
one contract: sales create, revise and submit it; legal opens the inbox page and the task page and returns it with a
comment (one round in three: sales read it, revise and submit again) or approves; finance approves; in one round per
client the customer fills the letter, waits for the worker to prepare the document, asks for a code and signs
through the API, and the signatory countersigns (the worker then builds the package). The other contracts wait for
the customer. Intent codes are read from the outbox, as `flask intent last-code` does. `--quick`: 10 s a server.

Then the same mix against `make run`'s server (Werkzeug, SQLite, the job worker in a thread) for the ratio. Prints
requests/s, p50/p95/p99 per endpoint, the errors and the CPU the client, the server and PostgreSQL used, then checks
through the product's services on each database: each contract's status is the one its workflow's open step names,
its open task rows are exactly its workflow's ready user tasks (none lost or duplicated), every audit chain is intact,
every active contract's package verifies. Exits 0 only when the goals on `make serve` and every invariant hold: no
error, p95 <= 150 ms for every endpoint that does not make a PDF (the two signing acts sign PDFs), >= 300 requests/s.

It also prints, per endpoint, the mean CPU time of the server thread that answered and the statements it sent to the
database, from the access log line of each request (found by the X-Request-ID it answered with).

--faults (on a PostgreSQL server of the bench's own, tests/cluster.py's PrivatePostgres; no `make run`): during the
run kill -9 a gunicorn worker, kill -9 a job worker while it runs a job (a second worker beside `make serve`'s, which
takes the job over once its lease, JOB_LEASE_SECONDS=8, runs out) and restart PostgreSQL; then exit 0 only with no
error (a 500 is one; a 503 with Retry-After, and a connection the killed worker cut, are counted apart), the
invariants holding, the killed job finished by the other worker and the killed gunicorn worker replaced.

Every client comes from 127.0.0.1, so the per-address limits (sign-in, codes) are raised for the run; the per-token
and per-signer limits are the product's, counted in Redis as in production (--redis; `make run` counts in memory).
Mail is not sent (no MAIL_SERVER): it stays in the outbox.
"""
import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402
from sqlalchemy import func, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import select  # noqa: E402
from urllib3.util.retry import Retry  # noqa: E402

from webapp import create_app  # noqa: E402
from workflows import demo, migrate  # noqa: E402
from workflows.demo import SEED_003_CREDIT_CODE  # noqa: E402
from workflows.errors import Conflict  # noqa: E402
from workflows.models import Contract, HumanTask, ProcessInstance, SignedDocument  # noqa: E402
from workflows.services.documents import PACKAGE  # noqa: E402
from workflows.services.contracts import STATUS_BY_ROLE  # noqa: E402
from tests.cluster import PrivatePostgres  # noqa: E402  (--faults: a server of the bench's own to restart)

PASSWORD = "qianyue-load-1"
FIXTURE = json.loads((REPO / "tests/fixtures/contract-technical-service.json").read_text(encoding="utf-8"))
LETTER_VALUES = {"security_officer_name": "徐永立", "security_officer_title": "校长",
                 "security_officer_contact": "0373-8887111"}
ROLES = {"sales": "sales", "legal": "legal", "finance": "finance", "signatory": "provider", "customer": "customer"}
PDF_ENDPOINTS = {"POST /contracts/{id}/sign", "POST /tasks/{id}/complete sign"}  # a signing act signs the PDF
# users per role, shared by the clients (each client has its own tokens): a task arriving is mailed to every holder of
# its role, so 50 holders would be 50 mails per step; signatories may ask for 5 codes an hour each (IntentService)
POOLS = {"sales": 10, "legal": 10, "finance": 10, "signatory": 25}
RAMP_UP = 10  # seconds over which the clients start and sign in (Argon2id: about 180 ms of CPU a sign-in here)
P95_GOAL_MS, RATE_GOAL = 150, 300
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SECRETS = {"SECRET_KEY": "load-secret-" + "s" * 32, "AUDIT_KEY": "load-audit-" + "a" * 32,
           "SIGNING_KEY_PASSPHRASE": "load-passphrase-" + "p" * 32}
SHARED_ADDRESS = {"RATELIMIT_SIGN_IN": "100000 per minute", "RATELIMIT_INTENT_ADDRESS": "100000 per hour"}


class Failed(Exception):
    """A request answered other than the mix expects (counted as an error), or the run is over: the round ends."""


class Recorder:
    """Latencies per endpoint, the errors, and the ids the server gave each request (to find its access log line),
    from every client thread."""

    def __init__(self):
        self.samples, self.errors, self.lock = defaultdict(list), defaultdict(list), threading.Lock()
        self.request_ids = defaultdict(list)
        self.unavailable, self.dropped = defaultdict(int), defaultdict(int)  # --faults: 503 + Retry-After; cut off

    def add_fault(self, endpoint, counter):
        with self.lock:
            counter[endpoint] += 1

    def add(self, endpoint, seconds, error=None, request_id=None):
        with self.lock:
            self.samples[endpoint].append(seconds * 1000)
            if error:
                self.errors[endpoint].append(error)
            if request_id:
                self.request_ids[endpoint].append(request_id)

    @property
    def requests(self):
        return sum(len(s) for s in self.samples.values())

    @property
    def error_count(self):
        return sum(len(e) for e in self.errors.values())


def http_session():
    """A keep-alive session that, as browsers do, sends a GET again on a new connection when the kept-alive one was
    just closed by the server (gunicorn's keepalive is 5 s); nothing else is ever retried."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=Retry(total=1, connect=0, read=1, status=0, other=0,
                                                           allowed_methods=frozenset({"GET"}),
                                                           respect_retry_after_header=False)))  # a 503 is answered
    return session


def worker_pace():
    time.sleep(1)  # as scripts/walkthrough polls while the worker prepares the document


class Client:
    """One team's HTTP sessions (keep-alive): the API with each user's token, and legal's signed-in page session.
    ``new_session`` makes them (bench/api_cost.py serves them in its own process); ``wait_for_worker`` runs between
    two looks at a document being prepared."""

    def __init__(self, base, team, recorder, codes, index, deadline, new_session=http_session,
                 wait_for_worker=worker_pace, faults=False):
        self.base, self.recorder, self.codes, self.index, self.deadline = base, recorder, codes, index, deadline
        self.faults = faults  # a 503 with Retry-After and a connection cut by a killed worker are the faults' own
        self.users = {role: username for role, (username, _) in team.items()}
        self.tokens = {role: token for role, (_, token) in team.items()}
        self.http, self.pages = new_session(), new_session()
        self.wait_for_worker = wait_for_worker

    def call(self, endpoint, method, path, user=None, body=None, expect=(200,), page=False, data=None):
        if time.monotonic() >= self.deadline:
            raise Failed("the run is over")
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        session = self.pages if page else self.http
        started = time.perf_counter()
        try:
            response = session.request(method, self.base + path, headers=headers, json=body, data=data, timeout=60,
                                       allow_redirects=False)
        except requests.ConnectionError as exc:
            if not self.faults:
                raise self.failed(endpoint, started, exc) from exc
            self.recorder.add_fault(endpoint, self.recorder.dropped)
            raise Failed(endpoint) from exc
        except requests.RequestException as exc:
            raise self.failed(endpoint, started, exc) from exc
        elapsed, request_id = time.perf_counter() - started, response.headers.get("X-Request-ID")
        if self.faults and response.status_code == 503 and response.headers.get("Retry-After"):
            self.recorder.add_fault(endpoint, self.recorder.unavailable)
            raise Failed(endpoint)
        if response.status_code not in expect:
            self.recorder.add(endpoint, elapsed, f"{response.status_code} {response.text[:200]}", request_id)
            raise Failed(endpoint)
        self.recorder.add(endpoint, elapsed, request_id=request_id)
        return response

    def failed(self, endpoint, started, exc):
        self.recorder.add(endpoint, time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
        return Failed(endpoint)

    def api(self, endpoint, method, path, user, body=None, expect=(200,)):
        return self.call(endpoint, method, "/api/v1" + path, user, body, expect).json()

    def sign_in(self):
        page = self.call("GET /login page", "GET", "/login", page=True)
        self.call("POST /login page", "POST", "/login", page=True, expect=(302,), data={
            "username": self.users["legal"], "password": PASSWORD, "csrf_token": CSRF.search(page.text).group(1)})

    def task(self, user, contract_id, role):
        items = self.api("GET /tasks?contract_id", "GET", f"/tasks?contract_id={contract_id}&role={role}", user)["items"]
        if len(items) != 1:
            self.recorder.add("GET /tasks?contract_id", 0, f"{len(items)} open {role} tasks for contract {contract_id}")
            raise Failed("task")
        return items[0]["id"]

    def round(self, number):
        """One contract through the mix; returns when done or when the run is over."""
        contract = self.api("POST /contracts", "POST", "/contracts", "sales", FIXTURE, expect=(201,))
        cid = contract["id"]
        self.api("PATCH /contracts/{id}", "PATCH", f"/contracts/{cid}", "sales",
                 {"designated_contacts": {"provider": "陆洋"}})
        self.api("POST /contracts/{id}/submit", "POST", f"/contracts/{cid}/submit", "sales", {})
        returned = number % 3 == 1
        for review in ("return", "approve") if returned else ("approve",):
            self.call("GET /inbox page", "GET", "/inbox", page=True)
            task = self.task("legal", cid, "legal")
            self.call("GET /tasks/{id} page", "GET", f"/tasks/{task}", page=True)
            body = {"decision": review, "comment": "第十一条联系人与首页不一致" if review == "return" else ""}
            self.api(f"POST /tasks/{{id}}/complete {review}", "POST", f"/tasks/{task}/complete", "legal", body)
            if review == "return":
                self.api("GET /contracts/{id}", "GET", f"/contracts/{cid}", "sales")
                self.api("PATCH /contracts/{id}", "PATCH", f"/contracts/{cid}", "sales",
                         {"designated_contacts": {"provider": "孙磊"}})
                self.api("POST /contracts/{id}/submit", "POST", f"/contracts/{cid}/submit", "sales", {})
        task = self.task("finance", cid, "finance")
        self.api("POST /tasks/{id}/complete approve", "POST", f"/tasks/{task}/complete", "finance",
                 {"decision": "approve"})
        self.api("GET /contracts/{id}", "GET", f"/contracts/{cid}", "sales")
        if number == 1 + self.index % 3:  # one round per client, spread out
            self.sign(cid)

    def sign(self, cid):
        self.api("PUT /contracts/{id}/letters/{code}", "PUT", f"/contracts/{cid}/letters/information_security",
                 "customer", {"values": LETTER_VALUES})
        while True:  # the worker renders and certifies the document
            state = self.api("GET /contracts/{id}/signing", "GET", f"/contracts/{cid}/signing", "customer")
            if state["status"] == "ready":
                break
            if state["status"] != "preparing":
                self.recorder.add("GET /contracts/{id}/signing", 0, f"document {state['status']}: {state}")
                raise Failed("signing")
            self.wait_for_worker()
        self.api("POST /contracts/{id}/intent", "POST", f"/contracts/{cid}/intent", "customer", {}, expect=(201,))
        self.api("POST /contracts/{id}/sign", "POST", f"/contracts/{cid}/sign", "customer", {
            "document_sha256": state["document_sha256"], "method": "typed", "typed_name": "徐永立", "consent": True,
            "intent_code": self.codes(cid)})
        task = self.task("signatory", cid, "provider")
        document = self.api("GET /contracts/{id}", "GET", f"/contracts/{cid}", "signatory")["document"]["document_sha256"]
        self.api("POST /tasks/{id}/intent", "POST", f"/tasks/{task}/intent", "signatory", {}, expect=(201,))
        signed = self.api("POST /tasks/{id}/complete sign", "POST", f"/tasks/{task}/complete", "signatory", {
            "decision": "sign", "document_sha256": document, "intent_code": self.codes(cid)})
        if signed["contract"]["status"] != "active":
            self.recorder.add("POST /tasks/{id}/complete sign", 0, f"not active: {signed['contract']}")

    def run(self, start_at):
        time.sleep(max(0.0, start_at - time.monotonic()))
        try:
            self.sign_in()
        except Failed:
            return
        number = 0
        while time.monotonic() < self.deadline:
            try:
                self.round(number)
            except Failed:
                pass
            number += 1


# --- servers --------------------------------------------------------------------------------------------------------
def pg_database(url):
    name = f"qianyue_load_{os.getpid()}"
    admin = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False), (admin, name)


def drop_pg(handle):
    admin, name = handle
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(instance, database_url, port, app_env, **more):
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "WEB_CONCURRENCY", "WEB_THREADS", "JOBS_NICE")}
    return {**keep, **SECRETS, **SHARED_ADDRESS, "APP_ENV": app_env, "DATABASE_URL": database_url,
            "QIANYUE_INSTANCE": str(instance), "PORT": str(port), "BASE_URL": f"http://127.0.0.1:{port}", **more}


def start(command, env, port, log):
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped at start (exit {process.returncode}); see {log.name}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop(process)
    raise SystemExit(f"the server was not ready in 120 s; see {log.name}")


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tree_cpu_seconds(pid):
    """User + system CPU of a process and its descendants (Linux /proc), for the servers' share of the machine."""
    total, pending = 0.0, [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            pending += [int(c) for t in Path(f"/proc/{current}/task").iterdir()
                        for c in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def backends_cpu_seconds(platform):
    """CPU of the PostgreSQL backends serving this database now (the pooled connections of every process)."""
    if platform.db.is_sqlite:
        return {}
    with platform.db.read() as session:
        pids = session.exec(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    return {pid: tree_cpu_seconds(pid) for (pid,) in pids}


def platform_for(env):
    """The product's services on the server's database, with its keys and PKI (the bench's side door)."""
    os.environ["SIGNING_KEY_PASSPHRASE"] = env["SIGNING_KEY_PASSPHRASE"]
    app = create_app({"DATABASE_URL": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"],
                      "AUDIT_KEY": env["AUDIT_KEY"], "APP_ENV": env["APP_ENV"], "INSTANCE_PATH": env["QIANYUE_INSTANCE"],
                      "BASE_URL": env["BASE_URL"], "RUN_WORKER": False})
    return app.extensions["qianyue"]


def prepare_users(platform, clients):
    """Seed the demo (provider profiles, templates, diagrams), the pools of staff users, a customer integration account
    per client (bound to seed 003's school), and each client's team: {role: (username, its own token)}."""
    migrate.upgrade(platform.db)
    demo.seed(platform)
    with platform.db.write() as session:
        for role, size in POOLS.items():
            for index in range(size):
                platform.accounts.create_user(session, f"{role}{index}", [ROLES[role]], PASSWORD, f"压测{role}{index}",
                                              f"{role}{index}@load.example")
        for index in range(clients):
            platform.accounts.create_user(session, f"customer{index}", ["customer"], PASSWORD, f"压测客户{index}",
                                          f"customer{index}@load.example", SEED_003_CREDIT_CODE)
        teams = []
        for index in range(clients):
            team = {role: f"{role}{index % size}" for role, size in POOLS.items()} | {"customer": f"customer{index}"}
            teams.append({role: (name, platform.accounts.create_token(session, name, f"load {index}"))
                          for role, name in team.items()})
    return teams


def code_reader(platform):
    def newest_code(contract_id):
        with platform.db.read() as session:
            return platform.signing.last_code(session, contract_id)
    return newest_code


def drive(base, teams, platform, duration, recorder, faults=None):
    """The clients for ``duration`` seconds (and ``faults``, started with them); returns (wall seconds, the client
    process's CPU seconds)."""
    begin = time.monotonic()
    deadline, ramp = begin + duration, min(RAMP_UP, duration / 6)
    clients = [Client(base, team, recorder, code_reader(platform), index, deadline, faults=faults is not None)
               for index, team in enumerate(teams)]
    if faults is not None:
        threading.Thread(target=faults.run, args=(begin, duration), daemon=True).start()
    threads = [threading.Thread(target=c.run, args=(begin + ramp * i / len(clients),), daemon=True)
               for i, c in enumerate(clients)]
    cpu, started = time.process_time(), time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    return time.perf_counter() - started, time.process_time() - cpu


def settle(platform, timeout=180):
    """Wait for the worker to finish what the run queued (packages of activated contracts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with platform.db.read() as session:
            pending = session.exec(select(Contract.id).where(Contract.status == "active")).all()
            if all(platform.documents.package(session, cid) is not None for cid in pending):
                return
        time.sleep(1)


# --- faults (--faults) ----------------------------------------------------------------------------------------------
def descendants(pid):
    """Every process below ``pid`` with its command line."""
    found, pending = {}, [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                for child in (task / "children").read_text().split():
                    found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    pending.append(int(child))
            except FileNotFoundError:
                continue
    return found


class Faults:
    """What --faults does to `make serve` while the clients run, as tests/test_cluster.py does to `make cluster`: at a
    quarter of the run kill -9 a gunicorn worker (gunicorn starts another); at 45 % kill -9 a job worker in the middle
    of a job (a second worker beside `make serve`'s, which takes the job over when its lease, JOB_LEASE_SECONDS=8,
    runs out); at 65 % restart PostgreSQL (a private server: tests/cluster.py's PrivatePostgres). ``log`` says what
    happened and when."""

    LEASE_SECONDS = 8

    def __init__(self, serve, extra_worker, postgres, platform):
        self.serve, self.extra_worker, self.postgres, self.platform = serve, extra_worker, postgres, platform
        self.log, self.killed_job, self.gunicorn_worker, self.replaced = [], None, None, False

    def say(self, begin, what):
        self.log.append(f"{time.monotonic() - begin:6.1f} s  {what}")

    def run(self, begin, duration):
        time.sleep(max(0.0, begin + duration * 0.25 - time.monotonic()))
        workers = self.web_workers()
        self.gunicorn_worker = workers[0]
        os.kill(self.gunicorn_worker, signal.SIGKILL)
        self.say(begin, f"kill -9 gunicorn worker {self.gunicorn_worker} (of {len(workers)})")
        time.sleep(max(0.0, begin + duration * 0.45 - time.monotonic()))
        self.kill_worker_mid_job(begin, until=begin + duration * 0.6)
        time.sleep(max(0.0, begin + duration * 0.65 - time.monotonic()))
        started = time.monotonic()
        self.postgres.restart()
        self.say(begin, f"PostgreSQL restarted in {time.monotonic() - started:.1f} s")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = self.web_workers()
            if len(now) == len(workers) and self.gunicorn_worker not in now:
                self.replaced = True
                self.say(begin, f"gunicorn runs {len(now)} workers again")
                return
            time.sleep(0.5)

    def web_workers(self):
        processes = descendants(self.serve.pid)
        master = next(pid for pid, command in processes.items()
                      if "gunicorn" in command and self.parent(pid) == self.serve.pid)
        return sorted(pid for pid in processes if self.parent(pid) == master)

    @staticmethod
    def parent(pid):
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except FileNotFoundError:
            return None

    def kill_worker_mid_job(self, begin, until):
        """Wait for the second worker to run a job, then kill it: the job is left on its lease."""
        marker = f"%:{self.extra_worker.pid}:%"
        while time.monotonic() < until:
            try:
                with self.platform.db.read() as session:
                    row = session.execute(text("SELECT id, kind FROM job WHERE status = 'running' AND locked_by LIKE "
                                               ":marker"), {"marker": marker}).first()
            except Exception:  # noqa: BLE001  the bench's own look may meet the faults too
                row = None
            if row is not None:
                os.kill(self.extra_worker.pid, signal.SIGKILL)
                self.killed_job = row.id
                self.say(begin, f"kill -9 job worker {self.extra_worker.pid} running job {row.id} ({row.kind})")
                return
            time.sleep(0.05)
        self.say(begin, "no job ran on the second worker to kill it in (a job worker was not killed)")

    def verdict(self):
        """Problems with how the deployment met the faults (a 5xx other than 503 with Retry-After is already an error
        of the run): the killed job must have been finished by the other worker, and gunicorn must have replaced its
        worker."""
        problems = []
        if self.killed_job is not None:
            with self.platform.db.read() as session:
                job = session.execute(text("SELECT status, attempts, last_error FROM job WHERE id = :id"),
                                      {"id": self.killed_job}).first()
            if job.status != "done" or job.attempts < 2 or "expired" not in job.last_error:
                problems.append(f"job {self.killed_job} of the killed worker: {job.status} after {job.attempts} tries")
        else:
            problems.append("no job worker was killed mid-job")
        if not self.replaced:
            problems.append(f"gunicorn did not replace its killed worker {self.gunicorn_worker}")
        return problems


# --- invariants ---------------------------------------------------------------------------------------------------
OUTCOMES = {"active", "declined", "expired"}


def check_invariants(platform, verify_packages=True):
    """What must hold after any load, through the product's own services: a list of problems (empty: all hold)."""
    problems = []
    with platform.db.read() as session:
        contracts = session.exec(select(Contract).order_by(Contract.id)).all()
        instances = defaultdict(list)
        for row in session.exec(select(ProcessInstance)):
            instances[row.business_key].append(row)
        open_rows = defaultdict(list)
        for row in session.exec(select(HumanTask).where(HumanTask.state.in_(("open", "suspended")))):
            open_rows[row.contract_id].append(row)
        numbers = [c.number for c in contracts]
        if len(set(numbers)) != len(numbers):
            problems.append("two contracts share a number")
        for contract in contracts:
            problems += _contract_problems(platform, session, contract, instances[str(contract.id)],
                                           open_rows.pop(contract.id, []), verify_packages)
        for contract_id, rows in open_rows.items():
            problems.append(f"open tasks {[r.id for r in rows]} name no contract ({contract_id})")
    return problems


def _contract_problems(platform, session, contract, instances, rows, verify_packages):
    label = f"contract {contract.id} ({contract.number}, {contract.status})"
    problems = []
    if len(instances) != 1:
        return [f"{label}: {len(instances)} process instances"]
    try:
        step = platform.runtime.load(session, instances[0].id, "bench")
        ready = {str(task.id): task.task_spec.lane for task in step.ready}
        expected = next((STATUS_BY_ROLE[lane] for lane in ready.values() if lane in STATUS_BY_ROLE), None) or next(
            (t.data["outcome"] for t in step.timers if t.data.get("outcome")), None)
    except Conflict:  # the process has ended
        ready, expected = {}, contract.status if contract.status in OUTCOMES else "an outcome"
    if contract.status != expected:
        problems.append(f"{label}: its workflow's open step says {expected}")
    if len(ready) != 1 and contract.status not in OUTCOMES:
        problems.append(f"{label}: {len(ready)} ready user tasks")
    ids = [r.id for r in rows]
    if sorted(ids) != sorted(ready):
        problems.append(f"{label}: open task rows {sorted(ids)} are not the workflow's ready tasks {sorted(ready)}")
    report = platform.history.audit(session, contract.id)
    if not report.ok:
        problems.append(f"{label}: audit chain broken at event {report.first_broken_event_id}: {report.reason}")
    if contract.status == "active" and verify_packages:
        package = platform.documents.package(session, contract.id)
        packages = session.exec(select(func.count()).select_from(SignedDocument).where(
            SignedDocument.contract_id == contract.id, SignedDocument.kind == PACKAGE)).one()
        if packages > 1:
            problems.append(f"{label}: {packages} signed packages (the work was done twice)")
        if package is None:
            problems.append(f"{label}: no signed package")
        else:
            verdict, records = platform.signing.verify(package.pdf)
            if not verdict.valid or not records:
                problems.append(f"{label}: its package does not verify: {verdict.problems[:3]} (on record: {records})")
    return problems


# --- report -------------------------------------------------------------------------------------------------------
def percentile(ordered, share):
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def report(title, recorder, wall, client_cpu, server_cpu, pg_cpu):
    rate, count = recorder.requests / wall, max(recorder.requests, 1)
    print(f"\n== {title}: {recorder.requests} requests in {wall:.1f} s = {rate:.1f} requests/s, "
          f"{recorder.error_count} errors\nCPU: the client {client_cpu:.1f} s ({client_cpu / wall:.0%} of a core), the "
          f"server's processes {server_cpu:.1f} s ({server_cpu / wall:.0%}; {server_cpu / count * 1000:.1f} ms a request), "
          f"PostgreSQL's backends {pg_cpu:.1f} s ({pg_cpu / wall:.0%}; {pg_cpu / count * 1000:.1f} ms a request)")
    print(f"{'endpoint':<40} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    p95s = {}
    for endpoint in sorted(recorder.samples):
        ordered = sorted(recorder.samples[endpoint])
        p95s[endpoint] = percentile(ordered, 0.95)
        mark = " (signs a PDF)" if endpoint in PDF_ENDPOINTS else ""
        print(f"{endpoint:<40} {len(ordered):>6} {statistics.median(ordered):>8.1f} {p95s[endpoint]:>8.1f} "
              f"{percentile(ordered, 0.99):>8.1f} {len(recorder.errors[endpoint]):>6}{mark}")
    for endpoint, errors in recorder.errors.items():
        for error in sorted(set(errors))[:3]:
            print(f"  error {endpoint}: {error}")
    return rate, p95s


def access_lines(path):
    """The server's access log lines (JSON: production's LOG_FORMAT) by request id: (cpu_ms, statements)."""
    lines = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and '"webapp.access"' in line:
            record = json.loads(line)
            lines[record["request_id"]] = (record.get("cpu_ms"), record.get("statements"))
    return lines


def report_costs(recorder, lines):
    """Per endpoint, the mean CPU of the thread that served a request and its statements, from the access log (not
    Argon2id's own threads, nor the job worker's work)."""
    if not lines:
        return
    print(f"{'endpoint':<40} {'CPU ms':>8} {'statements':>10}   (server thread, from the access log)")
    for endpoint in sorted(recorder.request_ids):
        found = [lines[i] for i in recorder.request_ids[endpoint] if i in lines and lines[i][0] is not None]
        if found:
            print(f"{endpoint:<40} {statistics.fmean(c for c, _ in found):>8.1f} "
                  f"{statistics.fmean(n for _, n in found):>10.1f}")


def run_mix(title, command, env, port, clients, duration, log_dir, postgres=None):
    """The mix against one server; with ``postgres`` (a PrivatePostgres the server uses), under --faults."""
    log_path = log_dir / f"{title.split()[1]}.log"  # serve.log, run.log
    log = open(log_path, "w")
    process = start(command, env, port, log)
    platform = platform_for(env)
    extra_worker = faults = None
    try:
        teams = prepare_users(platform, clients)
        if postgres is not None:  # a second job worker beside make serve's, to be killed in the middle of a job
            extra_worker = subprocess.Popen(["nice", "-n", "10", str(REPO / ".venv/bin/flask"), "--app", "wsgi", "jobs",
                                             "run"], cwd=REPO, env=env, start_new_session=True, stdout=log,
                                            stderr=subprocess.STDOUT)
            faults = Faults(process, extra_worker, postgres, platform)
        recorder = Recorder()
        cpu_before, pg_before = tree_cpu_seconds(process.pid), backends_cpu_seconds(platform)
        wall, client_cpu = drive(f"http://127.0.0.1:{port}", teams, platform, duration, recorder, faults)
        server_cpu = tree_cpu_seconds(process.pid) - cpu_before
        pg_cpu = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in backends_cpu_seconds(platform).items())
        platform.db.dispose()  # its pool may have met the restart
        settle(platform)
    finally:
        if extra_worker is not None and extra_worker.poll() is None:
            stop(extra_worker)
        stop(process)
        log.close()
    rate, p95s = report(title, recorder, wall, client_cpu, server_cpu, pg_cpu)
    report_costs(recorder, access_lines(log_path))
    problems = check_invariants(platform)
    if faults is not None:
        print("faults:\n  " + "\n  ".join(faults.log))
        print(f"503 with Retry-After: {sum(recorder.unavailable.values())} {dict(recorder.unavailable)}\n"
              f"connections cut by the killed worker: {sum(recorder.dropped.values())} {dict(recorder.dropped)}")
        problems += faults.verdict()
    with platform.db.read() as session:
        counts = defaultdict(int)
        for status in session.exec(select(Contract.status)):
            counts[status] += 1
    print(f"contracts by status: {dict(sorted(counts.items()))}")
    print(f"invariants: {'all hold' if not problems else f'{len(problems)} problems'}")
    for problem in problems[:20]:
        print(f"  {problem}")
    platform.db.dispose()
    return rate, p95s, recorder.error_count, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test", help="a PostgreSQL server")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="make serve's rate-limit storage")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10 s each: a smoke test of the bench")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run against `make run`")
    parser.add_argument("--faults", action="store_true",
                        help="on a private PostgreSQL: kill -9 a gunicorn worker, kill -9 a job worker mid-job, restart "
                             "PostgreSQL during the run; then 0 errors (503 with Retry-After counted apart) and the "
                             "invariants (no baseline run, no rate or p95 goal)")
    args = parser.parse_args()
    duration = 10 if args.quick else args.duration
    folder = Path(tempfile.mkdtemp(prefix="qianyue-load-"))
    print(f"load: {args.clients} clients, {duration:.0f} s per server; machine load {os.getloadavg()}; logs in {folder}"
          + ("; with faults" if args.faults else ""))

    postgres = PrivatePostgres() if args.faults else None
    try:
        database_url, handle = pg_database(postgres.url if postgres else args.pg)
        port = free_port()
        env = server_env(folder / "serve", database_url, port, "production",
                         RATELIMIT_KEY_PREFIX=f"qianyue-load-{os.getpid()}", RATELIMIT_STORAGE_URI=args.redis,
                         **({"JOB_LEASE_SECONDS": str(Faults.LEASE_SECONDS)} if postgres else {}))
        try:  # RATELIMIT_STORAGE_URI as in production: every process counts in one place
            rate, p95s, errors, problems = run_mix("make serve (gunicorn + worker, PostgreSQL)",
                                                   [str(REPO / "scripts/serve")], env, port, args.clients, duration,
                                                   folder, postgres)
        finally:
            drop_pg(handle)
    finally:
        if postgres is not None:
            postgres.close()
    if args.faults:
        goals = [(errors == 0, f"0 errors, no 500 ({errors})"), (not problems, "invariants hold, the faults were met")]
        for met, goal in goals:
            print(f"goal {'met   ' if met else 'MISSED'} {goal}")
        return 0 if all(met for met, _ in goals) else 1
    base_rate = None
    if not args.no_baseline:
        port = free_port()
        dev = server_env(folder / "run", f"sqlite:///{folder / 'run.db'}", port, "development")
        flask = [str(REPO / ".venv/bin/flask"), "--app", "wsgi"]
        subprocess.run([*flask, "db", "upgrade"], cwd=REPO, env=dev, check=True, capture_output=True)  # as `make run`
        base_rate, _, _, base_problems = run_mix(
            "make run (Werkzeug, SQLite)", [*flask, "devserver", "--host", "127.0.0.1", "--port", str(port)],
            {**dev, "RUN_WORKER": "1"}, port, args.clients, duration, folder)
        problems += [f"make run: {p}" for p in base_problems]

    slow = {e: p for e, p in p95s.items() if e not in PDF_ENDPOINTS and p > P95_GOAL_MS}
    print(f"\nmachine load after the runs {os.getloadavg()}")
    print(f"make serve {rate:.1f} requests/s" + (f", make run {base_rate:.1f} requests/s: ratio {rate / base_rate:.2f}"
                                                  if base_rate else ""))
    goals = [(errors == 0, f"0 errors ({errors})"), (not slow, f"p95 <= {P95_GOAL_MS} ms off the PDF path "
                                                               f"({', '.join(f'{e} {p:.0f}' for e, p in slow.items()) or 'all'})"),
             (rate >= RATE_GOAL, f">= {RATE_GOAL} requests/s ({rate:.1f})"), (not problems, "invariants hold")]
    for met, goal in goals:
        print(f"goal {'met   ' if met else 'MISSED'} {goal}")
    return 0 if all(met for met, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
