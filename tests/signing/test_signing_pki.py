"""Deployment PKI: kept encrypted in the instance folder, reused, and a short-lived certificate per signer."""
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from workflows.signing.pki import DeploymentPKI, passphrase_from_environment


def test_created_once_encrypted_and_private(tmp_path):
    folder = tmp_path / "signing"
    first = DeploymentPKI.load_or_create(folder, b"secret")
    again = DeploymentPKI.load_or_create(folder, b"secret")
    assert first.root.cert == again.root.cert and first.issuing.cert == again.issuing.cert
    assert first.tsa.cert == again.tsa.cert
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    key_pem = (folder / "issuing.key.pem").read_bytes()
    assert b"ENCRYPTED" in key_pem
    with pytest.raises((ValueError, TypeError)):
        serialization.load_pem_private_key(key_pem, None)
    with pytest.raises(ValueError):
        DeploymentPKI.load_or_create(folder, b"wrong")


def test_signer_certificate_is_short_lived_and_names_the_signer(pki):
    key, cert = pki.issue_signer("张三", "https://id.example.com|u-1", "福州某某科技有限公司", "91350100M000100Y43",
                                 "zhang@example.com")
    assert cert.not_valid_after_utc - datetime.now(timezone.utc) <= timedelta(minutes=15, seconds=5)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "福州某某科技有限公司"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == "NTRCN-91350100M000100Y43"
    assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "https://id.example.com|u-1"
    assert cert.issuer == pki.issuing.cert.subject
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    other_key, other = pki.issue_signer("张三", "https://id.example.com|u-1")
    assert other.serial_number != cert.serial_number and other.public_key() != cert.public_key()
    assert not any(p.name.startswith("signer") for p in pki.store.folder.iterdir())  # never stored


def test_seal_certificate_is_kept_and_reused(pki):
    first = pki.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K")
    assert pki.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K").cert == first.cert
    reloaded = DeploymentPKI.load_or_create(pki.store.folder, b"test-passphrase")
    assert reloaded.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K").cert == first.cert


def test_tsa_certificate_is_for_timestamping_only(pki):
    eku = pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_licensed_ca_from_pkcs12(pki, tmp_path):
    bundle = pkcs12.serialize_key_and_certificates(b"ca", pki.issuing.key, pki.issuing.cert, [pki.root.cert],
                                                   serialization.BestAvailableEncryption(b"p12"))
    (tmp_path / "ca.p12").write_bytes(bundle)
    loaded = DeploymentPKI.from_files(tmp_path / "ca.p12", None, b"p12", tmp_path / "derived", b"store")
    assert loaded.issuing.cert == pki.issuing.cert and loaded.root.cert == pki.root.cert
    key, cert = loaded.issue_signer("李四", "staff:lisi")
    assert cert.issuer == pki.issuing.cert.subject


def test_passphrase_from_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("SIGNING_KEY_PASSPHRASE", raising=False)
    with pytest.raises(RuntimeError):
        passphrase_from_environment(tmp_path, "production")
    generated = passphrase_from_environment(tmp_path, "development")
    assert generated == passphrase_from_environment(tmp_path, "development")
    assert stat.S_IMODE(os.stat(tmp_path / "signing_passphrase").st_mode) == 0o600
    monkeypatch.setenv("SIGNING_KEY_PASSPHRASE", "from-env")
    assert passphrase_from_environment(tmp_path, "production") == b"from-env"
