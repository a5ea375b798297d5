"""Finding 12: the contracts CSV cannot carry a formula into a spreadsheet (CSV injection)."""
import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from tests.conftest import load_fixture
from workflows.contracts.export import COLUMNS, contracts_csv, spreadsheet_cell

HYPERLINK = '=HYPERLINK("http://evil.example","x")'


def exported_rows(browser, query=""):
    response = browser.get("/contracts/export.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_a_customer_named_like_a_formula_is_exported_as_text(api, as_user):
    draft = load_fixture("contract-technical-service.json")
    draft["customer"]["name"] = HYPERLINK
    draft["title"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    created = api.call("POST", "/contracts", "sales", draft)
    assert created.status_code == 201, created.json
    header, *rows = exported_rows(as_user("sales"), "?number=" + created.json["number"])
    assert header == COLUMNS
    (row,) = rows
    cells = dict(zip(header, row))
    assert cells["客户名称"] == "'" + HYPERLINK
    assert cells["合同名称"] == "'" + draft["title"]
    assert (cells["合同编号"], cells["合同金额（元）"], cells["版本"]) == (created.json["number"], "1080000.00", "1")


@pytest.mark.parametrize("text", [HYPERLINK, "+1+1", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1+1", "\r=1+1",
                                  "＝HYPERLINK(\"http://evil.example\")", "＋1", "－1", "＠SUM(A1)", "  =1+1", "\u3000=1+1",
                                  "-5"])
def test_text_that_a_spreadsheet_would_run_gets_a_leading_quote(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["长垣市第一中学", "HAXXS2501001ECN00", "a=b", "1+1", "2025-01-01", "sales@example", ""])
def test_other_text_is_written_as_it_is(text):
    assert spreadsheet_cell(text) == text


def test_numbers_the_export_writes_stay_numbers():
    assert spreadsheet_cell(Decimal("-5")) == "-5.00"  # ours, from a Decimal: never a formula, still a number
    assert spreadsheet_cell(Decimal("1080000")) == "1080000.00"
    assert spreadsheet_cell(3) == "3"
    assert spreadsheet_cell(None) == ""
    assert spreadsheet_cell(date(2025, 1, 1)) == "2025-01-01"


def test_every_cell_is_quoted():
    contract = SimpleNamespace(number="N1", title="a,b", customer_name='say "hi"', customer_credit_code="", status="draft",
                               total=Decimal("1.5"), service_types="idc", current_version=2, created_by="-sales",
                               created_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                               updated_at=datetime(2025, 1, 1, 16, 30, 59, tzinfo=timezone.utc), effective_from=None,
                               effective_to=date(2026, 1, 1))
    line = contracts_csv([contract], {"draft": "草稿"}, {}).splitlines()[1]
    assert line == ('"N1","a,b","say ""hi""","","机房/IDC","草稿","1.50","2","","2026-01-01","\'-sales","2025-01-01 08:00",'
                    '"2025-01-02 00:30"')
