"""What a caller sees when the database refuses: a race another writer won is a 409, an outage a 503 with
Retry-After, never a 500; and nothing is half applied."""
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, _admin_dsn, free_port, load_fixture
from tests.process.test_concurrency import approve_at_once, count_events
from tests.process.test_lifecycle import create
from webapp import create_app


def test_twenty_parallel_completes_of_one_task_give_one_200_and_nineteen_409(api, live_url, platform):
    """On PostgreSQL the losers used to fail on the task's primary key when the pipeline ended: a 500."""
    for _ in range(3):
        contract, results = approve_at_once(api, live_url, 20)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [409] * 19, results
        assert all(body["error"] == "conflict" for status, body in results if status == 409)
        with platform.db.read() as session:
            assert count_events(session, contract_id=contract["id"], decision="approve") == 1


def unreachable_database(tmp_path):
    if PG_URL:
        return make_url(PG_URL).set(port=free_port()).render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'qianyue.db'}"


def test_a_database_that_does_not_answer_is_a_503_with_retry_after(tmp_path):
    app = create_app({"DATABASE_URL": unreachable_database(tmp_path), "SECRET_KEY": "x", "APP_ENV": "development",
                      "INSTANCE_PATH": str(tmp_path), "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    response = client.get("/api/v1/contracts", headers={"Authorization": "Bearer qy_anything"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json["error"] == "unavailable" and "try again" in response.json["message"]
    page = client.post("/login", data={"username": "legal", "password": "wrong"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "try again" in page.get_data(as_text=True)


@pytest.mark.skipif(not PG_URL, reason="a server restart closes PostgreSQL connections; SQLite has none")
def test_a_restarted_database_is_a_503_then_the_next_request_works(api, platform, database_url):
    """What a restart does to the pool: every pooled connection is closed under it. The request that meets one
    answers 503 (nothing applied); the pool replaces its connections and the next request works."""
    contract = create(api, load_fixture("contract-technical-service.json"))
    name = make_url(database_url).database
    with psycopg.connect(_admin_dsn(PG_URL), autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
    assert killed >= 1
    met = api.call("PATCH", f"/contracts/{contract['id']}", "sales", json={"title": "改名之后"})
    assert met.status_code == 503 and met.headers["Retry-After"] == "5", met.json
    again = api.call("PATCH", f"/contracts/{contract['id']}", "sales", json={"title": "改名之后"})
    assert again.status_code == 200, again.json
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["title"] == "改名之后"
