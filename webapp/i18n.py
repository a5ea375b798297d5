"""Chinese first: zh_CN unless the user picks English (?lang=en, remembered in the session)."""
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from flask import request, session
from flask_babel import Babel, get_locale

from workflows.documents import chinese_numeral
from workflows.documents.formatting import daily_rate as contract_daily_rate
from workflows.documents.formatting import percent

LANGUAGES = {"zh_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
TIMEZONE = "Asia/Shanghai"


def language():
    """The UI language code the user chose (zh_CN or en); Babel's locale for zh_CN is zh_Hans_CN."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
    return session.get("lang", DEFAULT_LOCALE)


def select_locale():
    return language()


def money(value):
    """¥1,080,000.00 in either language; amounts are Decimal strings or Decimals, never floats."""
    if value is None or value == "":
        return ""
    return format_currency(Decimal(str(value)), "CNY", locale=str(get_locale()))


def number(value):
    return format_decimal(value, locale=str(get_locale()))


def day(value):
    if not value:
        return ""
    value = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(value, format="long", locale=str(get_locale()))


def moment(value):
    if not value:
        return ""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_datetime(value, format="yyyy-MM-dd HH:mm", tzinfo=TIMEZONE, locale=str(get_locale()))


def daily_rate(rate):
    """A daily late-fee rate as the contract prints it in Chinese (千分之0.5, 3%); a percentage in English."""
    return contract_daily_rate(rate) if language() == "zh_CN" else percent(rate)


def attachment_number(position):
    """附件一 as the contract prints it in Chinese; Attachment 1 in English."""
    return chinese_numeral(position) if language() == "zh_CN" else str(position)


def init_app(app):
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", TIMEZONE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(money=money, number=number, day=day, moment=moment,
                               attachment_number=attachment_number, daily_rate=daily_rate)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, current_locale=language)
