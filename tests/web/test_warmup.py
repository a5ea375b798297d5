"""A web process compiles every page template before its first request: gunicorn calls the config's
``post_worker_init`` with the worker once the app is loaded (and ``make run``'s server does the same)."""
import runpy
from pathlib import Path
from types import SimpleNamespace

from tests.conftest import load_fixture

GUNICORN_CONFIG = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_no_page_compiles_a_template_after_the_worker_started(app, api, as_user, monkeypatch):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    monkeypatch.setenv("APP_ENV", "development")  # the config reads the deployment's settings
    runpy.run_path(str(GUNICORN_CONFIG))["post_worker_init"](SimpleNamespace(wsgi=app))
    compiled = len(app.jinja_env.cache)
    admin = as_user("admin")
    for path in ("/login", f"/contracts/{contract['id']}", "/admin/processes/contract_approval/edit", "/admin/jobs",
                 "/no-such-page"):
        assert admin.get(path).status_code in (200, 302, 404), path
    assert len(app.jinja_env.cache) == compiled
