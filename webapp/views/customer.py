"""Customer pages: invitations, the signing page (/sign/<id>: the letters to fill, the one document, the signing act,
declining), the portal (/portal); and the staff page about who signs (resend, change the contact, approve a change,
bind a signer). Every action is one call to a use case of ``workflows``."""
from functools import wraps

from flask import Blueprint, Response, flash, g, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from workflows.actors import CustomerActor
from workflows.clock import china_time, utcnow
from workflows.errors import DomainError, ValidationFailed
from workflows.services.amendments import describe_changes
from workflows.services.signing import CONSENT_TEXT, Origin, SignatureInput, png_from_data_url
from workflows.services.supplements import CONSENT_TEXT as SUPPLEMENT_CONSENT

from ..amendment_form import amendment_from_form, amendment_section, form_version
from ..downloads import pdf_response
from ..errors import status_of, with_retry_after
from ..i18n import moment
from ..labels import field_errors
from ..oidc import AFTER_LOGIN, providers
from ..security import client_ip, document_response, platform, roles_required

bp = Blueprint("customer", __name__)


def customer_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("customer") is None:
            session[AFTER_LOGIN] = request.path
            return render_template("customer/sign_in.html", providers=providers()), 401
        return view(*args, **kwargs)
    return wrapped


def actor():
    return CustomerActor.of(g.customer)


def origin():
    return Origin(client_ip(), request.user_agent.string)


def signature_input(form):
    """The signing form's fields (``customer/_sign_form.html``): the drawn signature, the typed name or the seal."""
    method = form.get("method")
    if method == "drawn":
        image = png_from_data_url(form.get("signature_image"))
    elif method == "seal":
        upload = request.files.get("seal")
        image = upload.read(1024 * 1024 + 1) if upload else None
    else:
        image = None
    return SignatureInput(document_sha256=form.get("document_sha256"), consent=bool(form.get("consent")), method=method,
                          typed_name=form.get("typed_name", ""), image_png=image, intent_code=form.get("intent_code"))


def _refused(exc):
    page = render_template("customer/refused.html", message=exc.message, status=status_of(exc))
    return with_retry_after(make_response(page, status_of(exc)), exc)


# --- portal and invitations -------------------------------------------------------------------------------------------
@bp.get("/portal")
def portal():
    if g.get("customer") is None:
        return render_template("customer/sign_in.html", providers=providers())
    with platform().db.read() as db:
        contracts = platform().access.customer_contracts(db, actor())
        open_tasks = platform().contracts.with_open_task(db, [c.id for c in contracts], "customer")
        supplements = platform().supplements.awaiting_customer(db, [c.id for c in contracts if c.id in open_tasks])
        packaged = {c.id for c in contracts if c.status == "active" and platform().documents.has_package(db, c.id)}
    return render_template("customer/portal.html", contracts=contracts, open_tasks=open_tasks, packaged=packaged,
                           supplements=supplements)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token):
    if g.get("customer") is None:
        session[AFTER_LOGIN] = request.path
        return render_template("customer/sign_in.html", providers=providers(), invited=True)
    if request.method == "GET":
        try:
            invitation = platform().invitations.preview(actor(), token)
        except DomainError as exc:
            return _refused(exc)
        return render_template("customer/accept.html", token=token, invitation=invitation)
    try:
        contract_id = platform().invitations.accept(actor(), token)
    except DomainError as exc:
        return _refused(exc)
    return redirect(url_for("customer.sign", contract_id=contract_id))


# --- signing -------------------------------------------------------------------------------------------------------------
@bp.get("/sign/<int:contract_id>")
@customer_required
def sign(contract_id, errors=None, status=200, form=None):
    services = platform()
    try:
        with services.db.read() as db:
            contract = services.access.contract(db, actor(), contract_id)
            task = services.contracts.open_task(db, contract.id, "customer")
            state = services.signing.signing_state(db, contract) if contract.status == "awaiting_customer" else None
            letters = services.letters.listing(db, contract)
            signatures = services.signing.signatures(db, contract.id)
            package = contract.status == "active" and services.documents.has_package(db, contract.id)
            reading = services.documents.page_listing(db, contract)
            code = services.signing.pending_code(db, actor(), contract) if state else None
            notice_deadline = services.renewals.notice_deadline(db, contract)
            changes = amendment_section(services, db, actor(), contract) if contract.effective_from else {}
    except DomainError as exc:
        return _refused(exc)
    return render_template("customer/sign.html", contract=contract, task=task, state=state, letters=letters,
                           signatures=signatures, package=package, consent_text=CONSENT_TEXT,
                           notice_deadline=notice_deadline, today=china_time(utcnow()).date(),
                           reading=reading, code=code, errors=errors or {}, form=form or {}, **changes), status


@bp.post("/sign/<int:contract_id>")
@customer_required
def sign_post(contract_id):
    """The signing act: the contract and every letter, with one code. A refused act keeps what the signer drew,
    typed and ticked."""
    try:
        platform().signing.sign_as_customer(actor(), contract_id, signature_input(request.form), origin())
    except ValidationFailed as exc:
        return sign(contract_id, errors=exc.fields, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("Thank you: the contract and its letters are signed. The provider will countersign it."), "success")
    return redirect(url_for("customer.portal"))


@bp.post("/sign/<int:contract_id>/decline")
@customer_required
def decline(contract_id):
    try:
        platform().approval.decline(actor(), contract_id, request.form.get("reason", ""))
    except ValidationFailed as exc:
        return sign(contract_id, errors={"reason": exc.fields.get("comment") or exc.message}, status=422,
                    form=request.form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("You declined to sign. The provider has been told."), "success")
    return redirect(url_for("customer.portal"))


@bp.post("/sign/<int:contract_id>/non-renewal")
@customer_required
def give_non_renewal_notice(contract_id):
    """The customer's notice that the contract is not to renew (before the deadline the contract states)."""
    try:
        platform().renewals.give_notice(actor(), contract_id, request.form.get("comment", ""))
    except DomainError as exc:
        return _refused(exc)
    flash(_("Your notice of non-renewal is recorded: the contract ends with its term. The provider has been told."),
          "success")
    return redirect(url_for("customer.sign", contract_id=contract_id))


@bp.post("/sign/<int:contract_id>/amendments")
@customer_required
def propose_amendment(contract_id):
    """The customer proposes a change: the form's changed fields, with a reason."""
    services = platform()
    try:
        with services.db.read() as db:
            contract = services.access.contract(db, actor(), contract_id)
            draft = services.amendments.effective_terms(db, contract)["draft"]
        amendment = services.amendments.propose(actor(), contract_id, amendment_from_form(request.form, draft))
    except ValidationFailed as exc:
        flash(field_errors(exc), "error")
        return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="amendments"))
    except DomainError as exc:
        return _refused(exc)
    flash(_("Your change is proposed as supplementary agreement %(n)s: the provider answers by %(when)s.",
            n=amendment["number"], when=moment(amendment["answer_due_at"])), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="amendments"))


@bp.post("/sign/<int:contract_id>/amendments/<int:number>/answer")
@customer_required
def answer_amendment(contract_id, number):
    """The customer agrees to, or refuses, the provider's change."""
    try:
        amendment = platform().amendments.answer(actor(), contract_id, number, request.form.get("decision"),
                                                 request.form.get("comment", ""), form_version(request.form))
    except ValidationFailed as exc:
        flash(field_errors(exc), "error")
        return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="amendments"))
    except DomainError as exc:
        return _refused(exc)
    flash(_("Supplementary agreement %(n)s is in effect.", n=number) if amendment["status"] == "effective"
          else _("Your answer is recorded."), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="amendments"))


@bp.get("/sign/<int:contract_id>/amendments/<int:number>")
@customer_required
def amendment(contract_id, number, errors=None, status=200, form=None):
    """A 补充协议: what it changes, its PDF, and the signing form while it waits for the customer's signature."""
    services = platform()
    try:
        with services.db.read() as db:
            contract = services.access.contract(db, actor(), contract_id)
            item = services.amendments.get(db, actor(), contract.id, number)
            code = services.signing.pending_code(db, actor(), contract, services.amendments.row(db, contract.id, number)) \
                if item["signing_party"] == "customer" else None
    except DomainError as exc:
        return _refused(exc)
    lines = [line.removeprefix("· ") for line in describe_changes(item["changes"], item["before"]).splitlines()]
    return render_template("customer/amendment.html", contract=contract, amendment=item, lines=lines,
                           consent_text=SUPPLEMENT_CONSENT, code=code, errors=errors or {}, form=form or {}), status


@bp.post("/sign/<int:contract_id>/amendments/<int:number>/intent")
@customer_required
def amendment_intent(contract_id, number):
    """Send me a code: one one-time code (10 minutes) for signing this 补充协议."""
    try:
        sent = platform().supplements.request_intent(actor(), contract_id, number)
    except ValidationFailed as exc:
        return amendment(contract_id, number, errors=exc.fields, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    message = _("A confirmation code was sent to %(destination)s; it is valid for 10 minutes.",
                destination=sent["destination"])
    if request.accept_mimetypes.best == "application/json":  # the page's script: it shows the code field in place
        return jsonify({"message": message})
    return redirect(url_for("customer.amendment", contract_id=contract_id, number=number, _anchor="code"))


@bp.post("/sign/<int:contract_id>/amendments/<int:number>/sign")
@customer_required
def sign_amendment(contract_id, number):
    """The customer signs the 补充协议 with one code; a refused act keeps what was drawn, typed and ticked."""
    try:
        platform().supplements.sign(actor(), contract_id, number, signature_input(request.form), origin())
    except ValidationFailed as exc:
        return amendment(contract_id, number, errors=exc.fields, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("Thank you: supplementary agreement %(n)s is signed. The provider will countersign it.", n=number),
          "success")
    return redirect(url_for("customer.amendment", contract_id=contract_id, number=number))


@bp.get("/sign/<int:contract_id>/amendments/<int:number>/document.pdf")
@customer_required
def amendment_document(contract_id, number):
    """The 补充协议 as it stands: to sign, or with every signature so far."""
    try:
        with platform().db.read() as db:
            download = platform().supplements.download(db, actor(), contract_id, number)
    except DomainError as exc:
        return _refused(exc)
    return pdf_response(download)


@bp.post("/sign/<int:contract_id>/intent")
@customer_required
def intent(contract_id):
    """Send me a code: one one-time code (10 minutes) for signing the contract and all its letters."""
    try:
        sent = platform().signing.request_intent(actor(), contract_id)
    except ValidationFailed as exc:
        return sign(contract_id, errors=exc.fields, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    if request.accept_mimetypes.best == "application/json":  # the page's script: it shows the code field in place
        return jsonify({"message": _("A confirmation code was sent to %(destination)s; it is valid for 10 minutes.",
                                     destination=sent["destination"])})
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="code"))  # the page says where it went


@bp.post("/sign/<int:contract_id>/letters/<code>")
@customer_required
def letter_fill(contract_id, code):
    values = {key[len("value."):]: value for key, value in request.form.items() if key.startswith("value.")}
    try:
        platform().signing.fill_letter(actor(), contract_id, code, values)
    except ValidationFailed as exc:
        return sign(contract_id, errors={f"{code}.{k}": v for k, v in exc.fields.items()}, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("Saved. The document with your entries is being prepared for signing."), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor=f"letter-{code}"))


@bp.get("/sign/<int:contract_id>/preview")
@customer_required
def preview(contract_id):
    try:
        with platform().db.read() as db:
            html = platform().documents.html(db, platform().access.contract(db, actor(), contract_id))
    except DomainError as exc:
        return _refused(exc)
    return document_response(html)


@bp.get("/sign/<int:contract_id>/pages/<string(length=64):source>/<int:number>.png")
@customer_required
def page_image(contract_id, source, number):
    """One page of the document as an image, for reading on a phone: whoever may read the contract's PDF."""
    try:
        with platform().db.read() as db:
            png = platform().documents.page_png(db, platform().access.contract(db, actor(), contract_id), source, number)
    except DomainError as exc:
        return _refused(exc)
    return Response(png, mimetype="image/png")


@bp.get("/sign/<int:contract_id>/document.pdf")
@customer_required
def document(contract_id):
    """The document as it stands: the one to sign once prepared, later the signed one with every signature."""
    try:
        with platform().db.read() as db:
            download = platform().documents.readable_pdf(db, platform().access.contract(db, actor(), contract_id))
    except DomainError as exc:
        return _refused(exc)
    return pdf_response(download)


@bp.get("/sign/<int:contract_id>/package.pdf")
@customer_required
def package(contract_id):
    try:
        with platform().db.read() as db:
            download = platform().documents.package_download(db, platform().access.contract(db, actor(), contract_id))
    except DomainError as exc:
        return _refused(exc)
    if download is None:
        flash(_("The signed package is being prepared; it will be here in a moment."), "success")
        return redirect(url_for("customer.sign", contract_id=contract_id))
    return pdf_response(download, "attachment")


# --- staff: who signs ----------------------------------------------------------------------------------------------------
@bp.post("/contracts/invitations/resend")
@roles_required("sales", "admin")
def resend_invitations():
    """Resend the invitations of the ticked contracts, each on its own: a line per contract says how it went."""
    raw = request.form.getlist("contract_ids")
    try:
        results = platform().invitations.resend_many(g.user, [int(v) if v.isdigit() else v for v in raw])
    except DomainError as exc:
        flash(field_errors(exc), "error")
        return redirect(url_for("contracts.index", **request.args))
    with platform().db.read() as session:
        numbers = platform().contracts.numbers(session, [r["id"] for r in results])
    for result in results:
        number = numbers.get(result["id"], result["id"])
        if result["ok"]:
            flash(_("%(number)s: a new invitation was sent.", number=number), "success")
        else:
            flash(_("%(number)s: not sent: %(reason)s", number=number, reason=result["message"]), "error")
    return redirect(url_for("contracts.index", **request.args))


@bp.route("/contracts/<int:contract_id>/invitation", methods=["GET", "POST"])
@roles_required("sales", "admin")
def manage_invitation(contract_id):
    services = platform()
    errors = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "resend":
                services.invitations.resend(g.user, contract_id)
                flash(_("A new invitation was sent; the earlier link no longer works."), "success")
            elif action == "change_contact":
                change = services.invitations.change_contact(g.user, contract_id, request.form.get("email", ""),
                                                             request.form.get("reason", ""))
                flash(_("The signer had accepted: the change waits for an administrator's approval.") if change else
                      _("The invitation was sent to the new contact; the earlier link no longer works."), "success")
            elif action in ("approve_change", "reject_change"):
                raw = request.form.get("change_id", "")
                services.invitations.decide_contact_change(g.user, int(raw) if raw.isdigit() else None,
                                                           action == "approve_change", request.form.get("comment", ""))
                flash(_("The change of signer was approved.") if action == "approve_change"
                      else _("The change of signer was rejected."), "success")
            elif action == "bind":
                raw = request.form.get("identity_id", "")
                services.invitations.bind(g.user, contract_id, int(raw) if raw.isdigit() else None)
                flash(_("The signer is bound."), "success")
            else:
                raise ValidationFailed("unknown action", {"action": "resend, change_contact or bind"})
            return redirect(url_for("customer.manage_invitation", contract_id=contract_id))
        except ValidationFailed as exc:
            errors = exc.fields
        except DomainError as exc:
            return _refused(exc)
    customers = services.customers
    with services.db.read() as db:
        contract = services.contracts.get(db, contract_id)
        current = customers.current_invitation(db, contract.id)
        page = {"contract": contract, "invitations": customers.invitations(db, contract.id), "current": current,
                "alive": customers.is_alive(db, current), "signer": customers.signer(db, contract.id),
                "signatures": services.signing.signatures(db, contract.id),
                "pending_change": customers.pending_contact_change(db, contract.id),
                "changes": customers.contact_changes(db, contract.id)}
    return render_template("customer/manage.html", errors=errors, **page), 422 if errors else 200


def init_app(app):
    app.register_blueprint(bp)

    @app.after_request
    def no_referrer_on_invitations(response):
        if request.path.startswith(("/invitations/", "/sign/")):
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
