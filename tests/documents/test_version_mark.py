"""第N版 marks the versions people compare (the draft, the copies reviewers read), never the document sent for signing:
the customer signs and keeps a contract without a version mark on every page."""
import re
import subprocess

import pytest

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer, complete_letters


def page_marks(html):
    return re.findall(r'<div class="page-status">([^<]*)</div>', html)


def test_each_stage_of_a_contract_marks_its_pages_as_it_is_read(api, platform):
    draft = load_fixture("contract-technical-service.json")
    contract_id = api.call("POST", "/contracts", "sales", draft).json["id"]
    assert api.call("PATCH", f"/contracts/{contract_id}", "sales", {"title": "长垣市第一中学精准教学考试服务合同"}).status_code == 200

    def marks(version=None):
        with platform.db.read() as session:
            return page_marks(platform.documents.html(session, platform.contracts.get(session, contract_id), version))

    assert marks()[0] == "草稿 · 第2版"
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    assert marks() == ["第2版", "第2版 · 附件一"]  # legal compares it with version 1
    api.decide("legal", contract_id, "approve")
    api.decide("finance", contract_id, "approve")
    assert marks() == ["", "附件一"]  # at the customer: the document to sign
    assert marks(1)[0] == "第1版"  # an earlier version stays a review copy
    with platform.db.read() as session:
        contract = platform.contracts.get(session, contract_id)
        changes = platform.documents.diff(session, contract, 1, 2)
        assert contract.approved_sha256 == platform.documents.fresh_review_digest(session, contract)
    assert ("-", "长垣市第一中学精准教学考试服务项目服务合同") in changes["text"]
    assert not [line for _sign, line in changes["text"] if "版" in line]  # the mark is not a change of the text


@pytest.mark.slow
def test_the_document_to_sign_has_no_version_mark_on_any_page(api, platform, tmp_path):
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, contract_id)
    document = api.call("GET", f"/contracts/{contract_id}/document.pdf", "sales")
    assert document.status_code == 200 and document.headers["Content-Disposition"].endswith('-to-sign.pdf"')
    (tmp_path / "to-sign.pdf").write_bytes(document.data)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "to-sign.pdf"), "-"], capture_output=True, check=True,
                          text=True).stdout.replace(" ", "")
    pages = text.split("\f")[:-1]
    assert len(pages) > 10 and all(re.search(r"第\d+页共\d+页", page) for page in pages)
    assert not re.search(r"第\d+版", text)
