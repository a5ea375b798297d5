"""Repository of process definitions: validation on deploy, versions, instances pinned to their version."""
from pathlib import Path

import pytest

from tests.conftest import load_fixture
from tests.process.test_lifecycle import create, submit
from workflows.demo import BPMN_DIR
from workflows.errors import InvalidDefinition

PROCESS = (BPMN_DIR / "contract_approval.bpmn").read_bytes()
ROUTING = (BPMN_DIR / "finance_routing.dmn").read_bytes()
LETTERS = (BPMN_DIR / "mandated_letters.dmn").read_bytes()
MATRIX = (BPMN_DIR / "approval_matrix.dmn").read_bytes()
SEAL = (BPMN_DIR / "seal_rights.dmn").read_bytes()
DMN = {"finance_routing.dmn": ROUTING, "mandated_letters.dmn": LETTERS, "approval_matrix.dmn": MATRIX,
       "seal_rights.dmn": SEAL}


def deploy(platform, bpmn=PROCESS, dmn=None):
    with platform.db.write() as session:
        definition, created = platform.repository.deploy(session, bpmn, DMN if dmn is None else dmn, "admin")
        return definition.version, created


def test_identical_xml_creates_no_version(platform):
    assert deploy(platform) == (1, False)
    with platform.db.read() as session:
        assert [d.version for d in platform.repository.versions(session, "contract_approval")] == [1]


def test_a_changed_threshold_is_a_new_version_and_running_instances_keep_theirs(api, platform):
    before = create(api, load_fixture("contract-technical-service.json"))
    raised = ROUTING.replace(b"&gt; 500000", b"&gt; 2000000")
    assert deploy(platform, dmn={**DMN, "finance_routing.dmn": raised}) == (2, True)
    after = create(api, load_fixture("contract-technical-service.json"))
    for contract in (before, after):
        submit(api, contract["id"])
        api.decide("legal", contract["id"], "approve")
    assert api.call("GET", f"/contracts/{before['id']}", "sales").json["status"] == "finance_review"
    assert api.call("GET", f"/contracts/{after['id']}", "sales").json["status"] == "awaiting_customer"
    with platform.db.read() as session:
        versions = {c["id"]: platform.repository.get(session, platform.contracts.instance(session, c["id"]).definition_id).version
                    for c in (before, after)}
    assert versions == {before["id"]: 1, after["id"]: 2}


@pytest.mark.parametrize(("change", "named"), [
    ((b'<bpmn:userTask id="legal_review" name="\xe6\xb3\x95\xe5\x8a\xa1\xe5\xae\xa1\xe6\xa0\xb8">',
      b'<bpmn:userTask id="legal_review">'), "legal_review"),
    ((b'<bpmn:script>outcome = "declined"</bpmn:script>', b'<bpmn:script>import os</bpmn:script>'), "mark_declined"),
    ((b'decision == "return"</bpmn:conditionExpression>', b'().__class__.__base__</bpmn:conditionExpression>'),
     "f_legal_return"),
    ((b'<bpmn:lane id="lane_finance" name="finance">', b'<bpmn:lane id="lane_finance" name="accounting">'), "lane_finance"),
    ((b'"P14D"', b'"fourteen days"'), "invitation_expired"),
])
def test_invalid_diagrams_are_refused_naming_the_element(platform, change, named):
    old, new = change
    assert old in PROCESS
    with pytest.raises(InvalidDefinition) as refused:
        deploy(platform, bpmn=PROCESS.replace(old, new))
    assert named in refused.value.message
    with platform.db.read() as session:
        assert len(platform.repository.versions(session, "contract_approval")) == 1


def test_xml_with_a_doctype_is_refused(platform):
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + PROCESS.split(b"?>", 1)[1]
    with pytest.raises(InvalidDefinition):
        deploy(platform, bpmn=hostile)


def test_a_missing_decision_table_is_refused(platform):
    with pytest.raises(InvalidDefinition) as refused:
        deploy(platform, dmn={"mandated_letters.dmn": LETTERS, "approval_matrix.dmn": MATRIX, "seal_rights.dmn": SEAL})
    assert "finance_routing" in refused.value.message


def test_deploy_file_picks_the_decision_tables_beside_it(platform, tmp_path):
    (tmp_path / "p.bpmn").write_bytes(PROCESS.replace("合同审批与签署".encode(), "合同审批与签署 第二版".encode()))
    for name, data in DMN.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "unrelated.dmn").write_bytes(LETTERS.replace(b'id="mandated_letters"', b'id="other"'))
    with platform.db.write() as session:
        definition, created = platform.repository.deploy_file(session, Path(tmp_path / "p.bpmn"), "admin")
        assert created and definition.version == 2
        assert sorted(__import__("json").loads(definition.dmn_xml)) == sorted(DMN)


def test_a_definition_deployed_in_a_rolled_back_transaction_is_not_remembered(platform):
    """SQLite gives a rolled-back row's id to the next insert: a cached definition from that transaction would be
    taken for the one that really got the id."""
    dmn = DMN
    with pytest.raises(RuntimeError):
        with platform.db.write() as session:
            doomed, _ = platform.repository.deploy(session, PROCESS + b"<!-- rolled back -->", dmn, "admin")
            assert platform.repository.latest(session, "contract_approval").id == doomed.id
            raise RuntimeError("the request failed after the deploy")
    with platform.db.write() as session:
        kept, created = platform.repository.deploy(session, PROCESS + b"<!-- kept -->", dmn, "admin")
    with platform.db.read() as session:
        assert created and platform.repository.get(session, kept.id).sha256 == kept.sha256
