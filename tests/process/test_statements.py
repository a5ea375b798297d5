"""A task decision over HTTP stays a handful of SQL statements (spiff-arena needs 100-125).

Statements are counted where they leave for the database, at the driver (SQLite's trace callback, a
counting psycopg cursor), so the ORM, SQLAlchemy Core and the driver-level statements all count.
"""
import sqlite3
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import event

from tests.conftest import PG_URL, load_fixture
from tests.process.test_lifecycle import create, submit

# auth (BEGIN, SELECT, ROLLBACK); BEGIN IMMEDIATE, the task (who may decide it), the contract, the version decided on
# and its contract template's digest (the approved rendering's SHA-256 goes with the decision: rendered once per
# version and template and kept), task with its instance, instance saved, task done, next task, contract status,
# notification facts + holders + outbox, audit head read + write, history, the approved SHA-256 on the contract, the
# instance's timer job (the next review's 审核超时), COMMIT; the answer (BEGIN, contract, tasks, ROLLBACK): 26
MAX_STATEMENTS_PER_DECISION = 26
# BEGIN, task with its instance, task done, instance saved, next task, the timer job (the review's 审核超时), audit head
# read (no contract row: nothing to chain), history, COMMIT: 9
MAX_STATEMENTS_PER_ENGINE_STEP = 9


@contextmanager
def counted_statements(db):
    """The SQL text of every statement sent through the connections checked out while the block runs."""
    statements = []

    class CountingCursor(psycopg.Cursor):
        def execute(self, query, *args, **kwargs):
            statements.append(str(query))
            return super().execute(query, *args, **kwargs)

        def executemany(self, query, params_seq, *args, **kwargs):
            params_seq = list(params_seq)
            statements.extend([str(query)] * len(params_seq))
            return super().executemany(query, params_seq, *args, **kwargs)

    def on_checkout(dbapi_connection, _record, _proxy):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(statements.append)
        else:
            dbapi_connection.cursor_factory = CountingCursor

    def on_checkin(dbapi_connection, _record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(None)
        elif dbapi_connection is not None:
            dbapi_connection.cursor_factory = psycopg.Cursor

    event.listen(db.engine, "checkout", on_checkout)
    event.listen(db.engine, "checkin", on_checkin)
    try:
        yield statements
    finally:
        event.remove(db.engine, "checkout", on_checkout)
        event.remove(db.engine, "checkin", on_checkin)


def test_completing_a_task_takes_few_statements(api, platform):
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    api.token("legal")
    with counted_statements(platform.db) as statements:
        response = api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"})
    assert response.status_code == 200
    assert statements, "the counter saw nothing: it is not counting"
    assert len(statements) <= MAX_STATEMENTS_PER_DECISION, "\n".join(s[:160] for s in statements)


def test_an_engine_step_takes_few_statements(platform, users):
    """The engine layer alone: the contract domain's listeners and guards off, a business key with no contract."""
    platform.runtime.step_listeners.clear()
    platform.tasks.guards.clear()
    with platform.db.write() as session:
        step = platform.runtime.start(session, "contract_approval", 10**9, 10**9, {}, "sales")
        task_id = step.new_tasks[0]["id"]
    with counted_statements(platform.db) as statements:
        with platform.db.write() as session:
            platform.tasks.complete(session, task_id, users["sales"], "submit",
                                    data={"total": 1, "has_discount": False, "installments_after_term": False,
                                          "service_types": ["technical_service"]})
    assert any("UPDATE process_instance" in s for s in statements)
    assert len(statements) <= MAX_STATEMENTS_PER_ENGINE_STEP, "\n".join(s[:160] for s in statements)


# BEGIN, task with its instance, [task done + instance saved + next task] in one pipeline, the timer job (the review's
# 审核超时), audit head read, history, COMMIT: 7 (each statement on its own would be 9, and SQLAlchemy's
# pool_pre_ping one more per transaction)
MAX_ROUND_TRIPS_PER_ENGINE_STEP = 7


@pytest.mark.skipif(not PG_URL, reason="round trips to a database server: PostgreSQL only (SQLite runs in-process)")
def test_an_engine_step_takes_few_round_trips_on_postgresql(platform, users, tmp_path):
    """Counted in libpq's own protocol trace: each batch of messages the client sends before it waits for answers."""
    platform.runtime.step_listeners.clear()
    platform.tasks.guards.clear()
    with platform.db.write() as session:
        step = platform.runtime.start(session, "contract_approval", 10**9, 10**9, {}, "sales")
        task_id = step.new_tasks[0]["id"]
    trace_path = tmp_path / "libpq.trace"
    with open(trace_path, "w") as trace:
        def on_checkout(dbapi_connection, _record, _proxy):
            dbapi_connection.pgconn.trace(trace.fileno())

        event.listen(platform.db.engine, "checkout", on_checkout)
        try:
            with platform.db.write() as session:
                platform.tasks.complete(session, task_id, users["sales"], "submit",
                                        data={"total": 1, "has_discount": False, "installments_after_term": False,
                                              "service_types": ["technical_service"]})
        finally:
            event.remove(platform.db.engine, "checkout", on_checkout)
    directions = [line.split("\t")[1] for line in trace_path.read_text().splitlines() if "\t" in line]
    # each run of client messages is sent together and then waited on (the last answer may still be unflushed)
    round_trips = sum(1 for i, direction in enumerate(directions) if direction == "F" and (i == 0 or directions[i - 1] == "B"))
    assert round_trips, "the trace recorded nothing"
    assert round_trips <= MAX_ROUND_TRIPS_PER_ENGINE_STEP, trace_path.read_text()[:4000]
