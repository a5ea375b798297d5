"""The two seed contracts as the renderer receives them: fixture drafts normalized by the real validator.

The drafts in tests/fixtures leave out a few things the seed documents print (seed 003's late fee of
千分之0.5 and its designated provider contact 王超琦, seed 000's signing place and 1万元 damages); they
are added here so the rendered documents can be compared with the seeds.

The fixtures are session-wide because PDFs are slow: a test that changes a contract deep-copies it first.
"""

import copy
import json
from pathlib import Path

import pytest

from workflows.contracts.catalog import DEMO_PROVIDERS
from workflows.contracts.validation import normalize_draft

FIXTURES = Path(__file__).parent.parent / "fixtures"
LETTERS_DIR = Path(__file__).parent.parent.parent / "workflows" / "documents" / "letters"
LETTER_TITLES = {"network_access": "用户入网责任书", "information_security": "网络及信息安全承诺书"}
FILLED_VALUES = {"security_officer_name": "张伟", "security_officer_title": "信息中心主任",
                 "security_officer_contact": "0519-85681234"}

SEED_ADDITIONS = {
    "contract-technical-service.json": {
        "late_fee_rate_per_day": "0.0005",
        "designated_contacts": {"customer": "徐永立", "provider": "王超琦"},
    },
    "contract-network-line.json": {
        "signing_place": "常州",
        "liquidated_damages": "10000",
    },
}


def provider_profile(code: str) -> dict:
    return next(profile for profile in DEMO_PROVIDERS if profile["code"] == code)


def seed_data(fixture_name: str, provider_code: str) -> dict:
    draft = json.loads((FIXTURES / fixture_name).read_text(encoding="utf-8"))
    draft.update(SEED_ADDITIONS[fixture_name])
    return normalize_draft(draft, provider_profile(provider_code))


@pytest.fixture(scope="session")
def technical_service_contract() -> dict:
    """Seed 003: 长垣市第一中学精准教学考试服务项目, 1,080,000.00 paid every six months."""
    return {
        "number": "HAXXS2401525ECN00",
        "version": 3,
        "status": "draft",
        "data": seed_data("contract-technical-service.json", "xinxiang"),
        "letters": [{"title": "网络及信息安全承诺书", "code": "security_pledge"}],
    }


@pytest.fixture(scope="session")
def network_line_contract() -> dict:
    """Seed 000: 常州市城市管理局数字城管专线续签合同, 450,000.00 in two instalments."""
    return {
        "number": "JSCZE2208138CGN00",
        "version": 1,
        "status": "draft",
        "data": seed_data("contract-network-line.json", "changzhou"),
        "letters": [
            {"title": "用户入网责任书", "code": "network_access_pledge"},
            {"title": "网络及信息安全承诺书", "code": "security_pledge"},
        ],
    }




def attached_letter(code: str, position: int, values: dict) -> dict:
    """A letter as the contract lists it once attached and filled: the shipped template version 1 and its fields."""
    fields = json.loads((LETTERS_DIR / "fields.json").read_text(encoding="utf-8"))[code]
    return {"code": code, "title": LETTER_TITLES[code], "status": "filled", "position": position, "template_version": 1,
            "source": (LETTERS_DIR / f"{code}.html").read_text(encoding="utf-8"), "fields": fields, "values": values}


@pytest.fixture(scope="session")
def network_line_with_letters(network_line_contract) -> dict:
    """Seed 000 as it is signed: both letters attached (入网责任书 first) and the security letter filled in."""
    contract = copy.deepcopy(network_line_contract)
    contract["letters"] = [attached_letter("network_access", 1, {}),
                           attached_letter("information_security", 2, FILLED_VALUES)]
    return contract


@pytest.fixture(scope="session")
def technical_service_with_letter(technical_service_contract) -> dict:
    """Seed 003 as it is signed: the security letter attached and filled in."""
    contract = copy.deepcopy(technical_service_contract)
    contract["letters"] = [attached_letter("information_security", 1, FILLED_VALUES)]
    return contract
