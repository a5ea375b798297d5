"""Customer pages: invitations, the signing page (/sign/<id>) and the portal (/portal); and the staff page that
resends an invitation, changes the contact, or (admin) binds a signer."""
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from functools import wraps

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.documents import render_contract_html, render_contract_pdf
from workflows.errors import Conflict, DomainError, ValidationFailed
from workflows.models import Signature
from workflows.services.customers import CONSENT_TEXT, png_from_data_url
from workflows.services.letters import FILL_STATUSES

from ..errors import status_of
from ..oidc import AFTER_LOGIN, providers
from ..security import client_ip, platform, roles_required
from ..signing_flow import (confirm_code, current, customer_signer, issue_code, sign_letter_pdf, signature_evidence,
                            store)

log = logging.getLogger(__name__)
bp = Blueprint("customer", __name__)
PORTAL_STATUSES = ("awaiting_customer", "countersigning", "active", "declined", "expired")


def customer_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("customer") is None:
            from flask import session
            session[AFTER_LOGIN] = request.path
            return render_template("customer/sign_in.html", providers=providers()), 401
        return view(*args, **kwargs)
    return wrapped


# --- documents: the PDF of a version, rendered once per process and hashed --------------------------------------------
_pdf_cache, _pdf_lock = OrderedDict(), threading.Lock()


def document_for(session, contract):
    data = platform().contracts.version_data(session, contract.id, contract.current_version)
    return {"number": contract.number, "version": contract.current_version, "status": contract.status, "data": data,
            "letters": platform().contracts.letters(session, contract, data)}


def document_pdf(document):
    """(pdf bytes, sha256) of the exact bytes shown; the same document renders once per process (LRU of 8)."""
    key = hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    with _pdf_lock:
        if key in _pdf_cache:
            _pdf_cache.move_to_end(key)
            return _pdf_cache[key]
    pdf = render_contract_pdf(document)
    value = (pdf, hashlib.sha256(pdf).hexdigest())
    with _pdf_lock:
        _pdf_cache[key] = value
        while len(_pdf_cache) > 8:
            _pdf_cache.popitem(last=False)
    return value


def apply_pades(contract, pdf, signature):
    """The customer's PAdES signature into the ``customer`` field of the contract's one certified PDF.

    Returns (base SHA-256, signed PDF, signature record) or None when PAdES is off. Runs outside the write
    transaction (it can take seconds); ``sign_post`` stores the result with the evidence (409 if another
    signature was stored in between). ``pdf`` is the rendered PDF the signer saw (certified on first use).
    """
    from ..signing_flow import ensure_certified, pades_enabled, sign_into
    if not pades_enabled():
        return None
    certified, base = ensure_certified(contract.id)
    signed, record = sign_into(certified, "customer", {
        "name": signature["name"], "subject_id": f"{signature['issuer']}|{signature['subject']}",
        "organisation": contract.customer_name, "email": signature["email"], "role": "customer",
        "method": signature["method"]}, signature.get("image"), {
        "intent": signature.get("intent"), "ip": signature["ip"], "user_agent": signature["user_agent"],
        "consent_text": CONSENT_TEXT})
    return base, signed, record


def _refused(exc):
    return render_template("customer/refused.html", message=exc.message, status=status_of(exc)), status_of(exc)


# --- portal and invitations -------------------------------------------------------------------------------------------
@bp.get("/portal")
def portal():
    if g.get("customer") is None:
        return render_template("customer/sign_in.html", providers=providers())
    with platform().db.read() as session:
        contracts = platform().customers.contracts_for(session, g.customer)
        open_tasks = {c.id for c in contracts if platform().customers.open_customer_task(session, c.id) is not None}
    return render_template("customer/portal.html", contracts=contracts, open_tasks=open_tasks)


@bp.route("/invitations/<token>", methods=["GET", "POST"])
def invitation(token):
    if g.get("customer") is None:
        from flask import session
        session[AFTER_LOGIN] = request.path
        return render_template("customer/sign_in.html", providers=providers(), invited=True)
    if request.method == "GET":
        return render_template("customer/accept.html", token=token)
    try:
        with platform().db.write() as session:
            contract_id = platform().customers.accept(session, token, g.customer)
    except DomainError as exc:
        return _refused(exc)
    return redirect(url_for("customer.sign", contract_id=contract_id))


# --- signing -------------------------------------------------------------------------------------------------------------
def _load(session, contract_id):
    return platform().customers.check_signer(session, contract_id, g.customer)


@bp.get("/sign/<int:contract_id>")
@customer_required
def sign(contract_id, errors=None, status=200, form=None):
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            document = document_for(session, contract)
            task = platform().customers.open_customer_task(session, contract.id)
            signatures = platform().customers.signatures(session, contract.id)
    except DomainError as exc:
        return _refused(exc)
    _pdf, digest = document_pdf(document)
    return render_template("customer/sign.html", contract=contract, document=document, digest=digest, task=task,
                           letters=document["letters"], consent_text=CONSENT_TEXT, signatures=signatures,
                           errors=errors or {}, form=form or {}), status


@bp.post("/sign/<int:contract_id>")
@customer_required
def sign_post(contract_id):
    form = request.form
    decision = form.get("decision")
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            document = document_for(session, contract)
        if decision == "decline":
            with platform().db.write() as session:
                platform().customers.decline(session, contract_id, g.customer, form.get("reason", "")[:2000])
            flash(_("You declined to sign. The provider has been told."), "success")
            return redirect(url_for("customer.portal"))
        pdf, expected = document_pdf(document)
        method = form.get("method")
        image = None
        if method == "drawn":
            image = png_from_data_url(form.get("signature_image"))
        elif method == "seal":
            upload = request.files.get("seal")
            image = upload.read(1024 * 1024 + 1) if upload else None
        try:
            version = int(form.get("version", ""))
        except ValueError:
            version = -1
        evidence = {"name": g.customer.name or form.get("typed_name", ""), "issuer": g.customer.issuer,
                    "subject": g.customer.subject, "email": g.customer.email, "method": method, "image": image,
                    "ip": client_ip(), "user_agent": request.user_agent.string, "letters": document["letters"]}
        pades = None
        if form.get("document_sha256") == expected and version == contract.current_version and form.get("consent"):
            # the intent check at the moment of signing, before any key is made (a wrong code counts an attempt)
            evidence["intent"] = confirm_code(contract.id, customer_signer(g.customer), form.get("intent_code"))
            pades = apply_pades(contract, pdf, evidence)
        with platform().db.write() as session:
            if pades is not None:
                store(session, contract_id, "signed:customer", pades[0], pades[1])
            row = platform().customers.sign(
                session, contract_id, g.customer, version=version, document_sha256=form.get("document_sha256"),
                expected_sha256=expected, method=method, consent=bool(form.get("consent")),
                typed_name=form.get("typed_name", ""), image_png=image, ip=client_ip(), user_agent=request.user_agent.string)
            signature_evidence(row, pades[2] if pades else None, evidence.get("intent"), pades[1] if pades else None)
            session.add(row)
    except ValidationFailed as exc:
        return sign(contract_id, errors=exc.fields, status=422, form=form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("Thank you: the contract is signed. The provider will countersign it."), "success")
    return redirect(url_for("customer.portal"))


@bp.post("/sign/<int:contract_id>/intent")
@customer_required
def intent(contract_id):
    """Send me a code: a one-time confirmation code to the signer's verified email (10 minutes, single use)."""
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            if contract.status not in FILL_STATUSES:  # the contract, or a letter until activation
                raise Conflict(f"nothing is waiting for your signature (the contract is {contract.status})")
        sent = issue_code(contract.id, customer_signer(g.customer))
    except DomainError as exc:
        return _refused(exc)
    flash(_("A confirmation code was sent to %(destination)s; it is valid for 10 minutes.",
            destination=sent["destination"]), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor="sign"))


# --- letters: fill in, preview, sign (the same evidence as the contract) ------------------------------------------------
@bp.post("/sign/<int:contract_id>/letters/<code>")
@customer_required
def letter_fill(contract_id, code):
    values = {key[len("value."):]: value for key, value in request.form.items() if key.startswith("value.")}
    try:
        with platform().db.read() as session:
            _load(session, contract_id)
        platform().letters.fill(platform().db, contract_id, code, values, f"customer:{g.customer.id}")
    except ValidationFailed as exc:
        return sign(contract_id, errors={f"{code}.{k}": v for k, v in exc.fields.items()}, status=422, form=request.form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("The letter is filled in. Read it, then sign it."), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id, _anchor=f"letter-{code}"))


@bp.post("/sign/<int:contract_id>/letters/<code>/sign")
@customer_required
def letter_sign(contract_id, code):
    form = request.form
    method = form.get("method")
    upload = request.files.get("seal") if method == "seal" else None
    image = upload.read(1024 * 1024 + 1) if upload else None
    signer = {"actor": f"customer:{g.customer.id}", "identity_id": g.customer.id, "issuer": g.customer.issuer,
              "subject": g.customer.subject, "name": g.customer.name or form.get("typed_name", ""), "email": g.customer.email}
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
        pades = sign_letter_pdf(contract, code, customer_signer(g.customer), form.get("document_sha256"),
                                bool(form.get("consent")), form.get("intent_code"), method, form.get("typed_name", ""),
                                image, client_ip(), request.user_agent.string)
        with platform().db.write() as session:
            _load(session, contract_id)
            if pades["pdf"] is not None:
                store(session, contract_id, f"signed:letter:{code}"[:40], pades["base"], pades["pdf"])
            letter = platform().letters.sign(
                session, contract_id, code, signer, document_sha256=form.get("document_sha256"), method=method,
                consent=bool(form.get("consent")), typed_name=form.get("typed_name", ""), image_png=image, ip=client_ip(),
                user_agent=request.user_agent.string)
            signature_evidence(session.get(Signature, letter.signature_id), pades["record"], pades["intent"], pades["pdf"])
    except ValidationFailed as exc:
        return sign(contract_id, errors={f"{code}.{k}": v for k, v in exc.fields.items()}, status=422, form=form)
    except DomainError as exc:
        return _refused(exc)
    flash(_("The letter is signed."), "success")
    return redirect(url_for("customer.sign", contract_id=contract_id))


@bp.get("/sign/<int:contract_id>/letters/<code>.pdf")
@customer_required
def letter_pdf(contract_id, code):
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            letter = platform().letters.get(session, contract.id, code)
            pdf = letter.document_pdf
            html = None if pdf else platform().letters.html(session, contract, code)
    except DomainError as exc:
        return _refused(exc)
    pdf = pdf or platform().letters.render_pdf(html)
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'inline; filename="{contract.number}-{code}.pdf"'})


@bp.get("/sign/<int:contract_id>/package.pdf")
@customer_required
def package(contract_id):
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            if contract.status != "active":
                raise Conflict(f"the package exists once the contract is active (it is {contract.status})")
        from ..signing_flow import package_pdf, pades_enabled
        pdf = package_pdf(platform().db.read, contract) if pades_enabled() else None
        if pdf is None:
            with platform().db.read() as session:
                pdf = platform().letters.package(session, _load(session, contract_id))
    except DomainError as exc:
        return _refused(exc)
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{contract.number}-package.pdf"'})


@bp.get("/sign/<int:contract_id>/preview")
@customer_required
def preview(contract_id):
    try:
        with platform().db.read() as session:
            document = document_for(session, _load(session, contract_id))
    except DomainError as exc:
        return _refused(exc)
    response = Response(render_contract_html(document), mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:"
    return response


@bp.get("/sign/<int:contract_id>/document.pdf")
@customer_required
def document(contract_id):
    """The current version as shown for signing; once signed, the PDF carrying the customer's PAdES signature."""
    try:
        with platform().db.read() as session:
            contract = _load(session, contract_id)
            doc = document_for(session, contract)
            signed = current(session, contract.id)
            signed = signed.pdf if signed is not None and signed.kind != f"certified:v{contract.current_version}" else None
    except DomainError as exc:
        return _refused(exc)
    if signed and request.args.get("signed") == "1":
        pdf, name = signed, f"{contract.number}-signed.pdf"
    else:
        pdf, name = document_pdf(doc)[0], f"{contract.number}-v{doc['version']}.pdf"
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- staff: invitation, contact, binding --------------------------------------------------------------------------------
@bp.route("/contracts/<int:contract_id>/invitation", methods=["GET", "POST"])
@roles_required("sales", "admin")
def manage_invitation(contract_id):
    customers = platform().customers
    errors = {}
    if request.method == "POST":
        action = request.form.get("action")
        try:
            with platform().db.write() as session:
                if action == "resend":
                    customers.invite(session, contract_id, g.user.username, keep_binding=True, reason="resent")
                    flash(_("A new invitation was sent; the earlier link no longer works."), "success")
                elif action == "change_contact":
                    customers.invite(session, contract_id, g.user.username, email=request.form.get("email", "").strip(),
                                     reason="contact changed")
                    flash(_("The invitation was sent to the new contact; the earlier link no longer works."), "success")
                elif action == "bind":
                    raw = request.form.get("identity_id", "")
                    customers.bind(session, contract_id, int(raw) if raw.isdigit() else None, g.user)
                    flash(_("The signer is bound."), "success")
                else:
                    raise ValidationFailed("unknown action", {"action": "resend, change_contact or bind"})
            return redirect(url_for("customer.manage_invitation", contract_id=contract_id))
        except ValidationFailed as exc:
            errors = exc.fields
        except DomainError as exc:
            return _refused(exc)
    try:
        with platform().db.read() as session:
            contract = platform().contracts.get(session, contract_id)
            invitations = customers.invitations(session, contract.id)
            current = customers.current_invitation(session, contract.id)
            alive = customers.is_alive(session, current)
            signer = customers.signer(session, contract.id)
            signatures = customers.signatures(session, contract.id)
    except DomainError as exc:
        return _refused(exc)
    return render_template("customer/manage.html", contract=contract, invitations=invitations, current=current,
                           alive=alive, signer=signer, signatures=signatures, errors=errors), 422 if errors else 200


def init_app(app):
    app.register_blueprint(bp)

    @app.after_request
    def no_referrer_on_invitations(response):
        if request.path.startswith(("/invitations/", "/sign/")):
            response.headers.setdefault("Referrer-Policy", "no-referrer")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
