"""``flask --app wsgi jobs run --once | list [--dead] | retry ID``."""
from datetime import timedelta


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.output


def test_jobs_run_list_and_retry(app, platform):
    broken = {"renderer": True}

    def render(job):
        if broken["renderer"]:
            raise RuntimeError("the renderer is down")

    platform.jobs.register("test.render", render, max_attempts=1, backoff=timedelta(0))
    with platform.db.write() as session:
        job_id = platform.jobs.enqueue(session, "test.render", {}, contract_id=42)
    code, output = run(app, "jobs", "list", "--contract", "42")
    assert code == 0 and output.startswith(f"{job_id}\ttest.render\tqueued\t0/1\t") and "contract 42" in output

    code, output = run(app, "jobs", "run", "--once")
    assert code == 0 and output.startswith("ran ")
    code, output = run(app, "jobs", "list", "--dead")
    assert code == 0 and output.startswith(f"{job_id}\ttest.render\tdead\t1/1\t")
    assert output.rstrip().endswith("RuntimeError: the renderer is down")

    broken["renderer"] = False
    code, output = run(app, "jobs", "retry", str(job_id))
    assert code == 0 and output == f"job {job_id} (test.render) queued again\n"
    run(app, "jobs", "run", "--once")
    with platform.db.read() as session:
        assert platform.jobs.get(session, job_id).status == "done"
    assert run(app, "jobs", "list", "--contract", "42") == (0, "")
    code, output = run(app, "jobs", "retry", str(job_id))
    assert code == 1 and "done, not dead" in output
    assert run(app, "jobs", "retry", "999999")[0] == 1
