"""Display names for codes the domain uses (roles, statuses, events, decisions, who acted), translated."""
import json

from flask import current_app, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from workflows.actors import API_ISSUER, SEAL_ISSUER, STAFF_ISSUER, STAFF_ROLES

ROLES = {"sales": _l("Sales"), "legal": _l("Legal"), "finance": _l("Finance"), "customer": _l("Customer"),
         "provider": _l("Provider signatory"), "admin": _l("Administrator")}
STATUSES = {"draft": _l("Draft (with sales)"), "legal_review": _l("Legal review"), "finance_review": _l("Finance review"),
            "awaiting_customer": _l("Awaiting customer signature"), "countersigning": _l("Awaiting countersignature"),
            "active": _l("Active"), "declined": _l("Declined by customer"), "expired": _l("Invitation expired"),
            "seal_refused": _l("Seal refused (not in effect)"),
            "terminated": _l("Terminated early"), "ended": _l("Ended with its term"), "completed": _l("Completed")}
DECISIONS = {"submit": _l("Submit for review"), "approve": _l("Approve"), "return": _l("Return to sales"),
             "sign": _l("Sign"), "decline": _l("Decline"), "agree": _l("Agree"), "refuse": _l("Refuse")}
EVENTS = {"contract_created": _l("Contract created"), "contract_revised": _l("Draft revised"),
          "process_started": _l("Approval process started"), "task_completed": _l("Decision"),
          "task_claimed": _l("Task claimed"), "task_unclaimed": _l("Task released"),
          "task_delegated": _l("Task delegated"), "task_transferred": _l("Task handed over"),
          "reviewer_added": _l("Reviewer added"), "task_substituted": _l("Out of office: to the substitute"), "task_sent_back": _l("Sent back to an earlier step"),
          "contract_withdrawn": _l("Withdrawn from review by sales"), "timer_fired": _l("Timer fired"),
          "task_escalated": _l("Overdue, escalated to the supervisor"),
          "escalation_unresolved": _l("Overdue, but the organisation names no supervisor to escalate to"),
          "approvers_unresolved": _l("Approvers the approval matrix names who could not be found (left out)"),
          "customer_reminder": _l("Reminder sent to the customer"),
          "process_failed": _l("Process stopped on an error"), "process_resumed": _l("Process resumed"),
          "process_migrated": _l("Process moved to another version"),
          "customer_invited": _l("Customer invited to sign"), "customer_not_invited": _l("Customer not invited (no contact)"),
          "customer_bound": _l("Customer's signer bound"), "letters_attached": _l("Commitment letters attached"),
          "letters_prefilled": _l("Letters prefilled from the renewed contract"),
          "letter_template_missing": _l("A mandated letter has no template"), "letter_filled": _l("Letter filled in"),
          "letters_differ_from_review": _l("The process's letters differ from those reviewed (the reviewed ones apply)"),
          "document_prepared": _l("Document to sign prepared"),
          "document_not_approved": _l("Document to sign differs from the approved text"),
          "customer_signed": _l("Customer signed"), "contract_activated": _l("Contract activated"),
          "package_created": _l("Signed package created"), "renewal_notice": _l("Renewal notice due"),
          "renewal_started": _l("Renewal contract drafted from this one"),
          "renewal_drafted": _l("Drafted as the renewal of an earlier contract"),
          "non_renewal_notice": _l("Notice of non-renewal given"), "contract_renewed": _l("Term renewed automatically"),
          "termination_given": _l("Early termination notified"), "contract_terminated": _l("Contract terminated"),
          "term_ended": _l("Term ended without renewal"),
          "signer_change_requested": _l("Change of signer requested"),
          "signer_contact_changed": _l("Change of signer approved"),
          "signer_change_rejected": _l("Change of signer rejected"),
          "payment_recorded": _l("Payment received recorded"), "payment_reminder": _l("Payment reminder sent"),
          "instalment_overdue": _l("Instalment overdue"),
          "instalments_cancelled": _l("Instalments after the termination cancelled"),
          "amendment_proposed": _l("Change proposed (supplementary agreement)"),
          "amendment_agreed": _l("Change agreed"), "amendment_refused": _l("Change refused"),
          "amendment_deemed_agreed": _l("Change deemed agreed (no answer in time)"),
          "amendment_lapsed": _l("Change lapsed (no answer in time)"),
          "amendment_effective": _l("Supplementary agreement in effect"),
          "seal_rights_checked": _l("Seal rights checked"), "seal_approved": _l("Seal approved"),
          "seal_refused": _l("Seal refused"),
          "amendment_to_sign": _l("Supplementary agreement to sign"),
          "supplement_prepared": _l("Supplementary agreement prepared for signing"),
          "supplement_signed": _l("Supplementary agreement signed"),
          "amendment_void": _l("Supplementary agreement void (the contract ended first)")}
AMENDMENT_STATUSES = {"proposed": _l("Awaiting answer"), "signing": _l("Awaiting signatures"), "refused": _l("Refused"),
                      "lapsed": _l("Lapsed"), "effective": _l("In effect"), "void": _l("Void")}
AMENDMENT_ANSWERS = {"agreed": _l("agreed"), "refused": _l("refused"), "deemed_agreed": _l("deemed agreed")}
PAYMENT_STATUSES = {"paid": _l("Paid in full"), "cancelled": _l("Cancelled by the termination"), "overdue": _l("Overdue"),
                    "due_soon": _l("Due soon"), "scheduled": _l("Not yet due")}
SYSTEM_ACTORS = {"system": _l("the system"), "cli": _l("an administrator's command"),
                 "demo-seed": _l("shipped with Qianyue"), "invitation": _l("the invitation")}
VERSION_NOTES = {"shipped with Qianyue": _l("shipped with Qianyue")}  # the note of the versions the product ships
CHANGE_STATUSES = {"pending": _l("waiting for a decision"), "approved": _l("approved"), "rejected": _l("rejected")}
JOB_KINDS = {"document.prepare": _l("Preparing the document to sign"),
             "package.finalize": _l("Building the signed package"),
             "audit.anchor": _l("Timestamping the audit trail"),
             "mail.send": _l("Sending a mail"),
             "mail.digest": _l("Writing the daily digest of overdue tasks"),
             "webhook.deliver": _l("Delivering a webhook event"),
             "process.timer": _l("Firing a process timer"),
             "jobs.purge": _l("Deleting old finished jobs"),
             "payments.scan": _l("Payment reminders and overdue instalments"),
             "register.index": _l("Taking the clause text for the register's search")}
JOB_STATUSES = {"queued": _l("waiting"), "running": _l("running"), "done": _l("done"), "dead": _l("gave up")}
TASK_STATES = {"open": _l("waiting for a decision"), "completed": _l("decided"), "cancelled": _l("cancelled"),
               "suspended": _l("suspended (process error)")}
LETTER_STATUSES = {"no_template": _l("no template yet"), "required": _l("required"), "attached": _l("attached"), "filled": _l("filled in"), "signed": _l("signed")}
ACTIVATION_PROBLEMS = {"no template": _l("no template yet"), "not attached": _l("not attached"),
                       "not filled": _l("not filled in"), "not signed": _l("not signed"),
                       "signature image does not match its record": _l("does not match its record")}
PROCESS_STATUSES = {"running": _l("running"), "completed": _l("completed"), "error": _l("stopped on an error")}
SIGNATURE_ROLES = {"customer": _l("Customer's signer"), "provider": _l("Provider"), "letter": _l("Commitment letter")}
SIGNATURE_METHODS = {"drawn": _l("drawn by hand"), "typed": _l("typed name"), "seal": _l("seal image"),
                     "account_name": _l("name of the signed-in account"), "organisation_seal": _l("contract seal")}
TEMPLATE_KINDS = {"network_line": _l("Network line service contract"), "technical_service": _l("Technical service contract")}
SERVICE_TYPES = {"internet_line": _l("Internet dedicated line"), "vpn_line": _l("VPN line"),
                 "egov_network": _l("E-government network"), "idc": _l("Data centre / IDC"),
                 "voice_line": _l("Voice line"), "technical_service": _l("Technical service")}


# the register's canned filters (workflows/services/register.py CANNED_FILTERS), N being the days chosen beside
CANNED_FILTERS = {"expiring": _l("Expiring within N days"), "awaiting_customer": _l("Awaiting the customer for more than N days")}

# what each key of a contract's data means, for the change list (a dotted path reads 甲方 · 项目联系人 · 电话)
FIELD_PARTS = {
    "title": _l("Title"), "project_name": _l("Project name"), "template": _l("Contract kind"), "service_types": _l("Service types"),
    "signing_place": _l("Signing place"), "customer": _l("Customer"), "provider": _l("Provider"),
    "provider_contact": _l("Provider's project contact"), "designated_contacts": _l("Liaisons named in the articles"),
    "contact": _l("Project contact"), "bank": _l("Bank account"), "name": _l("Name"), "phone": _l("Phone"),
    "email": _l("Email"), "address": _l("Address"), "legal_representative": _l("Legal representative / person in charge"),
    "credit_code": _l("Unified social credit code"), "notice_address": _l("Notice address"), "bank_name": _l("Bank"),
    "branch": _l("Branch"), "account_name": _l("Account name"), "account_no": _l("Account number"),
    "items": _l("Services"), "one_time_fees": _l("One-time fees"), "content": _l("Content"), "quantity": _l("Quantity"),
    "unit": _l("Unit"), "bandwidth_mbps": _l("Bandwidth (Mbps)"), "amount": _l("Amount"),
    "standard_price": _l("Standard price"), "price": _l("Price"), "per": _l("Per"), "handling_fee": _l("Handling fee"),
    "total": _l("Total incl. tax (yuan)"), "tax_rate": _l("Tax rate"), "payment_plan": _l("Payment plan"),
    "installments": _l("Instalments"), "due_date": _l("Due date"), "every_months": _l("Every (months)"),
    "first_due": _l("First due"), "term": _l("Term"), "start": _l("Start"), "end": _l("End"),
    "auto_renew_months": _l("Auto-renewal (months)"), "notice_days": _l("Notice (days)"),
    "late_fee_rate_per_day": _l("Late fee per day"), "liquidated_damages": _l("Liquidated damages"),
    "special_terms": _l("Special terms"), "installation_address": _l("Installation address"),
    "service_location": _l("Service location"), "service_mode": _l("Service mode"),
}
DESIGNATED_SIDES = {"customer": _l("Customer's liaison named in the articles"),
                    "provider": _l("Provider's liaison named in the articles")}


def field_label(path):
    """A data path as people read it: ``items.0.amount`` → 服务项目 · 第1行 · 金额; unknown keys stay as they are."""
    parts = path.split(".")
    if parts[0] == "designated_contacts" and len(parts) == 2 and parts[1] in DESIGNATED_SIDES:
        return str(DESIGNATED_SIDES[parts[1]])
    return " · ".join(_("row %(n)s", n=int(part) + 1) if part.isdigit() else str(FIELD_PARTS.get(part, part))
                      for part in parts)


PARTIES = {"provider": _l("the provider"), "customer": _l("the customer")}
ERROR_FIELDS = {"effective_on": _l("Effective date"), "reason": _l("Reason"), "comment": _l("Comment"),
                "changes": _l("Propose a change"), "changes.total": _l("Total (tax incl., yuan)"),
                "changes.items": _l("Services and fees"), "changes.payment_plan": _l("Payment plan"),
                "changes.term_end": _l("Term ends on"), "changes.clauses": _l("Replace a clause"),
                "decision": _l("Answer"), "version": _l("Answer"),
                "to": _l("Whom or where to"), "substitute": _l("Substitute"), "starts_at": _l("Away from"),
                "ends_at": _l("Back on"), "reviewer": _l("Reviewer"), "position": _l("Before or after"), "task_ids": _l("Tasks"),
                "contract_ids": _l("Contracts")}


def field_errors(exc):
    """A refusal as one line for a page's notice: each field's message after its label, else the message."""
    if not exc.fields:
        return exc.message
    return " · ".join(f"{ERROR_FIELDS.get(name, name)}：{message}" for name, message in exc.fields.items())


def signer_identity(signature):
    """Who vouched for a provider's or an integration's signature, in words: the staff account (its holder is named
    beside it, never its username), the organisation's seal certificate, the API account. None for a person signed in
    at an identity provider: that account (issuer and subject) is the evidence, shown as it is."""
    if signature.issuer == STAFF_ISSUER:
        return _("the provider's staff account")
    if signature.issuer == SEAL_ISSUER:
        return _("the contract seal's certificate (unified social credit code %(code)s)", code=signature.subject)
    if signature.issuer == API_ISSUER:
        return _("an integration's API account")
    return None


def from_json(text):
    """History details are stored as JSON text; templates read them as a dict."""
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def label(table, code):
    return table.get(code, code)


def person(code):
    """Who a record names (a username, ``customer:<id>``, a system actor), as a reader should see them: the person's
    name, else what the system actor is. Names are looked up once per request (``know_people``, else one by one)."""
    if not code:
        return ""
    if code in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[code]
    if code not in g.get("people", {}):
        with current_app.extensions["qianyue"].db.read() as session:
            know_people(session, [code])
    return g.people[code]


def acting_for(code, absent):
    """Who holds a task, and for whom when it was handed to them for someone else (a substitute, a delegate):
    王五（代 张三）."""
    name = person(code)
    return _("%(name)s (for %(user)s)", name=name, user=person(absent)) if code and absent and absent != code else name


def know_people(session, codes):
    """Look up at once, in the page's own read, the names of the people a page is about to show: ``person`` would
    look each up in a transaction of its own (six on a contract page, a quarter of its time)."""
    known = g.setdefault("people", {})
    wanted = {code for code in codes if code and code not in SYSTEM_ACTORS and code not in known}
    if wanted:
        known.update({code: code for code in wanted} | current_app.extensions["qianyue"].people.names(session, wanted))


def people_in(history):
    """The codes of the people a history names: who acted, for whom, and whom a task went to or came from."""
    named = ("to", "from", "to_user", "added_by")
    return [code for event in history
            for code in (event.actor, event.on_behalf_of, *map(json.loads(event.details).get, named))
            if isinstance(code, str)]


def init_app(app):
    app.jinja_env.filters["fromjson"] = from_json
    app.jinja_env.filters["person"] = person
    app.jinja_env.filters["acting_for"] = acting_for
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["signer_identity"] = signer_identity
    app.jinja_env.globals.update(STAFF_ROLES=STAFF_ROLES, ROLE_LABELS=ROLES, STATUS_LABELS=STATUSES, DECISION_LABELS=DECISIONS,
                                 EVENT_LABELS=EVENTS, SERVICE_TYPE_LABELS=SERVICE_TYPES, TASK_STATE_LABELS=TASK_STATES,
                                 LETTER_STATUS_LABELS=LETTER_STATUSES, SIGNATURE_METHOD_LABELS=SIGNATURE_METHODS, TEMPLATE_KIND_LABELS=TEMPLATE_KINDS,
                                 JOB_KIND_LABELS=JOB_KINDS, JOB_STATUS_LABELS=JOB_STATUSES,
                                 ACTIVATION_PROBLEM_LABELS=ACTIVATION_PROBLEMS,
                                 PROCESS_STATUS_LABELS=PROCESS_STATUSES, VERSION_NOTE_LABELS=VERSION_NOTES,
                                 CHANGE_STATUS_LABELS=CHANGE_STATUSES, PAYMENT_STATUS_LABELS=PAYMENT_STATUSES,
                                 PARTY_LABELS=PARTIES, CANNED_FILTER_LABELS=CANNED_FILTERS,
                                 SIGNATURE_ROLE_LABELS=SIGNATURE_ROLES, AMENDMENT_STATUS_LABELS=AMENDMENT_STATUSES,
                                 AMENDMENT_ANSWER_LABELS=AMENDMENT_ANSWERS, label=label)
