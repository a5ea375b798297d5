"""The amendment form (staff contract page and the customer's signing page) as the API's change: the form is filled
with the terms in force, and only the fields whose text was changed are proposed. The rules are the service's."""
from workflows.actors import is_customer
from workflows.services.amendments import describe_changes

ITEM_FIELDS = ("name", "content", "amount")
PLAN_ROWS = ("due_date", "amount")
PERIODIC = ("every_months", "amount", "first_due")


def amendment_from_form(form, draft):
    """``{"changes", "reason"}`` from the posted form and the draft of the terms in force it was shown with."""
    changes = {}
    items = []
    for index, item in enumerate(draft["items"]):
        posted = {key: form.get(f"items-{index}-{key}", "").strip() for key in ITEM_FIELDS}
        items.append({**item, **posted})
    if [_texts(item, ITEM_FIELDS) for item in items] != [_texts(item, ITEM_FIELDS) for item in draft["items"]]:
        changes["items"] = items
    total = form.get("total", "").strip()
    if total != _text(draft["total"]):
        changes["total"] = total
    plan = draft["payment_plan"]
    if "installments" in plan:
        rows = [{key: form.get(f"plan-{index}-{key}", "").strip() for key in PLAN_ROWS}
                for index in range(len(plan["installments"]))]
        if rows != [_texts(row, PLAN_ROWS) for row in plan["installments"]]:
            changes["payment_plan"] = {"installments": rows}
    else:
        posted = {key: form.get(f"plan-{key}", "").strip() for key in PERIODIC}
        if posted != _texts(plan, PERIODIC):
            changes["payment_plan"] = {**posted, "every_months": _whole(posted["every_months"])}
    term_end = form.get("term_end", "").strip()
    if term_end != _text(draft["term"]["end"]):
        changes["term_end"] = term_end
    number = form.get("clause_number", "").strip()
    if number:
        changes["clauses"] = {number: form.get("clause_text", "")}
    return {"changes": changes, "reason": form.get("reason", "")}


def _texts(row, keys):
    return {key: _text(row.get(key)) for key in keys}


def _text(value):
    return "" if value is None else str(value)


def _whole(text):
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else text


def amendment_section(services, session, actor, contract):
    """What ``_amendments.html`` shows of a contract to ``actor``: its amendments with their changes in words, the
    terms in force, the draft the form starts from, and whether the form is offered."""
    amendments = [{**item, "lines": [line.removeprefix("· ") for line in
                                     describe_changes(item["changes"], item["before"]).splitlines()]}
                  for item in services.amendments.list(session, actor, contract.id)]
    terms = services.amendments.effective_terms(session, contract)
    return {"amendments": amendments, "terms": terms, "draft": terms["draft"],
            "may_propose": services.amendments.may_propose(session, actor, contract),
            "answering_party": "customer" if is_customer(actor) else "provider" if "sales" in actor.role_set else None}


def form_version(form):
    """The amendment's version the page was rendered with (an answer compares it); one that is not a number matches
    none."""
    raw = form.get("version", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else -1
