"""The commands DESIGN.md promises, run through Flask's CLI runner."""
from datetime import timedelta


from tests.process.test_lifecycle import create, small_contract, submit
from workflows.clock import utcnow


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def test_users_and_tokens(app, api):
    code, output = run(app, "users", "create", "auditor", "--role", "legal", "--role", "finance", "--password", "s3cret-pass")
    assert code == 0, output
    code, output = run(app, "tokens", "create", "auditor")
    assert code == 0
    token = output.strip().splitlines()[-1]
    response = api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert run(app, "users", "create", "auditor", "--role", "legal", "--password", "s3cret-pass")[0] == 1
    assert run(app, "users", "create", "x", "--role", "wizard", "--password", "s3cret-pass")[0] == 2
    assert run(app, "tokens", "create", "nobody")[0] == 1
    assert run(app, "tokens", "revoke", "auditor")[0] == 0
    assert api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_demo_seed_twice_changes_nothing(app, platform):
    with platform.db.read() as session:
        before = (len(platform.repository.versions(session)), platform.accounts.find(session, "sales").id)
    code, output = run(app, "demo", "seed")
    assert code == 0 and "unchanged" in output and "qianyue-demo" in output
    with platform.db.read() as session:
        assert (len(platform.repository.versions(session)), platform.accounts.find(session, "sales").id) == before


def test_demo_seed_is_refused_in_production(tmp_path):
    from webapp import create_app
    app = create_app({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/never-reached", "SECRET_KEY": "x",
                      "AUDIT_KEY": "y", "SIGNING_KEY_PASSPHRASE": "z", "APP_ENV": "production",
                      "INSTANCE_PATH": str(tmp_path)})
    code, output = run(app, "demo", "seed")
    assert code == 1 and "production" in output
    app.extensions["qianyue"].db.dispose()


def test_process_deploy_and_list(app):
    code, output = run(app, "process", "deploy")
    assert code == 0 and "contract_approval v1 unchanged" in output and "contract_amendment v1 unchanged" in output
    code, output = run(app, "process", "list")
    assert code == 0 and [line.split("\t")[:2] for line in output.splitlines()] == [
        ["contract_amendment", "v1"], ["contract_approval", "v1"]]


def test_process_deploy_reports_an_invalid_file(app, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text("<definitions>")
    code, output = run(app, "process", "deploy", str(bad))
    assert code == 1 and "Error" in output


def test_timers_run_at_a_given_time(app, api):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    code, output = run(app, "timers", "run")
    assert code == 0 and "advanced 0" in output
    code, output = run(app, "timers", "run", "--at", (utcnow() + timedelta(days=20)).isoformat())
    assert code == 0 and "advanced 1" in output
    assert api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "expired"
