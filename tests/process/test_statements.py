"""A task decision over HTTP stays a handful of SQL statements (spiff-arena needs 100-125)."""
from sqlalchemy import event

from tests.conftest import load_fixture
from tests.process.test_lifecycle import create, submit

# auth, task, instance, task done, instance saved, next task, audit head read + write, history, contract status,
# notification facts + holders + outbox, answer (contract, tasks), BEGIN: 17
MAX_STATEMENTS_PER_DECISION = 17


def test_completing_a_task_takes_few_statements(api, platform):
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    api.token("legal")
    statements = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(platform.db.engine, "before_cursor_execute", listener)
    try:
        response = api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"})
    finally:
        event.remove(platform.db.engine, "before_cursor_execute", listener)
    assert response.status_code == 200
    assert len(statements) <= MAX_STATEMENTS_PER_DECISION, "\n".join(statements)
