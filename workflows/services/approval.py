"""Deciding on a contract's tasks: submit, approve, return, decline; claim, release, delegate.

Every decision, whichever door it comes through (the submit endpoint, the task API, the task page, the customer's
decline), goes through :meth:`ApprovalService.decide`: the process receives the contract's current figures with it (so
routing never runs on stale or missing ones), and before the customer's step the SHA-256 of the document decided on is
kept with the decision. An approval stores that hash on the contract: what is later certified and signed must render
to the same hash (``SigningService``). A ``sign`` on a task whose diagram declares a signature is a signing act.
"""
from ..errors import Conflict
from .access import CUSTOMER_LANE
from .signing import Origin, SignatureInput

REVIEWED_STATUSES = ("draft", "legal_review", "finance_review")  # the document is read and decided on, not signed yet


class ApprovalService:
    def __init__(self, db, access, contracts, letters, documents, tasks, signing):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.letters = letters
        self.documents = documents
        self.tasks = tasks
        self.signing = signing

    def decide(self, actor, task_id, decision, comment="", signature: SignatureInput | None = None,
               origin: Origin = Origin()):
        """Complete a task with a decision the diagram allows on it; returns the completed task row."""
        with self.db.write() as session:
            task = self.access.task_to_act_on(session, actor, task_id)
            signing = decision == "sign" and task.state == "open" and bool(self.tasks.form(session, task)["signature"])
            if not signing:
                return self._complete(session, actor, task, decision, comment)
        return self.signing.sign_task(actor, task_id, signature or SignatureInput(), origin)

    def decline(self, actor, contract_id, reason):
        """The customer declines to sign: the decision ``decline`` on the contract's open customer task."""
        with self.db.read() as session:
            contract = self.access.contract(session, actor, contract_id)
            task = self.contracts.open_task(session, contract.id, CUSTOMER_LANE)
            if task is None:
                raise Conflict(f"the contract is not waiting for the customer (it is {contract.status})")
        return self.decide(actor, task.id, "decline", reason)

    def submit(self, actor, contract_id, comment=""):
        """Sales hand the draft to review: the decision ``submit`` on the contract's open sales task."""
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            task = self.contracts.open_task(session, contract.id, "sales")
            if task is None:
                raise Conflict(f"the contract is not a draft with sales (it is {contract.status})")
            return self._complete(session, actor, task, "submit", comment)

    def _complete(self, session, actor, task, decision, comment):
        contract = self.contracts.get(session, task.contract_id)
        details = {}
        if decision == "submit" and contract.status == "draft":
            self.letters.pin_for_review(session, contract)
        if contract.status in REVIEWED_STATUSES:
            digest = self.documents.review_digest(session, contract)
            details["document_sha256"] = digest
            if decision == "approve":
                if contract.approved_sha256 and contract.approved_sha256 != digest:
                    raise Conflict("the document changed since an earlier reviewer approved it; it must be submitted "
                                   "again", {"document_sha256": "not the document approved before"})
                contract.approved_sha256 = digest
            elif decision in ("submit", "return"):
                contract.approved_sha256 = ""  # a new round of review
            session.add(contract)
        return self.tasks.complete(session, task.id, actor, decision, comment,
                                   data=self.contracts.process_variables(session, contract), details=details)

    # --- holding a task -----------------------------------------------------------------------------------------------
    def claim(self, actor, task_id):
        with self.db.write() as session:
            self._holdable(session, actor, task_id)
            return self.tasks.claim(session, task_id, actor)

    def release(self, actor, task_id):
        with self.db.write() as session:
            self._holdable(session, actor, task_id)
            return self.tasks.unclaim(session, task_id, actor)

    def delegate(self, actor, task_id, to_username, comment=""):
        with self.db.write() as session:
            self._holdable(session, actor, task_id)
            return self.tasks.delegate(session, task_id, actor, to_username, comment)

    def _holdable(self, session, actor, task_id):
        """Staff hold and hand on their lanes' tasks; a customer's task stays with the signer bound to the contract
        (handed to anyone else, nobody could complete it)."""
        task = self.access.task_to_act_on(session, actor, task_id)
        if task.role == CUSTOMER_LANE:
            raise Conflict("a customer's task is not held or handed on: to change the signer, change the contact")
        return task
