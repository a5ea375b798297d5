"""The register page: every filter in Chinese, refused arguments marked at their field, the canned filters offered."""
from tests.register.helpers import MACHINE_ROOM, city, drafted, school
from webapp.labels import CANNED_FILTERS as CANNED_LABELS
from workflows.services.register import CANNED


def test_the_page_searches_the_clauses(api, as_user):
    first = drafted(api, school(special_terms=MACHINE_ROOM))
    second = drafted(api, city())
    page = as_user("sales").get("/contracts?text=机房内施工").get_data(as_text=True)
    assert first["number"] in page and second["number"] not in page
    assert "条款内容关键词" in page and "N天内到期" in page and "待客户签署超过N天" in page


def test_a_refused_argument_is_marked_where_it_was_typed(api, as_user):
    drafted(api, school())
    response = as_user("legal").get("/contracts?min_total=abc&end_from=2025-02-01&end_to=2025-01-01")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="min_total-error"' in page and 'id="end_to-error"' in page and 'id="end_from-error"' not in page
    assert "查询条件有误" in page and "HAXX" not in page  # no result shown for a search that was not run


def test_every_canned_filter_has_a_label():
    assert set(CANNED_LABELS) == set(CANNED)


def test_the_page_is_the_contract_register_in_both_languages(as_user):
    browser = as_user("legal")
    chinese = browser.get("/contracts").get_data(as_text=True)
    assert "<title>合同台账 · 签约合同平台</title>" in chinese and "<h1>合同台账</h1>" in chinese
    assert 'class="current">合同台账</a>' in chinese
    english = browser.get("/contracts?lang=en").get_data(as_text=True)
    assert "<title>Contract register · Qianyue contracts</title>" in english and "<h1>Contract register</h1>" in english
    assert 'class="current">Contract register</a>' in english
