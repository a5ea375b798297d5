"""Activation: the gate the diagram checks after the countersignature, the activation itself, the renewal notice.

- The provider's ``sign`` is refused (409, before anything changes or any code is spent) while the gate would fail:
  a task guard. The diagram's own gate (``activation_check()`` after provider_countersign) is the safety net for any
  other path and routes back to the customer with a reminder.
- ``activate_contract()`` sets the effective dates from the term, the renewal notice date (09:00 China time) and the
  term's end for the diagram's timers, writes the payment schedule (``PaymentService.create_schedule``) and the
  ``contract.activated`` event for downstream systems, all in the step's transaction; the package is then built by a
  job (``SigningService.finalize_when_active``).
- ``notify_renewal()`` (the renewal notice timer) tells both sides the term is ending; the account manager's mail
  offers the renewal draft (``RenewalService.start``) from the contract's page.
"""
from datetime import date

from ..clock import utcnow
from ..contracts.term import renewal_notice_at, term_ends_at
from ..errors import Conflict
from ..models import Contract
from .webhooks import contract_facts

SIGNING_STATUSES = ("awaiting_customer", "countersigning")


class ActivationService:
    def __init__(self, contracts, tasks, letters, documents, signing, webhooks, notifications, accounts, payments):
        self.contracts = contracts
        self.tasks = tasks
        self.letters = letters
        self.documents = documents
        self.signing = signing
        self.webhooks = webhooks
        self.notifications = notifications
        self.accounts = accounts
        self.payments = payments

    def missing(self, session, contract_id):
        """Everything that keeps the contract from activating: the letters' problems, and the signed PDF itself when
        it no longer verifies."""
        problems = self.letters.missing(session, contract_id)
        problem = self.signing.current_document_verifies(session, contract_id)
        if problem:
            problems["document"] = problem
        return problems

    def blockers(self, session, contract):
        """What keeps a contract in signing from activating, for people to read (nothing before or after signing)."""
        return self.missing(session, contract.id) if contract.status in SIGNING_STATUSES else {}

    def refuse_countersign_while_incomplete(self, session, task, decision):
        """Task guard: the provider's countersign (the task whose diagram declares the provider's signature) waits
        until the gate would open."""
        if decision != "sign" or self.tasks.form(session, task)["signature"] != "provider":
            return
        problems = self.missing(session, task.contract_id)
        if problems:
            raise Conflict("the contract cannot become active yet: the customer has not completed every mandated "
                           "letter (or a signature does not verify)", problems)

    # --- functions the diagram calls ----------------------------------------------------------------------------------
    def activation_check(self, step):
        if step.contract_id is None:
            return []
        return [f"{key}: {value}" for key, value in self.missing(step.session, step.contract_id).items()]

    def activate_contract(self, step):
        """Effective dates from the term, the renewal notice date, the term's end, the instalments to pay, and the
        contract.activated event (webhook)."""
        session = step.session
        contract = session.get(Contract, step.contract_id) if step.contract_id is not None else None
        if contract is None:  # no contract row (engine benchmarks): no dates, the notice timer is due at once
            now = utcnow().isoformat()
            return {"effective_from": None, "effective_to": None, "renewal_notice_at": now, "term_ends_at": now}
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        term = data["term"]
        start, end = date.fromisoformat(term["start"]), date.fromisoformat(term["end"])
        notice_at = renewal_notice_at(end, int(term.get("notice_days") or 0))
        contract.effective_from, contract.effective_to = start, end
        session.add(contract)
        self.payments.create_schedule(session, contract.id, data)
        signed = self.documents.current(session, contract)
        letters = [{"code": row.code, "title": row.title, "status": row.status, "template_version": row.template_version,
                    "template_sha256": row.template_sha256}
                   for row in self.letters.attached(session, contract.id)]
        payload = {"event": "contract.activated", "contract": {
            **contract_facts(contract, data), "version": contract.current_version,
            "document_sha256": signed.sha256 if signed is not None else None,
            "letters": letters}, "activated_at": utcnow().isoformat()}
        event_id = self.webhooks.enqueue(session, "contract.activated", contract.id, payload)
        step.events.append({"event": "contract_activated", "actor": "system",
                            "details": {"effective_from": term["start"], "effective_to": term["end"],
                                        "renewal_notice_at": notice_at.isoformat(), "webhook_event": event_id}})
        return {"effective_from": term["start"], "effective_to": term["end"], "renewal_notice_at": notice_at.isoformat(),
                "term_ends_at": term_ends_at(end).isoformat()}

    def term_moments(self, session, contract_id):
        """The moments the term's timers wait for, from the term in force: for an instance moved into 合同履行期 from
        a diagram version without it (``migration``), which set the renewal notice's moment only."""
        contract = session.get(Contract, contract_id)
        if contract is None or contract.effective_to is None:
            return {}
        term = self.contracts.version_data(session, contract.id, contract.current_version)["term"]
        return {"renewal_notice_at": renewal_notice_at(contract.effective_to, int(term.get("notice_days") or 0))
                .isoformat(), "term_ends_at": term_ends_at(contract.effective_to).isoformat()}

    def notify_renewal(self, step):
        """The renewal notice date came: mail the drafter (offering the renewal draft) and the customer's contact."""
        session = step.session
        contract = session.get(Contract, step.contract_id) if step.contract_id is not None else None
        if contract is None:
            return
        data = self.contracts.version_data(session, contract.id, contract.current_version)
        term = data["term"]
        end = contract.effective_to.isoformat() if contract.effective_to else term["end"]
        renew = int(term.get("auto_renew_months") or 0)
        what = (f"如不再续展，请在服务期满前 {term.get('notice_days')} 日（即今日）书面通知对方；否则将自动续展 {renew} 个月。"
                if renew else "本合同不自动续展，如需继续服务请及时续签。")
        text = f"合同《{contract.title}》（{contract.number}）的服务期将于 {end} 届满。\n{what}\n\n"
        english = f"The term of contract {contract.number} ends on {end}.\n"
        subject = f"[签约] 续展通知：{contract.number} 将于 {end} 到期"
        self.notifications.tell_drafter(session, contract.id, "renewal_notice", subject,
                                        f"{text}如需续签，可在合同页面“发起续签”，系统将按本合同预填续签合同草稿：\n")
        contact = (data["customer"].get("contact") or {}).get("email", "")
        drafter = self.accounts.find(session, contract.created_by)
        if contact and contact != (drafter.email if drafter else ""):
            self.notifications.enqueue(session, "renewal_notice", contact, subject, f"您好：\n\n{text}{english}",
                                       contract.id)
        step.events.append({"event": "renewal_notice", "actor": "system", "details": {"term_end": end}})
