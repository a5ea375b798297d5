from datetime import date
from decimal import Decimal

import pytest

from workflows.contracts.lint import RULES, Finding, LintContext, lint
from workflows.contracts.validation import normalize_draft

SEED_003_LIAISONS = {"customer": "徐永立", "provider": "王超琦"}


def codes(findings):
    return [finding.code for finding in findings]


def findings_of(code, normalized, context=None):
    return [finding for finding in lint(normalized, context) if finding.code == code]


@pytest.fixture
def technical(technical_draft, xinxiang):
    return lambda **changes: normalize_draft({**technical_draft, **changes}, xinxiang)


@pytest.fixture
def network(network_draft, changzhou):
    return lambda **changes: normalize_draft({**network_draft, **changes}, changzhou)


def test_rules_are_registered_once_with_a_known_severity():
    assert len({each.code for each in RULES}) == len(RULES)
    assert {each.severity for each in RULES} <= {"warning", "info"}
    assert {each.code for each in RULES} >= {
        "contact_inconsistent", "installment_after_term", "late_fee_excessive", "discount_applied",
        "total_above_finance_threshold", "missing_mandated_letters",
    }


def test_findings_carry_both_languages(network):
    for finding in lint(network()):
        assert isinstance(finding, Finding)
        assert finding.message_zh and finding.message_en and finding.field


def test_network_seed_findings(network):
    context = LintContext(mandated_letters=["用户入网责任书", "网络及信息安全承诺书"])
    assert codes(lint(network(), context)) == ["installment_after_term", "late_fee_excessive", "discount_applied"]


def test_technical_seed_with_article_11_liaisons(technical):
    context = LintContext(mandated_letters=["网络及信息安全承诺书"])
    assert codes(lint(technical(designated_contacts=SEED_003_LIAISONS), context)) == [
        "contact_inconsistent", "total_above_finance_threshold",
    ]


# --- contact_inconsistent -------------------------------------------------------------------------


def test_contact_inconsistent_flags_the_provider_liaison_of_seed_003(technical):
    [finding] = findings_of("contact_inconsistent", technical(designated_contacts=SEED_003_LIAISONS))
    assert finding.severity == "warning"
    assert finding.field == "designated_contacts.provider"
    assert "王超琦" in finding.message_zh and "陆洋" in finding.message_zh


def test_contact_inconsistent_flags_the_customer_liaison(technical):
    [finding] = findings_of("contact_inconsistent", technical(designated_contacts={"customer": "李明"}))
    assert finding.field == "designated_contacts.customer"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"designated_contacts": {"customer": "徐永立", "provider": "陆洋"}},
        {"designated_contacts": {"provider": "王超琦"},
         "provider_contact": {"name": "王超琦", "phone": "13803731234"}},
    ],
)
def test_contact_inconsistent_is_quiet_when_names_agree(technical, changes):
    assert findings_of("contact_inconsistent", technical(**changes)) == []


# --- installment_after_term -----------------------------------------------------------------------


def test_installment_after_term_names_the_late_dates(network):
    [finding] = findings_of("installment_after_term", network())
    assert finding.severity == "warning"
    assert finding.field == "payment_plan"
    assert "2023-06-01" in finding.message_zh and "2022-12-31" in finding.message_zh


def test_installment_after_term_is_quiet_within_the_term(network, technical):
    plan = {"installments": [{"due_date": "2022-06-30", "amount": "359600.00"},
                             {"due_date": "2022-12-31", "amount": "90400.00"}]}
    assert findings_of("installment_after_term", network(payment_plan=plan)) == []
    assert findings_of("installment_after_term", technical()) == []


# --- late_fee_excessive ---------------------------------------------------------------------------


def test_late_fee_excessive_flags_three_percent_a_day(network):
    [finding] = findings_of("late_fee_excessive", network())
    assert finding.severity == "warning"
    assert finding.field == "late_fee_rate_per_day"
    assert "3%" in finding.message_zh and "30%" in finding.message_zh and "LPR" in finding.message_zh
    assert "1095%" in finding.message_en


@pytest.mark.parametrize("rate", [None, "0.0005", "0.001", "0"])
def test_late_fee_excessive_is_quiet_at_or_below_the_limit(network, rate):
    assert findings_of("late_fee_excessive", network(late_fee_rate_per_day=rate)) == []


def test_late_fee_limit_comes_from_the_context(technical):
    contract = technical(late_fee_rate_per_day="0.0005")
    assert findings_of("late_fee_excessive", contract, LintContext(max_late_fee_rate_per_day=Decimal("0.0003")))


# --- discount_applied -----------------------------------------------------------------------------


def test_discount_applied_reports_the_discount_total(network):
    [finding] = findings_of("discount_applied", network())
    assert finding.severity == "info"
    assert finding.field == "one_time_fees"
    assert "4,000.00" in finding.message_zh


@pytest.mark.parametrize(
    "fees",
    [[], [{"name": "一次性接入费", "standard_price": "2000.00", "price": "2000.00", "per": "条"}]],
)
def test_discount_applied_is_quiet_at_standard_price(network, fees):
    assert findings_of("discount_applied", network(one_time_fees=fees)) == []


# --- total_above_finance_threshold ----------------------------------------------------------------


def test_total_above_finance_threshold(technical):
    [finding] = findings_of("total_above_finance_threshold", technical())
    assert finding.severity == "info"
    assert finding.field == "total"
    assert "1,080,000.00" in finding.message_zh and "500,000.00" in finding.message_zh


@pytest.mark.parametrize(("threshold", "expected"), [("450000", 0), ("449999.99", 1), ("1000000", 0)])
def test_total_above_finance_threshold_uses_the_context(network, threshold, expected):
    context = LintContext(finance_threshold=Decimal(threshold))
    assert len(findings_of("total_above_finance_threshold", network(), context)) == expected


# --- missing_mandated_letters ---------------------------------------------------------------------

BOTH = ["用户入网责任书", "网络及信息安全承诺书"]


def test_missing_mandated_letters_flags_a_rule_table_without_the_network_access_letter(network):
    [finding] = findings_of("missing_mandated_letters", network(), LintContext(mandated_letters=BOTH[1:]))
    assert finding.severity == "warning"
    assert finding.field == "service_types"
    assert "用户入网责任书" in finding.message_zh and "网络及信息安全承诺书" not in finding.message_zh


def test_missing_mandated_letters_flags_a_rule_table_without_any_letter(technical):
    [finding] = findings_of("missing_mandated_letters", technical(), LintContext(mandated_letters=[]))
    assert "网络及信息安全承诺书" in finding.message_zh


@pytest.mark.parametrize(("fixture", "mandated"), [("network", BOTH), ("technical", BOTH[1:])])
def test_missing_mandated_letters_is_quiet_when_the_rules_ask_for_what_is_needed(request, fixture, mandated):
    contract = request.getfixturevalue(fixture)()
    assert findings_of("missing_mandated_letters", contract, LintContext(mandated_letters=mandated)) == []


def test_a_term_that_already_ended_is_flagged(network, technical):
    """Seed 000's term ended in 2022: a draft made from it today needs its dates moved on."""
    [finding] = findings_of("term_already_ended", network(), LintContext(today=date(2026, 12, 2)))
    assert finding.field == "term.end" and "2022-12-31" in finding.message_zh
    assert findings_of("term_already_ended", technical(), LintContext(today=date(2026, 12, 2))) == []
    assert findings_of("term_already_ended", network(), LintContext()) == []  # no calendar, no check
