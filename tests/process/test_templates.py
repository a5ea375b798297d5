"""Contract templates as versions: checked before saving; a contract renders with the version it was drafted on."""
import re
import time

import pytest

from tests.conftest import AUDIT_KEY, load_fixture
from workflows.db import StatementCount
from workflows.errors import ValidationFailed
from workflows.platform import Platform

MARKER = "<!-- v2 marker -->"


def add(platform, users, source, kind="technical_service"):
    with platform.db.write() as session:
        return platform.templates.add_version(session, kind, source, users["admin"], "test")


def shipped(platform):
    with platform.db.read() as session:
        return platform.templates.source(session, "technical_service", 1)


def preview(api, contract_id):
    return api.call("GET", f"/contracts/{contract_id}/document.html", "legal").get_data(as_text=True)


def test_a_new_version_applies_to_new_contracts_only(api, platform, users):
    before = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    row, created = add(platform, users, re.sub(r"(\{% block [^%]+%\})", r"\1" + MARKER, shipped(platform), count=1))
    assert created and row.version == 2
    after = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    assert MARKER not in preview(api, before["id"])
    assert MARKER in preview(api, after["id"])


def test_identical_text_creates_no_version(platform, users):
    row, created = add(platform, users, shipped(platform))
    assert not created and row.version == 1


@pytest.mark.parametrize("broken", ["{% block content %}{% for x in %}{% endblock %}",
                                    '{% extends "base.html" %}{% block content %}{{ data.no_such_field.x }}{% endblock %}',
                                    "{{ ''.__class__.__mro__ }}", ""])
def test_a_template_that_does_not_render_is_refused(platform, users, broken):
    with pytest.raises(ValidationFailed) as refused:
        add(platform, users, broken)
    assert "source" in refused.value.fields
    with platform.db.read() as session:
        assert platform.templates.latest_version(session, "technical_service") == 1


def test_a_template_that_embeds_files_is_refused(platform, users):
    source = shipped(platform).replace('<section class="cover">',
                                       '<link rel="attachment" href="file:///etc/passwd"><section class="cover">', 1)
    with pytest.raises(ValidationFailed) as refused:
        add(platform, users, source)
    assert 'rel="attachment"' in refused.value.fields["source"] and "/etc/passwd" in refused.value.fields["source"]
    with platform.db.read() as session:
        assert platform.templates.latest_version(session, "technical_service") == 1


def test_a_template_making_a_huge_value_is_refused_at_once(platform, users):
    started = time.thread_time()
    with pytest.raises(ValidationFailed) as refused:
        add(platform, users, re.sub(r"(\{% block [^%]+%\})", r"\1{{ 'x' * 200000000 }}", shipped(platform), count=1))
    assert "exceed 1000000 items or characters" in refused.value.fields["source"]
    assert time.thread_time() - started < 1.0


def test_admin_pages(as_user):
    admin = as_user("admin")
    assert admin.get("/admin/templates").status_code == 200
    page = admin.get("/admin/templates/network_line/new")
    assert page.status_code == 200 and "numbering.article()" in page.get_data(as_text=True)
    refused = admin.post("/admin/templates/network_line/new", {"source": "{% if %}"}, page="/admin/templates/network_line/new")
    assert refused.status_code == 422
    assert admin.get("/admin/templates/network_line/1").status_code == 200
    assert admin.get("/admin/templates/nope/new").status_code == 404


def test_a_process_reads_each_template_version_once(api, platform, database_url):
    """Stored template versions never change, so each process keeps the texts it read: the review digest every decision
    asks for costs no statement once the process has rendered the contract (here a second process, a second node)."""
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    other = Platform(database_url, audit_key=AUDIT_KEY.encode())
    try:
        with other.db.read() as session:
            row = other.contracts.get(session, contract["id"])
            other.contracts.version(session, row.id, row.current_version)
            counting = StatementCount()
            first = other.documents.fresh_review_digest(session, row)
            read = counting.stop()
            counting = StatementCount()
            again = other.documents.fresh_review_digest(session, row)
            assert (read, counting.stop()) == (2, 0)  # the contract template's text, the letters' templates; then none
        with platform.db.read() as session:
            assert first == again == platform.documents.fresh_review_digest(session, platform.contracts.get(
                session, contract["id"]))
    finally:
        other.db.dispose()
