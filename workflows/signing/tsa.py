"""RFC 3161 time-stamping: a small responder for the deployment's own TSA, and pyHanko timestampers.

``TimestampAuthority.respond`` turns a DER ``TimeStampReq`` into a DER ``TimeStampResp`` signed by the TSA
certificate (EKU timeStamping, critical; issued by the deployment CA). ``LocalTimestamper`` calls it in
process (tests, ``make run`` without ``TSA_URL``); ``timestamper_for(url, tsa)`` picks pyHanko's HTTP client
when a TSA URL is configured.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

from asn1crypto import algos, cms, core, tsp, x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper

from .pki import Identity, to_asn1_cert

POLICY_OID = "1.3.6.1.4.1.99999.1.1"  # the deployment's TSA policy (private arc; configure a real one for a licensed TSA)
HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _failure(status, text, fail_info):
    return tsp.TimeStampResp({"status": tsp.PKIStatusInfo({
        "status": tsp.PKIStatus(status), "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail_info})})})


class TimestampAuthority:
    def __init__(self, identity: Identity, chain=()):
        self.identity = identity
        self.cert = to_asn1_cert(identity.cert)
        self.chain = [to_asn1_cert(c) for c in chain]

    def respond(self, request_der: bytes) -> bytes:
        return self.respond_asn1(request_der).dump()

    def respond_asn1(self, request) -> tsp.TimeStampResp:
        try:
            req = request if isinstance(request, tsp.TimeStampReq) else tsp.TimeStampReq.load(request)
            imprint = req["message_imprint"]
            md = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
        except Exception:  # noqa: BLE001  any malformed request
            return _failure("rejection", "malformed request", "bad_data_format")
        if md not in HASHES:
            return _failure("rejection", f"unsupported hash algorithm {md}", "bad_alg")
        if len(digest) != DIGEST_SIZES[md]:
            return _failure("rejection", "digest length does not match the algorithm", "bad_data_format")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        info = {
            "version": "v1", "policy": tsp.ObjectIdentifier(POLICY_OID), "message_imprint": imprint,
            "serial_number": secrets.randbits(63), "gen_time": now,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=self.cert.subject),
        }
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"]
        tst_info = tsp.TSTInfo(info).dump()
        digest_algorithm = algos.DigestAlgorithm({"algorithm": md})
        h = hashes.Hash(HASHES[md]())
        h.update(tst_info)
        signed_attrs = cms.CMSAttributes([
            simple_cms_attribute("content_type", "tst_info"),
            simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(now)})),
            simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(self.cert)),
            simple_cms_attribute("message_digest", h.finalize()),
        ])
        key = self.identity.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(signed_attrs.dump(), ec.ECDSA(HASHES[md]()))
            sig_alg = f"{md}_ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(signed_attrs.dump(), padding.PKCS1v15(), HASHES[md]())
            sig_alg = "rsassa_pkcs1v15"
        else:
            return _failure("rejection", "TSA key type not supported", "system_failure")
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": self.cert.issuer, "serial_number": self.cert.serial_number})}),
            "digest_algorithm": digest_algorithm,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sig_alg}),
            "signed_attrs": signed_attrs, "signature": signature,
        })
        certs = [self.cert] if req["cert_req"].native else []
        if certs:
            certs += self.chain
        signed_data = cms.SignedData({
            "version": "v3", "digest_algorithms": cms.DigestAlgorithms((digest_algorithm,)),
            "encap_content_info": cms.EncapsulatedContentInfo({
                "content_type": cms.ContentType("tst_info"), "content": cms.ParsableOctetString(tst_info)}),
            "certificates": certs, "signer_infos": [signer_info],
        })
        token = cms.ContentInfo({"content_type": cms.ContentType("signed_data"), "content": signed_data})
        return tsp.TimeStampResp({"status": tsp.PKIStatusInfo({"status": tsp.PKIStatus("granted")}),
                                  "time_stamp_token": token})


class LocalTimestamper(TimeStamper):
    """pyHanko timestamper that asks the deployment's TSA in process (no HTTP)."""

    def __init__(self, authority: TimestampAuthority, include_nonce=True):
        super().__init__(include_nonce=include_nonce)
        self.authority = authority

    def request_cms(self, message_digest, md_algorithm):
        nonce, req = super().request_cms(message_digest, md_algorithm)
        return nonce, req  # cert_req is set by pyHanko's default request

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return self.authority.respond_asn1(req)


def timestamper_for(tsa_url: str | None, authority: TimestampAuthority) -> TimeStamper:
    """``HTTPTimeStamper(TSA_URL)`` when configured, else the in-process local TSA."""
    if tsa_url:
        return HTTPTimeStamper(tsa_url)
    return LocalTimestamper(authority)
