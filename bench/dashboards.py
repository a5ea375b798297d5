"""How long the managers' dashboard takes at 100,000 contracts on PostgreSQL or SQLite, panel by panel, measured in
one run.

    .venv/bin/python bench/dashboards.py [--pg postgresql://postgres@127.0.0.1:5432/test | --sqlite]
                                         [--contracts 100000] [--runs 15] [--keep]

Seeds a database of its own (``qianyue_bench_dashboards`` on the PostgreSQL server, or a file in a temporary folder
with ``--sqlite``; migrated to the head, dropped afterwards unless ``--keep``) with COPY (executemany on SQLite):
``--contracts`` contracts created over five years, most of them active (each with its
process instance, its four completed tasks — legal review, finance review, the customer's signature, the
countersignature — with their history events and its activation, and four instalments, some unpaid), the rest
waiting at a step (an open task) or drafted, declined or expired. Then, after VACUUM ANALYZE (ANALYZE on SQLite:
what autovacuum, or SQLite's ``PRAGMA optimize``, keeps a live database at), times each panel of
``DashboardService`` and the whole overview, ``--runs`` times each, and prints p50 and p95 in milliseconds with
their ratio to the baseline measured the same way in the same run: ``SELECT count(*) FROM contract`` (SQLite
counts a table's pages, not its rows: its ratios are large), the CPU a run costs (this thread's and the PostgreSQL
backend's, from /proc: it moves much less than the wall time when others share the machine) and the load average
before and after. The goal is at
most 200 ms for the whole dashboard; the exit code says whether the overview's p95 met it.
"""
import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from workflows import migrate  # noqa: E402
from workflows.clock import utcnow  # noqa: E402
from workflows.db import Database  # noqa: E402
from workflows.services.dashboards import DashboardService  # noqa: E402

NAME = "qianyue_bench_dashboards"
GOAL_MS = 200
STEPS = (("legal_review", "法务审核", "legal"), ("finance_review", "财务审核", "finance"),
         ("customer_sign", "客户签署", "customer"), ("provider_countersign", "乙方会签盖章", "provider"))
WAITING = ("legal_review", "finance_review", "awaiting_customer", "countersigning")  # a status per open step
OTHER_STATUSES = ("draft", "declined", "expired")
VIEWER = SimpleNamespace(role_set=frozenset({"admin"}), username="bench")


def admin_dsn(url):
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def fresh_pg(url):
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{NAME}"')
    return make_url(url).set(database=NAME).render_as_string(hide_password=False)


def drop_pg(url):
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


TABLES = {  # the columns each table is seeded with, in the order of the rows ``rows`` makes
    "contract": ("id", "number", "template", "title", "status", "provider_code", "customer_name", "total",
                 "service_types", "current_version", "created_at", "updated_at", "effective_to", "created_by"),
    "process_instance": ("id", "definition_id", "business_key", "status", "serializer_version", "state_json", "version",
                         "error", "created_at", "updated_at"),
    "human_task": ("id", "instance_id", "contract_id", "name", "title", "role", "state", "created_at", "due_at",
                   "completed_at"),
    "history_event": ("contract_id", "instance_id", "task_id", "task_name", "event", "actor", "details", "at"),
    "payment_instalment": ("contract_id", "seq", "due_date", "amount", "paid", "version", "created_at"),
}


def rows(count, now, rng, definition):
    """Each table's rows (tuples in TABLES' column order) for ``count`` contracts."""
    contracts, instances, tasks, events, instalments = [], [], [], [], []
    span = timedelta(days=5 * 365)
    for cid in range(1, count + 1):
        created = now - span * rng.random()
        total = Decimal(rng.randrange(1_000_000, 100_000_000)) / 100
        age = now - created
        if age > timedelta(days=60) and rng.random() < 0.9:
            status, done = "active", 4
        elif rng.random() < 0.8:
            done = rng.randrange(4)
            status = WAITING[done]
        else:
            status, done = rng.choice(OTHER_STATUSES), 0
        at = created + timedelta(hours=rng.uniform(1, 48))
        instances.append((cid, definition, f"contract:{cid}", "completed" if status == "active" else "running", "3.0",
                          "{}", 1, "", created, created))
        events.append((cid, cid, None, None, "contract_created", "sales", "{}", created))
        for index, (name, title, role) in enumerate(STEPS[:done + (1 if status in WAITING else 0)]):
            task_id = str(uuid.UUID(int=rng.getrandbits(128)))
            if index < done:
                completed = at + timedelta(hours=rng.lognormvariate(3, 1))
                tasks.append((task_id, cid, cid, name, title, role, "completed", at, at + timedelta(days=2), completed))
                events.append((cid, cid, task_id, name, "task_completed", role, "{}", completed))
                at = completed
            else:
                tasks.append((task_id, cid, cid, name, title, role, "open", at, at + timedelta(days=2), None))
        effective_to = None
        if status == "active":
            events.append((cid, cid, None, None, "contract_activated", "system", "{}", at))
            start = at.date()
            effective_to = start + timedelta(days=365 * rng.choice((1, 2, 3)))
            share = (total / 4).quantize(Decimal("0.01"))
            for seq in range(4):
                due = start + timedelta(days=90 * seq + 30)
                paid = share if due < now.date() - timedelta(days=60) or rng.random() < 0.7 else Decimal("0.00")
                instalments.append((cid, seq + 1, due, share, paid, 1, at))
        contracts.append((cid, f"BENCH{cid:08d}", "network_line", f"合同{cid}", status, "xinxiang", f"客户{cid % 5000}",
                          total, "internet_line", 1, created, created, effective_to, "sales"))
    return {"contract": contracts, "process_instance": instances, "human_task": tasks, "history_event": events,
            "payment_instalment": instalments}


DEFINITION = ("INSERT INTO process_definition (key, version, name, sha256, bpmn_xml, dmn_xml, spec_json, deployed_by, "
              "deployed_at) VALUES ('contract_approval', 1, '', '', '', '{}', '{}', 'bench', CURRENT_TIMESTAMP)")


def seed_pg(dsn, count, now, rng):
    """The rows, written with COPY in one transaction, then VACUUM ANALYZE; returns how many of each table."""
    with psycopg.connect(dsn) as conn:
        definition = conn.execute(DEFINITION + " RETURNING id").fetchone()[0]
        tables = rows(count, now, rng, definition)
        for table, table_rows in tables.items():
            with conn.cursor().copy(f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN") as copying:
                for row in table_rows:
                    copying.write_row(row)
        for table in ("contract", "process_instance"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return tables


def sqlite_value(value):
    """What SQLAlchemy stores on SQLite: UTC times as text, money as text read as NUMERIC."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (date, Decimal)):
        return str(value)
    return value


def seed_sqlite(path, count, now, rng):
    """The rows, inserted in one transaction, then ANALYZE; returns how many of each table."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        definition = conn.execute(DEFINITION).lastrowid
        tables = rows(count, now, rng, definition)
        for table, table_rows in tables.items():
            columns = TABLES[table]
            conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                             ([sqlite_value(value) for value in row] for row in table_rows))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return tables


def server_cpu(session):
    """Seconds of CPU the PostgreSQL backend serving ``session`` has used (it runs on this machine); 0 on SQLite,
    which works in this thread."""
    if session.connection().dialect.name != "postgresql":
        return 0.0
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def timings(db, measure, runs):
    """p50 and p95 of the wall time in ms, and the CPU ms a run costs (this thread and the database's backend): on a
    shared machine the wall time follows the load, the CPU time much less."""
    samples, cpu = [], 0.0
    for run in range(runs + 1):  # the first run warms the caches and is not counted
        with db.read() as session:
            cpu_before = time.thread_time() + server_cpu(session)
            started = time.perf_counter()
            measure(session)
            samples.append((time.perf_counter() - started) * 1000)
            if run:
                cpu += time.thread_time() + server_cpu(session) - cpu_before
    samples = sorted(samples[1:])
    return (statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))],
            cpu * 1000 / runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of the PostgreSQL server")
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database for a look (psql, sqlite3)")
    args = parser.parse_args()
    if args.sqlite:
        path = Path(tempfile.mkdtemp(prefix="qianyue-bench-dashboards-")) / "bench.sqlite"
        url, drop = f"sqlite:///{path}", lambda: shutil.rmtree(path.parent)
    else:
        url, drop = fresh_pg(args.pg), lambda: drop_pg(args.pg)
    db = Database(url)
    try:
        migrate.upgrade(db)
        now = utcnow().replace(microsecond=0)
        started = time.perf_counter()
        tables = (seed_sqlite(path, args.contracts, now, random.Random(16)) if args.sqlite
                  else seed_pg(url.replace("postgresql+psycopg", "postgresql"), args.contracts, now, random.Random(16)))
        print(f"{db.engine.dialect.name}: seeded {', '.join(f'{len(found):,} {table}' for table, found in tables.items())}"
              f" in {time.perf_counter() - started:.1f} s; load average {', '.join(f'{n:.2f}' for n in os.getloadavg())}")
        service = DashboardService()
        baseline = timings(db, lambda s: s.execute(text("SELECT count(*) FROM contract")).scalar(), args.runs)
        panels = {
            "by status": lambda s: service.by_status(s),
            "per month (created, activated, value)": lambda s: service.months(s, now),
            "cycle time per step (p50/p90)": lambda s: service.cycle_times(s, now),
            "open tasks by age, overdue": lambda s: service.waiting(s, now),
            "longest waiting": lambda s: service.longest_waiting(s),
            "overdue instalments": lambda s: service.overdue_instalments(s, now),
            "expiring within 30/60/90 days": lambda s: service.expiring(s, now),
            "the whole dashboard": lambda s: service.overview(s, VIEWER, now),
        }
        print(f"{'query':40} {'p50 ms':>8} {'p95 ms':>8} {'p50/baseline':>13} {'CPU ms':>8}")
        print(f"{'baseline: SELECT count(*) FROM contract':40} {baseline[0]:8.1f} {baseline[1]:8.1f} {1:13.1f} "
              f"{baseline[2]:8.1f}")
        for name, measure in panels.items():
            p50, p95, cpu = timings(db, measure, args.runs)
            print(f"{name:40} {p50:8.1f} {p95:8.1f} {p50 / baseline[0]:13.1f} {cpu:8.1f}")
        print(f"load average {', '.join(f'{n:.2f}' for n in os.getloadavg())}; "
              f"goal: the whole dashboard within {GOAL_MS} ms (p95): {'met' if p95 <= GOAL_MS else 'NOT met'}")
        return 0 if p95 <= GOAL_MS else 1
    finally:
        db.dispose()
        if args.keep:
            print(f"kept {url}")
        else:
            drop()


if __name__ == "__main__":
    sys.exit(main())
