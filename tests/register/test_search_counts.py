"""The register's count and its clause-text steps on SQLite and PostgreSQL: a search counts its matches up to a limit
and says when there are more ("1,000+"), and a clause term finds the same contracts whichever way its paragraphs'
contracts are looked up (listed when few links name them, through the paragraphs when a template's are in every
contract), as a plain reading of every contract's paragraphs finds them."""
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from tests.register.helpers import MACHINE_ROOM, city, drafted, numbers, school
from webapp.views import contracts as contract_pages
from workflows.services import register

pytestmark = pytest.mark.db


def search(api, **args):
    return api.call("GET", "/contracts?" + urlencode(args), "legal")


@pytest.fixture
def three(api):
    return [drafted(api, school(special_terms=MACHINE_ROOM)), drafted(api, city()), drafted(api, school())]


def test_the_count_stops_at_its_limit_and_says_so(api, as_user, three, monkeypatch):
    monkeypatch.setattr(register, "COUNT_LIMIT", 2)
    first = search(api, limit="1").json
    assert (first["total"], first["total_exact"], len(first["items"])) == (2, False, 1)
    monkeypatch.setattr(contract_pages, "PAGE_SIZE", 1)
    page = as_user("legal").get("/contracts").get_data(as_text=True)
    assert "第 1/2+ 页，共 2+ 份合同" in page and 'href="/contracts?page=2"' in page
    further = search(api, limit="2", offset="2").json  # counted to the end of the page asked for: all of them
    assert (further["total"], further["total_exact"], len(further["items"])) == (3, True, 1)
    monkeypatch.setattr(register, "COUNT_LIMIT", 3)
    assert (search(api).json["total"], search(api).json["total_exact"]) == (3, True)
    page = as_user("legal").get("/contracts?page=3").get_data(as_text=True)
    assert "第 3/3 页，共 3 份合同" in page and "?page=4" not in page


def contracts_holding(platform, words):
    """The plain reading: every contract whose current paragraphs hold each word (Latin letters in any case)."""
    with platform.db.read() as session:
        rows = session.execute(text("SELECT cc.contract_id, c.text FROM contract_clause cc "
                                    "JOIN clause c ON c.id = cc.clause_id")).all()
        number = dict(session.execute(text("SELECT id, number FROM contract")).all())
    paragraphs = {}
    for contract_id, paragraph in rows:
        paragraphs.setdefault(contract_id, []).append(paragraph.lower())
    return sorted(number[contract_id] for contract_id, texts in paragraphs.items()
                  if all(any(word.lower() in paragraph for paragraph in texts) for word in words.split()))


@pytest.mark.parametrize("resolve_limit", [register.RESOLVE_LIMIT, 1, 0])
def test_a_clause_term_finds_what_a_plain_reading_finds(api, platform, three, monkeypatch, resolve_limit):
    monkeypatch.setattr(register, "RESOLVE_LIMIT", resolve_limit)
    for words in ("机房内施工", "陪同", "不可抗力", "不可抗力 机房内施工", "数字城管专线", "vpn专线", "提前三个工作日 城市管理局",
                  "合同"):
        expected = contracts_holding(platform, words)
        assert numbers(search(api, text=words)) == expected, words
    assert len(contracts_holding(platform, "不可抗力")) == 3 and len(contracts_holding(platform, "机房内施工")) == 1


def test_a_page_far_beyond_the_end_is_empty_not_an_error(api, three):
    far = search(api, limit="200", offset=str(2**63 - 1)).json
    assert (far["items"], far["total"], far["total_exact"]) == ([], 3, True)
