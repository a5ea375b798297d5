"""Termination and expiry: how an active contract's life ends, early or at the end of its term.

- ``terminate`` (sales or an administrator): a reason and an effective date that the contract's notice rules allow
  (no earlier than today + its ``notice_days``, China dates) and that falls within the term (a term that should simply
  not go on is a notice of non-renewal). The termination is written on the contract compare-and-set (one wins; a
  second, or one racing it, is a 409) and sent to the process as the signal ``contract_terminated``: the diagram's
  boundary event on 合同履行期 interrupts the term, so its renewal notice and term-end timers end, and the timer
  终止生效日 waits for the effective date (an admin edits both in the modeler). A date already come takes effect in
  the same step. The instalments falling due on or after the effective date that are not paid are cancelled in the
  same transaction (``PaymentService.cancel_from``, listed in the history); those due before it stay owed.
  A contract activated on a diagram version before 合同履行期 waits for its renewal notice outside any subprocess,
  where no boundary event takes the signal: it is first moved to the newest version in the same transaction
  (``migration.move_to_latest``, which lifts it into the subprocess at the event it waited at; ``process_migrated`` in
  the history), then signalled. One that cannot be moved is a 409 that says why.
- ``terminate_contract()`` (script 合同终止) and ``end_term()`` (script 合同期满), which the diagram calls when the
  termination takes effect or the term ends without renewal: history, mail to both sides, the ``contract.terminated``
  or ``contract.expired`` webhook. The status (``terminated``, ``ended``) is the ``outcome`` the diagram then sets.
"""
from ..clock import china_time, utcnow
from ..contracts.term import earliest_termination, read_day, takes_effect_at
from ..db import Statement
from ..errors import Conflict, ValidationFailed
from ..models import Contract
from ..visible_text import hidden_characters_error
from .migration import move_to_latest
from .webhooks import contract_facts

TERMINATION_SIGNAL = "contract_terminated"
REASON_LENGTH = 500
RECORD_TERMINATION = Statement(
    "UPDATE contract SET terminates_on = :day, termination_reason = :reason, updated_at = :now "
    "WHERE id = :id AND status = 'active' AND terminates_on IS NULL",
    day=Contract.__table__.c.terminates_on, now=Contract.__table__.c.updated_at)


class TerminationService:
    def __init__(self, db, access, contracts, runtime, notifications, webhooks, payments, repository, history):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.runtime = runtime
        self.notifications = notifications
        self.webhooks = webhooks
        self.payments = payments  # a termination cancels the instalments falling due after it
        self.repository, self.history = repository, history  # to move an instance from a version without the term

    def earliest(self, session, contract, today=None):
        """The first day a termination given today may take effect (None: the contract cannot be terminated)."""
        if contract.status != "active" or contract.terminates_on is not None or contract.effective_to is None:
            return None
        term = self.contracts.version_data(session, contract.id, contract.current_version)["term"]
        first = earliest_termination(today or china_time(utcnow()).date(), int(term.get("notice_days") or 0))
        return first if first <= contract.effective_to else None

    def terminate(self, actor, contract_id, effective_on, reason):
        """Give notice of early termination; returns the contract's brief (number, status)."""
        self.access.require_role(actor, "sales", "admin")
        day, reason = _termination_input(effective_on, reason)
        now = utcnow()
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            if contract.status != "active":
                raise Conflict(f"只有已生效的合同可以提前终止（当前：{contract.status}） / only an active contract can be "
                               "terminated")
            if contract.terminates_on is not None:
                raise Conflict(f"合同已于 {contract.terminates_on} 终止或将终止 / the contract is already terminated "
                               f"as of {contract.terminates_on}")
            term = self.contracts.version_data(session, contract.id, contract.current_version)["term"]
            notice_days = int(term.get("notice_days") or 0)
            first = earliest_termination(china_time(now).date(), notice_days)
            if day < first:
                raise ValidationFailed("the contract's notice period does not allow that date", {
                    "effective_on": f"按合同约定须提前 {notice_days} 日通知，终止日最早为 {first.isoformat()}"})
            if day > contract.effective_to:
                raise ValidationFailed("the term ends before that date", {
                    "effective_on": f"服务期于 {contract.effective_to.isoformat()} 届满；届满后不再续展请发出不续展通知"})
            if RECORD_TERMINATION.execute(session, {"id": contract.id, "day": day, "reason": reason, "now": now}) != 1:
                raise Conflict("合同已被他人同时终止或已变更，请刷新 / the contract was changed at the same moment")
            session.expire(contract)  # the diagram's functions read the termination just written
            self.payments.cancel_from(session, contract.id, day, actor.username, now)
            step = self._awaiting_termination(session, self.contracts.instance(session, contract.id).id, actor)
            step.events.append({"event": "termination_given", "actor": actor.username, "comment": reason,
                                "details": {"effective_on": day.isoformat(), "notice_days": notice_days}})
            self.runtime.signal(session, step, TERMINATION_SIGNAL,
                                {"effective_on": day.isoformat(), "terminates_at": takes_effect_at(day).isoformat()}, now)
            return self.contracts.brief(session, contract.id)

    def _awaiting_termination(self, session, instance_id, actor):
        """The instance's step, on a version that takes the termination signal now (moved there if it must be)."""
        step = self.runtime.load(session, instance_id, actor.username)
        if self.runtime.waits_for(step, TERMINATION_SIGNAL):
            return step
        refused = move_to_latest(session, self.repository, self.runtime, self.history, instance_id, actor.username)
        if refused:
            raise Conflict("合同的流程版本不支持提前终止，且无法迁移到最新版本 / the contract's process cannot take a "
                           "termination: " + "; ".join(refused))
        return self.runtime.load(session, instance_id, actor.username)

    # --- functions the diagram calls ------------------------------------------------------------------------------------
    def terminate_contract(self, step):
        """合同终止: the termination's effective date came."""
        contract = self._contract(step)
        if contract is None:
            return
        day = contract.terminates_on.isoformat() if contract.terminates_on else china_time(utcnow()).date().isoformat()
        self._announce(step, contract, "contract.terminated", "contract_terminated",
                       f"[签约] 合同终止：{contract.number}",
                       f"合同《{contract.title}》（{contract.number}）已于 {day} 提前终止。\n终止原因：{contract.termination_reason}\n\n",
                       {"effective_on": day, "reason": contract.termination_reason})

    def end_term(self, step):
        """合同期满: the term ended and the contract does not renew."""
        contract = self._contract(step)
        if contract is None:
            return
        end = contract.effective_to.isoformat() if contract.effective_to else ""
        why = "已发出不续展通知" if contract.non_renewal_at else "本合同不自动续展"
        self._announce(step, contract, "contract.expired", "term_ended", f"[签约] 合同期满：{contract.number}",
                       f"合同《{contract.title}》（{contract.number}）的服务期已于 {end} 届满，{why}，合同终止。\n\n",
                       {"effective_to": end, "non_renewal_party": contract.non_renewal_party or None})

    def _contract(self, step):
        return step.session.get(Contract, step.contract_id) if step.contract_id is not None else None

    def _announce(self, step, contract, kind, event, subject, text, details):
        session = step.session
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        event_id = self.webhooks.enqueue(session, kind, contract.id, {
            "event": kind, "contract": contract_facts(contract, data), **details, "at": utcnow().isoformat()})
        contact = (data["customer"].get("contact") or {}).get("email", "")
        self.notifications.tell_both_sides(session, contract.id, contact, event, subject, text)
        step.events.append({"event": event, "actor": "system", "details": {**details, "webhook_event": event_id}})


def _termination_input(effective_on, reason):
    """The effective date (ISO) and the reason, checked field by field: nothing changes on a bad one."""
    fields = {}
    day, problem = read_day(effective_on, "请填写终止生效日期（YYYY-MM-DD）")
    if problem:
        fields["effective_on"] = problem
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        fields["reason"] = "请填写终止原因"
    elif len(reason) > REASON_LENGTH:
        fields["reason"] = f"最多 {REASON_LENGTH} 字"
    elif problem := hidden_characters_error(reason, multiline=True):
        fields["reason"] = problem
    if fields:
        raise ValidationFailed("the termination needs a valid date and a reason", fields)
    return day, reason
