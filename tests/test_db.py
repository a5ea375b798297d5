"""Driver-level statements (workflows.db.Statement) read and write what the ORM reads and writes, on both databases."""
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from sqlmodel import select

import workflows.db
from tests.conftest import PG_URL, _admin_dsn
from workflows.db import Pipeline, Statement, insert_statement
from workflows.errors import Conflict
from workflows.models import HumanTask, ProcessInstance

TASK = HumanTask.__table__
INSERT_TASK = insert_statement(TASK)
TASKS_BY_ID = Statement(f"SELECT {', '.join(c.name for c in TASK.c)} FROM human_task WHERE id IN (:ids) ORDER BY id",
                        columns=TASK.c, lists=["ids"])
CLOSE = Statement("UPDATE human_task SET state = 'completed', completed_at = :at WHERE id = :id AND state = 'open'",
                  at=TASK.c.completed_at)
PERCENT = Statement("SELECT count(*) FROM human_task WHERE title LIKE '%' || :word || '%'")


@pytest.fixture
def instance_id(platform):
    with platform.db.write() as session:
        return platform.runtime.start(session, "contract_approval", "db-test", 7, {}, "sales").instance_id


def task_row(task_id, instance_id, due):
    return {"id": task_id, "instance_id": instance_id, "contract_id": 7, "name": "review", "title": "审核 100%",
            "role": "legal", "state": "open", "assignee": None, "delegated_by": None, "created_at": due - timedelta(days=1),
            "due_at": due, "completed_at": None, "completed_by": None, "decision": None, "candidate": None, "step_id": None,
            "escalated_at": None, "escalated_to": None}


def test_rows_written_by_the_driver_read_the_same_through_the_orm(platform, instance_id):
    due = datetime(2026, 12, 31, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    ids = ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"]
    with platform.db.write() as session:
        INSERT_TASK.execute_many(session, [task_row(i, instance_id, due) for i in ids])
    with platform.db.read() as session:
        orm = session.exec(select(HumanTask).where(HumanTask.id.in_(ids)).order_by(HumanTask.id)).all()
        rows = TASKS_BY_ID.rows(session, {"ids": ids})
        assert TASKS_BY_ID.rows(session, {"ids": []}) == []  # an empty list matches nothing
    assert [r.due_at for r in orm] == [r.due_at for r in rows] == [due, due]  # aware, the same instant
    assert rows[0].due_at.tzinfo is not None and rows[0]._asdict() == orm[0].model_dump()


def test_execute_reports_the_rows_it_changed(platform, instance_id):
    task_id = "00000000-0000-0000-0000-00000000000c"
    with platform.db.write() as session:
        INSERT_TASK.execute(session, task_row(task_id, instance_id, datetime.now(timezone.utc)))
        assert CLOSE.execute(session, {"id": task_id, "at": datetime.now(timezone.utc)}) == 1
        assert CLOSE.execute(session, {"id": task_id, "at": datetime.now(timezone.utc)}) == 0  # no longer open


def test_a_literal_percent_sign_and_scalars(platform, instance_id):
    with platform.db.write() as session:
        INSERT_TASK.execute(session, task_row("00000000-0000-0000-0000-00000000000d", instance_id,
                                              datetime.now(timezone.utc)))
        assert PERCENT.scalar(session, {"word": "100"}) == 1
        assert Statement("SELECT id FROM human_task WHERE id = :id").scalar(session, {"id": "none"}) is None


def test_statements_join_the_sessions_transaction(platform, instance_id):
    """A driver statement and the ORM share one transaction: a rollback undoes both."""
    with pytest.raises(RuntimeError):
        with platform.db.write() as session:
            INSERT_TASK.execute(session, task_row("00000000-0000-0000-0000-00000000000e", instance_id,
                                                  datetime.now(timezone.utc)))
            session.get(ProcessInstance, instance_id).error = "changed"
            raise RuntimeError("abort")
    with platform.db.read() as session:
        assert TASKS_BY_ID.rows(session, {"ids": ["00000000-0000-0000-0000-00000000000e"]}) == []
        assert session.get(ProcessInstance, instance_id).error == ""


def test_a_row_another_writer_stored_first_is_a_conflict_not_a_driver_error(platform, instance_id):
    """Two completes of one task both insert the next task: the loser's insert fails on the key when the pipeline
    ends. That is a race lost (409), as the version check would have said, not a 500."""
    task = task_row("00000000-0000-0000-0000-00000000000f", instance_id, datetime.now(timezone.utc))
    with platform.db.write() as session:
        INSERT_TASK.execute(session, task)
    with pytest.raises(Conflict, match="at the same moment"):
        with platform.db.write() as session, Pipeline(session) as pipeline:
            pipeline.send(INSERT_TASK, task)
    with pytest.raises(Conflict):
        with platform.db.write() as session:
            session.add(HumanTask(**task))


@pytest.mark.skipif(not PG_URL, reason="a server that drops connections: PostgreSQL only")
def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced(platform, monkeypatch):
    """Only idle connections are pinged; the one the server killed is found out and replaced before use."""
    with platform.db.read() as session:
        pid = Statement("SELECT pg_backend_pid()").scalar(session)
    with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    monkeypatch.setattr(workflows.db, "IDLE_BEFORE_PING", 0.0)
    with platform.db.read() as session:
        assert Statement("SELECT pg_backend_pid()").scalar(session) != pid
