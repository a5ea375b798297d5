"""``flask --app wsgi ...`` commands: db, demo, process, users, tokens, timers, mail, webhooks, jobs, audit,
devserver."""
import functools
import signal
from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup
from werkzeug.serving import run_simple

from workflows import demo, migrate
from workflows.errors import DomainError
from workflows.services.accounts import ROLES
from workflows.services.migration import plan_or_migrate
from workflows.worker import Worker

from .security import QuietRequestHandler
from .warmup import compile_templates
from .signing_cli import intent_cli, verify_command

def platform():
    return current_app.extensions["qianyue"]


def fail_on_domain_error(func):
    """Turn a domain error into a one-line message and exit status 1 instead of a traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            fields = "".join(f"\n  {name}: {message}" for name, message in exc.fields.items())
            raise click.ClickException(exc.message + fields) from exc
    return wrapper


db_cli = AppGroup("db", help="Database schema (Alembic migrations).")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Apply migrations up to REVISION (default: head)."""
    migrate.upgrade(platform().db, revision)


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    """Revert migrations down to REVISION."""
    migrate.downgrade(platform().db, revision)


@db_cli.command("current")
def db_current():
    """Show the applied revision."""
    migrate.current(platform().db)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message):
    """Autogenerate a migration from the models (for developers)."""
    migrate.revision(platform().db, message)


process_cli = AppGroup("process", help="Process definitions (BPMN with its DMN tables).")


@process_cli.command("deploy")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--by", "deployed_by", default="cli", help="Recorded as the deployer.")
@fail_on_domain_error
def process_deploy(files, deployed_by):
    """Deploy BPMN FILES (default: bpmn/*.bpmn); DMN files beside them are included. Identical XML makes no version."""
    for path in files or sorted(demo.BPMN_DIR.glob("*.bpmn")):
        with platform().db.write() as session:
            definition, created = platform().repository.deploy_file(session, path, deployed_by)
            state = "deployed" if created else "unchanged"
            click.echo(f"{definition.key} v{definition.version} {state} ({definition.sha256[:12]}) from {path}")


@process_cli.command("list")
def process_list():
    """List every deployed version."""
    with platform().db.read() as session:
        for d in platform().repository.versions(session):
            click.echo(f"{d.key}\tv{d.version}\t{d.sha256[:12]}\t{d.deployed_by}\t{d.deployed_at:%Y-%m-%d %H:%M}")


@process_cli.command("migrate")
@click.argument("key")
@click.option("--from", "from_version", type=int, required=True, help="The version the instances run on.")
@click.option("--to", "to_version", type=int, required=True, help="The version to move them to.")
@click.option("--dry-run", is_flag=True, help="Only say which instances would move and which would not.")
@click.option("--by", "actor", default="cli", help="Recorded in each moved contract's history.")
@fail_on_domain_error
def process_migrate(key, from_version, to_version, dry_run, actor):
    """Move running or erroring instances of KEY to another version where their pending tasks are unchanged (an
    erroring one runs again there); list the others."""
    services = platform()
    with services.db.write() as session:
        plan = plan_or_migrate(session, services.repository, services.runtime, services.history, key, from_version,
                               to_version, dry_run=dry_run, actor=actor)
    verb = "would move" if dry_run else "moved"
    ids = plan.movable if dry_run else plan.moved
    click.echo(f"{key} v{from_version} -> v{to_version}: {verb} {len(ids)} instance(s){': ' if ids else ''}"
               f"{', '.join(map(str, ids))}")
    for instance_id, reasons in plan.refused.items():
        click.echo(f"refused instance {instance_id}: {'; '.join(reasons)}")
    if plan.refused:
        raise SystemExit(3)


@process_cli.command("resume")
@click.argument("instance_id", type=int)
@click.option("--reason", default="", help="Recorded in the contract's history.")
@click.option("--by", "actor", default="cli", help="Recorded in the contract's history.")
@fail_on_domain_error
def process_resume(instance_id, reason, actor):
    """Run an erroring instance again (its tasks reopen), e.g. once a service its scripts call is back."""
    with platform().db.write() as session:
        platform().runtime.resume(session, instance_id, actor, reason)
    click.echo(f"instance {instance_id} runs again")


users_cli = AppGroup("users", help="Staff and integration users.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES), help="Repeat for several roles.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default="")
@click.option("--email", default="")
@click.option("--customer-org", default=None,
              help="For an integration account with the customer role: the 统一社会信用代码 of the organisation it acts for.")
@click.option("--provider", "provider_code", default="",
              help="For an account manager: the provider branch (a provider profile's code) their drafts default to.")
@fail_on_domain_error
def users_create(username, roles, password, display_name, email, customer_org, provider_code):
    """Create a user with one or more roles."""
    with platform().db.write() as session:
        user = platform().accounts.create_user(session, username, roles, password, display_name, email, customer_org,
                                               provider_code)
        click.echo(f"created {user.username} ({user.roles})")


tokens_cli = AppGroup("tokens", help="API tokens for integrations.")


@tokens_cli.command("create")
@click.argument("username")
@click.option("--name", default="", help="A label for the token.")
@fail_on_domain_error
def tokens_create(username, name):
    """Create an API token for USERNAME; the token is the last line printed, shown only once."""
    with platform().db.write() as session:
        token = platform().accounts.create_token(session, username, name)
    click.echo(f"token for {username} (send as 'Authorization: Bearer <token>'):")
    click.echo(token)


@tokens_cli.command("revoke")
@click.argument("username")
@fail_on_domain_error
def tokens_revoke(username):
    """Revoke every token of USERNAME."""
    with platform().db.write() as session:
        click.echo(f"revoked {platform().accounts.revoke_tokens(session, username)} token(s)")


timers_cli = AppGroup("timers", help="BPMN timers (reminders, expiry): jobs that the workers run when due.")


@timers_cli.command("run")
@click.option("--at", "at", default=None, help="Run the timer jobs due at this ISO time, not now (drills, tests).")
def timers_run(at):
    """Run the timer jobs that are due now, as a worker would (the workers do this by themselves)."""
    when = None
    if at:
        when = datetime.fromisoformat(at)
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    click.echo(f"advanced {platform().timers.run_due(at=when)} instance(s)")


demo_cli = AppGroup("demo", help="Demo data for development.")


@demo_cli.command("seed")
def demo_seed():
    """Create the demo provider branches and users (idempotent), and deploy bpmn/."""
    if not current_app.config["DEMO_DATA_ENABLED"]:
        raise click.ClickException("demo data is disabled under APP_ENV=production (set DEMO_DATA_ENABLED=1 to force)")
    for path, key, version, created in demo.seed(platform()):
        click.echo(f"{key} v{version} {'deployed' if created else 'unchanged'} from {path.name}")
    base = current_app.config["BASE_URL"]
    click.echo(f"Demo ready at {base}")
    click.echo(f"Users (password '{demo.DEMO_PASSWORD}'): " + ", ".join(f"{u} ({r})" for u, r, _, _ in demo.DEMO_USERS))
    click.echo("API token: .venv/bin/flask --app wsgi tokens create sales")
    if current_app.config.get("EMBEDDED_IDP"):
        click.echo(f"Customer sign-in at {base}/portal through the embedded identity provider (password "
                   f"'{demo.DEMO_PASSWORD}'): " + ", ".join(f"{u} <{e}>" for u, _, e in demo.DEMO_IDP_USERS))


mail_cli = AppGroup("mail", help="The outbox of notification mail (the workers send it).")


@mail_cli.command("send")
def mail_send():
    """Enqueue delivery jobs for recorded mail that has none (written while MAIL_SERVER was unset, or before the
    upgrade that made delivery a job); the workers send it."""
    if platform().notifications.mailer is None:
        raise click.ClickException("MAIL_SERVER is not set: mail is recorded, not sent")
    click.echo(f"enqueued {platform().notifications.enqueue_unsent()} mail(s) for delivery")


webhooks_cli = AppGroup("webhooks", help="Events for downstream systems (contract.activated; the workers POST them).")


@webhooks_cli.command("send")
def webhooks_send():
    """Enqueue delivery jobs for recorded events that have none (written while WEBHOOK_URL was unset, or before the
    upgrade that made delivery a job); the workers POST them."""
    if not platform().webhooks.url:
        raise click.ClickException("WEBHOOK_URL is not set: events are recorded, not sent")
    click.echo(f"enqueued {platform().webhooks.enqueue_undelivered()} event(s) for delivery")


jobs_cli = AppGroup("jobs", help="Background jobs (documents, packages, mail, webhooks, timers, the daily digest).")


@jobs_cli.command("run")
@click.option("--once", is_flag=True, help="Run what is due now, then exit.")
def jobs_run(once):
    """Run background jobs until stopped (SIGTERM or Ctrl-C: after the job in hand). Run one or more per machine."""
    worker = Worker(platform().jobs)
    if once:
        platform().jobs.enqueue_recurring()
        click.echo(f"ran {platform().jobs.run_pending(worker.id)} job(s)")
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: worker.stop())
    click.echo(f"worker {worker.id} runs {', '.join(sorted(platform().jobs.policies)) or 'no kind of job'}")
    worker.run()


@jobs_cli.command("list")
@click.option("--dead", is_flag=True, help="Jobs that used up their tries, with their last error.")
@click.option("--contract", "contract_id", type=int, help="Only this contract's jobs.")
def jobs_list(dead, contract_id):
    """List queued and running jobs, next due first (or the dead ones)."""
    with platform().db.read() as session:
        found = (platform().jobs.dead if dead else platform().jobs.unfinished)(session, contract_id)
    for job in found:
        last_error = job.last_error.strip().splitlines()[-1:]  # a traceback ends with the exception
        click.echo("\t".join([str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
                              f"{job.run_at:%Y-%m-%d %H:%M:%S}", f"contract {job.contract_id or '-'}",
                              job.locked_by or "-", *last_error]))


@jobs_cli.command("retry")
@click.argument("job_id", type=int)
@fail_on_domain_error
def jobs_retry(job_id):
    """Give a dead job a fresh set of tries, due now."""
    with platform().db.write() as session:
        job = platform().jobs.retry(session, job_id)
    click.echo(f"job {job.id} ({job.kind}) queued again")


audit_cli = AppGroup("audit", help="The contracts' sealed audit chains.")


@audit_cli.command("seal")
def audit_seal():
    """Seal the chain heads written before this deployment had an audit key (once, after upgrading); a chain that
    does not verify is left unsealed and named."""
    with platform().db.write() as session:
        sealed, broken = platform().history.seal_unsealed(session)
    click.echo(f"sealed {len(sealed)} contract audit chains")
    for contract_id in broken:
        click.echo(f"contract {contract_id}: its chain does not verify; left unsealed (see /api/v1/contracts/"
                   f"{contract_id}/audit)", err=True)
    if broken:
        raise SystemExit(1)


@click.command("devserver")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="Default: PORT (which BASE_URL, when unset, names too).")
def devserver_command(host, port):
    """`make run`'s server: Werkzeug's, threaded, without reloader, debugger or a banner naming versions; the page
    templates compiled before the first request."""
    compile_templates(current_app)
    run_simple(host, port or current_app.config["PORT"], current_app._get_current_object(), threaded=True,
               request_handler=QuietRequestHandler)


def register_cli(app):
    for command in (db_cli, process_cli, users_cli, tokens_cli, timers_cli, demo_cli, mail_cli, webhooks_cli, jobs_cli,
                    verify_command, intent_cli, audit_cli, devserver_command):
        app.cli.add_command(command)
