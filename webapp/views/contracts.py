"""Contract pages: the register (search, canned and saved filters, CSV and XLSX export), one contract, the draft
form, preview, documents, versions; after activation, the renewal draft, the notice of non-renewal, early
termination and changes (amendments)."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l

from workflows.actors import STAFF_ROLES
from workflows.clock import china_time, utcnow
from workflows.errors import Conflict, DomainError, NotFound, ValidationFailed
from workflows.services.register import CANNED_FILTERS, EXPORT_LIMIT, Page, RegisterQuery

from ..amendment_form import amendment_from_form, amendment_section, form_version
from ..downloads import pdf_response, register_export
from ..forms import ContractForm
from ..i18n import moment
from ..inputs import page_number
from ..labels import field_errors, know_people, people_in
from ..security import document_response, platform, roles_required

bp = Blueprint("contracts", __name__, url_prefix="/contracts")
STAFF = tuple(sorted(STAFF_ROLES))
PAGE_SIZE = 25
# what the page says under a search field the register refused (its own messages are for API clients)
SEARCH_ERRORS = {"min_total": _l("Enter an amount in yuan, at most two decimals."), "max_total": _l("Enter an amount in yuan, at most two decimals, not below the lower one."),
                 "start_from": _l("Enter a date."), "start_to": _l("Enter a date, not before the first one."),
                 "end_from": _l("Enter a date."), "end_to": _l("Enter a date, not before the first one."),
                 "days": _l("Enter 1 to 3650 days, with a canned filter."), "text": _l("At most 5 words, 100 characters."),
                 "credit_code": _l("Letters and digits of a unified social credit code, at most 18.")}


def _search():
    """The register search of the page's query arguments, and the page's messages for the arguments it refused."""
    try:
        return RegisterQuery.parse(request.args), {}
    except ValidationFailed as exc:
        return None, {name: SEARCH_ERRORS.get(name, _("Not a valid choice.")) for name in exc.fields}


@bp.get("")
@roles_required(*STAFF)
def index():
    query, errors = _search()
    page = page_number(PAGE_SIZE)
    found = Page([], 0, True)
    if query is not None:
        with platform().db.read() as session:
            found = platform().register.page(session, g.user, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template("contracts/index.html", items=found.items, total=found.total, exact=found.exact, page=page,
                           errors=errors, query=query, pages=max((found.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                           canned_filters=CANNED_FILTERS,
                           saved_filters=platform().register.saved_filters(g.user)), 422 if errors else 200


@bp.get("/export.csv", defaults={"kind": "csv"})
@bp.get("/export.xlsx", defaults={"kind": "xlsx"})
@roles_required(*STAFF)
def export(kind):
    query = _search()[0]
    if query is None:
        flash(_("Nothing was exported: the search is not valid."), "error")
        return redirect(url_for("contracts.index", **request.args))
    try:
        with platform().db.read() as session:
            items, names = platform().register.export(session, g.user, query)
    except ValidationFailed:
        flash(_("Nothing was exported: the search matches more contracts than an export holds (%(limit)s); narrow it.",
                limit=EXPORT_LIMIT), "error")
        return redirect(url_for("contracts.index", **request.args))
    return register_export(kind, items, names)


@bp.post("/filters")
@roles_required(*STAFF)
def save_filter():
    """Save the search the form carries under a name; the same name again replaces it."""
    back = url_for("contracts.index")
    try:
        query = RegisterQuery.from_query_string(request.form.get("query", ""))
        back += "?" + query.query_string()
        saved = platform().register.save_filter(g.user, request.form.get("name"), query)
        flash(_("Saved the filter %(name)s.", name=saved.name), "success")
    except ValidationFailed as exc:
        flash(_("Give the filter a name of 1 to 60 characters.") if "name" in exc.fields else
              _("Choose a filter to save first.") if "query" in exc.fields else _("The search is not valid."), "error")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(back)


@bp.post("/filters/<int:filter_id>/delete")
@roles_required(*STAFF)
def delete_filter(filter_id):
    try:
        platform().register.delete_filter(g.user, filter_id)
        flash(_("The saved filter was deleted."), "success")
    except NotFound:
        abort(404)
    return redirect(url_for("contracts.index"))


@bp.get("/<int:contract_id>")
@roles_required(*STAFF)
def show(contract_id):
    services = platform()
    with services.db.read() as session:
        contract = services.contracts.get(session, contract_id)
        data = services.contracts.version_data(session, contract.id, contract.current_version)
        letters = services.letters.listing(session, contract)
        tasks = services.tasks.query(session, contract_id=contract.id)
        versions = services.contracts.versions(session, contract.id)
        history = services.history.for_contract(session, contract.id)
        know_people(session, [*people_in(history), *(t.assignee for t in tasks), *(v.created_by for v in versions)])
        changes = amendment_section(services, session, g.user, contract) if contract.effective_from else {}
        in_force = changes["terms"]["data"] if changes and changes["terms"]["history"] else data
        return render_template(
            "contracts/show.html", contract=contract, data=data, figures=in_force["figures"], tasks=tasks,
            incident=services.runtime.incident(session, contract.id),
            failed_jobs=services.jobs.failed(session, contract.id), versions=versions, letters=letters,
            activation_missing=services.activation.blockers(session, contract),
            lint=services.contracts.lint(data, [letter["title"] for letter in letters]),
            signatures=services.signing.signatures(session, contract.id),
            signing_document=services.documents.current_facts(session, contract),
            package=contract.status == "active" and services.documents.has_package(session, contract.id),
            pending_change=services.customers.pending_contact_change(session, contract.id),
            notice_deadline=services.renewals.notice_deadline(session, contract),
            earliest_termination=services.termination.earliest(session, contract),
            renewal_of=services.contracts.get(session, contract.renewal_of_id) if contract.renewal_of_id else None,
            renewed_by=services.contracts.get(session, contract.renewed_by_id) if contract.renewed_by_id else None,
            today=china_time(utcnow()).date(),
            audit=services.history.audit(session, contract.id), history=history,
            plan=services.payments.schedule(session, g.user, contract.id),
            task_titles=services.history.task_titles(session, contract.id), **changes)


@bp.post("/<int:contract_id>/jobs/<int:job_id>/retry")
@roles_required("admin")
def retry_job(contract_id, job_id):
    """An administrator runs background work that gave up once more (after repairing its cause)."""
    try:
        with platform().db.write() as session:
            platform().jobs.retry(session, job_id, contract_id=contract_id)
        flash(_("The background work runs again."), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("contracts.show", contract_id=contract_id))


@bp.get("/<int:contract_id>/preview")
@roles_required(*STAFF)
def preview(contract_id):
    with platform().db.read() as session:
        contract = platform().contracts.get(session, contract_id)
        version = request.args.get("version", type=int)
        if version is not None and not 1 <= version <= contract.current_version:
            abort(404)
        return document_response(platform().documents.html(session, contract, version))


@bp.get("/<int:contract_id>/document.pdf")
@roles_required(*STAFF)
def document_pdf(contract_id):
    """A version as read in review; the current one of a contract in signing or signed: the signed PDF itself."""
    try:
        with platform().db.read() as session:
            contract = platform().access.contract(session, g.user, contract_id)
            download = platform().documents.readable_pdf(session, contract, request.args.get("version", type=int))
    except NotFound:
        abort(404)
    return pdf_response(download)


@bp.get("/<int:contract_id>/amendments/<int:number>/document.pdf")
@roles_required(*STAFF)
def amendment_document(contract_id, number):
    """A 补充协议 as it stands: to sign, or with every signature so far."""
    try:
        with platform().db.read() as session:
            download = platform().supplements.download(session, g.user, contract_id, number)
    except NotFound:
        abort(404)
    return pdf_response(download)


@bp.get("/<int:contract_id>/package.pdf")
@roles_required(*STAFF)
def package_pdf(contract_id):
    try:
        with platform().db.read() as session:
            download = platform().documents.package_download(
                session, platform().access.contract(session, g.user, contract_id))
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("contracts.show", contract_id=contract_id))
    if download is None:
        flash(_("The signed package is being prepared; it will be here in a moment."), "success")
        return redirect(url_for("contracts.show", contract_id=contract_id))
    return pdf_response(download, "attachment")


@bp.get("/<int:contract_id>/diff")
@roles_required(*STAFF)
def diff(contract_id):
    with platform().db.read() as session:
        contract = platform().contracts.get(session, contract_id)
        before = request.args.get("from", type=int) or max(contract.current_version - 1, 1)
        after = request.args.get("to", type=int) or contract.current_version
        if not (1 <= before <= contract.current_version and 1 <= after <= contract.current_version):
            abort(404)
        changes = platform().documents.diff(session, contract, before, after)
    return render_template("contracts/diff.html", contract=contract, changes=changes, before=before, after=after)


def _form_response(form, contract=None, preview=None, unplaced=None, status=200):
    return render_template("contracts/form.html", form=form, contract=contract, preview=preview,
                           unplaced=unplaced or {}), status


def _offer_providers(form, contract=None):
    """The provider select: a new draft's choice of every profile (the drafting service's default chosen unless the
    form says otherwise); a contract's own provider only."""
    form.provider.choices, default = platform().drafting.providers(g.user, contract)
    form.provider.data = form.provider.data or default
    return form


def _handle_form(form, save, contract=None):
    """Shared by new and edit: add a row, preview, or save (create/revise, then optionally submit)."""
    _offer_providers(form, contract)
    action = request.form.get("action", "save")
    if action.startswith("add:"):  # without JavaScript; contract-form.js adds and removes rows in the page
        form.add_row(action[4:])
        return _form_response(form, contract)
    if action.startswith("remove:"):
        name, _sep, position = action[7:].rpartition("-")
        form.remove_row(name, int(position) if position.isdigit() else -1)
        return _form_response(form, contract)
    if not form.validate():  # CSRF and field types; the contract rules come from the services below
        return _form_response(form, contract, status=400)
    draft = form.to_draft()
    if action == "preview":
        try:
            with platform().db.read() as session:
                preview = platform().documents.draft_preview(session, draft, contract, number=_("(number on saving)"),
                                                             branch=g.user.provider_code)
            return _form_response(form, contract, preview=preview)
        except ValidationFailed as exc:
            return _form_response(form, contract, unplaced=form.attach_errors(exc.fields), status=422)
    try:
        saved = save(draft)
    except ValidationFailed as exc:
        return _form_response(form, contract, unplaced=form.attach_errors(exc.fields), status=422)
    except DomainError as exc:
        flash(exc.message, "error")
        return _form_response(form, contract, status=409)
    if action == "submit":
        try:
            platform().approval.submit(g.user, saved.id)
        except DomainError as exc:
            flash(_("Saved as version %(v)s, but not submitted: %(why)s", v=saved.current_version, why=exc.message), "error")
            return redirect(url_for("contracts.show", contract_id=saved.id))
    flash(_("Submitted for review.") if action == "submit" else _("Saved as version %(v)s.", v=saved.current_version), "success")
    return redirect(url_for("contracts.show", contract_id=saved.id))


@bp.route("/new", methods=["GET", "POST"])
@roles_required("sales")
def new():
    form = ContractForm()
    if request.method == "GET":
        return _form_response(_offer_providers(form))
    return _handle_form(form, lambda draft: platform().drafting.create(g.user, draft))


@bp.route("/<int:contract_id>/edit", methods=["GET", "POST"])
@roles_required("sales")
def edit(contract_id):
    with platform().db.read() as session:
        contract = platform().contracts.get(session, contract_id)
        current = platform().contracts.current_draft(session, contract)
    if contract.status != "draft":
        flash(_("Only a draft with sales can be edited."), "error")
        return redirect(url_for("contracts.show", contract_id=contract.id))
    if request.method == "GET":
        return _form_response(_offer_providers(ContractForm.from_draft(current), contract), contract)

    def save(draft):  # the form carries every field, so the patch replaces the whole draft (null removes what was cleared)
        cleared = {key: None for key in current if key not in draft}
        return platform().drafting.revise(g.user, contract.id, {**cleared, **draft})
    return _handle_form(ContractForm(), save, contract)


@bp.post("/<int:contract_id>/submit")
@roles_required("sales")
def submit(contract_id):
    try:
        platform().approval.submit(g.user, contract_id, request.form.get("comment", ""))
        flash(_("Submitted for review."), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("contracts.show", contract_id=contract_id))


@bp.post("/<int:contract_id>/withdraw")
@roles_required("sales")
def withdraw(contract_id):
    try:
        platform().approval.withdraw(g.user, contract_id, request.form.get("comment", ""))
        flash(_("Withdrawn: the contract is a draft with sales again."), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("contracts.show", contract_id=contract_id))


@bp.post("/<int:contract_id>/renewal")
@roles_required("sales")
def start_renewal(contract_id):
    """The renewal draft, prefilled from this contract: sales check it on its own page, then submit it."""
    try:
        renewal = platform().renewals.start(g.user, contract_id)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("contracts.show", contract_id=contract_id))
    flash(_("Renewal draft %(number)s created from this contract: check it, then submit it for review.",
            number=renewal.number), "success")
    return redirect(url_for("contracts.show", contract_id=renewal.id))


@bp.post("/<int:contract_id>/non-renewal")
@roles_required("sales", "admin")
def give_non_renewal_notice(contract_id):
    try:
        platform().renewals.give_notice(g.user, contract_id, request.form.get("comment", ""))
        flash(_("Notice of non-renewal given: the contract ends with its term."), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("contracts.show", contract_id=contract_id))


@bp.post("/<int:contract_id>/termination")
@roles_required("sales", "admin")
def terminate(contract_id):
    try:
        brief = platform().termination.terminate(g.user, contract_id, request.form.get("effective_on"),
                                                 request.form.get("reason"))
        flash(_("The contract is terminated.") if brief["status"] == "terminated"
              else _("Termination recorded: the contract ends on the date given."), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("contracts.show", contract_id=contract_id))


@bp.post("/<int:contract_id>/amendments")
@roles_required("sales", "admin")
def propose_amendment(contract_id):
    """The provider proposes a change: the form's changed fields, with a reason."""
    services = platform()
    try:
        with services.db.read() as session:
            draft = services.amendments.effective_terms(session, services.contracts.get(session, contract_id))["draft"]
        amendment = services.amendments.propose(g.user, contract_id, amendment_from_form(request.form, draft))
        flash(_("Supplementary agreement %(n)s proposed: the customer answers by %(when)s.", n=amendment["number"],
                when=moment(amendment["answer_due_at"])), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("contracts.show", contract_id=contract_id, _anchor="amendments"))


@bp.post("/<int:contract_id>/amendments/<int:number>/answer")
@roles_required("sales")
def answer_amendment(contract_id, number):
    try:
        amendment = platform().amendments.answer(g.user, contract_id, number, request.form.get("decision"),
                                                 request.form.get("comment", ""), form_version(request.form))
        flash(_("Supplementary agreement %(n)s is in effect.", n=number) if amendment["status"] == "effective"
              else _("Your answer is recorded."), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("contracts.show", contract_id=contract_id, _anchor="amendments"))
