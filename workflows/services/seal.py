"""用印审批: the seal is applied only once the people the rules name approved it for this version of the contract.

Who approves is the decision table ``bpmn/seal_rights.dmn`` (COLLECT, in the approval matrix's approver form), which
the diagram's 判定用印权限 asks after the customer signed; the diagram routes to the 会签 用印审批 or straight to the
countersignature. This service is what the diagram cannot see:

- ``resolve_seal_approvers()`` (script function) finds the approvers now and records which version of the contract
  the rule was asked for (history ``seal_rights_checked``);
- each approver's decision is recorded in their name (``seal_approved`` / ``seal_refused``, with the comment);
- a task guard refuses the provider's countersignature (every door: the API, the task page, the service itself)
  with a 409 on ``seal_approval`` while the seal is required and not approved for the contract's current version.
"""
import json

from sqlmodel import select

from ..errors import Conflict
from ..models import Contract, HistoryEvent

SEAL_STEP = "seal_approval"  # the diagram's 用印审批
CHECKED, APPROVED, REFUSED = "seal_rights_checked", "seal_approved", "seal_refused"
SEAL_EVENTS = {"approve": APPROVED, "refuse": REFUSED}
PROVIDER_LANE = "provider"


class SealService:
    def __init__(self, tasks, org):
        self.tasks = tasks
        self.org = org

    # --- what the diagram calls ----------------------------------------------------------------------------------------
    def resolve_seal_approvers(self, step, approvers):
        """Script function: the table's approvers as people and roles now (nobody: no seal approval), recorded with
        the contract's current version."""
        approvers = [a for a in (approvers if isinstance(approvers, (list, tuple)) else [approvers]) if a]
        resolved = self.org.resolve_approvers(step, approvers, PROVIDER_LANE) if approvers else []
        contract = step.session.get(Contract, step.contract_id) if step.contract_id is not None else None
        step.events.append({"event": CHECKED, "actor": "system",
                            "details": {"version": contract.current_version if contract else None,
                                        "approvers": resolved}})
        return resolved

    def record_decisions(self, session, step):
        """Step listener: each decision on 用印审批, in the approver's name and with the contract's version."""
        for event in list(step.events):
            if event.get("event") != "task_completed" or event.get("task_name") != SEAL_STEP:
                continue
            contract = session.get(Contract, step.contract_id) if step.contract_id is not None else None
            step.events.append({"event": SEAL_EVENTS.get(event.get("decision"), REFUSED), "actor": event["actor"],
                                "on_behalf_of": event.get("on_behalf_of"), "task_name": SEAL_STEP,
                                "comment": event.get("comment") or "",
                                "details": {"version": contract.current_version if contract else None}})

    # --- the countersignature's guard ----------------------------------------------------------------------------------
    def outstanding(self, session, contract):
        """Why the seal may not be applied to the contract's current version yet ("" when it may): the rule asked for
        another version, an approver refused, or approvals are missing. A contract the rule was never asked for (its
        process predates it) needs none."""
        events = list(session.exec(select(HistoryEvent).where(
            HistoryEvent.contract_id == contract.id, HistoryEvent.event.in_((CHECKED, APPROVED, REFUSED)))
            .order_by(HistoryEvent.id)))
        checks = [e for e in events if e.event == CHECKED]
        if not checks:
            return ""
        checked = json.loads(checks[-1].details or "{}")
        if checked.get("version") != contract.current_version:
            return (f"the seal rights were decided for version {checked.get('version')}, the contract is now version "
                    f"{contract.current_version}: it needs its own seal approval")
        required = checked.get("approvers") or []
        if not required:
            return ""
        since = [e for e in events if e.id > checks[-1].id
                 and json.loads(e.details or "{}").get("version") == contract.current_version]
        if any(e.event == REFUSED for e in since):
            return "the seal was refused"
        approved = sum(1 for e in since if e.event == APPROVED)
        if approved < len(required):
            return f"{approved} of {len(required)} seal approvals given"
        return ""

    def refuse_countersign_before_approval(self, session, task, decision):
        """Task guard: the provider's ``sign`` (the task whose diagram declares the provider's signature) waits until
        the seal is approved for the contract's current version."""
        if decision != "sign" or self.tasks.form(session, task)["signature"] != PROVIDER_LANE:
            return
        contract = session.get(Contract, task.contract_id)
        problem = self.outstanding(session, contract) if contract is not None else ""
        if problem:
            raise Conflict(f"the seal is not approved for this version of the contract: {problem}",
                           {"seal_approval": problem})
