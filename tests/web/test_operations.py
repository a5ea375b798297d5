"""What a load balancer asks a node (is the process up, can it serve), and who the client is behind a proxy."""
from sqlalchemy import text

from webapp import create_app
from tests.process.test_database_faults import unreachable_database
from workflows import migrate


def test_a_node_at_head_with_its_pki_is_ready(client, platform):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "pki": "ok"},
                          "pki_root": platform.toolkit().pki.root.fingerprint}
    assert len(ready.json["pki_root"]) == 64


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


def test_behind_trusted_proxies_the_client_address_is_the_forwarded_one(database_url, tmp_path, platform):
    """Sign-in records and signature evidence keep the client's address, not the proxy's; without a trusted proxy
    a forged header changes nothing."""
    for proxies, expected in ((0, "127.0.0.1"), (1, "203.0.113.7")):
        app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "AUDIT_KEY": "y", "APP_ENV": "development",
                          "INSTANCE_PATH": str(tmp_path), "WTF_CSRF_ENABLED": False, "TRUSTED_PROXIES": proxies,
                          "RATELIMIT_ENABLED": False})
        app.test_client().post("/login", data={"username": f"nobody{proxies}", "password": "wrong"},
                               headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
                               environ_base={"REMOTE_ADDR": "127.0.0.1"})
        with platform.db.read() as session:
            (ip,) = session.execute(text("SELECT ip FROM login_attempt WHERE username = :u"),
                                    {"u": f"nobody{proxies}"}).one()
        assert ip == expected
        app.extensions["qianyue"].db.dispose()
