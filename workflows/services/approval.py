"""Deciding on a contract's tasks: submit, approve, return, decline; claim, release, delegate.

Every decision, whichever door it comes through (the submit endpoint, the task API, the task page, the customer's
decline), goes through :meth:`ApprovalService.decide`: the process receives the contract's current figures with it (so
routing never runs on stale or missing ones), and before the customer's step the SHA-256 of the document decided on is
kept with the decision. An approval stores that hash on the contract: what is later certified and signed must render
to the same hash (``SigningService``). A ``sign`` on a task whose diagram declares a signature is a signing act.

What else a reviewer may do on a step follows from its declared decisions: a step that takes ``approve`` may have a
reviewer added to it (加签, ``additions``), one that takes ``return`` may send the contract back to any earlier step it
passed (回退: the engine is reset to that step); sales withdraw a submitted contract (撤回) while nobody has taken its
first review up. Many tasks of one step are decided at once (bulk), each in its own transaction.
"""
from uuid import UUID

from sqlmodel import select

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState

from ..errors import Conflict, DomainError, ValidationFailed
from ..models import User
from .access import CUSTOMER_LANE
from .signing import Origin, SignatureInput
from .tasks import SELECT_TASK_AND_INSTANCE

MAX_BULK = 50  # tasks (or contracts) one bulk request acts on

REVIEWED_STATUSES = ("draft", "legal_review", "finance_review")  # the document is read and decided on, not signed yet
IN_REVIEW = REVIEWED_STATUSES[1:]  # submitted by sales, not approved yet: what sales may withdraw


class ApprovalService:
    def __init__(self, db, access, contracts, letters, documents, tasks, signing, additions, runtime, notifications):
        self.db = db
        self.additions = additions
        self.runtime = runtime
        self.notifications = notifications
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
        details = self._review(session, contract, decision)
        data = self.contracts.process_variables(session, contract)
        # read with the instance's version: the guards (an added reviewer pending) see what that version saw
        task = self.tasks.check(session, task.id, actor, decision, SELECT_TASK_AND_INSTANCE)
        addition = self.additions.of(session, task.id, task.version)
        if addition is not None:
            return self.additions.decide(session, actor, task, addition, decision, comment, data, details)
        return self.tasks.advance(session, task, actor.username, decision, comment, data=data, details=details)

    def _review(self, session, contract, decision):
        """The SHA-256 of the document a review decision is taken on (kept with it), and what it does to the approved
        one: an approval must be of the text approved before; a submit or a return starts a new round."""
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
        return details

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

    # --- what else a reviewer does on a step ----------------------------------------------------------------------
    def add_reviewer(self, actor, task_id, reviewer, position, reason):
        """加签: ``reviewer`` decides on the step before the actor does (``before``), or after the actor's approval
        and before the process moves on (``after``: adding is the actor's approval). Returns the added task."""
        with self.db.write() as session:
            task = self._step_to_act_on(session, actor, task_id, "approve")
            reason = self.tasks.required_text(reason)
            added = session.exec(select(User).where(User.username == str(reviewer), User.active)).first()
            if added is None:
                raise ValidationFailed("choose another reviewer", {"reviewer": f"no active user {reviewer!r}"})
            contract = self.contracts.get(session, task.contract_id)
            details = self._review(session, contract, "approve") if position == "after" else {}
            if not task.assignee:  # the step waits for its reviewer, who takes it up
                self.tasks.claim(session, task.id, actor)
            row = self.additions.add(session, task, actor, added, position, reason, details)
            away = f"（{_name(session, added.username)} 外出，由您代为审核）" if row.delegated_by else ""
            self._tell(session, self._person(session, row.candidate), contract, row,
                       f"{_name(session, actor.username)} 请您对合同加签审核：{task.title}{away}。\n理由：{reason}",
                       "reviewer_added")
            return row

    def transfer(self, actor, task_id, to_username, reason):
        """转办: the task goes to a named holder of its role, who decides in their own name; they hear of it by mail."""
        with self.db.write() as session:
            self._holdable(session, actor, task_id)
            if self.additions.of(session, task_id) is not None:
                raise Conflict("an added reviewer's task is theirs to decide: it is not handed over")
            task, to = self.tasks.transfer(session, task_id, actor, str(to_username), reason)
            contract = self.contracts.get(session, task.contract_id)
            away = f"（{_name(session, task.delegated_by)} 外出，由您代为办理）" if task.delegated_by else ""
            self._tell(session, to, contract, task, f"{_name(session, actor.username)} 将待办「{task.title}」转交给您办理"
                                                   f"{away}。\n理由：{reason.strip()}", "task_transferred")
            return task

    def earlier_steps(self, session, task):
        """The steps an open task may send its contract back to (回退): [(name, title)], oldest first."""
        current = self.runtime.snapshot(session, task.instance_id).get_task_from_id(UUID(task.id))
        return [(name, _title(earlier) or name) for name, earlier in _earlier_steps(current).items()]

    def send_back(self, actor, task_id, to_step, comment):
        """回退: the process goes back to an earlier step this contract passed (by its name, e.g. ``legal_review``),
        with the reviewer's comment: the engine is reset to that step, whose reviewer decides again; the contract's
        status follows, and the approval so far is void (a new round of review). Returns the reopened task."""
        with self.db.write() as session:
            task = self._step_to_act_on(session, actor, task_id, "return")
            comment = self.tasks.required_text(comment, "comment")
            step = self.runtime.restore(session, task.instance_id, task, actor.username)
            current = step.workflow.get_task_from_id(UUID(task.id))
            if current is None or current.state != TaskState.READY:
                raise Conflict("the task is no longer waiting for a decision")
            earlier = _earlier_steps(current)
            if not isinstance(to_step, str) or to_step not in earlier:
                raise ValidationFailed("choose a step the contract passed", {"to": f"one of: {', '.join(earlier)}"})
            target = earlier[to_step]
            decided_by = ", ".join(sorted({row.completed_by for row in self._rows_of(session, task.contract_id, target)
                                           if row.completed_by}))
            contract = self.contracts.get(session, task.contract_id)
            contract.approved_sha256 = ""
            session.add(contract)
            step.events.append({"event": "task_sent_back", "actor": actor.username, "task_id": task.id,
                                "task_name": task.name, "comment": comment, "on_behalf_of": task.delegated_by,
                                "details": {"title": task.title, "to": to_step, "to_title": _title(target),
                                            "to_user": decided_by}})
            self.runtime.reset(session, step, target.id)
            return self._rows_of(session, task.contract_id, target, state="open")[0]

    def _rows_of(self, session, contract_id, target, state=None):
        """The inbox rows of an engine task: its own, or a multi-instance step's, one per approver."""
        if not isinstance(target.task_spec, MultiInstanceTask):
            return [self.tasks.get(session, str(target.id))]
        rows = self.tasks.query(session, contract_id=contract_id, state=state, limit=500)
        return [row for row in rows if row.step_id == str(target.id)]

    def withdraw(self, actor, contract_id, comment=""):
        """撤回: sales take a submitted contract back to its draft while no reviewer has taken it up (nobody holds,
        added a reviewer to, or decided its open review). Returns the draft's reopened task."""
        self.access.require_role(actor, "sales")
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            comment = self.tasks.required_text(comment, "comment") if (comment or "").strip() else ""
            open_tasks = self.tasks.query(session, contract_id=contract.id)
            if contract.status not in IN_REVIEW or not open_tasks:
                raise Conflict(f"only a contract in review can be withdrawn (it is {contract.status})")
            held = [t for t in open_tasks if t.assignee and t.assignee != t.candidate]  # a named approver is not a claim
            if held:
                raise Conflict(f"{_name(session, held[0].assignee)} took the review up: ask them to send it back")
            steps = {t.step_id for t in open_tasks if t.step_id}
            if steps and any(t.step_id in steps for t in self.tasks.query(session, contract_id=contract.id,
                                                                           state="completed", limit=500)):
                raise Conflict("an approver of this step already decided: ask them to send it back")
            step = self.runtime.load(session, open_tasks[0].instance_id, actor.username)
            drafts = {t.id: _last_decided(step.workflow.get_task_from_id(UUID(t.id))) for t in open_tasks}
            draft = next(iter(drafts.values())) if len({d and d.id for d in drafts.values()}) == 1 else None
            if draft is None or draft.task_spec.lane != "sales":
                raise Conflict("a reviewer already decided on it since it was submitted: ask them to send it back")
            self.tasks.cancel_unclaimed(session, open_tasks)
            contract.approved_sha256 = ""
            session.add(contract)
            step.events.append({"event": "contract_withdrawn", "actor": actor.username, "task_id": str(draft.id),
                                "task_name": draft.task_spec.bpmn_id, "comment": comment,
                                "details": {"title": draft.task_spec.bpmn_name, "from": [t.title for t in open_tasks]}})
            self.runtime.reset(session, step, draft.id)
            return self.tasks.get(session, str(draft.id))

    def decide_many(self, actor, task_ids, decision, comment=""):
        """Bulk: one decision on several open tasks of one step, each in its own transaction through :meth:`decide`
        (its own history entry); a refusal of one does not stop the others. Returns one result per task, in order."""
        task_ids = _task_ids(task_ids)
        if decision == "sign":
            raise ValidationFailed("signatures are given one at a time", {"decision": "not sign"})
        with self.db.read() as session:
            steps = set()
            for task_id in task_ids:
                try:
                    steps.add(self.access.task(session, actor, task_id).name)
                except DomainError:
                    pass  # reported with its own result below
        if len(steps) > 1:
            raise ValidationFailed("choose tasks of one step", {"task_ids": f"tasks of one step, not {len(steps)}"})
        results = []
        for task_id in task_ids:
            try:
                task = self.decide(actor, task_id, decision, comment)
                results.append({"id": task_id, "ok": True, "contract_id": task.contract_id})
            except DomainError as exc:
                results.append({"id": task_id, "ok": False, "error": exc.code, "message": exc.message,
                                "fields": exc.fields})
        return results

    def _step_to_act_on(self, session, actor, task_id, decision):
        """A step of the diagram (not an added reviewer's task) that ``actor`` may decide now and that takes
        ``decision``: the row with its instance's, as ``SELECT_TASK_AND_INSTANCE`` reads it."""
        self.access.task_to_act_on(session, actor, task_id)
        if self.additions.of(session, task_id) is not None:
            raise Conflict("an added reviewer approves or returns; the step's own reviewer does the rest")
        task = self.tasks.check(session, task_id, actor, decision, SELECT_TASK_AND_INSTANCE)
        if decision not in self.tasks.form(session, task)["decisions"]:
            raise Conflict(f"this step does not take the decision {decision}")
        return task

    @staticmethod
    def _person(session, username):
        return session.exec(select(User).where(User.username == username)).first()

    def _tell(self, session, user, contract, task, text, kind):
        """Mail a person a task now waits for (a job, with the step's transaction)."""
        self.notifications.enqueue(session, kind, user.email, f"[签约] 待办：{task.title} · {contract.number}",
                                   f"{user.display_name or user.username}，您好：\n\n合同《{contract.title}》"
                                   f"（{contract.number}，客户：{contract.customer_name}）：{text}\n\n"
                                   f"{self.notifications.base_url}/tasks/{task.id}\n", contract.id)


def _title(task):
    """A step's name as people read it; a multi-instance step's is its approvers' task's."""
    spec = task.task_spec
    if isinstance(spec, MultiInstanceTask):
        spec = task.workflow.spec.task_specs[spec.task_spec]
    return spec.bpmn_name


def _earlier_steps(current):
    """{step name: its task} of the staff steps the process passed in this round on its way to ``current``, oldest
    first. The task tree's ancestors are the path taken; a step that decided ``return`` ended the round before (what
    came before it was reviewed on another version, and going back there would skip the steps after the return)."""
    found = {}
    parent = current.parent if current is not None else None
    while parent is not None:
        spec = parent.task_spec
        several = isinstance(spec, MultiInstanceTask)  # a 会签/或签 step: its approvers are its instances
        if _is_step(spec) and parent.state == TaskState.COMPLETED:
            decided = ([child.data for child in parent.children if child.task_spec.name == spec.task_spec] if several
                       else [parent.data])
            if any(data.get("decision") == "return" for data in decided):
                break
            if spec.lane != CUSTOMER_LANE and spec.bpmn_id != current.task_spec.bpmn_id:
                found.setdefault(spec.bpmn_id, parent)
        parent = parent.parent
    return dict(reversed(found.items()))


def _last_decided(task):
    """The latest user task completed on the way to ``task`` (None at the start)."""
    parent = task.parent if task is not None else None
    while parent is not None and not (_is_step(parent.task_spec) and parent.state == TaskState.COMPLETED):
        parent = parent.parent
    return parent


def _is_step(spec):
    """A step people decide on: a user task, or a multi-instance one (会签/或签) whose instances they are."""
    return spec.manual or isinstance(spec, MultiInstanceTask)


def _task_ids(values):
    """1 to ``MAX_BULK`` task ids (UUIDs), each once."""
    problem = f"a list of 1 to {MAX_BULK} task ids, each once"
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_BULK or len(set(map(str, values))) != len(values):
        raise ValidationFailed(f"send {problem}", {"task_ids": problem})
    try:
        return [str(UUID(value)) for value in values]
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationFailed(f"send {problem}", {"task_ids": problem}) from exc


def _name(session, username):
    return session.exec(select(User.display_name).where(User.username == username)).first() or username
