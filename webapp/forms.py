"""The contract draft form. WTForms reads and renders the fields (and checks CSRF); the rules live in
``workflows.contracts.validation`` alone: the form turns itself into the API's draft shape, and the
validator's dotted error paths (``customer.contact.phone``) map back onto form fields
(``customer-contact-phone``)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Form, FieldList, FormField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional as Opt
from wtforms.widgets import CheckboxInput, ListWidget

from .labels import SERVICE_TYPES, TEMPLATE_KINDS


class MultiCheckbox(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class Contact(Form):
    name = StringField(_l("Name"))
    phone = StringField(_l("Phone"))
    email = StringField(_l("Email"))


class Bank(Form):
    bank_name = StringField(_l("Bank"))
    branch = StringField(_l("Branch"))
    account_name = StringField(_l("Account name"))
    account_no = StringField(_l("Account number"))


class Customer(Form):
    name = StringField(_l("Organisation name"))
    address = StringField(_l("Address"))
    legal_representative = StringField(_l("Legal representative / person in charge"))
    credit_code = StringField(_l("Unified social credit code"))
    notice_address = StringField(_l("Notice address"))
    contact = FormField(Contact, label=_l("Project contact"))
    bank = FormField(Bank, label=_l("Bank account"))


class Item(Form):
    name = StringField(_l("Service"))
    content = StringField(_l("Content"))
    quantity = IntegerField(_l("Quantity"), validators=[Opt()])
    unit = StringField(_l("Unit"))
    bandwidth_mbps = IntegerField(_l("Bandwidth (Mbps)"), validators=[Opt()])
    amount = StringField(_l("Amount incl. tax"))


class Fee(Form):
    name = StringField(_l("One-time fee"))
    standard_price = StringField(_l("Standard price"))
    price = StringField(_l("Price"))
    per = StringField(_l("Per"))
    handling_fee = StringField(_l("Handling fee"))


class Installment(Form):
    due_date = StringField(_l("Due date"), render_kw={"type": "date"})
    amount = StringField(_l("Amount"))


class Term(Form):
    start = StringField(_l("Start"), render_kw={"type": "date"})
    end = StringField(_l("End"), render_kw={"type": "date"})
    auto_renew_months = IntegerField(_l("Auto-renewal (months)"), validators=[Opt()])
    notice_days = IntegerField(_l("Notice (days)"), validators=[Opt()])


class Designated(Form):
    customer = StringField(_l("Customer's liaison named in the articles"))
    provider = StringField(_l("Provider's liaison named in the articles"))


class ContractForm(FlaskForm):
    template = SelectField(_l("Contract kind"), choices=[SelectChoice(code, text) for code, text in TEMPLATE_KINDS.items()])
    title = StringField(_l("Title"))
    project_name = StringField(_l("Project name"))
    # the provider profiles are the view's to fill in; which one is allowed is the drafting service's to say
    provider = SelectField(_l("Provider branch (乙方)"), choices=[], validate_choice=False)
    service_types = MultiCheckbox(_l("Service types"), choices=[SelectChoice(code, text) for code, text in SERVICE_TYPES.items()])
    customer = FormField(Customer)
    provider_contact = FormField(Contact, label=_l("Provider's project contact"))
    designated_contacts = FormField(Designated, label=_l("Liaisons named in the articles"))
    items = FieldList(FormField(Item), min_entries=1)
    one_time_fees = FieldList(FormField(Fee), min_entries=1)
    total = StringField(_l("Total incl. tax (yuan)"))
    tax_rate = StringField(_l("Tax rate (blank: by service type)"))
    plan_kind = SelectField(_l("Payment plan"), choices=[SelectChoice("installments", _l("Instalments")),
                                                         SelectChoice("periodic", _l("Every N months"))])
    installments = FieldList(FormField(Installment), min_entries=1)
    every_months = IntegerField(_l("Every (months)"), validators=[Opt()])
    periodic_amount = StringField(_l("Amount each time"))
    first_due = StringField(_l("First due"), render_kw={"type": "date"})
    term = FormField(Term)
    installation_address = StringField(_l("Installation address"))
    service_location = StringField(_l("Service location"))
    service_mode = StringField(_l("Service mode"))
    signing_place = StringField(_l("Signing place"))
    late_fee_rate_per_day = StringField(_l("Late fee per day (fraction, e.g. 0.0005)"))
    liquidated_damages = StringField(_l("Liquidated damages (yuan)"))
    special_terms = TextAreaField(_l("Special terms"))

    ROW_LISTS = {"items": Item, "one_time_fees": Fee, "installments": Installment}  # each list's row

    def to_draft(self):
        """The API's draft shape; blank optional fields are left out so the validator applies defaults."""
        data = self.data
        draft = {key: data[key] for key in ("template", "title", "project_name", "provider", "service_types", "total",
                                            "installation_address", "service_location", "service_mode", "signing_place",
                                            "late_fee_rate_per_day", "liquidated_damages", "special_terms", "tax_rate")}
        draft["customer"] = _prune({**data["customer"], "bank": _prune(data["customer"]["bank"]) or None})
        draft["provider_contact"] = _prune(data["provider_contact"]) or None
        draft["designated_contacts"] = _prune(data["designated_contacts"]) or None
        draft["items"] = [_prune(row) for row in data["items"] if any(_filled(v) for v in row.values())]
        draft["one_time_fees"] = [_prune(row) for row in data["one_time_fees"] if any(_filled(v) for v in row.values())]
        if data["plan_kind"] == "periodic":
            draft["payment_plan"] = _prune({"every_months": data["every_months"], "amount": data["periodic_amount"],
                                            "first_due": data["first_due"]})
        else:
            draft["payment_plan"] = {"installments": [_prune(r) for r in data["installments"] if any(_filled(v) for v in r.values())]}
        draft["term"] = _prune(data["term"])
        return _prune(draft)

    @classmethod
    def from_draft(cls, draft, **kwargs):
        """Fill the form from a stored version (for editing)."""
        plan = draft.get("payment_plan") or {}
        flat = {**draft, "customer": {**draft.get("customer", {}), "bank": draft.get("customer", {}).get("bank") or {}},
                "plan_kind": "periodic" if "every_months" in plan else "installments",
                "installments": plan.get("installments") or [{}], "every_months": plan.get("every_months"),
                "periodic_amount": plan.get("amount"), "first_due": plan.get("first_due")}
        return cls(data=flat, **kwargs)

    def add_row(self, name):
        if name in self.ROW_LISTS:
            getattr(self, name).append_entry()

    def remove_row(self, name, position):
        """Drop a row (by its place in the list) and number the rest from 0 again; the last row left is emptied."""
        if name not in self.ROW_LISTS:
            return
        rows = getattr(self, name)
        kept = [entry.data for index, entry in enumerate(rows.entries) if index != position]
        rows.entries, rows.last_index = [], -1
        for data in kept or [None]:
            rows.append_entry(data)

    def blank_row(self, name):
        """An empty row of a list, numbered ``__index__``: the page's template that the script copies to add a row
        without a round trip (it puts the row's number in place of ``__index__``)."""
        return self.ROW_LISTS[name](prefix=f"{name}-__index__-")

    def attach_errors(self, fields):
        """Put the validator's dotted-path errors on the matching form fields; the rest are returned."""
        unplaced = {}
        by_name = {field.name: field for field in _walk(self)}
        for path, message in fields.items():
            name = path.replace(".", "-")
            target = by_name.get(name) or by_name.get(_plan_field(name))
            if target is not None:
                target.errors = list(target.errors or []) + [message]
            else:
                unplaced[path] = message
        return unplaced


def _plan_field(name):
    return {"payment_plan-every_months": "every_months", "payment_plan-amount": "periodic_amount",
            "payment_plan-first_due": "first_due", "payment_plan": "plan_kind"}.get(name)


def _walk(form):
    for field in form:
        yield field
        if isinstance(field, FormField):
            yield from _walk(field.form)
        elif isinstance(field, FieldList):
            for entry in field.entries:
                yield entry
                if isinstance(entry, FormField):
                    yield from _walk(entry.form)


def _filled(value):
    return value not in (None, "", [], {}) and not (isinstance(value, dict) and not any(_filled(v) for v in value.values()))


def _prune(value):
    """Drop blank entries from a dict, recursively (the form posts every field, filled or not)."""
    if not isinstance(value, dict):
        return value
    pruned = {}
    for key, child in value.items():
        if key == "csrf_token":
            continue
        child = _prune(child)
        if _filled(child):
            pruned[key] = child.strip() if isinstance(child, str) else child
    return pruned
