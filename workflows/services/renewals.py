"""Renewals: a renewal contract drafted from an active one, notices of non-renewal, and the auto-renewal itself.

- ``start`` (sales): a new draft prefilled from the active contract's terms in force (its amendments included): the
  term following on from the end of the term in force, as long as the contract's own; the same provider, customer,
  services, figures and letters (the payment plan's dates moved with the term); a new number; linked both ways (``renewal_of_id`` on the draft,
  ``renewed_by_id`` on the contract, set compare-and-set: of two people starting one at once, one wins, the other
  gets a 409). It then goes through the same approval and signing as any draft. A renewal the customer declined, or
  whose invitation expired, makes way for another.
- ``give_notice`` (sales or an administrator for the provider, the customer's bound signer or integration for the
  customer): a notice of non-renewal, on the deadline day (term end − ``notice_days``) at the latest; after it, or for
  a contract that does not renew by itself, a 409 that says why. Both sides are told by mail, and the
  ``contract.non_renewal_notified`` webhook (who gave it, their comment, the term's end) is written in the notice's
  transaction.
- ``renewal_terms()`` and ``renew_term()``, which the diagram calls at the term's end: the facts its gateway 自动续展？
  routes on (the renewal clause, a notice given, a renewal contract in force), and another term of
  ``auto_renew_months`` (as many as reach today, at once, for a contract activated after its term ended): the new end, the next notice and term-end moments for its timers, history, mail to both
  sides and the ``contract.renewed`` webhook.
"""
from datetime import date

from ..actors import is_customer
from ..clock import china_time, utcnow
from ..contracts.term import date_shift, following_term, notice_deadline, renewal_notice_at, renewed_end, term_ends_at
from ..db import Statement
from ..errors import Conflict, Forbidden, ValidationFailed
from ..models import Contract
from ..visible_text import hidden_characters_error
from .webhooks import contract_facts

NON_RENEWAL_WEBHOOK = "contract.non_renewal_notified"
DEAD_RENEWALS = ("declined", "expired", "seal_refused")  # a renewal that never came into force makes way for another
COMMENT_LENGTH = 500
MAX_CATCH_UP = 1200  # renewal periods added at once for a term that ended long ago (100 years of monthly renewals)
CONTRACT = Contract.__table__.c
LINK_FIRST_RENEWAL = Statement(
    "UPDATE contract SET renewed_by_id = :renewal, updated_at = :now "
    "WHERE id = :id AND status = 'active' AND terminates_on IS NULL AND renewed_by_id IS NULL",
    now=CONTRACT.updated_at)
LINK_NEXT_RENEWAL = Statement(
    "UPDATE contract SET renewed_by_id = :renewal, updated_at = :now "
    "WHERE id = :id AND status = 'active' AND terminates_on IS NULL AND renewed_by_id = :seen",
    now=CONTRACT.updated_at)
RECORD_NON_RENEWAL = Statement(
    "UPDATE contract SET non_renewal_at = :now, non_renewal_party = :party, updated_at = :now "
    "WHERE id = :id AND status = 'active' AND terminates_on IS NULL AND non_renewal_at IS NULL",
    now=CONTRACT.non_renewal_at)


class RenewalService:
    def __init__(self, db, access, contracts, letters, history, notifications, webhooks, payments, amendments):
        self.db = db
        self.access = access
        self.contracts = contracts
        self.letters = letters
        self.history = history
        self.notifications = notifications
        self.webhooks = webhooks
        self.payments = payments  # an auto-renewal adds its term's instalments
        self.amendments = amendments  # a renewal starts from the terms in force, amendments included

    # --- the renewal contract -------------------------------------------------------------------------------------------
    def start(self, actor, contract_id):
        """A renewal draft of an active contract, with its approval process; returns the new contract."""
        self.access.require_role(actor, "sales")
        with self.db.read() as session:
            contract = self.access.contract(session, actor, contract_id)
            seen = self._renewable(session, contract)
            draft = self.prefill(session, contract)
        with self.db.write() as session:  # the number in a short transaction of its own, as for any draft
            provider, data = self.contracts.draft(session, draft)
            number = self.contracts.take_number(session, provider, data)
        with self.db.write() as session:
            renewal, version = self.contracts.create(session, provider, data, number, actor)
            renewal.renewal_of_id = contract.id
            session.add(renewal)
            session.flush()
            link = LINK_NEXT_RENEWAL if seen is not None else LINK_FIRST_RENEWAL
            if link.execute(session, {"id": contract.id, "renewal": renewal.id, "seen": seen, "now": utcnow()}) != 1:
                raise Conflict("同一合同的续签已由他人同时发起，请刷新 / a renewal of this contract was started at the "
                               "same moment")
            self.letters.pin(session, renewal, version)
            self.contracts.start_process(session, renewal, actor)
            self.history.record(session, "renewal_started", actor.username, contract_id=contract.id,
                                details={"renewal_id": renewal.id, "number": renewal.number})
            self.history.record(session, "renewal_drafted", actor.username, contract_id=renewal.id,
                                details={"renewal_of_id": contract.id, "number": contract.number})
            return renewal

    def prefill(self, session, contract):
        """The draft a renewal starts from: the terms in force (the current version with its amendments in force), its
        term following on from the term in force and its payment dates moved with it, under the same provider."""
        draft = self.amendments.effective_terms(session, contract)["draft"]
        term = draft["term"]
        start, end = date.fromisoformat(term["start"]), date.fromisoformat(term["end"])
        new_start, new_end = following_term(start, end, contract.effective_to or end)
        shift = date_shift(start, new_start)
        plan = draft["payment_plan"]
        if "installments" in plan:
            plan = {"installments": [{**i, "due_date": shift(date.fromisoformat(i["due_date"])).isoformat()}
                                     for i in plan["installments"]]}
        else:
            plan = {**plan, "first_due": shift(date.fromisoformat(plan["first_due"])).isoformat()}
        return {**draft, "provider": contract.provider_code, "payment_plan": plan,
                "term": {**term, "start": new_start.isoformat(), "end": new_end.isoformat()}}

    def _renewable(self, session, contract):
        """The renewal the contract names now (None, or one that never came into force), if it may be renewed."""
        if contract.status != "active" or contract.terminates_on is not None:
            raise Conflict("只有生效中且未终止的合同可以续签 / only an active contract that is not being terminated can "
                           "be renewed")
        if contract.renewed_by_id is None:
            return None
        current = self.contracts.get(session, contract.renewed_by_id)
        if current.status not in DEAD_RENEWALS:
            raise Conflict(f"已有续签合同 {current.number} / this contract already has a renewal: {current.number}")
        return current.id

    # --- notice of non-renewal --------------------------------------------------------------------------------------------
    def notice_deadline(self, session, contract):
        """The last day a notice of non-renewal is in time (None: the contract does not renew by itself, or is not
        in force)."""
        if contract.status != "active" or contract.effective_to is None:
            return None
        term = self.contracts.version_data(session, contract.id, contract.current_version)["term"]
        if not int(term.get("auto_renew_months") or 0):
            return None
        return notice_deadline(contract.effective_to, int(term.get("notice_days") or 0))

    def give_notice(self, actor, contract_id, comment=""):
        """A notice of non-renewal for the provider (sales, admin) or the customer (its bound signer or integration)."""
        party = "customer" if is_customer(actor) else "provider"
        if party == "provider" and not actor.role_set & {"sales", "admin"}:
            raise Forbidden("this needs one of the roles: sales, admin, or the customer")
        comment = _comment(comment)
        now = utcnow()
        with self.db.write() as session:
            contract = self.access.contract(session, actor, contract_id)
            deadline = self.notice_deadline(session, contract)
            if deadline is None:
                raise Conflict("本合同不在自动续展中，无需发出不续展通知 / the contract does not renew by itself")
            if contract.terminates_on is not None:
                raise Conflict("合同已提前终止 / the contract is being terminated")
            if contract.non_renewal_at is not None:
                raise Conflict(f"已于 {china_time(contract.non_renewal_at):%Y-%m-%d} 发出不续展通知 / notice of "
                               "non-renewal was already given")
            if china_time(now).date() > deadline:
                raise Conflict(f"不续展通知须在 {deadline.isoformat()} 前发出，已过期限；合同将于 "
                               f"{contract.effective_to.isoformat()} 届满后自动续展 / the deadline for a notice of "
                               f"non-renewal was {deadline.isoformat()}")
            if RECORD_NON_RENEWAL.execute(session, {"id": contract.id, "party": party, "now": now}) != 1:
                raise Conflict("合同已被他人同时变更，请刷新 / the contract was changed at the same moment")
            end = contract.effective_to.isoformat()
            details = {"party": party, "deadline": deadline.isoformat(), "term_end": end}
            event_id = self.webhooks.enqueue(session, NON_RENEWAL_WEBHOOK, contract.id, {
                "event": NON_RENEWAL_WEBHOOK, "contract": contract_facts(
                    contract, self.contracts.version_data(session, contract.id, contract.current_version)),
                **details, "comment": comment, "at": now.isoformat()})
            self.history.record(session, "non_renewal_notice", actor.username, contract_id=contract.id, comment=comment,
                                details={**details, "webhook_event": event_id})
            who = "甲方（客户）" if party == "customer" else "乙方"
            contact = self._contact(session, contract)
            self.notifications.tell_both_sides(
                session, contract.id, contact, "non_renewal_notice", f"[签约] 不续展通知：{contract.number}",
                f"{who}已就合同《{contract.title}》（{contract.number}）发出不续展通知：服务期于 {end} 届满后不再续展，"
                f"合同届时终止。\n{('说明：' + comment) if comment else ''}\n\n")
            return self.contracts.brief(session, contract.id)

    # --- functions the diagram calls ----------------------------------------------------------------------------------------
    def renewal_terms(self, step):
        """What the gateway 自动续展？ routes on at the term's end."""
        contract = self._contract(step)
        if contract is None:
            return {"auto_renew_months": 0, "non_renewal_notice": False, "renewed": False}
        term = self.contracts.version_data(step.session, contract.id, contract.current_version)["term"]
        renewal = step.session.get(Contract, contract.renewed_by_id) if contract.renewed_by_id else None
        return {"auto_renew_months": int(term.get("auto_renew_months") or 0),
                "non_renewal_notice": contract.non_renewal_at is not None,
                "renewed": renewal is not None and renewal.effective_from is not None}

    def renew_term(self, step):
        """自动续展: another term follows on; returns the moments of its renewal notice and of its end."""
        session, contract = step.session, self._contract(step)
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        term = data["term"]
        months, notice_days = int(term["auto_renew_months"]), int(term.get("notice_days") or 0)
        previous, end, periods = contract.effective_to, renewed_end(contract.effective_to, months), 1
        while term_ends_at(end) <= utcnow() and periods < MAX_CATCH_UP:  # activated (or the timer fired) terms late:
            end, periods = renewed_end(end, months), periods + 1  # one renewal up to the term in force, not one each
        contract.effective_to = end
        session.add(contract)
        self.payments.extend_schedule(session, contract.id, data, previous, periods, months)
        details = {"previous_end": previous.isoformat(), "effective_to": end.isoformat(), "months": months * periods}
        event_id = self.webhooks.enqueue(session, "contract.renewed", contract.id, {
            "event": "contract.renewed", "contract": contract_facts(contract, data), **details,
            "at": utcnow().isoformat()})
        self.notifications.tell_both_sides(
            session, contract.id, self._contact(session, contract), "contract_renewed",
            f"[签约] 合同已自动续展：{contract.number} 至 {end.isoformat()}",
            f"合同《{contract.title}》（{contract.number}）的服务期于 {previous.isoformat()} 届满，双方均未发出不续展通知，"
            f"依约自动续展 {months * periods} 个月，至 {end.isoformat()}。\n\n")
        step.events.append({"event": "contract_renewed", "actor": "system", "details": {**details,
                                                                                       "webhook_event": event_id}})
        return {"renewal_notice_at": renewal_notice_at(end, notice_days).isoformat(),
                "term_ends_at": term_ends_at(end).isoformat()}

    def _contract(self, step):
        return step.session.get(Contract, step.contract_id) if step.contract_id is not None else None

    def _contact(self, session, contract):
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        return (data["customer"].get("contact") or {}).get("email", "")


def _comment(comment):
    comment = comment.strip() if isinstance(comment, str) else ""
    if len(comment) > COMMENT_LENGTH:
        raise ValidationFailed("the comment is too long", {"comment": f"最多 {COMMENT_LENGTH} 字"})
    if problem := hidden_characters_error(comment, multiline=True):
        raise ValidationFailed("the comment holds invisible characters", {"comment": problem})
    return comment
