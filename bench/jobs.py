"""How fast the job workers drain a backlog, one worker against two, measured in one run on this machine.

    .venv/bin/python bench/jobs.py [--pg postgresql://postgres@127.0.0.1:5432/test] [--jobs 2000] [--io-ms 5]

Each figure drains ``--jobs`` queued jobs through ``JobService.run_one`` (claim, handler, outcome: three
transactions a job) in a fresh, migrated database, and prints jobs per second:
(a) one worker, a handler that does nothing (the mechanism's own cost; the baseline);
(b) two workers (two threads, each with its own connection pool, as two processes would have), same handler;
(c) one worker and (d) two workers whose handler waits ``--io-ms`` (an SMTP or HTTP round trip);
(e) one worker on SQLite (``make run``), no-op handler;
(f) bare single-row INSERT + COMMIT per second on the same PostgreSQL database (psycopg, no SQLAlchemy): the
    floor that three commits a job sit on.
Ratios: b/a and d/c (what a second worker adds), e/a, and 3a/f (a job's cost in bare commits: 1.0 would be the
commits alone). PostgreSQL figures are skipped when the server does not answer.
"""
import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from workflows import migrate  # noqa: E402
from workflows.db import Database  # noqa: E402
from workflows.services.jobs import JobService  # noqa: E402

KIND = "bench.job"


def admin_dsn(url):
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def fresh_pg(url, name):
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_pg(url, name):
    with psycopg.connect(admin_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service(url, io_seconds):
    jobs = JobService(Database(url))
    jobs.register(KIND, (lambda job: time.sleep(io_seconds)) if io_seconds else (lambda job: None))
    return jobs


def drain(url, workers, count, io_seconds):
    """Queue ``count`` jobs, then let ``workers`` workers drain them; returns jobs per second."""
    services = [service(url, io_seconds) for _ in range(workers)]
    with services[0].db.write() as session:
        for n in range(count):
            services[0].enqueue(session, KIND, {"n": n})
    ran = [0] * workers

    def work(index):
        ran[index] = services[index].run_pending(f"bench-{index}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.perf_counter() - started
    assert sum(ran) == count, (ran, count)  # each job once, whoever ran it
    for jobs in services:
        jobs.db.dispose()
    return count / elapsed


def bare_commits(url, count):
    """Single-row INSERT + COMMIT per second, straight through psycopg."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_commit (id serial PRIMARY KEY, n integer)")
        conn.commit()
        started = time.perf_counter()
        for n in range(count):
            conn.execute("INSERT INTO bench_commit (n) VALUES (%s)", (n,))
            conn.commit()
        return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("QIANYUE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--io-ms", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    io = args.io_ms / 1000
    figures = {}
    name = f"qianyue_bench_jobs_{os.getpid()}"
    try:
        url = fresh_pg(args.pg, name)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL at {args.pg} does not answer ({exc.__class__.__name__}): (a)-(d) skipped")
        url = None
    if url:
        try:
            db = Database(url)
            migrate.upgrade(db)
            db.dispose()
            figures["a"] = drain(url, 1, args.jobs, 0)
            figures["b"] = drain(url, 2, args.jobs, 0)
            figures["c"] = drain(url, 1, args.jobs // 4, io)
            figures["d"] = drain(url, 2, args.jobs // 4, io)
            figures["f"] = bare_commits(url, args.jobs)
        finally:
            drop_pg(args.pg, name)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite:///{Path(folder) / 'bench.db'}"
        db = Database(sqlite)
        migrate.upgrade(db)
        db.dispose()
        figures["e"] = drain(sqlite, 1, args.jobs, 0)
    labels = {"a": "PostgreSQL, 1 worker, no-op handler (baseline)", "b": "PostgreSQL, 2 workers, no-op handler",
              "c": f"PostgreSQL, 1 worker, {args.io_ms:g} ms handler",
              "d": f"PostgreSQL, 2 workers, {args.io_ms:g} ms handler",
              "e": "SQLite, 1 worker, no-op handler", "f": "PostgreSQL, bare INSERT + COMMIT"}
    for key, value in sorted(figures.items()):
        print(f"({key}) {labels[key]}: {value:,.0f} {'commits' if key == 'f' else 'jobs'}/s")
    for top, bottom in (("b", "a"), ("d", "c"), ("e", "a")):
        if top in figures and bottom in figures:
            print(f"{top}/{bottom} = {figures[top] / figures[bottom]:.2f}")
    if "a" in figures and "f" in figures:
        print(f"3a/f = {3 * figures['a'] / figures['f']:.2f} (a job as a fraction of three bare commits' rate)")


if __name__ == "__main__":
    main()
