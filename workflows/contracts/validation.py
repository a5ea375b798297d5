"""Draft → normalized contract (docs/contract-data.md).

Every field is checked before anything is raised, so the form can show all mistakes in one round
trip; garbage of any shape ends as field errors, never as an exception the web layer would turn
into a 500.
"""

import calendar
import copy
import re
from datetime import date
from decimal import Decimal

from workflows.contracts.catalog import SERVICE_TYPES, TEMPLATES, default_tax_rate
from workflows.contracts.credit_code import credit_code_error
from workflows.contracts.money import WORDS_LIMIT, amount_in_words, split_tax, to_decimal, to_fen
from workflows.errors import ValidationFailed
from workflows.visible_text import hidden_characters_error

ROOT_PATH = "payload"  # where errors about the draft as a whole are reported
MAX_PATCH_DEPTH = 32

DRAFT_KEYS = {
    "template", "title", "project_name", "provider", "service_types", "customer", "provider_contact",
    "designated_contacts", "items", "one_time_fees", "total", "tax_rate", "payment_plan", "term",
    "installation_address", "service_location", "service_mode", "signing_place",
    "late_fee_rate_per_day", "liquidated_damages", "special_terms",
}
CUSTOMER_KEYS = {"name", "address", "legal_representative", "credit_code", "contact", "notice_address", "bank"}
CONTACT_KEYS = {"name", "phone", "email"}
BANK_KEYS = {"bank_name", "branch", "account_name", "account_no"}
DESIGNATED_KEYS = {"customer", "provider"}
ITEM_KEYS = {"name", "content", "quantity", "unit", "bandwidth_mbps", "amount"}
FEE_KEYS = {"name", "standard_price", "price", "per", "handling_fee"}
INSTALLMENT_KEYS = {"due_date", "amount"}
PERIODIC_KEYS = {"every_months", "amount", "first_due"}
TERM_KEYS = {"start", "end", "auto_renew_months", "notice_days"}
OPTIONAL_TEXTS = {"installation_address": 300, "service_location": 300, "service_mode": 100, "signing_place": 100}

NAME_LENGTH = 100
TEXT_LENGTH = 200
ADDRESS_LENGTH = 300
LONG_TEXT_LENGTH = 5000
MAX_ITEMS = 200
MAX_INSTALLMENTS = 120
EARLIEST_YEAR, LATEST_YEAR = 1990, 2200  # keeps calendar arithmetic far from date.max

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{2,3}-\d{7,8}")
DASHES = str.maketrans({"—": "-", "–": "-", "－": "-", "─": "-"})
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ACCOUNT_NO = re.compile(r"\d{6,32}")

REQUIRED = "必填"
UNKNOWN_FIELD = "未知字段"
UNKNOWN_PROVIDER = "没有这个乙方主体，请从列表中选择"
PROVIDER_FIXED = "合同编号已按创建时的乙方主体编排，乙方主体不能更换"
TITLE_ENDINGS = ("技术服务合同", "服务合同", "合同")  # longest first
PLAN_SHAPE = "应为分期列表 installments，或周期付款 every_months/amount/first_due，二者选一"


def normalize_draft(payload: dict, provider: dict, provider_problem: str | None = None) -> dict:
    """Validate a draft and return its normalized form with the provider snapshot and computed figures.

    ``provider`` is the profile the draft is made against; ``provider_problem`` what the caller found wrong with the
    draft's choice of it (an unknown code, a change of provider), reported with the draft's other field errors."""
    if not isinstance(payload, dict):
        raise ValidationFailed("合同草稿格式错误", {ROOT_PATH: "应为 JSON 对象"})
    root = _Scope(_Errors(), payload, "", DRAFT_KEYS)
    if provider_problem:
        root.fail("provider", provider_problem)
    draft = _read_draft(root, provider)
    _check_item_amounts(root.errors, draft["items"], draft["total"])
    _check_payment_plan(root.errors, draft)
    if root.errors.fields:
        raise ValidationFailed("合同草稿有误，请修改标出的字段", root.errors.fields)
    return _json_ready({**draft, "figures": _figures(draft)})


def merge_patch(current_draft: dict, patch: dict) -> dict:
    """Apply a JSON merge patch (RFC 7386) without touching either input: null deletes, objects merge."""
    if not isinstance(patch, dict):
        raise ValidationFailed("修改内容格式错误", {ROOT_PATH: "应为 JSON 对象"})
    if _depth(patch) > MAX_PATCH_DEPTH:
        raise ValidationFailed("修改内容格式错误", {ROOT_PATH: "嵌套层级过深"})
    return _merge(current_draft, patch)


def _merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _depth(value) -> int:
    """Nesting depth, measured iteratively so hostile input cannot exhaust the stack."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_PATCH_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def add_months(day: date, months: int) -> date:
    """Calendar month arithmetic, clamping the day: 2025-08-31 + 6 months → 2026-02-28."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def periodic_due_dates(first_due: date, every_months: int, last_day: date) -> list[date]:
    """Due dates from `first_due` every N months while on or before `last_day`.

    Each date is counted from `first_due`, not from the previous one, so a clamped February
    does not drag every later payment to the 28th. A first payment on a month's last day means
    "at the end of the month" (月末), as finance reads it: 6-30 is followed by 12-31, not 12-30.
    """
    month_end = first_due.day == calendar.monthrange(first_due.year, first_due.month)[1]
    dates = []
    while (due := _month_end(add_months(first_due, every_months * len(dates))) if month_end
           else add_months(first_due, every_months * len(dates))) <= last_day:
        dates.append(due)
    return dates


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


class _Errors:
    """Dotted path → message; the first problem found for a field is the one reported."""

    def __init__(self):
        self.fields = {}

    def add(self, path, message):
        self.fields.setdefault(path, message)


class _Scope:
    """Typed reads from one JSON object, recording an error instead of raising.

    Each reader returns the clean value, the default when the key is absent, or None when the
    value is unusable (the error is already recorded).
    """

    def __init__(self, errors, data, path, keys):
        self.errors, self.data, self.path = errors, data, path
        for unknown in sorted(map(str, data.keys() - keys)):
            self.fail(unknown, UNKNOWN_FIELD)

    def at(self, key) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def fail(self, key, message):
        self.errors.add(self.at(key), message)

    def has(self, key) -> bool:
        return self.data.get(key) is not None

    def child(self, key, keys, *, required):
        value = self.data.get(key)
        if value is None:
            return self.fail(key, REQUIRED) if required else None
        if not isinstance(value, dict):
            return self.fail(key, "应为对象")
        return _Scope(self.errors, value, self.at(key), keys)

    def array(self, key, *, required, max_items):
        value = self.data.get(key)
        if value is None or value == []:
            return self.fail(key, f"{REQUIRED}，至少一项") if required else []
        if not isinstance(value, list):
            return self.fail(key, "应为列表")
        if len(value) > max_items:
            return self.fail(key, f"不能超过{max_items}项")
        return value

    def children(self, key, keys, *, required, max_items):
        """One scope per element of a list of objects; non-objects are reported by index."""
        elements = self.array(key, required=required, max_items=max_items)
        if elements is None:
            return None
        scopes = []
        for index, element in enumerate(elements):
            if isinstance(element, dict):
                scopes.append(_Scope(self.errors, element, self.at(f"{key}.{index}"), keys))
            else:
                self.fail(f"{key}.{index}", "应为对象")
        return scopes

    def text(self, key, *, required=False, max_length=TEXT_LENGTH, multiline=False):
        """Printed text: stripped, of bounded length, without invisible or control characters (line breaks only where
        ``multiline``)."""
        value = self.data.get(key)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            return self.fail(key, REQUIRED) if required else ""
        if not isinstance(value, str):
            return self.fail(key, "应为文本")
        if len(value) > max_length:
            return self.fail(key, f"不能超过{max_length}个字符")
        if hidden := hidden_characters_error(value, multiline=multiline):
            return self.fail(key, hidden)
        return value

    def choice(self, key, options):
        value = self.text(key, required=True, max_length=50)
        if value and value not in options:
            return self.fail(key, f"应为以下之一：{', '.join(options)}")
        return value

    def amount(self, key, *, required=False, positive=False):
        """A non-negative amount in fen; JSON floats pass only when they are exact to the fen."""
        value = self.data.get(key)
        if value is None:
            return self.fail(key, REQUIRED) if required else None
        try:
            amount = to_fen(_exact_text(value))
        except ValueError:
            return self.fail(key, "应为金额，最多两位小数，如 \"1080000.00\"")
        if amount < 0 or (positive and amount == 0):
            return self.fail(key, "应大于0" if positive else "不能为负数")
        if amount >= WORDS_LIMIT:
            return self.fail(key, "金额过大")
        return amount

    def rate(self, key, *, max_places):
        """A fraction 0 <= rate < 1 such as 0.06; None when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        try:
            rate = to_decimal(_exact_text(value))
        except ValueError:
            return self.fail(key, "应为小数，如 0.06")
        if not 0 <= rate < 1:
            return self.fail(key, "应不小于0且小于1")
        if rate != round(rate, max_places):
            return self.fail(key, f"最多{max_places}位小数")
        return rate.normalize()

    def count(self, key, *, minimum, maximum, default=None, required=False):
        value = self.data.get(key)
        if value is None:
            return self.fail(key, REQUIRED) if required else default
        if isinstance(value, bool) or not isinstance(value, int):
            return self.fail(key, "应为整数")
        if not minimum <= value <= maximum:
            return self.fail(key, f"应在{minimum}到{maximum}之间")
        return value

    def day(self, key):
        value = self.data.get(key)
        if value is None:
            return self.fail(key, REQUIRED)
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
            return self.fail(key, "应为日期，如 2025-01-01")
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            return self.fail(key, "日期不存在")
        if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
            return self.fail(key, f"年份应在{EARLIEST_YEAR}到{LATEST_YEAR}之间")
        return parsed

    def phone(self, key, *, required):
        value = self.text(key, required=required, max_length=40)
        if not value:
            return value
        phone = "".join(value.split()).translate(DASHES)
        if not (MOBILE.fullmatch(phone) or LANDLINE.fullmatch(phone)):
            return self.fail(key, "应为手机号或带区号的座机号，如 0373-8887111")
        return phone

    def email(self, key):
        value = self.text(key, max_length=254)
        if value and not EMAIL.fullmatch(value):
            return self.fail(key, "邮箱地址格式不正确")
        return value


def _exact_text(value):
    """JSON floats become their shortest repr (0.06 → "0.06") so exact values survive and 0.1+0.2 does not."""
    return str(value) if isinstance(value, float) else value


def project_name_from_title(title: str) -> str:
    """The project a title names, for drafts written before the project name had a field of its own: the title
    without its closing 技术服务合同/服务合同/合同 (长垣市第一中学精准教学考试服务项目服务合同 → …服务项目)."""
    ending = next((ending for ending in TITLE_ENDINGS if title.endswith(ending) and title != ending), "")
    return title[:len(title) - len(ending)]


def _read_draft(root: _Scope, provider: dict) -> dict:
    service_types = _service_types(root)
    customer = _customer(root)
    provider_contact = _provider_contact(root, provider)
    template = root.choice("template", TEMPLATES)
    title = root.text("title", required=True)
    names_project = bool(TEMPLATES.get(template, {}).get("names_project"))
    return {
        "template": template,
        "title": title,
        # the project the articles name (就…（“项目”）, 完成…技术服务): where the template prints it and none is given,
        # the one the title names, so a client that never sent the field still drafts the contract it did before
        "project_name": root.text("project_name") or (project_name_from_title(title) if names_project and title else ""),
        "provider": _provider_snapshot(root, provider),
        "service_types": service_types,
        "customer": customer,
        "provider_contact": provider_contact,
        "designated_contacts": _designated_contacts(root, customer, provider_contact),
        "items": _items(root),
        "one_time_fees": _one_time_fees(root),
        "total": root.amount("total", required=True, positive=True),
        "tax_rate": _tax_rate(root, service_types),
        "payment_plan": _payment_plan(root),
        "term": _term(root),
        **{key: root.text(key, max_length=length) for key, length in OPTIONAL_TEXTS.items()},
        "late_fee_rate_per_day": root.rate("late_fee_rate_per_day", max_places=6),
        "liquidated_damages": root.amount("liquidated_damages"),
        "special_terms": root.text("special_terms", max_length=LONG_TEXT_LENGTH, multiline=True),
    }


def _provider_snapshot(root: _Scope, provider: dict) -> dict:
    """The profile as it was when drafting, so later profile edits never rewrite a signed contract."""
    code = root.text("provider", max_length=50)
    if code and code != provider.get("code"):
        root.fail("provider", UNKNOWN_PROVIDER)
    return copy.deepcopy(provider)


def _service_types(root: _Scope):
    codes = root.array("service_types", required=True, max_items=len(SERVICE_TYPES) * 2)
    if codes is None:
        return None
    unknown = [index for index, code in enumerate(codes) if not (isinstance(code, str) and code in SERVICE_TYPES)]
    for index in unknown:
        root.fail(f"service_types.{index}", f"未知业务类型，应为：{', '.join(SERVICE_TYPES)}")
    return None if unknown else list(dict.fromkeys(codes))  # duplicates add nothing


def _customer(root: _Scope):
    scope = root.child("customer", CUSTOMER_KEYS, required=True)
    if scope is None:
        return None
    address = scope.text("address", required=True, max_length=ADDRESS_LENGTH)
    return {
        "name": scope.text("name", required=True),
        "address": address,
        "legal_representative": scope.text("legal_representative", required=True, max_length=NAME_LENGTH),
        "credit_code": _credit_code(scope),
        "contact": _contact(scope, "contact", required=True),
        "notice_address": scope.text("notice_address", max_length=ADDRESS_LENGTH) or address,
        "bank": _bank(scope),
    }


def _credit_code(scope: _Scope):
    code = scope.text("credit_code", max_length=18)
    if code:
        code = code.upper()
        problem = credit_code_error(code)
        if problem:
            return scope.fail("credit_code", problem)
    return code


def _contact(parent: _Scope, key, *, required):
    scope = parent.child(key, CONTACT_KEYS, required=required)
    if scope is None:
        return None
    return {
        "name": scope.text("name", required=True, max_length=NAME_LENGTH),
        "phone": scope.phone("phone", required=True),
        "email": scope.email("email"),
    }


def _bank(customer: _Scope):
    scope = customer.child("bank", BANK_KEYS, required=False)
    if scope is None:
        return None
    bank = {key: scope.text(key, required=True) for key in ("bank_name", "branch", "account_name")}
    account_no = scope.text("account_no", required=True, max_length=64)
    if account_no:
        account_no = "".join(account_no.split())
        if not ACCOUNT_NO.fullmatch(account_no):
            account_no = scope.fail("account_no", "账号只能是数字（6到32位）")
    return {**bank, "account_no": account_no}


def _provider_contact(root: _Scope, provider: dict):
    """The contract's own provider contact, or the profile's when the draft names none."""
    if root.has("provider_contact"):
        return _contact(root, "provider_contact", required=False)
    contact = provider.get("contact") or {}
    return {key: contact.get(key, "") for key in ("name", "phone", "email")}


def _designated_contacts(root: _Scope, customer, provider_contact):
    """Liaisons named in the articles; each side defaults to its contact's name."""
    scope = root.child("designated_contacts", DESIGNATED_KEYS, required=False)
    names = {
        "customer": ((customer or {}).get("contact") or {}).get("name"),
        "provider": (provider_contact or {}).get("name"),
    }
    if scope is not None:
        for side in DESIGNATED_KEYS:
            names[side] = scope.text(side, max_length=NAME_LENGTH) or names[side]
    return names


def _items(root: _Scope):
    scopes = root.children("items", ITEM_KEYS, required=True, max_items=MAX_ITEMS)
    if scopes is None:
        return None
    return [
        {
            "name": scope.text("name", required=True),
            "content": scope.text("content", max_length=1000),
            "quantity": scope.count("quantity", default=1, minimum=1, maximum=1_000_000),
            "unit": scope.text("unit", max_length=20),
            "bandwidth_mbps": scope.count("bandwidth_mbps", default=None, minimum=1, maximum=10_000_000),
            "amount": scope.amount("amount"),
        }
        for scope in scopes
    ]


def _one_time_fees(root: _Scope):
    scopes = root.children("one_time_fees", FEE_KEYS, required=False, max_items=50)
    return None if scopes is None else [_one_time_fee(scope) for scope in scopes]


def _one_time_fee(scope: _Scope) -> dict:
    standard_price = scope.amount("standard_price", required=True)
    price = scope.amount("price", required=True)
    if None not in (standard_price, price) and price > standard_price:
        scope.fail("price", "优惠价不能高于标准资费")
    return {
        "name": scope.text("name", required=True),
        "standard_price": standard_price,
        "price": price,
        "per": scope.text("per", max_length=20),
        "handling_fee": scope.amount("handling_fee") or Decimal("0.00"),
    }


def _tax_rate(root: _Scope, service_types):
    if root.has("tax_rate"):
        return root.rate("tax_rate", max_places=4)
    return default_tax_rate(service_types) if service_types else None


def _payment_plan(root: _Scope):
    scope = root.child("payment_plan", {"installments"} | PERIODIC_KEYS, required=True)
    if scope is None:
        return None
    if scope.has("installments") == any(scope.has(key) for key in PERIODIC_KEYS):
        return root.fail("payment_plan", PLAN_SHAPE)
    if scope.has("installments"):
        return {"installments": _installments(scope)}
    return {
        "every_months": scope.count("every_months", required=True, minimum=1, maximum=120),
        "amount": scope.amount("amount", required=True, positive=True),
        "first_due": scope.day("first_due"),
    }


def _installments(plan: _Scope):
    scopes = plan.children("installments", INSTALLMENT_KEYS, required=True, max_items=MAX_INSTALLMENTS)
    if scopes is None:
        return None
    return [{"due_date": scope.day("due_date"), "amount": scope.amount("amount", required=True, positive=True)}
            for scope in scopes]


def _term(root: _Scope):
    scope = root.child("term", TERM_KEYS, required=True)
    if scope is None:
        return None
    start, end = scope.day("start"), scope.day("end")
    if start and end and end <= start:
        end = scope.fail("end", "结束日期应晚于开始日期")
    return {
        "start": start,
        "end": end,
        "auto_renew_months": scope.count("auto_renew_months", default=0, minimum=0, maximum=120),
        "notice_days": scope.count("notice_days", default=0, minimum=0, maximum=3650),
    }


def _check_item_amounts(errors: _Errors, items, total):
    """Item amounts are all-or-nothing and, when present, must add up to the total."""
    if not items or not any(item["amount"] is not None for item in items):
        return
    for index, item in enumerate(items):
        if item["amount"] is None:
            errors.add(f"items.{index}.amount", "有条目填写了金额时，每一项都需填写金额")
    amounts = [item["amount"] for item in items]
    if total is not None and None not in amounts and sum(amounts) != total:
        errors.add("items", f"各项金额合计 {sum(amounts)} 与合同总价 {total} 不符")


def _check_payment_plan(errors: _Errors, draft: dict):
    """Payments must add up exactly to the total, so nothing is left uninvoiced or overbilled."""
    schedule = _schedule(draft)
    if schedule is None or draft["total"] is None:
        return
    plan, total = draft["payment_plan"], draft["total"]
    paid = sum(amount for _, amount in schedule)
    if "installments" in plan and paid != total:
        errors.add("payment_plan.installments", f"分期金额合计 {paid} 与合同总价 {total} 不符")
    elif not schedule:
        errors.add("payment_plan.first_due", "首次付款日晚于服务期结束日")
    elif len(schedule) > MAX_INSTALLMENTS:  # as many rows as a list of instalments may have, in every printed schedule
        errors.add("payment_plan", f"至服务期结束共付款{len(schedule)}次，不能超过{MAX_INSTALLMENTS}次")
    elif paid != total:
        errors.add("payment_plan", f"至服务期结束共付款{len(schedule)}次，合计 {paid}，与合同总价 {total} 不符")


def _schedule(draft: dict):
    """[(due_date, amount)] for either plan shape; None while a part it needs is invalid."""
    plan = draft["payment_plan"]
    if plan is None:
        return None
    if "installments" in plan:
        installments = plan["installments"] or []
        pairs = [(entry["due_date"], entry["amount"]) for entry in installments]
        return None if not installments or _has_none(pairs) else pairs
    term_end = (draft["term"] or {}).get("end")
    if _has_none([plan.values(), [term_end]]):
        return None
    due_dates = periodic_due_dates(plan["first_due"], plan["every_months"], term_end)
    return [(due, plan["amount"]) for due in due_dates]


def _has_none(groups) -> bool:
    return any(value is None for group in groups for value in group)


def _figures(draft: dict) -> dict:
    """Everything derived from the typed-in data; computed here so nobody types a sum by hand."""
    total, rate = draft["total"], draft["tax_rate"]
    net, tax = split_tax(total, rate)
    schedule = _schedule(draft)
    fees = draft["one_time_fees"]
    return {
        "total": total,
        "net_amount": net,
        "tax_amount": tax,
        "total_in_words": amount_in_words(total),
        "net_in_words": amount_in_words(net),
        "tax_in_words": amount_in_words(tax),
        "tax_rate": rate,
        "schedule": [{"due_date": due, "amount": amount, "amount_in_words": amount_in_words(amount)}
                     for due, amount in schedule],
        "discount_total": sum((fee["standard_price"] - fee["price"] for fee in fees), Decimal("0.00")),
        "has_discount": any(fee["price"] < fee["standard_price"] for fee in fees),
        "installments_after_term": any(due > draft["term"]["end"] for due, _ in schedule),
    }


def _json_ready(value):
    """Decimals and dates to the strings the stored document uses ("450000.00", "2025-01-01")."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return value
