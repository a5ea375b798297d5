"""Engine-layer costs against raw SpiffWorkflow, measured in one run on this machine.

    .venv/bin/python bench/engine.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--contracts 100000]

(a) raw SpiffWorkflow: complete one task + engine steps, in memory (the baseline), and (a')
    whole six-step lifecycles so;
(b) the same step through the engine layer (load, complete, steps, save, task rows, history) on SQLite,
    with the in-process workflow cache warm, and (b') with it off;
(c) the same on PostgreSQL (skipped when the server does not answer);
(d) full six-step lifecycles per second through the engine layer on SQLite;
(e) a task decision through the HTTP API, one server worker, SQLite;
(f) the inbox query for one role with N contracts in the database, and (f') the web inbox's joined query; one task
    in 20 is named for one approver (the approval matrix's person), some of them for the user whose inbox is read;
    both on SQLite, then on PostgreSQL (when it answers).
Prints the median and p95 of each, and the ratios b/a and c/a.
"""
import argparse
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from webapp import create_app  # noqa: E402
from workflows import demo, migrate  # noqa: E402
from workflows.engine.spiff import WorkflowCache  # noqa: E402
from workflows.services.inbox import InboxFilters  # noqa: E402
from workflows.clock import utcnow  # noqa: E402
from workflows.models import Contract, HumanTask, ProcessInstance  # noqa: E402

ROUTING_DATA = {"total": Decimal("1080000.00"), "has_discount": False, "installments_after_term": False,
                "service_types": ["technical_service"], "branch": "xinxiang"}
DECISIONS = ["submit", "approve", "approve", "sign", "sign"]  # sales, legal, finance, customer, provider
# The diagram calls a few domain functions (the activation gate, activation, the renewal notice, who approves
# the seal, the escalation of an overdue review): no-ops here,
# so that (a) measures SpiffWorkflow alone and (b)-(d) the engine layer alone, without the contract domain.
SERVICE_STUBS = {"activation_check": lambda step: [], "notify_renewal": lambda step: None,
                 # the approval matrix's approvers, taken as named (no organisation to look the drafter's manager up in)
                 "resolve_approvers": lambda step, approvers, role: [f"role:{role}" if a == "lane" else a for a in approvers],
                 # the seal rights table's approvers as named (the bench's 1,080,000 technical service needs none)
                 "resolve_seal_approvers": lambda step, approvers: [a for a in (approvers or []) if a],
                 "escalate_overdue": lambda step, step_name: 0,  # 审核超时: no review waits two days here
                 "activate_contract": lambda step: {"renewal_notice_at": "2099-01-01T09:00:00+08:00",
                                                     "term_ends_at": "2099-12-31T09:00:00+08:00"}}


def engine_only(platform):
    """The engine layer without the contract domain's listeners, guards and script functions."""
    platform.runtime.step_listeners.clear()
    platform.tasks.guards.clear()
    platform.runtime.functions.clear()
    platform.runtime.functions.update(SERVICE_STUBS)
    return platform


def stats(samples_ms):
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def show(label, samples_ms):
    median, p95 = stats(samples_ms)
    print(f"{label:<58} median {median:7.3f} ms   p95 {p95:7.3f} ms   (n={len(samples_ms)})")
    return median


def raw_specs():
    parser = SpiffBpmnParser()
    parser.add_dmn_files(sorted(str(p) for p in (REPO / "bpmn").glob("*.dmn")))
    parser.add_bpmn_file(str(REPO / "bpmn" / "contract_approval.bpmn"))
    return parser.get_spec("contract_approval"), parser.get_subprocess_specs("contract_approval")


def raw_workflow(specs):
    workflow = BpmnWorkflow(*specs)
    workflow.script_engine.environment.globals.update({name: (lambda f: lambda *a: f(None, *a))(function)
                                                        for name, function in SERVICE_STUBS.items()})
    workflow.do_engine_steps()
    return workflow


def raw_step(workflow, decision):
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    task.set_data(decision=decision, comment="", **ROUTING_DATA)
    task.run()
    workflow.do_engine_steps()


def raw_spiff_steps(rounds):
    specs, samples = raw_specs(), []
    for _ in range(rounds):
        workflow = raw_workflow(specs)
        for decision in DECISIONS:
            started = time.perf_counter()
            raw_step(workflow, decision)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def raw_spiff_lifecycles_per_second(count):
    """The same six-step lifecycle (start and five decisions) in memory: the ceiling for (d)."""
    specs = raw_specs()
    started = time.perf_counter()
    for _ in range(count):
        workflow = raw_workflow(specs)
        for decision in DECISIONS:
            raw_step(workflow, decision)
    return count / (time.perf_counter() - started)


def seeded_app(url, folder):
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "APP_ENV": "development", "INSTANCE_PATH": str(folder)})
    platform = app.extensions["qianyue"]
    migrate.upgrade(platform.db)
    demo.seed(platform)
    return app, platform


_business_keys = iter(range(10**9, 2 * 10**9))


def start_instance(platform):
    """An instance whose business key names no contract row: the engine layer alone is measured. Returns the key."""
    key = next(_business_keys)
    with platform.db.write() as session:
        platform.runtime.start(session, "contract_approval", key, key, {}, "bench")
    return key


def engine_steps(platform, rounds):
    """Per-step cost of TaskService.complete in its own transaction (what an API call does, minus HTTP)."""
    users = _users(platform)
    samples = []
    for _ in range(rounds):
        key = start_instance(platform)
        for decision, username in zip(DECISIONS, ["sales", "legal", "finance", "customer", "signatory"]):
            task_id = _open_task(platform, key)
            started = time.perf_counter()
            with platform.db.write() as session:
                platform.tasks.complete(session, task_id, users[username], decision, "", data=ROUTING_DATA)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def lifecycles_per_second(platform, count):
    users = _users(platform)
    started = time.perf_counter()
    for _ in range(count):
        key = start_instance(platform)
        for decision, username in zip(DECISIONS, ["sales", "legal", "finance", "customer", "signatory"]):
            with platform.db.write() as session:
                platform.tasks.complete(session, _open_task(platform, key, session), users[username],
                                        decision, "", data=ROUTING_DATA)
    return count / (time.perf_counter() - started)


def http_decisions(app, platform, rounds):
    """Legal approvals of real contracts over HTTP/1.1 keep-alive against a one-thread server."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with platform.db.write() as session:
        token = platform.accounts.create_token(session, "legal")
    users = _users(platform)
    draft = json.loads((REPO / "tests" / "fixtures" / "contract-technical-service.json").read_text(encoding="utf-8"))
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port)
    samples = []
    for _ in range(rounds):
        contract = platform.drafting.create(users["sales"], draft)
        platform.approval.submit(users["sales"], contract.id)
        with platform.db.read() as session:
            task_id = platform.tasks.query(session, contract_id=contract.id)[0].id
        started = time.perf_counter()
        connection.request("POST", f"/api/v1/tasks/{task_id}/complete", body=json.dumps({"decision": "approve"}),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    server.shutdown()
    return samples


def inbox_query(platform, contracts, rounds=200):
    """Fill the database with N contracts (one open task each, roles spread, one in 20 named for a person: a quarter
    of those for legal's user) and time legal's inbox: its role's tasks named for nobody and those named for them.
    On PostgreSQL the planner's statistics are brought up to date first (VACUUM ANALYZE), as autovacuum would."""
    named = ["legal", "finance", "sales", "signatory"]
    roles = ["sales", "legal", "finance", "customer", "provider"]
    now = utcnow()
    with platform.db.write() as session:
        first = session.execute(insert(ProcessInstance).values(
            definition_id=1, business_key="bench", status="running", serializer_version="1.5", state_json="{}",
            version=1, error="", created_at=now, updated_at=now)).inserted_primary_key[0]
    batch = 10_000
    for offset in range(0, contracts, batch):
        with platform.db.write() as session:
            rows = range(offset, min(offset + batch, contracts))
            session.execute(insert(Contract), [
                {"number": f"BENCH{n:08d}", "template": "technical_service", "title": f"合同 {n}", "status": "draft",
                 "provider_code": "xinxiang", "customer_name": f"客户 {n % 997}", "total": Decimal("1000.00"),
                 "service_types": "technical_service", "current_version": 1, "created_by": "bench",
                 "created_at": now, "updated_at": now} for n in rows])
            session.execute(insert(HumanTask), [
                {"id": str(uuid.uuid4()), "instance_id": first, "contract_id": n + 1, "name": "review",
                 "title": "审核", "role": roles[n % len(roles)], "state": "open" if n % 10 else "completed",
                 "candidate": named[n // 20 % len(named)] if n % 20 == 7 else None,
                 "created_at": now, "due_at": now + timedelta(minutes=n % 5000)} for n in rows])
    if not platform.db.is_sqlite:
        with platform.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    legal = frozenset({"legal"})
    samples, web = [], []
    user = _users(platform)["legal"]
    for _ in range(rounds):
        started = time.perf_counter()
        with platform.db.read() as session:
            page = platform.tasks.query(session, roles=legal, for_user="legal", limit=50)
            platform.tasks.count(session, legal)
        samples.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with platform.db.read() as session:  # what /inbox runs: the page joined with contracts, its total, the counts
            rows, total = platform.inbox.page(session, user, InboxFilters(), limit=25)
            platform.inbox.counts(session, user)
            named_count = platform.inbox.named_count(session, user)
        web.append((time.perf_counter() - started) * 1000)
    assert len(page) == 50 and len(rows) == 25 and total > 10_000
    with platform.db.read() as session:  # legal's page is its role's tasks named for nobody and those named for them
        assert named_count > 0 and total == platform.tasks.count(session, legal)["legal"] + named_count
    return samples, web


def _users(platform):
    with platform.db.read() as session:
        return {name: platform.accounts.get(session, name) for name, *_ in demo.DEMO_USERS}


def _open_task(platform, key, session=None):
    """The instance's open task, as a client finds it: the inbox query by business key (the contract id)."""
    if session is None:
        with platform.db.read() as own:
            return _open_task(platform, key, own)
    return platform.tasks.query(session, contract_id=key, limit=1)[0].id


def pg_database(url):
    name = f"qianyue_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"(c) PostgreSQL skipped: {exc}")
        return None, None
    return make_url(url).set(database=name).render_as_string(hide_password=False), (admin, name)


def drop_pg(admin_and_name):
    admin, name = admin_and_name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=200, help="lifecycles per step measurement")
    parser.add_argument("--contracts", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qianyue-bench-"))

    raw = show("(a) raw SpiffWorkflow step, in memory", raw_spiff_steps(args.rounds))
    app, platform = seeded_app(f"sqlite:///{folder / 'bench.db'}", folder)
    engine = engine_only(seeded_app(f"sqlite:///{folder / 'bench.db'}", folder)[1])
    engine_steps(engine, 10)  # warm caches
    sqlite = show("(b) engine-layer step, load + save, SQLite", engine_steps(engine, args.rounds))
    engine.runtime.workflows = WorkflowCache(size=0)
    show("(b') the same, workflow cache off (deserialize every step)", engine_steps(engine, args.rounds))
    engine.runtime.workflows = WorkflowCache()
    pg_url, pg_handle = pg_database(args.pg)
    if pg_url:
        pg_platform = engine_only(seeded_app(pg_url, folder)[1])
        engine_steps(pg_platform, 10)
        postgres = show("(c) engine-layer step, load + save, PostgreSQL", engine_steps(pg_platform, args.rounds))
        pg_platform.db.dispose()
        drop_pg(pg_handle)
    in_memory = raw_spiff_lifecycles_per_second(args.rounds)
    label = "(a') the same lifecycles, raw SpiffWorkflow in memory"
    print(f"{label:<58} {in_memory:7.1f} per second")
    rate = lifecycles_per_second(engine, args.rounds)
    print(f"{'(d) six-step lifecycles through the engine layer, SQLite':<58} {rate:7.1f} per second"
          f"   ({rate / in_memory:.2f} of in memory)")
    http_decisions(app, platform, 10)
    show("(e) task decision over HTTP, one worker, SQLite", http_decisions(app, platform, args.rounds))
    api_inbox, web_inbox = inbox_query(platform, args.contracts)
    show(f"(f) legal task page + counts, {args.contracts:,} contracts, SQLite", api_inbox)
    show("(f') the /inbox query (joined, filtered, counted), same data", web_inbox)
    pg_url, pg_handle = pg_database(args.pg)
    if pg_url:
        pg_platform = seeded_app(pg_url, folder)[1]
        api_inbox, web_inbox = inbox_query(pg_platform, args.contracts)
        show(f"(f) legal task page + counts, {args.contracts:,} contracts, PostgreSQL", api_inbox)
        show("(f') the /inbox query, same data, PostgreSQL", web_inbox)
        pg_platform.db.dispose()
        drop_pg(pg_handle)
    print(f"ratio b/a {sqlite / raw:5.2f}" + (f"   ratio c/a {postgres / raw:5.2f}" if pg_url else ""))
    platform.db.dispose()


if __name__ == "__main__":
    main()
