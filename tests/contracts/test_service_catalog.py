from decimal import Decimal

import pytest

from workflows.contracts.catalog import DEMO_PROVIDERS, SERVICE_TYPES, TEMPLATES, default_tax_rate
from workflows.contracts.credit_code import is_valid_credit_code


def test_service_type_codes():
    assert set(SERVICE_TYPES) == {"internet_line", "vpn_line", "egov_network", "idc", "voice_line", "technical_service"}


@pytest.mark.parametrize("code", SERVICE_TYPES)
def test_every_service_type_is_complete(code):
    entry = SERVICE_TYPES[code]
    assert entry["title_zh"] and entry["title_en"]
    assert isinstance(entry["tax_rate"], Decimal)
    assert isinstance(entry["network_access"], bool)


@pytest.mark.parametrize(
    ("codes", "rate"),
    [
        (["technical_service"], "0.06"),
        (["vpn_line", "egov_network"], "0.06"),
        (["voice_line"], "0.09"),
        (["internet_line", "voice_line"], "0.09"),
    ],
)
def test_default_tax_rate_is_the_highest_listed(codes, rate):
    assert default_tax_rate(codes) == Decimal(rate)


def test_voice_and_technical_services_are_not_network_access():
    assert [code for code, entry in SERVICE_TYPES.items() if not entry["network_access"]] == ["voice_line", "technical_service"]


@pytest.mark.parametrize(
    ("template", "kind", "suffix"),
    [("network_line", "E", "CGN00"), ("technical_service", "S", "ECN00")],
)
def test_templates_frame_contract_numbers(template, kind, suffix):
    assert TEMPLATES[template]["number_kind"] == kind
    assert TEMPLATES[template]["number_suffix"] == suffix
    assert TEMPLATES[template]["title_zh"]


def test_demo_providers():
    xinxiang, changzhou = DEMO_PROVIDERS
    assert (xinxiang["code"], xinxiang["province"], xinxiang["city"]) == ("xinxiang", "HA", "XX")
    assert (changzhou["code"], changzhou["province"], changzhou["city"]) == ("changzhou", "JS", "CZ")
    assert changzhou["name"] == "中国电信股份有限公司常州分公司"
    assert changzhou["legal_representative"] == "黄亚君"
    assert changzhou["credit_code"] == ""
    assert is_valid_credit_code(xinxiang["credit_code"])
    assert {provider["seal_title"] for provider in DEMO_PROVIDERS} == {"合同专用章"}
