"""Deployment PKI: a root CA, an issuing CA, a TSA certificate, the platform's own signing identity,
one seal certificate per provider organisation, and a short-lived certificate per signer and signing event.

Everything lives in ``<instance>/signing/`` (never committed, never served): private keys PEM-encrypted
with ``SIGNING_KEY_PASSPHRASE`` (``BestAvailableEncryption``), files mode 0600. A licensed CA replaces the
generated issuing CA through :meth:`DeploymentPKI.from_files` (PKCS#12 or PEM certificate + key).

Keys are EC P-256: generating one takes ~0.1 ms (RSA 2048 takes 50-100 ms), which matters because every
signing event gets a fresh key that signs once and is then dropped by the caller.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
SIGNER_VALIDITY = timedelta(minutes=15)
CLOCK_SKEW = timedelta(minutes=5)
CRL_VALIDITY = timedelta(days=7)
PASSPHRASE_ENV = "SIGNING_KEY_PASSPHRASE"


def passphrase_from_environment(instance: Path, app_env: str) -> bytes:
    """``SIGNING_KEY_PASSPHRASE``; in development a passphrase generated once into ``instance/signing_passphrase``."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode()
    if app_env == "production":
        raise RuntimeError(f"{PASSPHRASE_ENV} must be set when APP_ENV=production")
    path = Path(instance) / "signing_passphrase"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode()


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
    """A certificate with its private key (CA, TSA, platform, seal)."""

    cert: x509.Certificate
    key: object

    @property
    def asn1_cert(self):
        return to_asn1_cert(self.cert)

    @property
    def asn1_key(self):
        return to_asn1_key(self.key)


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
    key = key or new_key()
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


class _Store:
    """PEM files in one folder; keys encrypted with the passphrase, every file 0600."""

    def __init__(self, folder: Path, passphrase: bytes):
        self.folder, self.passphrase = Path(folder), passphrase
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def exists(self, name):
        return (self.folder / f"{name}.crt.pem").exists() and (self.folder / f"{name}.key.pem").exists()

    def load(self, name) -> Identity:
        cert = x509.load_pem_x509_certificate((self.folder / f"{name}.crt.pem").read_bytes())
        key = serialization.load_pem_private_key((self.folder / f"{name}.key.pem").read_bytes(), self.passphrase)
        return Identity(cert, key)

    def save(self, name, identity: Identity):
        key_pem = identity.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.BestAvailableEncryption(self.passphrase))
        self._write(f"{name}.key.pem", key_pem)
        self._write(f"{name}.crt.pem", identity.cert.public_bytes(serialization.Encoding.PEM))

    def _write(self, filename, data):
        path = self.folder / filename
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)


@dataclass
class DeploymentPKI:
    root: Identity
    issuing: Identity
    tsa: Identity
    platform: Identity
    store: _Store | None = None
    _seals: dict = field(default_factory=dict)
    _crls: dict = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def load_or_create(cls, folder: Path, passphrase: bytes, deployment_name: str = "Qianyue") -> DeploymentPKI:
        store = _Store(folder, passphrase)
        if store.exists("root"):
            root = store.load("root")
        else:
            root = _ca(_name(c="CN", o=deployment_name, cn=f"{deployment_name} Root CA"), None, 20, 1)
            store.save("root", root)
        if store.exists("issuing"):
            issuing = store.load("issuing")
        else:
            issuing = _ca(_name(c="CN", o=deployment_name, cn=f"{deployment_name} Signing CA"), root, 10, 0)
            store.save("issuing", issuing)
        return cls._finish(store, root, issuing, deployment_name)

    @classmethod
    def from_files(cls, cert_path: Path, key_path: Path | None, passphrase: bytes | None, folder: Path,
                   store_passphrase: bytes, chain_paths=(), deployment_name: str = "Qianyue") -> DeploymentPKI:
        """Use a licensed CA as the issuing CA: a PKCS#12 file (``key_path`` None) or PEM certificate + key.

        The root is the top of the chain found in the PKCS#12 file or ``chain_paths`` (else the issuing CA itself).
        Derived identities (TSA, platform, seals) are kept in ``folder`` as with :meth:`load_or_create`.
        """
        data = Path(cert_path).read_bytes()
        chain = []
        if key_path is None:
            key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
            chain = list(extra or [])
        else:
            cert = (x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data))
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), passphrase)
        for path in chain_paths:
            chain.extend(x509.load_pem_x509_certificates(Path(path).read_bytes()))
        issuing = Identity(cert, key)
        roots = [c for c in chain if c.subject == c.issuer]
        root = Identity(roots[0], None) if roots else issuing
        return cls._finish(_Store(folder, store_passphrase), root, issuing, deployment_name)

    @classmethod
    def _finish(cls, store, root, issuing, deployment_name):
        now = datetime.now(timezone.utc)
        tsa = store.load("tsa") if store.exists("tsa") else None
        if tsa is None or tsa.cert.not_valid_after_utc < now + timedelta(days=30):
            tsa = _end_entity(_name(c="CN", o=deployment_name, cn=f"{deployment_name} Time Stamping Authority"),
                              issuing, now - CLOCK_SKEW, now + timedelta(days=365 * 5),
                              [ExtendedKeyUsageOID.TIME_STAMPING], non_repudiation=False)
            store.save("tsa", tsa)
        platform = store.load("platform") if store.exists("platform") else None
        if platform is None or platform.cert.not_valid_after_utc < now + timedelta(days=30):
            platform = _end_entity(_name(c="CN", o=deployment_name, cn=f"{deployment_name} 签约平台"),
                                   issuing, now - CLOCK_SKEW, now + timedelta(days=365 * 3),
                                   [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING])
            store.save("platform", platform)
        return cls(root=root, issuing=issuing, tsa=tsa, platform=platform, store=store)

    # -- identities -----------------------------------------------------------------------------------------------
    def seal_certificate(self, org_name: str, credit_code: str) -> Identity:
        """The provider organisation's seal (合同专用章) identity: created once per credit code, then reused."""
        if credit_code in self._seals:
            return self._seals[credit_code]
        name = "seal-" + hashlib.sha256(credit_code.encode()).hexdigest()[:16]
        identity = self.store.load(name) if self.store and self.store.exists(name) else None
        now = datetime.now(timezone.utc)
        if identity is None or identity.cert.not_valid_after_utc < now + timedelta(days=1):
            identity = _end_entity(_name(c="CN", o=org_name, org_id=f"NTRCN-{credit_code}", ou="合同专用章",
                                         cn=f"{org_name} 合同专用章"), self.issuing, now - CLOCK_SKEW,
                                   now + timedelta(days=365 * 2), [ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING])
            if self.store:
                self.store.save(name, identity)
        self._seals[credit_code] = identity
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
        """Intermediate certificates to embed with a signature (issuing CA, and the root if distinct)."""
        return [self.issuing.cert] + ([self.root.cert] if self.root.cert != self.issuing.cert else [])

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
