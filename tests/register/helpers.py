"""Contracts for the register's tests: drafted through the API (their clause text taken by the job, as in use), with
the facts a search looks at varied."""
from sqlalchemy import text

from tests.letters.helpers import network_line, technical_service

SCHOOL_CREDIT_CODE = "12410728417309214T"  # seed 003's school, for which the demo API account `customer` acts
MACHINE_ROOM = "乙方在甲方机房内施工前，须提前三个工作日书面通知甲方，由甲方派员陪同。"


def drafted(api, draft):
    """A draft, and its paragraphs taken by the worker's register.index job."""
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 201, response.json
    api.run_jobs()
    return response.json


def school(**changes):
    """Seed 003 (a technical service, 1,080,000.00, the school's credit code), with ``changes`` to its data."""
    return {**technical_service(), **changes}


def city(**changes):
    """Seed 000 (VPN line and e-government network, 450,000.00, no credit code), with ``changes`` to its data."""
    return {**network_line(), **changes}


def set_columns(platform, contract_id, **values):
    """Put a contract where a later step of its life leaves it (status, term): the register reads columns only."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with platform.db.write() as session:
        session.execute(text(f"UPDATE contract SET {assignments} WHERE id = :id"), {**values, "id": contract_id})


def numbers(response):
    assert response.status_code == 200, response.json
    return sorted(item["number"] for item in response.json["items"])
