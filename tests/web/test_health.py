"""What a load balancer asks a node: is the process up (/healthz), can it serve (/readyz)."""
from sqlalchemy import text

from webapp import create_app
from tests.process.test_database_faults import unreachable_database
from workflows import migrate


def test_a_node_at_head_with_its_pki_is_ready(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "pki": "ok"}}


def test_a_node_behind_on_migrations_is_not_ready(client, platform):
    with platform.db.write() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '951e6ef2e824'"))
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.json["checks"]["migrations"].startswith("not at head") and "pki" not in ready.json["checks"]
    assert migrate.pending(platform.db)


def test_a_node_without_its_database_is_alive_but_not_ready(tmp_path):
    app = create_app({"DATABASE_URL": unreachable_database(tmp_path), "SECRET_KEY": "x", "AUDIT_KEY": "y",
                      "APP_ENV": "development", "INSTANCE_PATH": str(tmp_path)})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["database"].startswith("the database did not answer")
