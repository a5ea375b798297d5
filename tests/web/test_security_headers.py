"""Every response carries the browser protections; a rendered contract runs nothing; the server names no versions."""
import threading
import urllib.request

import pytest
from werkzeug.serving import make_server

from tests.conftest import load_fixture
from tests.process.test_lifecycle import create
from webapp.security import DOCUMENT_POLICY, QuietRequestHandler

PROTECTIONS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "same-origin",
               "Cross-Origin-Opener-Policy": "same-origin"}


def directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split("; ")}


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/no-such-page", "/verify"])
def test_pages_and_the_api_carry_the_policy_and_the_protections(client, path):
    response = client.get(path)
    assert {name: response.headers.get(name) for name in PROTECTIONS} == PROTECTIONS, path
    policy = directives(response)
    assert policy["script-src"] == ["'self'"] and policy["frame-ancestors"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"]
    assert "Strict-Transport-Security" not in response.headers  # plain http: HSTS would mean nothing


def test_hsts_over_https(client, app):
    assert client.get("/login", base_url="https://contracts.example").headers["Strict-Transport-Security"].startswith(
        "max-age=31536000")
    app.config["BASE_URL"] = "https://contracts.example"  # behind a TLS-terminating proxy
    assert "Strict-Transport-Security" in client.get("/login").headers


def test_a_rendered_contract_runs_no_script_and_fetches_nothing(api, as_user):
    """Its HTML comes from an administrator's template: shown, never run."""
    contract = create(api, load_fixture("contract-technical-service.json"))
    response = as_user("legal").get(f"/contracts/{contract['id']}/preview")
    assert response.status_code == 200 and response.headers["Content-Security-Policy"] == DOCUMENT_POLICY
    policy = directives(response)
    assert policy["default-src"] == ["'none'"] and "script-src" not in policy


def test_the_development_server_names_no_versions(app):
    server = make_server("127.0.0.1", 0, app, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/login", timeout=10) as response:
            banner = response.headers["Server"]
    finally:
        server.shutdown()
    assert banner == "Qianyue"


def test_make_run_serves_with_the_quiet_handler(app):
    assert "devserver" in app.cli.list_commands(None)
