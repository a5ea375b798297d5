"""Jinja filters that print contract values the way Chinese contracts write them."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from workflows.contracts.catalog import ONE_TIME_FEE_SCOPES

CHINESE_DIGITS = "零一二三四五六七八九"
CHINESE_UNITS = ("", "十", "百", "千")

SERVICE_TYPE_LABELS = {
    "internet_line": "互联网专线",
    "vpn_line": "VPN专线",
    "egov_network": "电子政务网",
    "idc": "IDC业务",
    "voice_line": "语音专线",
    "technical_service": "技术服务",
}


def chinese_numeral(number: int) -> str:
    """Write 1..9999 as 一, 十一, 二十一, 一百零五: article numbers are read aloud this way."""
    if not 0 < number < 10000:
        raise ValueError(f"no Chinese numeral for {number}")
    if 10 <= number < 20:
        return "十" + (CHINESE_DIGITS[number % 10] if number % 10 else "")
    digits = str(number)
    words, zero_pending = [], False
    for position, digit in enumerate(digits):
        if digit == "0":
            zero_pending = bool(words)
            continue
        if zero_pending:
            words.append("零")
            zero_pending = False
        words.append(CHINESE_DIGITS[int(digit)] + CHINESE_UNITS[len(digits) - position - 1])
    return "".join(words)


def money(amount) -> str:
    """Amounts travel as decimal strings; print them with thousands separators and fen: 1,080,000.00."""
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"


def chinese_date(value) -> str:
    """ISO date (string or date) as 2025年1月1日, without zero padding, as contracts write it."""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    return f"{day.year}年{day.month}月{day.day}日"


def percent(rate) -> str:
    """A fraction such as 0.06 as 6%."""
    return f"{(Decimal(str(rate)) * 100).normalize():f}%"


def daily_rate(rate) -> str:
    """A daily late-fee fraction: 3% from 0.03, but 千分之0.5 from 0.0005, as the seed contracts write it."""
    fraction = Decimal(str(rate))
    if fraction >= Decimal("0.01"):
        return percent(fraction)
    return f"千分之{(fraction * 1000).normalize():f}"


def service_type_label(code: str) -> str:
    """The business name of a service type code; an unknown code prints as itself."""
    return SERVICE_TYPE_LABELS.get(code, code)


def fee_scope(name: str) -> str:
    """What a one-time fee covers, in brackets after its name: 接入费 its 开户费、工料费…, 移机费 the move to a new
    address; "" for a fee of another kind."""
    return next((scope for word, scope in ONE_TIME_FEE_SCOPES if word in name), "")


FILTERS = {
    "fee_scope": fee_scope,
    "chinese_numeral": chinese_numeral,
    "money": money,
    "chinese_date": chinese_date,
    "percent": percent,
    "daily_rate": daily_rate,
    "service_type_label": service_type_label,
}
