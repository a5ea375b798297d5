"""Shared fixtures for the contract domain tests."""

import copy
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"

from workflows.contracts.catalog import DEMO_PROVIDERS


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def xinxiang():
    return copy.deepcopy(DEMO_PROVIDERS[0])


@pytest.fixture
def changzhou():
    return copy.deepcopy(DEMO_PROVIDERS[1])


@pytest.fixture
def technical_draft():
    """Seed 003: 长垣市第一中学, periodic plan, items with amounts."""
    return load_fixture("contract-technical-service.json")


@pytest.fixture
def network_draft():
    """Seed 000: 常州市城市管理局, instalments after the term, discounted one-time fees."""
    return load_fixture("contract-network-line.json")
