"""Element-level diff of two BPMN documents (a pure function; layout is ignored)."""
from workflows.demo import BPMN_DIR
from workflows.engine.bpmn_diff import diff

PROCESS = (BPMN_DIR / "contract_approval.bpmn").read_bytes()


def by_id(changes):
    return {c.element_id: c for c in changes}


def test_identical_documents_have_no_changes():
    assert diff(PROCESS, PROCESS) == []


def test_layout_only_changes_are_not_changes():
    moved = PROCESS.replace(b'x="', b'x="1', 3)
    assert moved != PROCESS and diff(PROCESS, moved) == []


def test_renamed_task_changed_condition_and_property():
    new = (PROCESS.replace("法务审核".encode(), "法务合规审核".encode())
           .replace(b'decision == "approve"', b'decision in ("approve", "ok")', 1)
           .replace(b'name="due_in" value="P2D"', b'name="due_in" value="P3D"', 1))
    changes = by_id(diff(PROCESS, new))
    assert changes["legal_review"].change == "changed"
    assert changes["legal_review"].fields["name"] == ("法务审核", "法务合规审核")
    assert changes["legal_review"].fields["property due_in"] == ("P2D", "P3D")
    flow = next(c for c in changes.values() if c.kind == "sequenceFlow")
    assert flow.fields["condition"] == ('decision == "approve"', 'decision in ("approve", "ok")')


def test_added_and_removed_elements():
    old = PROCESS
    new = PROCESS.replace(b'id="legal_review"', b'id="legal_check"').replace(b'>legal_review<', b'>legal_check<') \
        .replace(b'sourceRef="legal_review"', b'sourceRef="legal_check"').replace(b'targetRef="legal_review"', b'targetRef="legal_check"')
    changes = diff(old, new)
    kinds = {(c.element_id, c.change) for c in changes}
    assert ("legal_review", "removed") in kinds and ("legal_check", "added") in kinds
    assert [c.change for c in changes] == sorted((c.change for c in changes), key=["removed", "changed", "added"].index)
    flows = [c for c in changes if c.kind == "sequenceFlow" and c.change == "changed"]
    assert flows and all("source" in c.fields or "target" in c.fields for c in flows)
