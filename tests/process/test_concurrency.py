"""Concurrent writers: one success and one clear 409, never a lost update; timers never fire twice."""
import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from tests.conftest import PG_URL, load_fixture
from tests.process.test_lifecycle import create, small_contract, submit
from webapp import create_app
from workflows.models import HistoryEvent
from workflows.clock import utcnow


def count_events(session, **where):
    query = select(func.count()).select_from(HistoryEvent).filter_by(**where)
    return session.exec(query).one()


def post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def approve_at_once(api, live_url, reviewers):
    """A contract at legal review, approved by ``reviewers`` threads released together: their (status, body)."""
    token = api.token("legal")
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    barrier, results = threading.Barrier(reviewers), []

    def decide():
        barrier.wait()
        results.append(post(f"{live_url}/api/v1/tasks/{task['id']}/complete", token, {"decision": "approve"}))

    threads = [threading.Thread(target=decide) for _ in range(reviewers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return contract, results


def test_two_reviewers_completing_one_task_get_one_200_and_one_409(api, live_url, platform):
    for _ in range(5):
        contract, results = approve_at_once(api, live_url, 2)
        assert sorted(status for status, _ in results) == [200, 409], results
        loser = next(body for status, body in results if status == 409)
        assert loser["error"] == "conflict" and loser["message"]
        with platform.db.read() as session:
            approvals = count_events(session, contract_id=contract["id"], decision="approve")
        assert approvals == 1
        assert [t["role"] for t in api.tasks("finance", contract["id"])] == ["finance"]


def test_concurrent_drafts_never_share_a_number(api, live_url):
    token = api.token("sales")
    draft = load_fixture("contract-technical-service.json")
    results = []

    def create_one():
        results.append(post(f"{live_url}/api/v1/contracts", token, draft))

    threads = [threading.Thread(target=create_one) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert [status for status, _ in results] == [201] * 8
    numbers = [body["number"] for _, body in results]
    assert len(set(numbers)) == 8


@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time: drafts are created one after the other there")
def test_a_draft_being_created_does_not_hold_up_the_next_ones_number(platform, users):
    """The number is taken in a transaction of its own: while a draft's creation is still running (held here in its
    process start), another draft is created and numbered at once, instead of waiting for the first to commit."""
    draft = load_fixture("contract-technical-service.json")
    held, release = threading.Event(), threading.Event()

    def hold_the_first(_session, _step):
        if not held.is_set():
            held.set()
            release.wait(30)

    platform.runtime.step_listeners.insert(0, hold_the_first)
    created = {}
    first = threading.Thread(target=lambda: created.setdefault("first", platform.drafting.create(users["sales"], draft)))
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=lambda: created.setdefault("second", platform.drafting.create(users["sales"], draft)))
    second.start()
    second.join(10)
    finished_while_held = not second.is_alive()
    release.set()
    first.join(30)
    second.join(30)
    assert finished_while_held, "the second draft waited for the first one's transaction"
    numbers = [created["first"].number, created["second"].number]
    assert numbers[0][:-8] == numbers[1][:-8] and int(numbers[1][-8:-5]) == int(numbers[0][-8:-5]) + 1, numbers


def test_two_sweepers_never_fire_a_timer_twice(api, database_url, tmp_path):
    contract_ids = []
    for _ in range(6):
        contract = create(api, small_contract())
        submit(api, contract["id"])
        api.decide("legal", contract["id"], "approve")
        contract_ids.append(contract["id"])
    sweepers = [create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "APP_ENV": "development",
                            "INSTANCE_PATH": str(tmp_path)}).extensions["qianyue"] for _ in range(2)]
    at, barrier, advanced = utcnow() + timedelta(days=15), threading.Barrier(2), []

    def sweep(platform):
        barrier.wait()
        advanced.append(platform.timers.run_due(at=at))

    threads = [threading.Thread(target=sweep, args=(p,)) for p in sweepers]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(advanced) == 6
    with sweepers[0].db.read() as session:
        for contract_id in contract_ids:
            fired = count_events(session, contract_id=contract_id, event="timer_fired")
            assert fired == 2  # the reminder and the expiry, each once
    for platform in sweepers:
        platform.db.dispose()
    for contract_id in contract_ids:
        assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "expired"
