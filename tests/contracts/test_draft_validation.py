import copy
from datetime import date

import pytest

from workflows.contracts.validation import add_months, normalize_draft, periodic_due_dates, project_name_from_title
from workflows.errors import ValidationFailed

DELETE = object()


def set_path(document, dotted, value):
    """Set (or delete, with DELETE) a dotted path such as items.0.amount in a draft."""
    *parents, last = dotted.split(".")
    node = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    key = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value


def field_errors(draft, provider):
    with pytest.raises(ValidationFailed) as caught:
        normalize_draft(draft, provider)
    return caught.value.fields


# --- the seed contracts ------------------------------------------------------------------------


def test_technical_service_seed_figures(technical_draft, xinxiang):
    figures = normalize_draft(technical_draft, xinxiang)["figures"]
    assert figures["total"] == "1080000.00"
    assert figures["net_amount"] == "1018867.92"
    assert figures["tax_amount"] == "61132.08"
    assert figures["total_in_words"] == "壹佰零捌万元整"
    assert figures["net_in_words"] == "壹佰零壹万捌仟捌佰陆拾柒元玖角贰分"
    assert figures["tax_in_words"] == "陆万壹仟壹佰叁拾贰元零捌分"
    assert figures["tax_rate"] == "0.06"
    assert figures["schedule"] == [
        {"due_date": due, "amount": "180000.00", "amount_in_words": "壹拾捌万元整"}
        for due in ["2025-06-30", "2025-12-31", "2026-06-30", "2026-12-31", "2027-06-30", "2027-12-31"]
    ]
    assert figures["discount_total"] == "0.00"
    assert figures["has_discount"] is False
    assert figures["installments_after_term"] is False


def test_network_line_seed_figures(network_draft, changzhou):
    figures = normalize_draft(network_draft, changzhou)["figures"]
    assert figures["total_in_words"] == "肆拾伍万元整"
    assert (figures["net_amount"], figures["tax_amount"]) == ("424528.30", "25471.70")
    assert [entry["due_date"] for entry in figures["schedule"]] == ["2022-12-31", "2023-06-01"]
    assert [entry["amount_in_words"] for entry in figures["schedule"]] == ["叁拾伍万玖仟陆佰元整", "玖万零肆佰元整"]
    assert figures["installments_after_term"] is True
    assert figures["has_discount"] is True
    assert figures["discount_total"] == "4000.00"


def test_normalized_shape_of_the_technical_seed(technical_draft, xinxiang):
    normalized = normalize_draft(technical_draft, xinxiang)
    assert normalized["provider"] == xinxiang
    assert normalized["total"] == "1080000.00"
    assert normalized["tax_rate"] == "0.06"
    assert normalized["customer"]["contact"]["phone"] == "0373-8887111"
    assert normalized["customer"]["notice_address"] == "河南省长垣市蒲西区杏坛路1号"
    assert normalized["customer"]["bank"]["account_no"] == "261000019000000006"
    assert normalized["provider_contact"] == {"name": "陆洋", "phone": "18903736780", "email": ""}
    assert normalized["designated_contacts"] == {"customer": "徐永立", "provider": "陆洋"}
    assert normalized["items"][0] == {
        "name": "考试服务", "content": "辅助安排考场及考试时间", "quantity": 1, "unit": "",
        "bandwidth_mbps": None, "amount": "270000.00",
    }
    assert normalized["payment_plan"] == {"every_months": 6, "amount": "180000.00", "first_due": "2025-06-30"}
    assert normalized["term"] == {"start": "2025-01-01", "end": "2027-12-31", "auto_renew_months": 0, "notice_days": 0}
    assert normalized["one_time_fees"] == []
    assert normalized["late_fee_rate_per_day"] is None
    assert normalized["liquidated_damages"] is None
    assert normalized["signing_place"] == ""


def test_normalized_shape_of_the_network_seed(network_draft, changzhou):
    normalized = normalize_draft(network_draft, changzhou)
    assert normalized["customer"]["credit_code"] == ""
    assert normalized["customer"]["bank"] is None
    assert normalized["items"][1]["quantity"] == 8
    assert normalized["items"][1]["bandwidth_mbps"] == 100
    assert normalized["items"][1]["amount"] is None
    assert normalized["one_time_fees"][0] == {
        "name": "一次性接入费", "standard_price": "2000.00", "price": "0.00", "per": "条", "handling_fee": "8.00",
    }
    assert normalized["late_fee_rate_per_day"] == "0.03"
    assert normalized["term"]["auto_renew_months"] == 12


def test_provider_snapshot_is_a_copy(technical_draft, xinxiang):
    normalized = normalize_draft(technical_draft, xinxiang)
    xinxiang["contact"]["name"] = "someone else"
    assert normalized["provider"]["contact"]["name"] == "陆洋"


def test_inputs_are_not_modified(technical_draft, xinxiang):
    before = copy.deepcopy(technical_draft)
    normalize_draft(technical_draft, xinxiang)
    assert technical_draft == before


# --- defaults and normalization ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "result_path", "expected"),
    [
        ("customer.credit_code", " 12410728417309214t ", ("customer", "credit_code"), "12410728417309214T"),
        ("customer.credit_code", "", ("customer", "credit_code"), ""),
        ("customer.contact.phone", "0373- 8887111", ("customer", "contact", "phone"), "0373-8887111"),
        ("customer.contact.phone", "0373—5290065", ("customer", "contact", "phone"), "0373-5290065"),
        ("customer.contact.phone", "189 0373 6780", ("customer", "contact", "phone"), "18903736780"),
        ("customer.contact.phone", "010-12345678", ("customer", "contact", "phone"), "010-12345678"),
        ("customer.contact.email", DELETE, ("customer", "contact", "email"), ""),
        ("customer.notice_address", "长垣市邮政信箱1号", ("customer", "notice_address"), "长垣市邮政信箱1号"),
        ("customer.bank.account_no", "2610 0001 9000 0000 06", ("customer", "bank", "account_no"),
         "261000019000000006"),
        ("title", "  长垣合同  ", ("title",), "长垣合同"),
        ("total", 1080000, ("total",), "1080000.00"),
        ("total", 1080000.0, ("total",), "1080000.00"),
        ("tax_rate", 0.06, ("tax_rate",), "0.06"),
        ("tax_rate", "0.060", ("tax_rate",), "0.06"),
        ("tax_rate", 0, ("tax_rate",), "0"),
        ("tax_rate", DELETE, ("tax_rate",), "0.06"),
        ("late_fee_rate_per_day", "0.0005", ("late_fee_rate_per_day",), "0.0005"),
        ("liquidated_damages", 10000, ("liquidated_damages",), "10000.00"),
        ("items.0.amount", 270000, ("items", 0, "amount"), "270000.00"),
        ("items.0.amount", 270000.0, ("items", 0, "amount"), "270000.00"),
        ("service_types", ["technical_service", "technical_service"], ("service_types",), ["technical_service"]),
        ("provider", "xinxiang", ("provider", "code"), "xinxiang"),
        ("designated_contacts", {"provider": "王超琦"}, ("designated_contacts",),
         {"customer": "徐永立", "provider": "王超琦"}),
        ("provider_contact", {"name": "王超琦", "phone": "13803731234"}, ("provider_contact",),
         {"name": "王超琦", "phone": "13803731234", "email": ""}),
    ],
)
def test_normalizes(technical_draft, xinxiang, path, value, result_path, expected):
    set_path(technical_draft, path, value)
    node = normalize_draft(technical_draft, xinxiang)
    for key in result_path:
        node = node[key]
    assert node == expected


@pytest.mark.parametrize(
    ("service_types", "rate"),
    [(["voice_line"], "0.09"), (["vpn_line", "voice_line"], "0.09"), (["idc"], "0.06")],
)
def test_tax_rate_defaults_to_the_highest_service_rate(network_draft, changzhou, service_types, rate):
    del network_draft["tax_rate"]
    network_draft["service_types"] = service_types
    normalized = normalize_draft(network_draft, changzhou)
    assert normalized["tax_rate"] == normalized["figures"]["tax_rate"] == rate


def test_instalment_plan_may_use_int_and_float_amounts(network_draft, changzhou):
    network_draft["payment_plan"]["installments"] = [
        {"due_date": "2022-12-31", "amount": 359600},
        {"due_date": "2023-06-01", "amount": 90400.0},
    ]
    assert normalize_draft(network_draft, changzhou)["payment_plan"]["installments"][1]["amount"] == "90400.00"


def test_periodic_plan_clamps_month_ends(technical_draft, xinxiang):
    technical_draft["payment_plan"] = {"every_months": 6, "amount": "360000.00", "first_due": "2025-08-31"}
    technical_draft["term"]["end"] = "2026-08-31"
    schedule = normalize_draft(technical_draft, xinxiang)["figures"]["schedule"]
    assert [entry["due_date"] for entry in schedule] == ["2025-08-31", "2026-02-28", "2026-08-31"]


def test_a_periodic_plan_has_at_most_as_many_payments_as_a_list_of_instalments(technical_draft, xinxiang):
    """Monthly payments over two centuries made a 2,532-row schedule, half a minute of PDF layout per rendering."""
    technical_draft.update(items=[{"name": "技术服务"}], total="25.32", term={"start": "1990-01-01", "end": "2200-12-31"},
                           payment_plan={"every_months": 1, "amount": "0.01", "first_due": "1990-01-01"})
    assert field_errors(technical_draft, xinxiang) == {"payment_plan": "至服务期结束共付款2532次，不能超过120次"}
    technical_draft.update(total="1.20", term={"start": "1990-01-01", "end": "1999-12-31"})
    assert len(normalize_draft(technical_draft, xinxiang)["figures"]["schedule"]) == 120


def test_a_negative_zero_amount_is_written_as_zero(technical_draft, xinxiang):
    technical_draft["liquidated_damages"] = "-0"
    technical_draft["one_time_fees"] = [{"name": "安装费", "standard_price": "-0.00", "price": "-0", "handling_fee": "-0"}]
    normalized = normalize_draft(technical_draft, xinxiang)
    assert normalized["liquidated_damages"] == "0.00"
    assert normalized["one_time_fees"][0] == {"name": "安装费", "standard_price": "0.00", "price": "0.00", "per": "",
                                              "handling_fee": "0.00"}
    assert normalized["figures"]["discount_total"] == "0.00"


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 6, 30), 6, date(2025, 12, 30)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 8, 31), 12, date(2026, 8, 31)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 3, 31), 0, date(2025, 3, 31)),
        (date(2025, 3, 31), 24, date(2027, 3, 31)),
    ],
)
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("first_due", "every", "last_day", "expected"),
    [
        (date(2025, 6, 30), 6, date(2027, 12, 31), 6),
        (date(2025, 6, 30), 6, date(2027, 12, 29), 5),
        (date(2025, 6, 30), 6, date(2027, 12, 30), 5),  # month ends: the sixth is due 2027-12-31
        (date(2025, 6, 30), 6, date(2027, 12, 31), 6),
        (date(2025, 1, 1), 1, date(2025, 12, 31), 12),
        (date(2025, 1, 1), 12, date(2025, 1, 1), 1),
        (date(2026, 1, 1), 1, date(2025, 12, 31), 0),
    ],
)
def test_periodic_due_dates(first_due, every, last_day, expected):
    due_dates = periodic_due_dates(first_due, every, last_day)
    assert len(due_dates) == expected
    assert all(due <= last_day for due in due_dates)


def test_a_first_payment_at_month_end_keeps_every_payment_at_month_end():
    """Seed 003 pays every six months from 2025-06-30: the second payment is due 2025-12-31, not 12-30."""
    assert periodic_due_dates(date(2025, 6, 30), 6, date(2027, 12, 31))[:3] == [
        date(2025, 6, 30), date(2025, 12, 31), date(2026, 6, 30)]
    assert periodic_due_dates(date(2025, 11, 30), 3, date(2026, 6, 30)) == [
        date(2025, 11, 30), date(2026, 2, 28), date(2026, 5, 31)]
    assert periodic_due_dates(date(2025, 6, 15), 6, date(2026, 6, 30)) == [date(2025, 6, 15), date(2025, 12, 15), date(2026, 6, 15)]


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, [], "contract", 42, 1.5, True])
def test_non_object_payload_is_a_field_error(xinxiang, payload):
    assert field_errors(payload, xinxiang) == {"payload": "应为 JSON 对象"}


def test_empty_draft_reports_every_required_field_at_once(xinxiang):
    assert set(field_errors({}, xinxiang)) == {
        "template", "title", "service_types", "customer", "items", "total", "payment_plan", "term",
    }


def test_all_errors_are_collected_together(technical_draft, xinxiang):
    technical_draft["customer"]["credit_code"] = "12410728417309214X"
    technical_draft["items"][2]["quantity"] = "3"
    technical_draft["term"]["end"] = "2024-01-01"
    technical_draft["title"] = ""
    assert set(field_errors(technical_draft, xinxiang)) == {
        "customer.credit_code", "items.2.quantity", "term.end", "title",
    }


TECHNICAL_ERRORS = [
    ("template", "lease", "template"),
    ("template", ["network_line"], "template"),
    ("title", "长" * 201, "title"),
    ("title", 123, "title"),
    ("title", "   ", "title"),
    ("title", DELETE, "title"),
    ("project_name", "项" * 201, "project_name"),
    ("project_name", ["精准教学考试服务项目"], "project_name"),
    ("provider", "changzhou", "provider"),
    ("provider", {"code": "xinxiang"}, "provider"),
    ("service_types", [], "service_types"),
    ("service_types", "technical_service", "service_types"),
    ("service_types", ["technical_service", "tv"], "service_types.1"),
    ("service_types", [1], "service_types.0"),
    ("service_types", ["idc"] * 100, "service_types"),
    ("customer", [], "customer"),
    ("customer", "长垣市第一中学", "customer"),
    ("customer.name", DELETE, "customer.name"),
    ("customer.address", "地" * 301, "customer.address"),
    ("customer.legal_representative", None, "customer.legal_representative"),
    ("customer.credit_code", "12410728417309214X", "customer.credit_code"),
    ("customer.credit_code", "1241072841730921", "customer.credit_code"),
    ("customer.credit_code", "1" * 10_000, "customer.credit_code"),
    ("customer.credit_code", 12410728417309214, "customer.credit_code"),
    ("customer.contact", DELETE, "customer.contact"),
    ("customer.contact", ["徐永立"], "customer.contact"),
    ("customer.contact.name", "", "customer.contact.name"),
    ("customer.contact.phone", "12345", "customer.contact.phone"),
    ("customer.contact.phone", "12903736780", "customer.contact.phone"),
    ("customer.contact.phone", "0373-123456", "customer.contact.phone"),
    ("customer.contact.phone", "0373 8887111", "customer.contact.phone"),
    ("customer.contact.phone", 18903736780, "customer.contact.phone"),
    ("customer.contact.phone", DELETE, "customer.contact.phone"),
    ("customer.contact.email", "not-an-email", "customer.contact.email"),
    ("customer.contact.email", "a@b", "customer.contact.email"),
    ("customer.bank", "农村商业银行", "customer.bank"),
    ("customer.bank", {"bank_name": "农村商业银行"}, "customer.bank.account_no"),
    ("customer.bank.account_no", "12ab34567", "customer.bank.account_no"),
    ("customer.bank.account_no", "12345", "customer.bank.account_no"),
    ("customer.nickname", "长垣一中", "customer.nickname"),
    ("provider_contact", "陆洋", "provider_contact"),
    ("provider_contact", {"name": "陆洋", "phone": "bad"}, "provider_contact.phone"),
    ("provider_contact", {"phone": "18903736780"}, "provider_contact.name"),
    ("designated_contacts", "王超琦", "designated_contacts"),
    ("designated_contacts", {"provider": ["王超琦"]}, "designated_contacts.provider"),
    ("designated_contacts", {"supervisor": "王"}, "designated_contacts.supervisor"),
    ("items", {}, "items"),
    ("items", [], "items"),
    ("items", ["考试服务"], "items.0"),
    ("items", [{}] * 201, "items"),
    ("items.0.name", "", "items.0.name"),
    ("items.0.name", {"zh": "考试服务"}, "items.0.name"),
    ("items.0.content", "x" * 1001, "items.0.content"),
    ("items.0.quantity", "2", "items.0.quantity"),
    ("items.0.quantity", 0, "items.0.quantity"),
    ("items.0.quantity", -1, "items.0.quantity"),
    ("items.0.quantity", 1.5, "items.0.quantity"),
    ("items.0.quantity", True, "items.0.quantity"),
    ("items.0.bandwidth_mbps", "100M", "items.0.bandwidth_mbps"),
    ("items.0.amount", "270000.001", "items.0.amount"),
    ("items.0.amount", 0.1 + 0.2, "items.0.amount"),
    ("items.0.amount", "27万", "items.0.amount"),
    ("items.0.amount", DELETE, "items.0.amount"),
    ("items.0.amount", "270000.01", "items"),
    ("one_time_fees", {}, "one_time_fees"),
    ("one_time_fees", [{"name": "接入费"}], "one_time_fees.0.standard_price"),
    ("total", DELETE, "total"),
    ("total", "0", "total"),
    ("total", "-5", "total"),
    ("total", [1080000], "total"),
    ("total", "1e12", "total"),
    ("total", "1080000.005", "total"),
    ("total", float("nan"), "total"),
    ("total", float("inf"), "total"),
    ("tax_rate", "1", "tax_rate"),
    ("tax_rate", "-0.01", "tax_rate"),
    ("tax_rate", "6%", "tax_rate"),
    ("tax_rate", "0.123456", "tax_rate"),
    ("tax_rate", True, "tax_rate"),
    ("payment_plan", DELETE, "payment_plan"),
    ("payment_plan", "每半年", "payment_plan"),
    ("payment_plan", {}, "payment_plan"),
    ("payment_plan.installments", [{"due_date": "2025-06-30", "amount": "1080000.00"}], "payment_plan"),
    ("payment_plan.every_months", 0, "payment_plan.every_months"),
    ("payment_plan.every_months", "6", "payment_plan.every_months"),
    ("payment_plan.every_months", DELETE, "payment_plan.every_months"),
    ("payment_plan.amount", "170000.00", "payment_plan"),
    ("payment_plan.amount", "0", "payment_plan.amount"),
    ("payment_plan.first_due", "2028-01-31", "payment_plan.first_due"),
    ("payment_plan.first_due", "2025-02-30", "payment_plan.first_due"),
    ("payment_plan.first_due", 20250630, "payment_plan.first_due"),
    ("payment_plan.weekday", "monday", "payment_plan.weekday"),
    ("term", DELETE, "term"),
    ("term", ["2025-01-01", "2027-12-31"], "term"),
    ("term.end", "2024-12-31", "term.end"),
    ("term.end", "2025-01-01", "term.end"),
    ("term.start", "2025/01/01", "term.start"),
    ("term.start", "20250101", "term.start"),
    ("term.start", "2025-W01-1", "term.start"),
    ("term.start", "9999-12-31", "term.start"),
    ("term.auto_renew_months", -1, "term.auto_renew_months"),
    ("term.notice_days", "90", "term.notice_days"),
    ("service_mode", ["现场服务"], "service_mode"),
    ("installation_address", "x" * 301, "installation_address"),
    ("late_fee_rate_per_day", "3%", "late_fee_rate_per_day"),
    ("late_fee_rate_per_day", "3", "late_fee_rate_per_day"),
    ("liquidated_damages", "-1", "liquidated_damages"),
    ("special_terms", "x" * 5001, "special_terms"),
    ("letters_attached", ["网络安全承诺书"], "letters_attached"),
    ("figures", {"total": "1.00"}, "figures"),
]


@pytest.mark.parametrize(("path", "value", "error_path"), TECHNICAL_ERRORS)
def test_technical_draft_errors(technical_draft, xinxiang, path, value, error_path):
    set_path(technical_draft, path, value)
    assert error_path in field_errors(technical_draft, xinxiang)


NETWORK_ERRORS = [
    ("payment_plan.installments.1.amount", "90000.00", "payment_plan.installments"),
    ("payment_plan.installments", [], "payment_plan.installments"),
    ("payment_plan.installments", "two", "payment_plan.installments"),
    ("payment_plan.installments", [{"due_date": "2022-12-31", "amount": "450000.00"}] * 121,
     "payment_plan.installments"),
    ("payment_plan.installments.0", 359600, "payment_plan.installments.0"),
    ("payment_plan.installments.0.due_date", "2022-12-32", "payment_plan.installments.0.due_date"),
    ("payment_plan.installments.0.amount", "-359600.00", "payment_plan.installments.0.amount"),
    ("payment_plan.installments.0.note", "first", "payment_plan.installments.0.note"),
    ("one_time_fees.0.price", "2500.00", "one_time_fees.0.price"),
    ("one_time_fees.0.standard_price", "-1", "one_time_fees.0.standard_price"),
    ("one_time_fees.0.handling_fee", "8.001", "one_time_fees.0.handling_fee"),
    ("one_time_fees.1", "移机费", "one_time_fees.1"),
    ("items.4.amount", "450000.00", "items.0.amount"),
]


@pytest.mark.parametrize(("path", "value", "error_path"), NETWORK_ERRORS)
def test_network_draft_errors(network_draft, changzhou, path, value, error_path):
    set_path(network_draft, path, value)
    assert error_path in field_errors(network_draft, changzhou)


def test_first_problem_of_a_field_is_kept(technical_draft, xinxiang):
    technical_draft["items"][0]["amount"] = "bad"
    errors = field_errors(technical_draft, xinxiang)
    assert "金额" in errors["items.0.amount"]
    assert "items" not in errors  # no sum check while an amount is unusable


def test_the_project_name_is_the_one_the_articles_print_else_the_one_the_title_names(
        technical_draft, network_draft, xinxiang, changzhou):
    assert normalize_draft(technical_draft, xinxiang)["project_name"] == "长垣市第一中学精准教学考试服务项目"
    assert normalize_draft({**technical_draft, "project_name": " 精准教学 "}, xinxiang)["project_name"] == "精准教学"
    assert normalize_draft(network_draft, changzhou)["project_name"] == ""  # seed 000 names no project
    assert normalize_draft({**network_draft, "project_name": "数字城管专线"}, changzhou)["project_name"] == "数字城管专线"
    without = {key: value for key, value in technical_draft.items() if key != "project_name"}
    assert normalize_draft(without, xinxiang)["project_name"] == "长垣市第一中学精准教学考试服务项目"  # from the title
    assert normalize_draft({**technical_draft, "project_name": " "}, xinxiang)["project_name"] == "长垣市第一中学精准教学考试服务项目"


@pytest.mark.parametrize(("title", "project"), [
    ("长垣市第一中学精准教学考试服务项目服务合同", "长垣市第一中学精准教学考试服务项目"),
    ("智慧校园平台运维技术服务合同", "智慧校园平台运维"),
    ("常州市城市管理局数字城管专线续签合同", "常州市城市管理局数字城管专线续签"),
    ("精准教学考试服务项目", "精准教学考试服务项目"),
    ("合同", "合同"),
])
def test_a_project_name_is_read_from_a_title_for_drafts_written_before_it_had_a_field(title, project):
    assert project_name_from_title(title) == project


def test_a_provider_problem_found_by_the_caller_is_reported_with_the_other_field_errors(technical_draft, xinxiang):
    technical_draft["term"]["end"] = "2024-01-01"
    errors = field_errors_with(technical_draft, xinxiang, "没有这个乙方主体")
    assert errors == {"provider": "没有这个乙方主体", "term.end": "结束日期应晚于开始日期"}


def field_errors_with(draft, provider, provider_problem):
    with pytest.raises(ValidationFailed) as caught:
        normalize_draft(draft, provider, provider_problem)
    return caught.value.fields
