"""Static files under URLs that name their content: a browser keeps them for a year, any other URL of the file is
revalidated as before, and serving one looks no session up."""
import hashlib
import re
from pathlib import Path

import pytest

from tests.process.test_statements import counted_statements
from tests.web.customer_flow import invited_person

STATIC = Path(__file__).resolve().parents[2] / "webapp" / "static"
LINKED = re.compile(r'(?:src|href)="/static/([^"?]+)\?v=([0-9a-f]+)"')


def test_a_page_links_each_static_file_by_its_content(as_user):
    html = as_user("admin").get("/admin/processes/contract_approval/edit").get_data(as_text=True)
    linked = dict(LINKED.findall(html))
    assert "vendor/bpmn-js/bpmn-modeler.production.min.js" in linked and "app.css" in linked, html[:2000]
    assert html.count('"/static/') == len(linked), "a static file linked without its version"
    for filename, version in linked.items():
        assert version == hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:16], filename


def test_the_content_url_is_kept_for_a_year_and_any_other_revalidated(client):
    filename, version = LINKED.search(client.get("/login").get_data(as_text=True)).groups()
    kept = client.get(f"/static/{filename}?v={version}")
    assert kept.status_code == 200
    assert {"private", "max-age=31536000", "immutable"} <= set(kept.headers["Cache-Control"].split(", "))
    for other in (f"/static/{filename}", f"/static/{filename}?v=0123456789abcdef"):  # e.g. a page of another release
        answer = client.get(other)
        assert answer.status_code == 200 and answer.data == kept.data
        assert answer.headers["Cache-Control"] == "no-cache", other


def signed_in(kind, as_user, client, platform):
    """A browser with a staff session, or with a customer's (as the sign-in callback leaves it), and its home page."""
    if kind == "staff":
        return as_user("legal"), "/inbox"
    invited_person(platform, client)
    return client, "/portal"


@pytest.mark.parametrize("kind", ["staff", "customer"])
def test_a_static_file_looks_no_session_up(kind, as_user, client, platform):
    browser, home = signed_in(kind, as_user, client, platform)
    with counted_statements(platform.db) as statements:
        assert browser.get(home).status_code == 200
    assert statements, "the counter saw nothing: it is not counting"
    with counted_statements(platform.db) as statements:
        assert browser.get("/static/app.css").status_code == 200
    assert statements == []
