"""Deployment PKI: a root CA, an issuing CA, a TSA certificate, the platform's own signing identity,
one seal certificate per provider organisation, and a short-lived certificate per signer and signing event.

Every stored identity lives in the database the deployment already shares (table ``signing_identity``), so every
process and every node signs under one root: certificate PEM plus private key PEM encrypted with
``SIGNING_KEY_PASSPHRASE`` (``BestAvailableEncryption``). Each is created at most once: a process inserts its own
under the identity's name and, when another process got there first, discards it and loads the winner's; renewals
near expiry replace a row only if it is still the one read. A licensed CA (:class:`LicensedCA`, from PKCS#12 or
PEM files) replaces the generated root and issuing CA; the derived identities are then issued under it.

Keys are EC P-256: generating one takes ~0.1 ms (RSA 2048 takes 50-100 ms), which matters because every
signing event gets a fresh key that signs once and is then dropped by the caller.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from sqlalchemy import update

from ..clock import utcnow
from ..errors import Conflict
from ..instance import generated_secret
from ..models import SigningIdentity

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SIGNER_VALIDITY = timedelta(minutes=15)
TSA_VALIDITY = timedelta(days=365 * 5)
PLATFORM_VALIDITY = timedelta(days=365 * 3)
SEAL_VALIDITY = timedelta(days=365 * 2)
RENEW_BEFORE = timedelta(days=30)  # TSA and platform: replaced when less than this is left
SEAL_RENEW_BEFORE = timedelta(days=1)
CLOCK_SKEW = timedelta(minutes=5)
CRL_VALIDITY = timedelta(days=7)
PASSPHRASE_SETTING = "SIGNING_KEY_PASSPHRASE"


class PKIError(RuntimeError):
    """The PKI cannot be used as configured; the message says which setting or file to fix."""


def signing_passphrase(configured: str | None, instance: Path, app_env: str) -> bytes:
    """``SIGNING_KEY_PASSPHRASE`` (``configured``); in development a passphrase generated once into
    ``instance/signing_passphrase``.

    The instance folder is what every process of the deployment on this machine shares; nodes that share a
    database must share the passphrase too, hence production requires the setting.
    """
    value = configured
    if value:
        return value.encode()
    if app_env == "production":
        raise RuntimeError(f"{PASSPHRASE_SETTING} must be set when APP_ENV=production")
    path = Path(instance) / "signing_passphrase"
    value = generated_secret(path)
    if not value:
        raise PKIError(f"{path} is empty: set {PASSPHRASE_SETTING}, or delete the file to have one generated")
    return value.encode()


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def to_asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def to_asn1_key(key) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _name(**parts) -> x509.Name:
    oids = {"cn": NameOID.COMMON_NAME, "o": NameOID.ORGANIZATION_NAME, "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "c": NameOID.COUNTRY_NAME, "org_id": NameOID.ORGANIZATION_IDENTIFIER, "uid": NameOID.USER_ID,
            "email": NameOID.EMAIL_ADDRESS}
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts.items() if v])


@dataclass
class Identity:
    """A certificate with its private key (CA, TSA, platform, seal); a licensed CA's root has no key here."""

    cert: x509.Certificate
    key: object

    @property
    def asn1_cert(self):
        return to_asn1_cert(self.cert)

    @property
    def asn1_key(self):
        return to_asn1_key(self.key)

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def issued_by(self, issuer: Identity) -> bool:
        """Signed by ``issuer``: identities stored under another CA (before a licensed one was configured) are not."""
        return _signed_by(self.cert, issuer.cert)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _builder(subject, issuer: Identity | None, public_key, not_before, not_after):
    return (x509.CertificateBuilder().subject_name(subject)
            .issuer_name(issuer.cert.subject if issuer else subject)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _sign(builder, issuer: Identity | None, key):
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()), critical=False)
    return builder.sign((issuer or Identity(None, key)).key, hashes.SHA256())


def _ca(subject, issuer, years, path_length):
    key = new_key()
    now = datetime.now(timezone.utc) - CLOCK_SKEW
    builder = (_builder(subject, issuer, key.public_key(), now, now + timedelta(days=365 * years))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True))
    return Identity(_sign(builder, issuer, key), key)


def _end_entity(subject, issuer, not_before, not_after, eku, key=None, email=None, non_repudiation=True):
    """A certificate under ``issuer``, never outliving it (a licensed CA may expire before our TSA would)."""
    key = key or new_key()
    not_after = min(not_after, issuer.cert.not_valid_after_utc)
    builder = (_builder(subject, issuer, key.public_key(), not_before, not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=non_repudiation,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku), critical=eku == [ExtendedKeyUsageOID.TIME_STAMPING]))
    if email:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    return Identity(_sign(builder, issuer, key), key)


def _current_under(issuer: Identity, renew_before: timedelta):
    """Whether a stored identity can stay: issued by ``issuer`` and not about to expire (unless it already lasts
    as long as ``issuer``, so that a renewal would not last longer)."""
    def is_current(identity: Identity) -> bool:
        horizon = min(datetime.now(timezone.utc) + renew_before, issuer.cert.not_valid_after_utc)
        return identity.cert.not_valid_after_utc >= horizon and identity.issued_by(issuer)
    return is_current


def seal_identity_name(org_name: str, credit_code: str) -> str:
    """The stored name of an organisation's seal: by its name and credit code together, so that two providers
    without a credit code never share a seal, and a renamed organisation gets a seal in its new name."""
    return "seal-" + hashlib.sha256(f"{credit_code}|{org_name}".encode()).hexdigest()[:16]


class IdentityStore:
    """The deployment's identities in the ``signing_identity`` table, keys encrypted with its passphrase.

    Written only by compare-and-swap, so that processes and nodes racing to create or renew an identity all end
    up with the first writer's: an insert under the identity's name (the primary key: a second insert fails on
    SQLite and PostgreSQL alike), or an update of the row only while its fingerprint is the one read.
    """

    def __init__(self, db, passphrase: bytes):
        self.db, self.passphrase = db, passphrase

    def load(self, name: str) -> Identity | None:
        with self.db.read() as session:
            row = session.get(SigningIdentity, name)
        if row is None:
            return None
        try:
            key = serialization.load_pem_private_key(row.private_key_pem.encode(), self.passphrase)
        except (ValueError, TypeError) as exc:
            raise PKIError(f"the key of '{name}' in the database does not open with this {PASSPHRASE_SETTING}: every "
                           "process and node sharing the database needs the passphrase it was stored with") from exc
        return Identity(x509.load_pem_x509_certificate(row.certificate_pem.encode()), key)

    def obtain(self, name: str, issue, is_current=lambda identity: True) -> Identity:
        """The stored identity ``name``; when it is missing or no longer current, ``issue()`` makes a candidate and
        whichever process stores first wins (the others discard theirs and load the winner's)."""
        stored = self.load(name)
        if stored is not None and is_current(stored):
            return stored
        candidate = issue()
        if self._store(name, candidate, replacing=stored):
            return candidate
        winner = self.load(name)
        if winner is None or not is_current(winner):
            raise PKIError(f"'{name}' was just stored by another process under a CA this one does not use: every "
                           "node sharing the database must be configured with the same SIGNING_CA_* files")
        return winner

    def _store(self, name: str, identity: Identity, replacing: Identity | None) -> bool:
        """Insert (``replacing`` None) or replace ``replacing``; False when another writer came first."""
        values = {
            "fingerprint": identity.fingerprint,
            "certificate_pem": identity.cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key_pem": identity.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self.passphrase)).decode(),
            "stored_at": utcnow(),
        }
        try:
            with self.db.write() as session:
                if replacing is None:
                    session.add(SigningIdentity(name=name, **values))
                    session.flush()
                    return True
                replaced = session.execute(
                    update(SigningIdentity)
                    .where(SigningIdentity.name == name, SigningIdentity.fingerprint == replacing.fingerprint)
                    .values(**values))
                return replaced.rowcount == 1
        except Conflict:  # another process stored its identity under this name first: theirs is kept
            return False


@dataclass(frozen=True)
class LicensedCA:
    """A CA certificate and key from a licensed certification service (电子认证服务机构), used as the issuing CA,
    with the certificates up to its root: the root is what verifiers are told to trust."""

    issuing: Identity
    intermediates: tuple[x509.Certificate, ...]  # between the issuing CA and the root, nearest first
    root: x509.Certificate

    @classmethod
    def from_files(cls, ca_file: Path, key_file: Path | None = None, password: bytes | None = None,
                   chain_file: Path | None = None) -> LicensedCA:
        """``ca_file``: PKCS#12 (key, certificate and perhaps the chain), or a PEM/DER certificate whose PEM key is
        ``key_file``; ``password`` opens the PKCS#12 file or the key; ``chain_file``: PEM certificates up to the root.

        Raises :class:`PKIError` naming the setting at fault, so that a deployment refuses to start rather than
        sign under a CA it cannot use.
        """
        data = _read(ca_file, "SIGNING_CA_FILE")
        bundled = []
        if key_file:
            cert = _certificate(data, ca_file)
            try:
                key = serialization.load_pem_private_key(_read(key_file, "SIGNING_CA_KEY_FILE"), password)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise PKIError(f"SIGNING_CA_KEY_FILE {key_file}: not a PEM private key that opens with "
                               f"SIGNING_CA_PASSWORD ({exc})") from exc
            key_setting = "SIGNING_CA_KEY_FILE"
        else:
            try:
                key, cert, bundled = pkcs12.load_key_and_certificates(data, password)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise PKIError(f"SIGNING_CA_FILE {ca_file}: does not open as PKCS#12 with SIGNING_CA_PASSWORD (wrong "
                               "password; a PEM or DER certificate needs SIGNING_CA_KEY_FILE)") from exc
            if key is None or cert is None:
                raise PKIError(f"SIGNING_CA_FILE {ca_file}: the PKCS#12 file must hold the CA's key and certificate")
            key_setting = "SIGNING_CA_FILE"
        if _public_der(key.public_key()) != _public_der(cert.public_key()):
            raise PKIError(f"{key_setting}: the private key does not match the certificate "
                           f"{cert.subject.rfc4514_string()} in SIGNING_CA_FILE")
        _check_can_issue(cert)
        chain = list(bundled or [])
        if chain_file:
            try:
                chain += x509.load_pem_x509_certificates(_read(chain_file, "SIGNING_CA_CHAIN_FILE"))
            except ValueError as exc:
                raise PKIError(f"SIGNING_CA_CHAIN_FILE {chain_file}: not PEM certificates ({exc})") from exc
        path = _path_to_root(cert, chain)
        return cls(Identity(cert, key), tuple(path[1:-1]), path[-1])


def _read(path, setting) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise PKIError(f"{setting} {path}: cannot be read ({exc.strerror})") from exc


def _certificate(data: bytes, path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PKIError(f"SIGNING_CA_FILE {path}: not a PEM or DER certificate ({exc})") from exc


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_can_issue(cert: x509.Certificate):
    subject = cert.subject.rfc4514_string()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise PKIError(f"SIGNING_CA_FILE: {subject} is not a CA certificate (basicConstraints CA:TRUE is missing)")
    if cert.not_valid_after_utc <= datetime.now(timezone.utc):
        raise PKIError(f"SIGNING_CA_FILE: {subject} expired on {cert.not_valid_after_utc:%Y-%m-%d}")


def _path_to_root(cert: x509.Certificate, chain: list[x509.Certificate]) -> list[x509.Certificate]:
    """``cert``, each issuer found in ``chain`` (checked by signature), and last the self-signed root."""
    path = [cert]
    while path[-1].issuer != path[-1].subject:
        child = path[-1]
        parent = next((c for c in chain if c.subject == child.issuer and _signed_by(child, c)), None)
        if parent is None or len(path) > len(chain):
            raise PKIError(f"SIGNING_CA_CHAIN_FILE: no certificate there (or in the PKCS#12 file) issued "
                           f"{child.subject.rfc4514_string()}; give every certificate up to the root")
        path.append(parent)
    return path


@dataclass
class DeploymentPKI:
    root: Identity
    issuing: Identity
    tsa: Identity
    platform: Identity
    identities: IdentityStore
    intermediates: tuple[x509.Certificate, ...] = ()
    _seals: dict = field(default_factory=dict)
    _crls: dict = field(default_factory=dict)

    @classmethod
    def open(cls, db, passphrase: bytes, licensed: LicensedCA | None = None,
             deployment_name: str = "Qianyue") -> DeploymentPKI:
        """The deployment's PKI from ``db`` (a ``workflows.db.Database``), creating what is missing or due for renewal.

        Safe to run in any number of processes and nodes at once: they all end up with the same identities. Open it
        once per process and keep it (``webapp.verify.signing_service`` does): seals and CRLs are cached on it.
        With ``licensed``, that CA is the issuing CA and its chain's root the root; nothing of it is stored.
        """
        identities = IdentityStore(db, passphrase)
        if licensed:
            root, issuing, intermediates = Identity(licensed.root, None), licensed.issuing, licensed.intermediates
        else:
            root = identities.obtain("root", lambda: _ca(
                _name(c="CN", o=deployment_name, cn=f"{deployment_name} Root CA"), None, 20, 1))
            issuing = identities.obtain("issuing", lambda: _ca(
                _name(c="CN", o=deployment_name, cn=f"{deployment_name} Signing CA"), root, 10, 0),
                lambda identity: identity.issued_by(root))
            intermediates = ()
        now = datetime.now(timezone.utc)
        tsa = identities.obtain("tsa", lambda: _end_entity(
            _name(c="CN", o=deployment_name, cn=f"{deployment_name} Time Stamping Authority"), issuing,
            now - CLOCK_SKEW, now + TSA_VALIDITY, [ExtendedKeyUsageOID.TIME_STAMPING], non_repudiation=False),
            _current_under(issuing, RENEW_BEFORE))
        platform = identities.obtain("platform", lambda: _end_entity(
            _name(c="CN", o=deployment_name, cn=f"{deployment_name} 签约平台"), issuing, now - CLOCK_SKEW,
            now + PLATFORM_VALIDITY, [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            _current_under(issuing, RENEW_BEFORE))
        return cls(root=root, issuing=issuing, tsa=tsa, platform=platform, identities=identities,
                   intermediates=tuple(intermediates))

    # -- identities -----------------------------------------------------------------------------------------------
    def seal_certificate(self, org_name: str, credit_code: str) -> Identity:
        """The provider organisation's seal (合同专用章) identity: one per organisation (name and credit code) for
        the whole deployment, renewed the day before it expires."""
        is_current = _current_under(self.issuing, SEAL_RENEW_BEFORE)
        name = seal_identity_name(org_name, credit_code)
        cached = self._seals.get(name)
        if cached is not None and is_current(cached):
            return cached

        def issue():
            now = datetime.now(timezone.utc)
            return _end_entity(_name(c="CN", o=org_name, org_id=f"NTRCN-{credit_code}", ou="合同专用章",
                                     cn=f"{org_name} 合同专用章"), self.issuing, now - CLOCK_SKEW, now + SEAL_VALIDITY,
                               [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING])

        identity = self.identities.obtain(name, issue, is_current)
        self._seals[name] = identity
        return identity

    def issue_signer(self, name: str, subject_id: str, organisation: str = "", credit_code: str = "",
                     email: str = "") -> tuple[object, x509.Certificate]:
        """A fresh key and a certificate valid ~15 minutes for one signing event; the key is never stored.

        Subject: CN=name, O=organisation, organizationIdentifier=NTRCN-<统一社会信用代码>, UID=OIDC issuer+subject
        or staff id, emailAddress (also as an rfc822 SAN).
        """
        now = datetime.now(timezone.utc)
        subject = _name(c="CN", o=organisation or None, org_id=f"NTRCN-{credit_code}" if credit_code else None,
                        cn=name, uid=subject_id, email=email or None)
        identity = _end_entity(subject, self.issuing, now - CLOCK_SKEW, now + SIGNER_VALIDITY,
                               [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING], email=email or None)
        return identity.key, identity.cert

    # -- trust material -----------------------------------------------------------------------------------------
    @property
    def chain(self) -> list[x509.Certificate]:
        """Certificates to embed with a signature: the issuing CA, any intermediates, and the root if distinct."""
        return ([self.issuing.cert, *self.intermediates]
                + ([self.root.cert] if self.root.cert != self.issuing.cert else []))

    def crl(self, issuer: Identity) -> bytes | None:
        """An empty CRL (nothing revoked) for ``issuer``, regenerated when half its validity has passed."""
        if issuer.key is None:
            return None
        now = datetime.now(timezone.utc)
        cached = self._crls.get(issuer.cert.serial_number)
        if cached and cached[0] > now:
            return cached[1]
        builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
                   .last_update(now - CLOCK_SKEW).next_update(now + CRL_VALIDITY)
                   .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),
                                  critical=False))
        der = builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        self._crls[issuer.cert.serial_number] = (now + CRL_VALIDITY / 2, der)
        return der

    def asn1_crls(self):
        return [asn1_crl.CertificateList.load(d) for d in (self.crl(self.root), self.crl(self.issuing)) if d]

    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(serialization.Encoding.PEM)
