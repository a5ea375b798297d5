"""Deployment PKI: one for every process and node, kept encrypted in the database, reused, renewed race-safely,
and a short-lived certificate per signer."""
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlmodel import select

from tests.signing.conftest import PASSPHRASE
from tests.signing.pki_processes import SEAL, open_pki, read_passphrase, run_together
from tests.signing.pki_processes import PASSPHRASE as RACE_PASSPHRASE
from workflows.db import Database
from workflows.models import SigningIdentity
from workflows.signing import pki as pki_module
from workflows.signing.pki import DeploymentPKI, PKIError, seal_identity_name, signing_passphrase

BASE_NAMES = {"root", "issuing", "tsa", "platform"}


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def stored(db):
    """name -> fingerprint of every stored identity."""
    with db.read() as session:
        return {row.name: row.fingerprint for row in session.exec(select(SigningIdentity))}


def fingerprints(opened):
    return {name: getattr(opened, name).fingerprint for name in BASE_NAMES}


def test_created_once_in_the_database_with_encrypted_keys(db, monkeypatch):
    first = DeploymentPKI.open(db, b"secret")
    assert stored(db) == fingerprints(first)

    def no_new_keys():
        raise AssertionError("a second open generated a key")

    monkeypatch.setattr(pki_module, "new_key", no_new_keys)
    again = DeploymentPKI.open(db, b"secret")
    assert fingerprints(again) == fingerprints(first) and again.root.cert == first.root.cert
    with db.read() as session:
        key_pem = session.get(SigningIdentity, "issuing").private_key_pem.encode()
    assert b"ENCRYPTED" in key_pem
    with pytest.raises((ValueError, TypeError)):
        serialization.load_pem_private_key(key_pem, None)
    with pytest.raises(PKIError, match="SIGNING_KEY_PASSPHRASE"):
        DeploymentPKI.open(db, b"wrong")


@pytest.mark.slow
@pytest.mark.parametrize("situation", ["fresh", "due for renewal"])
def test_processes_opening_at_the_same_moment_end_with_one_pki(db, database_url, situation, monkeypatch):
    """Two OS processes, each holding its own candidate before either stores it: one wins, the other takes its."""
    before = {}
    if situation == "due for renewal":
        for name in ("TSA_VALIDITY", "PLATFORM_VALIDITY", "SEAL_VALIDITY"):
            monkeypatch.setattr(pki_module, name, timedelta(hours=1))
        expiring = DeploymentPKI.open(db, RACE_PASSPHRASE)
        expiring.seal_certificate(*SEAL)
        before = stored(db)
        monkeypatch.undo()
    first, second = run_together(open_pki, database_url, barriers=2)
    assert first == second
    seal = seal_identity_name(*SEAL)
    assert stored(db) == {**{name: first[name] for name in BASE_NAMES}, seal: first["seal"]}
    if before:
        assert (first["root"], first["issuing"]) == (before["root"], before["issuing"])
        assert {first["tsa"], first["platform"], first["seal"]}.isdisjoint(before.values())
    reopened = DeploymentPKI.open(db, RACE_PASSPHRASE)
    assert reopened.seal_certificate(*SEAL).fingerprint == first["seal"]
    assert reopened.tsa.cert.not_valid_after_utc > datetime.now(timezone.utc) + timedelta(days=365)


def test_an_identity_due_for_renewal_is_replaced_for_every_holder(pki_database, monkeypatch):
    monkeypatch.setattr(pki_module, "SEAL_VALIDITY", timedelta(hours=1))
    holder = DeploymentPKI.open(pki_database, PASSPHRASE)
    expiring = holder.seal_certificate("福州某某网络有限公司", "91350100MA2XN0002L")
    monkeypatch.undo()
    renewing = DeploymentPKI.open(pki_database, PASSPHRASE)
    renewed = renewing.seal_certificate("福州某某网络有限公司", "91350100MA2XN0002L")
    assert renewed.fingerprint != expiring.fingerprint
    assert renewed.cert.not_valid_after_utc - datetime.now(timezone.utc) > timedelta(days=365)
    # the process that cached the expiring seal takes the renewed one instead of renewing again
    assert holder.seal_certificate("福州某某网络有限公司", "91350100MA2XN0002L").fingerprint == renewed.fingerprint


def test_signer_certificate_is_short_lived_names_the_signer_and_is_never_stored(pki, pki_database):
    rows = stored(pki_database)
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
    assert stored(pki_database) == rows


def test_each_organisation_seals_in_its_own_name(pki):
    """Two providers without a credit code, or one renamed, never seal under another organisation's name."""
    changzhou, xinxiang = pki.seal_certificate("常州分公司", ""), pki.seal_certificate("新乡分公司", "")
    renamed = pki.seal_certificate("中国电信股份有限公司福州市分公司", "91350100MA2XN0001K")
    for identity, name in ((changzhou, "常州分公司"), (xinxiang, "新乡分公司"), (renamed, "中国电信股份有限公司福州市分公司")):
        (organisation,) = identity.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        assert organisation.value == name


def test_seal_certificate_is_kept_and_reused(pki, pki_database):
    first = pki.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K")
    assert pki.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K").cert == first.cert
    assert stored(pki_database)[seal_identity_name("中国电信股份有限公司福州分公司", "91350100MA2XN0001K")] == first.fingerprint
    reopened = DeploymentPKI.open(pki_database, PASSPHRASE)
    assert reopened.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K").cert == first.cert


def test_tsa_certificate_is_for_timestamping_only(pki):
    eku = pki.tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_signing_passphrase(tmp_path):
    with pytest.raises(RuntimeError):
        signing_passphrase(None, tmp_path, "production")
    generated = signing_passphrase(None, tmp_path, "development")
    assert generated == signing_passphrase(None, tmp_path, "development")
    assert stat.S_IMODE(os.stat(tmp_path / "signing_passphrase").st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["signing_passphrase"]  # no temporary file left behind
    assert signing_passphrase("from-settings", tmp_path, "production") == b"from-settings"


def test_an_empty_passphrase_file_is_refused(tmp_path):
    (tmp_path / "signing_passphrase").write_text("")
    with pytest.raises(PKIError, match="empty"):
        signing_passphrase(None, tmp_path, "development")


@pytest.mark.slow
def test_processes_generating_the_development_passphrase_at_once_read_the_same(tmp_path):
    passphrases = run_together(read_passphrase, tmp_path, processes=3)
    assert len(set(passphrases)) == 1 and len(passphrases[0]) > 30
    assert (tmp_path / "signing_passphrase").read_bytes().strip() == passphrases[0]
