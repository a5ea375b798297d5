"""A licensed CA through SIGNING_CA_*: it issues the signer, seal, TSA and platform certificates, PDFs signed under it
verify against its root, and files that do not load (or a key that is not the certificate's) stop the app at startup."""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlmodel import select

from tests.signing.conftest import CUSTOMER, PLACES, PROVIDER, sign_as
from webapp import config, create_app
from workflows.db import Database
from workflows.models import SigningIdentity
from workflows.signing.pki import DeploymentPKI, PKIError, seal_identity_name
from workflows.signing.verify import verify_pdf

P12_PASSWORD, KEY_PASSWORD = "p12-secret", "key-secret"


def _certificate(subject, issuer_name, public_key, signing_key, ca, days=3650):
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"), x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name).public_key(public_key)
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer_name else None),
                              critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(signing_key, hashes.SHA256())


@dataclass
class LicensedFiles:
    """A licensed CA as a certification service would hand it over: root, and the intermediate we issue under."""

    root: x509.Certificate
    intermediate: x509.Certificate
    folder: Path

    def file(self, name):
        return str(self.folder / name)


@pytest.fixture(scope="module")
def licensed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("licensed-ca")
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _certificate("Test CA Root", None, root_key.public_key(), root_key, ca=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not the EC P-256 of the generated PKI
    intermediate = _certificate("Test CA Document Signing CA", root.subject, key.public_key(), root_key, ca=True)
    pem = serialization.Encoding.PEM
    (folder / "ca.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"qianyue", key, intermediate, [root], serialization.BestAvailableEncryption(P12_PASSWORD.encode())))
    (folder / "ca.crt").write_bytes(intermediate.public_bytes(pem))
    (folder / "ca.der").write_bytes(intermediate.public_bytes(serialization.Encoding.DER))
    (folder / "ca.key").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.BestAvailableEncryption(KEY_PASSWORD.encode())))
    (folder / "chain.pem").write_bytes(root.public_bytes(pem))
    other_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "other.key").write_bytes(other_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
    (folder / "leaf.crt").write_bytes(_certificate("Not a CA", intermediate.subject, other_key.public_key(), key,
                                                   ca=False).public_bytes(pem))
    return LicensedFiles(root, intermediate, folder)


def settings_for(licensed, form):
    if form == "pkcs12":
        return {"SIGNING_CA_FILE": licensed.file("ca.p12"), "SIGNING_CA_PASSWORD": P12_PASSWORD}
    return {"SIGNING_CA_FILE": licensed.file("ca.crt" if form == "pem" else "ca.der"),
            "SIGNING_CA_KEY_FILE": licensed.file("ca.key"), "SIGNING_CA_PASSWORD": KEY_PASSWORD,
            "SIGNING_CA_CHAIN_FILE": licensed.file("chain.pem")}


def app_with(database_url, instance, settings):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                       "INSTANCE_PATH": str(instance), "TESTING": True, **settings})


@pytest.mark.slow
@pytest.mark.parametrize("form", ["pkcs12", "pem"])
def test_the_licensed_ca_issues_every_certificate_and_its_root_verifies_them(
        licensed, form, database_url, tmp_path, contract_pdf):
    app = app_with(database_url, tmp_path, settings_for(licensed, form))
    service = app.extensions["qianyue"].toolkit()
    pki = service.pki
    assert pki.issuing.cert == licensed.intermediate and pki.root.cert == licensed.root
    assert pki.chain == [licensed.intermediate, licensed.root]

    pdf = service.certify(contract_pdf, [place for place in PLACES if place.field_name != "letter-1"])
    pdf, customer = sign_as(service, pdf, "customer", CUSTOMER)
    pdf, provider = sign_as(service, pdf, "provider", PROVIDER)
    report = verify_pdf(pdf, [licensed.root], [licensed.intermediate], pki.asn1_crls())
    assert report.valid, (report.problems, [(s.field, s.verdict_text_en) for s in report.signatures])
    assert {s.field for s in report.signatures} == {"platform-certification", "customer", "provider"}
    assert all(s.chain_to_our_root for s in report.signatures)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _certificate("Test CA Root", None, stranger_key.public_key(), stranger_key, ca=True)  # same name
    assert not verify_pdf(pdf, [stranger], [licensed.intermediate], pki.asn1_crls()).valid

    seal = pki.seal_certificate(PROVIDER["organisation"], PROVIDER["credit_code"])
    _key, signer = pki.issue_signer(CUSTOMER["name"], CUSTOMER["subject_id"])
    for cert in (seal.cert, signer, pki.tsa.cert, pki.platform.cert):
        assert cert.issuer == licensed.intermediate.subject
        cert.verify_directly_issued_by(licensed.intermediate)
    assert format(seal.cert.serial_number, "x") == provider["certificate_serial"]

    db = app.extensions["qianyue"].db
    with db.read() as session:  # derived identities are stored; the licensed CA's key stays in its files
        names = set(session.exec(select(SigningIdentity.name)))
    assert names == {"tsa", "platform", seal_identity_name(PROVIDER["organisation"], PROVIDER["credit_code"])}
    db.dispose()


def test_configuring_a_licensed_ca_later_reissues_what_the_generated_ca_issued(licensed, database_url, tmp_path):
    db = Database(database_url)
    generated = DeploymentPKI.open(db, b"secret")
    generated_seal = generated.seal_certificate(PROVIDER["organisation"], PROVIDER["credit_code"])
    ca = config.settings({"APP_ENV": "development", "INSTANCE_PATH": str(tmp_path),
                         **settings_for(licensed, "der")}).signing().licensed
    under_licence = DeploymentPKI.open(db, b"secret", ca)
    seal = under_licence.seal_certificate(PROVIDER["organisation"], PROVIDER["credit_code"])
    assert under_licence.tsa.issued_by(ca.issuing) and under_licence.platform.issued_by(ca.issuing)
    assert seal.issued_by(ca.issuing) and seal.fingerprint != generated_seal.fingerprint
    assert DeploymentPKI.open(db, b"secret", ca).tsa.fingerprint == under_licence.tsa.fingerprint
    db.dispose()


@pytest.mark.parametrize("wrong, message", [
    ({"SIGNING_CA_PASSWORD": "not-it"}, "SIGNING_CA_FILE .*ca.p12: does not open as PKCS#12 with SIGNING_CA_PASSWORD"),
    ({"SIGNING_CA_FILE": "ca.crt"}, "does not open as PKCS#12 .* needs SIGNING_CA_KEY_FILE"),
    ({"SIGNING_CA_FILE": "ca.crt", "SIGNING_CA_KEY_FILE": "ca.key"},
     "SIGNING_CA_KEY_FILE .*ca.key: not a PEM private key that opens with SIGNING_CA_PASSWORD"),
    ({"SIGNING_CA_FILE": "ca.crt", "SIGNING_CA_KEY_FILE": "other.key", "SIGNING_CA_PASSWORD": ""},
     "SIGNING_CA_KEY_FILE: the private key does not match the certificate CN=Test CA Document Signing CA"),
    ({"SIGNING_CA_FILE": "leaf.crt", "SIGNING_CA_KEY_FILE": "other.key", "SIGNING_CA_PASSWORD": ""},
     "CN=Not a CA,C=CN is not a CA certificate"),
    ({"SIGNING_CA_FILE": "ca.crt", "SIGNING_CA_KEY_FILE": "ca.key", "SIGNING_CA_PASSWORD": KEY_PASSWORD},
     "SIGNING_CA_CHAIN_FILE: no certificate there .* issued CN=Test CA Document Signing CA"),
    ({"SIGNING_CA_FILE": "missing.p12"}, "SIGNING_CA_FILE .*missing.p12: cannot be read"),
])
def test_a_licensed_ca_that_cannot_be_used_stops_the_app_at_startup(licensed, tmp_path, wrong, message):
    settings = {**settings_for(licensed, "pkcs12"), **wrong}
    for name in ("SIGNING_CA_FILE", "SIGNING_CA_KEY_FILE"):
        if name in wrong:
            settings[name] = licensed.file(wrong[name])
    with pytest.raises(PKIError, match=message):
        app_with(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path, settings)
