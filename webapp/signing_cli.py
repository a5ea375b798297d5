"""``flask --app wsgi verify FILE.pdf``: verify a signed contract or final package; exit 0 only when valid."""
import logging
import sys
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path

import click
from flask import current_app

from workflows.clock import china_time


@contextmanager
def _silenced(logger_name):
    """The verdict lists every finding in words; pyHanko's own diagnostics of the same findings (path building,
    imprint mismatches) would only frighten the reader of a tampered file."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


@click.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--library-logs", is_flag=True, help="Also print pyHanko's own diagnostics (for developers).")
def verify_command(file, library_logs):
    """Verify every signature of FILE (a signed contract or a final package) against this deployment's root."""
    data = file.read_bytes()
    with nullcontext() if library_logs else _silenced("pyhanko"):
        report, records = current_app.extensions["qianyue"].signing.verify(data)
    click.echo(f"文件 File: {file}  SHA-256 {report.document_sha256}")
    if report.embedded_sha256:
        click.echo(f"所附已签署合同 Embedded signed contract: SHA-256 {report.embedded_sha256}")
    for s in report.signatures:
        mark = "✔" if s.ok else "✘"
        when = china_time(datetime.fromisoformat(s.signing_time)).strftime("%Y-%m-%d %H:%M:%S") if s.signing_time else "-"
        click.echo(f"{mark} [{s.document}] {s.field}: {s.signer}{' / ' + s.organisation if s.organisation else ''}"
                   f"  时间 {when}（北京时间）  证书 {s.serial or '-'}  "
                   f"链至根证书 chain={'yes' if s.chain_to_our_root else 'no'}  修改 {s.modification_level}")
        click.echo(f"    {s.verdict_text_zh}")
        click.echo(f"    {s.verdict_text_en}")
    for record in records:
        click.echo(f"与平台记录一致 On record: {record['number']} {record['title']} ({record['kind']})")
    if not records:
        click.echo("平台无此文件的记录。No contract on record matches this file.")
    for problem in report.problems:
        click.echo(f"✘ {problem}")
    if report.valid:
        click.echo("结论：文件完整，所有签名有效。Verdict: intact; every signature is valid.")
    else:
        click.echo("结论：验证未通过。Verdict: NOT valid.")
        sys.exit(1)


intent_cli = click.Group("intent", help="Signing confirmation codes (development helpers).")


@intent_cli.command("last-code")
@click.argument("contract_id", type=int)
def intent_last_code(contract_id):
    """Print the newest confirmation code mailed for CONTRACT_ID (development only: refused under production)."""
    if current_app.config.get("APP_ENV") == "production":
        click.echo("refused: reading confirmation codes is for development only (APP_ENV=production)", err=True)
        sys.exit(2)
    platform = current_app.extensions["qianyue"]
    with platform.db.read() as session:
        code = platform.signing.last_code(session, contract_id)
    if code is None:
        click.echo(f"no confirmation code was sent for contract {contract_id}", err=True)
        sys.exit(1)
    click.echo(code)

