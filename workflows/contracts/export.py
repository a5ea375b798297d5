"""The contract register's search as a file for spreadsheet programs: CSV (UTF-8 with BOM) or XLSX, Chinese headers,
amounts as numbers to the fen, times in China time, people by name.

A text cell that starts with = + - or @ (or the full-width ＝ ＋ － ＠ a Chinese input method types), a tab or a carriage
return is taken for a formula by Excel, WPS and LibreOffice: a customer named =HYPERLINK("http://evil.example","x")
would become a link, and =cmd|' /C calc'!A0 a command. Following OWASP's advice on CSV injection every such cell gets
a leading single quote (also when spaces come before the sign), which the programs read as "this is text", and every
cell is quoted. Numbers the export writes itself (the total, the version) are not text anyone typed and cannot hold a
formula: they stay numbers a spreadsheet can add up, a negative one included (-5.00 is written as is); text that only
looks like a number (a title "-5") is still text and gets its quote. In XLSX every text cell is written as a string
cell, never a formula, whatever it starts with.
"""
import csv
import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from ..clock import china_time
from .catalog import SERVICE_TYPES

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
COLUMNS = ["合同编号", "合同名称", "客户名称", "统一社会信用代码", "业务类型", "状态", "合同金额（元）", "版本", "合同起始日",
           "合同终止日", "客户经理", "创建时间（北京时间）", "更新时间（北京时间）"]
BOM = "\ufeff"  # UTF-8 with BOM: spreadsheet programs on Chinese Windows then read the names correctly
MONEY_FORMAT, DATE_FORMAT, TIME_FORMAT = "#,##0.00", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
WIDTHS = [20, 36, 30, 22, 24, 16, 16, 6, 12, 12, 12, 18, 18]


def spreadsheet_cell(value) -> str:
    """One CSV cell: a Decimal to the fen and an int as numbers, anything else as text that cannot start a formula."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip().startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS) else text


def contract_row(contract, statuses, names) -> list:
    """A contract's cells in COLUMNS order: ``statuses`` titles its status, ``names`` names its account manager."""
    services = "、".join(SERVICE_TYPES[code]["title_zh"] if code in SERVICE_TYPES else code
                        for code in contract.service_types.split(",") if code)
    return [contract.number, contract.title, contract.customer_name, contract.customer_credit_code, services,
            statuses.get(contract.status, contract.status), contract.total, contract.current_version,
            contract.effective_from, contract.effective_to, names.get(contract.created_by, contract.created_by),
            _china_minute(contract.created_at), _china_minute(contract.updated_at)]


def _china_minute(moment):
    return china_time(moment).replace(tzinfo=None, second=0, microsecond=0)


def contracts_csv(contracts, statuses, names) -> str:
    """The whole file: the header and one row per contract, every cell quoted."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    writer.writerows([spreadsheet_cell(_csv_value(value)) for value in contract_row(contract, statuses, names)]
                     for contract in contracts)
    return BOM + out.getvalue()


def _csv_value(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if isinstance(value, date) else value


def contracts_xlsx(contracts, statuses, names) -> bytes:
    """An XLSX workbook of one sheet 合同台账 (written row by row, openpyxl's write-only mode): amounts are numbers
    shown to the fen, dates and times are date cells, text is never a formula."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("合同台账")
    for position, width in enumerate(WIDTHS):
        sheet.column_dimensions[get_column_letter(position + 1)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(COLUMNS)
    for contract in contracts:
        sheet.append([_xlsx_cell(sheet, value) for value in contract_row(contract, statuses, names)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _xlsx_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would take "=..." for a formula
    elif isinstance(value, Decimal):
        cell.number_format = MONEY_FORMAT
    elif isinstance(value, datetime):
        cell.number_format = TIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = DATE_FORMAT
    return cell
