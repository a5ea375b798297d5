"""The contract document over the API: the PDF reads in Chinese with the computed figures."""
import subprocess

import pytest

from tests.conftest import load_fixture


@pytest.mark.slow
def test_contract_pdf_has_the_parties_the_total_in_words_and_the_number(api, tmp_path):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    response = api.call("GET", f"/contracts/{contract['id']}/document.pdf", "legal")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data[:4] == b"%PDF"
    path = tmp_path / "c.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    compact = text.replace(" ", "")
    for needle in ("长垣市第一中学", "壹佰零捌万元整", contract["number"], "网络及信息安全承诺书"):
        assert needle in compact


def test_contract_html_preview(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json
    response = api.call("GET", f"/contracts/{contract['id']}/document.html", "finance")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "常州市城市管理局" in html and "肆拾伍万元整" in html and "用户入网责任书" in html


def test_a_customer_account_sees_no_document_of_a_contract_not_bound_to_it(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json
    for path in ("", "/document.pdf", "/document.html", "/letters", "/package.pdf"):
        assert api.call("GET", f"/contracts/{contract['id']}{path}", "customer").status_code == 404, path
