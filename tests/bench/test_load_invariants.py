"""bench/load.py's invariant checker (what it checks after the load) catches each broken invariant it names; the timed
bench itself is not part of the suite."""
import importlib.util
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import load_fixture

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"
_spec = importlib.util.spec_from_file_location("load_bench", BENCH)
load_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load_bench)


def at_legal_review(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 200
    return contract["id"]


def lose_the_task(session, contract_id):
    session.execute(text("DELETE FROM human_task WHERE contract_id = :id AND state = 'open'"), {"id": contract_id})


def duplicate_the_task(session, contract_id):
    session.execute(text(
        "INSERT INTO human_task (id, instance_id, contract_id, name, title, role, state, created_at, due_at) "
        "SELECT :copy, instance_id, contract_id, name, title, role, state, created_at, due_at FROM human_task "
        "WHERE contract_id = :id AND state = 'open'"), {"id": contract_id, "copy": str(uuid.uuid4())})


def move_the_status(session, contract_id):
    session.execute(text("UPDATE contract SET status = 'finance_review' WHERE id = :id"), {"id": contract_id})


def edit_the_history(session, contract_id):
    session.execute(text("UPDATE history_event SET comment = 'edited' WHERE id = "
                         "(SELECT min(id) FROM history_event WHERE contract_id = :id)"), {"id": contract_id})


@pytest.mark.parametrize("breakage, says", [
    (lose_the_task, "are not the workflow's ready tasks"),
    (duplicate_the_task, "are not the workflow's ready tasks"),
    (move_the_status, "its workflow's open step says legal_review"),
    (edit_the_history, "audit chain broken"),
])
def test_the_checker_passes_a_sound_database_and_names_what_broke(api, platform, breakage, says):
    contract_id = at_legal_review(api)
    other = at_legal_review(api)
    assert load_bench.check_invariants(platform) == []
    with platform.db.write() as session:
        breakage(session, contract_id)
    problems = load_bench.check_invariants(platform)
    assert len(problems) == 1 and problems[0].startswith(f"contract {contract_id} ") and says in problems[0], problems
    assert not any(problem.startswith(f"contract {other} ") for problem in problems)


def test_the_checker_verifies_each_active_contracts_package(api, platform):
    contract_id = at_legal_review(api)
    api.decide("legal", contract_id, "approve")
    api.decide("finance", contract_id, "approve")
    api.sign("customer", contract_id)
    assert api.sign("signatory", contract_id)["contract"]["status"] == "active"
    api.run_jobs()
    assert load_bench.check_invariants(platform) == []
    with platform.db.write() as session:  # a byte of the signed package changed in the database
        session.execute(text("UPDATE signed_document SET pdf = :pdf WHERE id = (SELECT max(id) FROM signed_document "
                             "WHERE contract_id = :id AND kind = 'package')"),
                        {"id": contract_id, "pdf": tampered(platform, contract_id)})
    problems = load_bench.check_invariants(platform)
    assert len(problems) == 1 and "its package does not verify" in problems[0], problems


def tampered(platform, contract_id):
    with platform.db.read() as session:
        pdf = platform.documents.package(session, contract_id).pdf
    middle = len(pdf) // 2
    return pdf[:middle] + bytes([pdf[middle] ^ 0x01]) + pdf[middle + 1:]
