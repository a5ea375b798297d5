"""The register's exports, opened and read back: CSV (UTF-8 with BOM) and XLSX, Chinese headers, amounts as numbers to
the fen, times in China time, people by name, only the search's contracts; from the page and the API."""
import csv
import io
from datetime import datetime
from decimal import Decimal

from openpyxl import load_workbook

from tests.register.helpers import MACHINE_ROOM, city, drafted, school
from workflows.clock import china_time
from workflows.contracts.export import COLUMNS
from workflows.models import Contract
from workflows.services import register

HYPERLINK = '=HYPERLINK("http://evil.example","x")'


def read_csv(response):
    assert response.status_code == 200 and response.mimetype == "text/csv", response.get_data(as_text=True)[:300]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    header, *rows = csv.reader(io.StringIO(body[1:]))
    return [dict(zip(header, row)) for row in rows], header


def read_xlsx(response):
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    header, *rows = [[cell for cell in row] for row in sheet.iter_rows()]
    return [dict(zip([c.value for c in header], row)) for row in rows], [c.value for c in header], sheet.title


def created_at(platform, contract_id):
    with platform.db.read() as session:
        return session.get(Contract, contract_id).created_at


def test_the_xlsx_holds_numbers_dates_and_text_as_such(api, platform, as_user):
    formula = drafted(api, school(customer={**school()["customer"], "name": HYPERLINK}, special_terms=MACHINE_ROOM))
    drafted(api, city())
    rows, header, title = read_xlsx(as_user("legal").get("/contracts/export.xlsx?text=机房内施工"))
    assert header == COLUMNS and title == "合同台账" and len(rows) == 1
    (row,) = rows
    assert row["合同编号"].value == formula["number"]
    assert row["客户名称"].value == HYPERLINK and row["客户名称"].data_type == "s"  # text, never a formula
    assert row["合同金额（元）"].value == 1080000 and row["合同金额（元）"].number_format == "#,##0.00"
    assert row["业务类型"].value == "技术服务" and row["状态"].value == "草稿（客户经理）"
    assert row["客户经理"].value != "sales" and row["客户经理"].value  # the account manager's name
    made = china_time(created_at(platform, formula["id"])).replace(tzinfo=None, second=0, microsecond=0)
    assert row["创建时间（北京时间）"].value == made and isinstance(row["创建时间（北京时间）"].value, datetime)


def test_the_csv_of_the_api_is_the_search_in_china_time(api, platform):
    first = drafted(api, school())
    second = drafted(api, city())
    rows, header = read_csv(api.call("GET", "/contracts/export.csv?service_type=vpn_line", "finance"))
    assert header == COLUMNS and [row["合同编号"] for row in rows] == [second["number"]]
    assert rows[0]["合同金额（元）"] == "450000.00" and rows[0]["业务类型"] == "VPN专线、电子政务网"
    made = china_time(created_at(platform, second["id"]))
    assert rows[0]["创建时间（北京时间）"] == made.strftime("%Y-%m-%d %H:%M")
    rows, _header = read_csv(api.call("GET", "/contracts/export.csv", "finance"))
    assert [row["合同编号"] for row in rows] == [second["number"], first["number"]]  # newest first
    both, _header, _title = read_xlsx(api.call("GET", "/contracts/export.xlsx", "finance"))
    assert [row["合同金额（元）"].value for row in both] == [Decimal("450000"), Decimal("1080000")]


def test_an_export_larger_than_its_limit_is_refused(api, as_user, monkeypatch):
    drafted(api, school())
    drafted(api, city())
    monkeypatch.setattr(register, "EXPORT_LIMIT", 1)
    refused = api.call("GET", "/contracts/export.xlsx", "legal")
    assert refused.status_code == 422 and "matches more than 1 contracts" in refused.json["message"]
    page = as_user("legal").get("/contracts/export.csv?status=draft", follow_redirects=True)
    assert "未导出" in page.get_data(as_text=True)
    assert api.call("GET", "/contracts/export.csv?service_type=vpn_line", "legal").status_code == 200


def test_a_customer_exports_nothing(api):
    assert api.call("GET", "/contracts/export.csv", "customer").status_code == 403
