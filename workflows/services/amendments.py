"""Amendments (变更 / 补充协议): one side of an active contract proposes a change, the other side answers.

- ``propose`` (the provider's sales or an administrator, or the customer's bound signer or integration): a structured
  change of the terms in force — a closed set of fields (``AMENDABLE``: the service items and their fees, the total,
  the payment plan, the term's end, and clause texts by their number) checked field by field as a draft is (money as
  Decimal, half-up to the fen), and a reason. One amendment waits for an answer at a time (a second, or two at once:
  409). Its process ``contract_amendment`` (``bpmn/contract_amendment.bpmn``, edited in the modeler like the
  contract's) opens the other side's task, due at the end of the contract's limit of working days
  (``amendment_working_days`` of its template; the official holiday calendar with the administrator's overrides).
- ``answer`` (the other side): agree, or refuse with a reason. Nobody answering by the deadline: the diagram's timer
  deems it agreed where the contract says silence agrees (``silence_agrees``), else it lapses.
- Agreed (or deemed agreed), the change is a 补充协议 to sign (``amendment_to_sign``; rendered, certified and signed by
  ``SupplementService``: the customer, then the provider's signatory with the seal; deemed agreement, the proposer
  alone). The contract ending first (notice of termination, the term's end) voids it (``amendment_void``).
- The functions the diagram calls record the answer and let a signed change take effect: the contract's effective
  terms (``effective_terms``: its signed version with every amendment in force applied in order, each change with its
  history) show it, the total and the unpaid instalments follow, both sides are mailed and ``contract.amended`` is
  sent.
"""
import json
from datetime import date

import lxml.html
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from ..actors import is_customer
from ..clock import china_time, utcnow
from ..contracts.catalog import TEMPLATES
from ..contracts.term import ISO_DAY, renewal_notice_at, term_ends_at
from ..db import Statement
from ..documents.formatting import money
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..models import Contract, ContractAmendment, HumanTask, ProcessInstance, SignedDocument
from ..visible_text import hidden_characters_error
from .webhooks import contract_facts

PROCESS_KEY = "contract_amendment"
TERM_SIGNAL = "contract_term_amended"
ENDED_SIGNAL = "contract_ended"  # the contract's end voids an amendment not yet in effect (its diagram catches it)
CONTRACT_ENDS = ("termination_given", "term_ended")  # the contract process's events that end what may be amended
OPEN_STATUSES = ("proposed", "signing")
AMENDABLE = ("items", "total", "payment_plan", "term_end", "clauses")
FIELD_TITLES = {"items": "服务内容及费用", "total": "合同总金额", "payment_plan": "付款计划", "term_end": "服务期截止日",
                "clauses": "条款"}
REASON_LENGTH = 2000
CLAUSE_LENGTH = 2000
MAX_CLAUSES = 20
ANSWERS = {"agree": "agreed", "refuse": "refused"}
AMENDMENT = ContractAmendment.__table__.c
# every change of an amendment row compares and sets its version: of two writers, one wins
SAVE_AMENDMENT = Statement(
    "UPDATE contract_amendment SET status = :status, open_key = :open_key, answer = :answer, "
    "answered_by = :answered_by, answered_by_name = :answered_by_name, answered_at = :answered_at, "
    "answer_comment = :answer_comment, effective_at = :effective_at, before_json = :before_json, "
    "version = version + 1 WHERE id = :id AND version = :version",
    answered_at=AMENDMENT.answered_at, effective_at=AMENDMENT.effective_at)


class AmendmentService:
    def __init__(self, db, access, contracts, runtime, documents, tasks, history, notifications, webhooks, payments,
                 working_days, people):
        self.db = db
        self.runtime = runtime
        self.access = access
        self.contracts = contracts
        self.documents = documents
        self.tasks = tasks
        self.history = history
        self.notifications = notifications
        self.webhooks = webhooks
        self.payments = payments
        self.working_days = working_days
        self.people = people

    # --- proposing ------------------------------------------------------------------------------------------------------
    def propose(self, actor, contract_id, body):
        """A change of an active contract's terms (``body``: a dict with ``changes`` and ``reason``); returns the
        amendment as ``as_dict`` shows it (status 201)."""
        party = self._party(actor)
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            self._require_amendable(session, contract)
            problems, reason, changes = {}, "", {}
            try:
                reason = _text(body.get("reason"), "reason", REASON_LENGTH, required=True)
            except ValidationFailed as exc:
                problems.update(exc.fields)
            try:
                changes = self.check_changes(session, contract, body.get("changes"))
            except ValidationFailed as exc:
                problems.update(exc.fields)
            if problems:  # every field's problem at once; nothing is written
                raise ValidationFailed("the change is not valid", problems)
            if self._open(session, contract.id) is not None:
                raise Conflict("本合同已有一项变更在等待答复，答复后才能再提出 / a change of this contract is waiting "
                               "for its answer")
            template = TEMPLATES[contract.template]
            days = template["amendment_working_days"]
            now = utcnow()
            due = self.working_days.calendar(session).answer_due_at(china_time(now).date(), days)
            number = (session.exec(select(func.max(ContractAmendment.number))
                                   .where(ContractAmendment.contract_id == contract.id)).one() or 0) + 1
            row = ContractAmendment(contract_id=contract.id, number=number, open_key=contract.id, party=party,
                                    proposed_by=actor.username, proposed_by_name=_name(actor), proposed_at=now,
                                    changes_json=json.dumps(changes, ensure_ascii=False, sort_keys=True),
                                    reason=reason, working_days=days, answer_due_at=due)
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:  # one written at the same moment holds the open key or the number
                raise Conflict("本合同的另一项变更已同时提出，请刷新 / another change of this contract was proposed at "
                               "the same moment") from exc
            self.runtime.start(
                session, PROCESS_KEY, f"{contract.id}:amendment:{number}", contract.id,
                {"amendment_id": row.id, "contract_id": contract.id, "proposed_by_party": party,
                 "answer_due_at": due.isoformat(), "silence_agrees": template["silence_agrees"]}, actor.username)
            self.history.record(session, "amendment_proposed", actor.username, contract_id=contract.id, comment=reason,
                                details={"amendment": number, "party": party, "changes": changes,
                                         "answer_due_at": due.isoformat(), "working_days": days})
            other = "乙方" if party == "customer" else "甲方"
            silence = "逾期未答复的，视为同意" if template["silence_agrees"] else "逾期未答复的，本次变更失效"
            self.notifications.tell_both_sides(
                session, contract.id, self._contact(session, contract), "amendment_proposed",
                f"[签约] 合同变更待答复：{contract.number} 补充协议{number}",
                f"{'甲方（客户）' if party == 'customer' else '乙方'}{_name(actor)}就合同《{contract.title}》"
                f"（{contract.number}）提出变更（补充协议{number}）：\n{describe_changes(changes)}\n变更理由：{reason}\n\n"
                f"请{other}在 {days} 个工作日内、即 {_moment(due)} 前答复；{silence}。\n\n")
            return self.as_dict(session, row)

    def check_changes(self, session, contract, changes):
        """The change, normalized, if every field is amendable and the terms it makes are a valid contract; a field
        error (``changes.<field>...``) for each problem otherwise, nothing changed."""
        if not isinstance(changes, dict) or not changes:
            raise ValidationFailed("name at least one term to change", {"changes": "请至少变更一项条款"})
        errors = {f"changes.{key}": "不可变更的字段（可变更：服务内容及费用、合同总金额、付款计划、服务期截止日、条款）"
                  for key in changes if key not in AMENDABLE}
        terms = self.effective_terms(session, contract)
        draft = terms["draft"]
        proposed = json.loads(json.dumps(draft))
        for key in ("items", "total", "payment_plan"):
            if key in changes:
                proposed[key] = changes[key]
        if "term_end" in changes:
            value = changes["term_end"]
            if not isinstance(value, str) or not ISO_DAY.match(value):
                errors["changes.term_end"] = "请填写日期（YYYY-MM-DD）"
            else:
                proposed["term"] = {**proposed["term"], "end": value}
        clauses = self._clauses(session, contract, changes.get("clauses"), terms["clauses"], errors) \
            if "clauses" in changes else {}
        try:
            _provider, data = self.contracts.draft(session, proposed, contract=contract)
        except ValidationFailed as exc:
            data = None
            for path, message in exc.fields.items():  # named as the change names it: items.0.amount, term_end
                head = path.split(".", 1)[0]
                key = "term_end" if head == "term" else head
                errors.setdefault(f"changes.{path}" if key in changes and key != "term_end" else f"changes.{key}",
                                  message)
        if data is not None and "term_end" in changes and "changes.term_end" not in errors:
            end = date.fromisoformat(data["term"]["end"])
            if end < china_time(utcnow()).date():
                errors["changes.term_end"] = "新的截止日不能早于今天"
            elif contract.effective_to and end.isoformat() == contract.effective_to.isoformat():
                errors["changes.term_end"] = "与现行截止日相同"
        if data is not None:
            for key in ("items", "total", "payment_plan"):
                if key in changes and f"changes.{key}" not in errors and data[key] == terms["data"][key]:
                    errors[f"changes.{key}"] = "与现行条款相同"
        if errors:
            raise ValidationFailed("the change is not valid", errors)
        normalized = {key: data[key] for key in ("items", "total", "payment_plan") if key in changes}
        if "term_end" in changes:
            normalized["term_end"] = data["term"]["end"]
        if clauses:
            normalized["clauses"] = clauses
        return normalized

    def _clauses(self, session, contract, given, in_force, errors):
        """Clause replacements {number: new text}, each naming a clause the contract's document numbers."""
        if not isinstance(given, dict) or not given or len(given) > MAX_CLAUSES:
            errors["changes.clauses"] = f"应为 {{条款编号: 新的条款内容}}，1 到 {MAX_CLAUSES} 条"
            return {}
        numbered = clause_numbers(self.documents.html(session, contract, with_values=False))
        clauses = {}
        for number, text in given.items():
            path = f"changes.clauses.{number}"
            if number not in numbered:
                errors[path] = "合同中没有这个条款编号（如 4.2）"
                continue
            try:
                text = _text(text, path, CLAUSE_LENGTH, required=True)
            except ValidationFailed as exc:
                errors.update(exc.fields)
                continue
            if text == (in_force.get(number) or {}).get("text", numbered[number]):
                errors[path] = "与现行条款相同"
                continue
            clauses[number] = text
        return clauses

    # --- answering ------------------------------------------------------------------------------------------------------
    def answer(self, actor, contract_id, number, decision, comment="", version=None):
        """The other side agrees or refuses (a reason required); returns the amendment. ``version``, when sent, is the
        amendment's as the answerer read it: another answer meanwhile is a 409."""
        party = self._party(actor)
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            row = self._get(session, contract.id, number)
            if decision not in ANSWERS:
                raise ValidationFailed("answer agree or refuse", {"decision": "请选择同意或拒绝"})
            if row.status != "proposed":
                raise Conflict(f"补充协议{row.number}已{STATUS_TITLES.get(row.status, row.status)}，不能再答复 / the "
                               "amendment was already answered")
            self._require_amendable(session, contract)  # ended or being terminated meanwhile: nothing to amend
            if version is not None and version != row.version:
                raise Conflict("补充协议已被他人同时答复或变更，请刷新 / the amendment changed since you read it")
            if party == row.party:
                raise Forbidden("提出变更的一方不能答复自己的变更 / the other side answers a change")
            task = self._answer_task(session, contract.id, row.number)
            if task is None:
                raise Conflict("the amendment is not waiting for an answer")
            self.tasks.complete(session, task.id, actor, decision, comment)
            session.expire_all()
            return self.as_dict(session, self._get(session, contract.id, number))

    # --- functions the diagram calls ---------------------------------------------------------------------------------
    def amendment_answered(self, step, amendment_id, decision, comment):
        """记录答复: the answer the other side gave on its task."""
        row = step.session.get(ContractAmendment, amendment_id)
        answer = ANSWERS.get(decision, decision)
        name = self.people.names(step.session, [step.actor]).get(step.actor, step.actor)[:200]
        self._save(step.session, row, status="proposed" if answer == "agreed" else "refused",
                   open_key=row.contract_id if answer == "agreed" else None, answer=answer, answered_by=step.actor,
                   answered_by_name=name, answered_at=utcnow(), answer_comment=(comment or "")[:500])
        step.events.append({"event": f"amendment_{answer}", "actor": step.actor, "comment": comment or "",
                            "details": {"amendment": row.number}})
        if answer == "refused":
            self._tell(step.session, row, "amendment_refused", f"[签约] 合同变更被拒绝：补充协议{row.number}",
                       f"{name}拒绝了补充协议{row.number}的变更。\n理由：{comment}\n\n")

    def amendment_deemed_agreed(self, step, amendment_id):
        """视为同意: no answer within the limit, and the contract says silence agrees."""
        row = step.session.get(ContractAmendment, amendment_id)
        self._save(step.session, row, answer="deemed_agreed", answered_by="system", answered_by_name="",
                   answered_at=utcnow())
        step.events.append({"event": "amendment_deemed_agreed", "actor": "system",
                            "details": {"amendment": row.number, "answer_due_at": row.answer_due_at.isoformat()}})

    def amendment_lapsed(self, step, amendment_id):
        """变更失效: no answer within the limit, and the contract does not deem silence agreement."""
        row = step.session.get(ContractAmendment, amendment_id)
        self._save(step.session, row, status="lapsed", open_key=None, answer="", answered_at=utcnow())
        step.events.append({"event": "amendment_lapsed", "actor": "system", "details": {"amendment": row.number}})
        self._tell(step.session, row, "amendment_lapsed", f"[签约] 合同变更已失效：补充协议{row.number}",
                   f"补充协议{row.number}在答复期限 {_moment(row.answer_due_at)} 前未获答复，依合同约定不视为同意，本次变更失效。\n\n")

    def amendment_takes_effect(self, step, amendment_id):
        """补充协议生效: the effective terms show the change; the total, the unpaid instalments and the term's end
        follow; both sides are told and ``contract.amended`` is sent."""
        session = step.session
        row = session.get(ContractAmendment, amendment_id)
        contract = session.get(Contract, row.contract_id)
        changes = json.loads(row.changes_json)
        before_terms = self.effective_terms(session, contract)
        before = values_in_force(before_terms, changes)
        now = utcnow()
        self._save(session, row, status="effective", open_key=None, effective_at=now,
                   before_json=json.dumps(before, ensure_ascii=False, sort_keys=True))
        terms = self.effective_terms(session, contract)
        data = terms["data"]
        contract.total = data["figures"]["total"]
        contract.updated_at = now
        session.add(contract)
        if "term_end" in changes and contract.effective_to is not None:
            self._move_term(session, contract, date.fromisoformat(changes["term_end"]), data, step.actor, now)
        if {"payment_plan", "total", "items"} & set(changes):
            self.payments.reschedule(session, contract.id, data)
        details = {"amendment": row.number, "changes": changes, "before": before,
                   "answer": row.answer, "party": row.party}
        event_id = self.webhooks.enqueue(session, "contract.amended", contract.id, {
            "event": "contract.amended", "contract": contract_facts(contract, data), **details, "at": now.isoformat()})
        step.events.append({"event": "amendment_effective", "actor": "system",
                            "details": {**details, "webhook_event": event_id}})
        how = "视为同意（逾期未答复）" if row.answer == "deemed_agreed" else f"经{row.answered_by_name or '对方'}同意"
        self._tell(session, row, "amendment_effective", f"[签约] 补充协议{row.number}已生效：{contract.number}",
                   f"合同《{contract.title}》（{contract.number}）的补充协议{row.number}{how}并经签署，已于 {_moment(now)} "
                   f"生效：\n{describe_changes(changes, before)}\n\n")

    def amendment_to_sign(self, step, amendment_id):
        """生成补充协议: the agreed change waits for its signatures (its document is rendered by a job)."""
        row = step.session.get(ContractAmendment, amendment_id)
        self._save(step.session, row, status="signing")
        step.events.append({"event": "amendment_to_sign", "actor": "system",
                            "details": {"amendment": row.number, "amendment_id": row.id, "answer": row.answer}})

    def amendment_void(self, step, amendment_id):
        """补充协议作废: the contract was terminated or its term ended before the change took effect."""
        row = step.session.get(ContractAmendment, amendment_id)
        self._save(step.session, row, status="void", open_key=None)
        step.events.append({"event": "amendment_void", "actor": "system", "details": {"amendment": row.number}})
        self._tell(step.session, row, "amendment_void", f"[签约] 补充协议已作废：补充协议{row.number}",
                   f"合同已终止或期满，尚未生效的补充协议{row.number}作废，原合同条款不变。\n\n")

    def void_when_contract_ends(self, session, step):
        """Step listener: the contract's process gave notice of termination or ended its term: the amendment not yet in
        effect gets the signal ``contract_ended`` (its diagram voids it)."""
        if not step.of_contract or not any(event.get("event") in CONTRACT_ENDS for event in step.events):
            return
        row = self._open(session, step.contract_id)
        instance = session.exec(select(ProcessInstance).where(
            ProcessInstance.business_key == f"{step.contract_id}:amendment:{row.number}",
            ProcessInstance.status == "running")).first() if row is not None else None
        if instance is None:
            return
        amendment = self.runtime.load(session, instance.id, step.actor)
        if self.runtime.waits_for(amendment, ENDED_SIGNAL):
            self.runtime.signal(session, amendment, ENDED_SIGNAL, {"contract_id": step.contract_id}, utcnow())

    def _move_term(self, session, contract, end, data, actor, now):
        """The term's new end: the contract's process starts its term's timers again from it (the signal
        ``contract_term_amended`` its diagram catches on 合同履行期)."""
        contract.effective_to = end
        session.add(contract)
        session.flush()
        main = self.runtime.load(session, self.contracts.instance(session, contract.id).id, actor)
        notice_days = int(data["term"].get("notice_days") or 0)
        self.runtime.signal(session, main, TERM_SIGNAL, {"renewal_notice_at": renewal_notice_at(end, notice_days)
                                                         .isoformat(), "term_ends_at": term_ends_at(end).isoformat()},
                            now)

    # --- reading ------------------------------------------------------------------------------------------------------
    def effective_terms(self, session, contract):
        """The terms in force: the contract's current version with every amendment in force applied in order.
        ``draft`` (to propose against), ``data`` (normalized, with its figures), ``clauses`` ({number: {text,
        amendment}}) and ``history`` (each change: which amendment, when, who proposed and who agreed)."""
        draft = self.contracts.current_draft(session, contract)
        clauses, history = {}, []
        for row in self._in_force(session, contract.id):
            changes, before = json.loads(row.changes_json), json.loads(row.before_json or "{}")
            for key, value in changes.items():
                if key == "clauses":
                    for number, text in value.items():
                        clauses[number] = {"text": text, "amendment": row.number}
                elif key == "term_end":
                    draft["term"] = {**draft["term"], "end": value}
                else:
                    draft[key] = value
                history.append({"field": key, "title": FIELD_TITLES[key], "before": before.get(key),
                                "after": value, "amendment": row.number, "proposed_by": row.proposed_by_name,
                                "answer": row.answer, "answered_by": row.answered_by_name,
                                "effective_at": row.effective_at.isoformat() if row.effective_at else None})
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        if history:
            _provider, amended = self.contracts.draft(session, draft, contract=contract)
            data = {**amended, "provider": data["provider"]}  # the branch as signed, not as its profile reads now
        return {"draft": draft, "data": data, "clauses": clauses, "history": history}

    def list(self, session, actor, contract_id):
        contract = self.access.contract(session, actor, contract_id)
        rows = session.exec(select(ContractAmendment).where(ContractAmendment.contract_id == contract.id)
                            .order_by(ContractAmendment.number)).all()
        return [self.as_dict(session, row) for row in rows]

    def get(self, session, actor, contract_id, number):
        contract = self.access.contract(session, actor, contract_id)
        return self.as_dict(session, self._get(session, contract.id, number))

    def as_dict(self, session, row):
        """The amendment as the API and the pages show it; ``before``: the values it changed as they were when it took
        effect, or, while it waits for its answer or its signatures, as they are in force now."""
        task = self.open_task(session, row) if row.status in OPEN_STATUSES else None
        changes = json.loads(row.changes_json)
        before = json.loads(row.before_json) if row.before_json else values_in_force(
            self.effective_terms(session, session.get(Contract, row.contract_id)), changes) \
            if row.status in OPEN_STATUSES else None
        return {"number": row.number, "status": row.status, "status_title": STATUS_TITLES.get(row.status, row.status),
                "party": row.party, "proposed_by": row.proposed_by_name or row.proposed_by,
                "proposed_at": row.proposed_at.isoformat(), "reason": row.reason,
                "changes": changes, "before": before,
                "working_days": row.working_days, "answer_due_at": row.answer_due_at.isoformat(),
                "answer": row.answer or None, "answered_by": row.answered_by_name or row.answered_by or None,
                "answered_at": row.answered_at.isoformat() if row.answered_at else None,
                "answer_comment": row.answer_comment, "effective_at": row.effective_at.isoformat() if row.effective_at
                else None, "version": row.version,
                "answering_party": _other(row.party) if task and row.status == "proposed" else None,
                "signing_party": SIGNING_PARTY.get(task.role) if task and row.status == "signing" else None,
                "signed_at": row.signed_at.isoformat() if row.signed_at else None,
                "document": _document_state(session, row), "task_id": task.id if task else None}

    def open_for(self, session, actor, contract_id):
        """The amendment waiting for an answer (as ``as_dict``), or None."""
        contract = self.access.contract(session, actor, contract_id)
        row = self._open(session, contract.id)
        return self.as_dict(session, row) if row is not None else None

    def may_propose(self, session, actor, contract):
        """Whether ``actor`` may propose a change of ``contract`` now (the pages show the form only then)."""
        try:
            self._party(actor)
            self._require_amendable(session, contract)
        except (Forbidden, Conflict):
            return False
        return self._open(session, contract.id) is None

    # --- internals ------------------------------------------------------------------------------------------------------
    @staticmethod
    def _party(actor):
        if is_customer(actor):
            return "customer"
        if not actor.role_set & {"sales", "admin"}:
            raise Forbidden("this needs one of the roles: sales, admin, or the customer")
        return "provider"

    @staticmethod
    def _require_amendable(session, contract):
        if contract.status != "active" or contract.terminates_on is not None:
            raise Conflict("只有生效中且未终止的合同可以变更 / only an active contract that is not being terminated can "
                           "be amended")

    def _open(self, session, contract_id):
        return session.exec(select(ContractAmendment).where(ContractAmendment.open_key == contract_id)).first()

    def row(self, session, contract_id, number):
        """The amendment ``number`` of a contract (NotFound): for the services that sign it."""
        return self._get(session, contract_id, number)

    def open_task(self, session, row):
        """The amendment's open task (an answer, or a signature), or None."""
        return self._answer_task(session, row.contract_id, row.number)

    def _get(self, session, contract_id, number):
        row = session.exec(select(ContractAmendment).where(ContractAmendment.contract_id == contract_id,
                                                           ContractAmendment.number == number)).first() \
            if isinstance(number, int) else None
        if row is None:
            raise NotFound(f"contract {contract_id} has no amendment {number}")
        return row

    def _in_force(self, session, contract_id):
        return session.exec(select(ContractAmendment).where(ContractAmendment.contract_id == contract_id,
                                                            ContractAmendment.status == "effective")
                            .order_by(ContractAmendment.number)).all()

    @staticmethod
    def _answer_task(session, contract_id, number):
        return session.exec(select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
            ProcessInstance.business_key == f"{contract_id}:amendment:{number}",
            HumanTask.state.in_(("open", "suspended")))).first()

    def _save(self, session, row, **values):
        current = {column: getattr(row, column) for column in (
            "status", "open_key", "answer", "answered_by", "answered_by_name", "answered_at", "answer_comment",
            "effective_at", "before_json")}
        current.update(values)
        if SAVE_AMENDMENT.execute(session, {**current, "id": row.id, "version": row.version}) != 1:
            raise Conflict("补充协议已被他人同时答复或变更，请刷新 / the amendment was changed at the same moment")
        session.expire(row)

    def _contact(self, session, contract):
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        return (data["customer"].get("contact") or {}).get("email", "")

    def _tell(self, session, row, kind, subject, text):
        contract = session.get(Contract, row.contract_id)
        self.notifications.tell_both_sides(session, contract.id, self._contact(session, contract), kind,
                                           f"{subject}", f"合同《{contract.title}》（{contract.number}）：{text}")


STATUS_TITLES = {"proposed": "待答复", "signing": "待签署", "refused": "已拒绝", "lapsed": "已失效", "effective": "已生效",
                 "void": "已作废"}
SIGNING_PARTY = {"customer": "customer", "provider": "provider"}  # the signing task's lane → whose signature


def clause_numbers(html):
    """{number: text} of every numbered clause of a rendered contract (4.2, 4.2.1, 第六条 …), as people read it."""
    root = lxml.html.document_fromstring(html)
    found = {}
    for mark in root.xpath('//*[contains(concat(" ", normalize-space(@class), " "), " no ")]'):
        number = " ".join(mark.text_content().split())
        paragraph = mark.getparent()
        text = " ".join(paragraph.text_content().split()) if paragraph is not None else ""
        if number and number not in found:
            found[number] = text[len(number):].strip() if text.startswith(number) else text
    return found


def describe_changes(changes, before=None):
    """The change as a mail or a page lists it, one line a field (从 … 改为 … when the former value is known)."""
    lines = []
    for key, value in changes.items():
        if key == "clauses":
            lines += [f"· 第 {number} 条改为：{text}" for number, text in value.items()]
            continue
        shown = _shown(key, value)
        former = f"由 {_shown(key, before[key])} " if before and key in before else ""
        lines.append(f"· {FIELD_TITLES[key]}：{former}改为 {shown}")
    return "\n".join(lines)


def _shown(key, value):
    if key == "total":
        return f"¥{money(value)}"
    if key == "items":
        return "；".join(f"{item['name']} ¥{money(item['amount'])}" for item in value)
    if key == "payment_plan":
        if "installments" in value:
            return "；".join(f"{i['due_date']} 付 ¥{money(i['amount'])}" for i in value["installments"])
        return f"自 {value['first_due']} 起每 {value['every_months']} 个月付 ¥{money(value['amount'])}"
    return str(value)


def values_in_force(terms, changes):
    """The values in force of the fields ``changes`` changes (clause texts as they read before it)."""
    data, values = terms["data"], {}
    for key, value in changes.items():
        if key == "term_end":
            values[key] = data["term"]["end"]
        elif key == "clauses":
            values[key] = {number: (terms["clauses"].get(number) or {}).get("text") for number in value}
        else:
            values[key] = data[key]
    return values


def _document_state(session, row):
    """The 补充协议's PDF as it stands: preparing (being rendered), its SHA-256 (to sign, or signed so far), or None
    before it is agreed."""
    if row.document_id is None:
        return {"status": "preparing", "sha256": None} if row.status == "signing" else None
    sha256 = session.exec(select(SignedDocument.sha256).where(SignedDocument.id == row.document_id)).one()
    return {"status": "ready" if row.status == "signing" else "signed", "sha256": sha256}


def _other(party):
    return "provider" if party == "customer" else "customer"


def _name(actor):
    return (actor.display_name or actor.username or "")[:200]


def _moment(moment):
    return f"{china_time(moment):%Y-%m-%d %H:%M}（北京时间）"


def _text(value, field, limit, required=False):
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", {field: "应为文字"})
    if required and not text:
        raise ValidationFailed(f"{field} is required", {field: "必填"})
    if len(text) > limit:
        raise ValidationFailed(f"{field} is too long", {field: f"最多 {limit} 字"})
    if problem := hidden_characters_error(text, multiline=True):
        raise ValidationFailed(f"{field} holds invisible characters", {field: problem})
    return text
