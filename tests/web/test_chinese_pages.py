"""Every page, as each role that may see it, in Chinese: no English sentence, internal code or username shows.

Visible text is what a person reads: text nodes outside scripts and styles, and the attributes a browser shows
(placeholder, title, alt, aria-label, a button's value). A Latin word there is a finding unless it is a proper noun
of the trade on the reviewed allow-list below; contract numbers, credit codes, e-mail addresses, URLs and hashes are
data, not words, and pass. So is what a page marks ``translate="no"`` (HTML's own mark for text that is not in the
page's language: a sign-in name on the accounts page, a process key) and what it marks ``lang="en"`` beside the Chinese
(the public verify page and the consent sentence are bilingual on purpose); a textarea's content is what was typed. The contract's own text (previews) is the seeds' wording, checked elsewhere.
"""
import re
from html.parser import HTMLParser

import pytest

from tests.conftest import AUDIT_KEY, NO_RATE_LIMITS
from tests.security.pages import pages
from tests.security.world import STAFF, active_contract, build
from tests.web.customer_flow import LiveApp

pytestmark = pytest.mark.slow

ALLOWED = {  # proper nouns and units a Chinese telecom page writes in Latin letters; reviewed, keep it short
    "BPMN", "DMN", "PDF", "SHA-256", "API", "CSV", "XLSX", "OIDC", "PAdES", "CAdES", "TSA", "IDC", "VPN", "Mbps",
    "IP", "URL", "ID", "XML", "JSON", "HTML", "SMTP", "PNG", "MB", "LPR", "Jinja", "SpiffWorkflow", "Qianyue", "English"}
SHOWN_ATTRIBUTES = {"placeholder", "title", "alt", "aria-label"}
DATA = re.compile(r"""
    [\w.+-]+@[\w-]+(\.[\w-]+)+        # an e-mail address
  | https?://\S+                      # a URL
  | \b(?=[0-9A-Fa-f]*[0-9])[0-9A-Fa-f]{8,}\b   # a hash or fingerprint
  | \b[\w-]+\.(dmn|bpmn|pdf|png|csv|xlsx)\b       # a file name
  | \b(?=[0-9A-Z-]*[0-9])[0-9A-Z-]{6,}\b    # a contract number, a credit code, a phone number
""", re.VERBOSE)
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.:'-]*[A-Za-z0-9]|[A-Za-z]")


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    HIDDEN = {"script", "style", "template", "noscript", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self._open, self._hidden_at = [], [], None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag not in VOID:
            self._open.append(tag)
            if self._hidden_at is None and (tag in self.HIDDEN or attributes.get("translate") == "no"
                                            or (attributes.get("lang") or "").startswith("en")):
                self._hidden_at = len(self._open)
        if self._hidden_at is not None or attributes.get("type") == "hidden" or attributes.get("translate") == "no":
            return
        self.texts += [value for name, value in attrs if name in SHOWN_ATTRIBUTES and value]
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
            self.texts.append(attributes["value"])

    def handle_endtag(self, tag):
        if tag in VOID or tag not in self._open:
            return
        while self._open.pop() != tag:  # an element left open closes with its parent
            pass
        if self._hidden_at is not None and len(self._open) < self._hidden_at:
            self._hidden_at = None

    def handle_data(self, data):
        if self._hidden_at is None and data.strip():
            self.texts.append(data.strip())


def latin_words(html):
    """The Latin words a person reads on the page that are neither data nor allowed nouns, with their text."""
    parser = VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        words = [w for w in WORD.findall(DATA.sub(" ", text)) if w not in ALLOWED and len(w) > 1]
        if words:
            found.append((words, text[:120]))
    return found


@pytest.fixture
def world(database_url, tmp_path):
    live = LiveApp(database_url, tmp_path, AUDIT_KEY=AUDIT_KEY, **NO_RATE_LIMITS)
    yield live.app, *build(live.app)
    live.close()


def test_every_page_reads_in_chinese(world):
    app, visitors, ids = world
    active = active_contract(app)
    findings = []
    for path, roles in [*pages(ids), (f"/contracts/{active}", list(STAFF))]:
        for role in roles:
            response = visitors[role].client.get(path, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
            assert response.status_code == 200, (path, role, response.status_code)
            findings += [f"{path} as {role}: {' '.join(words)}  ← {text!r}"
                         for words, text in latin_words(response.get_data(as_text=True))]
    assert not findings, f"{len(findings)} pieces of text not in Chinese:\n" + "\n".join(sorted(set(findings)))
