"""The contracts list as a CSV file a spreadsheet program opens safely.

A text cell that starts with = + - or @ (or the full-width ＝ ＋ － ＠ a Chinese input method types), a tab or a carriage
return is taken for a formula by Excel, WPS and LibreOffice: a customer named =HYPERLINK("http://evil.example","x")
would become a link, and =cmd|' /C calc'!A0 a command. Following OWASP's advice on CSV injection every such cell gets
a leading single quote (also when spaces come before the sign), which the programs read as "this is text", and every
cell is quoted. Numbers the export writes itself (the total, the version) are not text anyone typed and cannot hold a
formula: they stay numbers a spreadsheet can add up, a negative one included (-5.00 is written as is); text that only
looks like a number (a title "-5") is still text and gets its quote.
"""
import csv
import io
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
COLUMNS = ["number", "title", "customer", "status", "total", "service_types", "version", "created_by", "created_at",
           "effective_from", "effective_to"]
BOM = "\ufeff"  # UTF-8 with BOM: spreadsheet programs on Chinese Windows then read the names correctly


def spreadsheet_cell(value) -> str:
    """One cell: a Decimal to the fen and an int as numbers, anything else as text that cannot start a formula."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip().startswith(FORMULA_STARTS) or text.startswith(FORMULA_STARTS) else text


def contract_row(contract) -> list:
    return [contract.number, contract.title, contract.customer_name, contract.status, contract.total,
            contract.service_types, contract.current_version, contract.created_by, contract.created_at.isoformat(),
            contract.effective_from, contract.effective_to]


def contracts_csv(contracts) -> str:
    """The whole file: the header and one row per contract, every cell quoted."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    writer.writerows([spreadsheet_cell(value) for value in contract_row(contract)] for contract in contracts)
    return BOM + out.getvalue()
