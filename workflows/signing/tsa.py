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
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from .pki import Identity, to_asn1_cert

POLICY_OID = "1.3.6.1.4.1.99999.1.1"  # the deployment's TSA policy (private arc; configure a real one for a licensed TSA)
HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _failure(status, text, fail_info):
    """A response without token (asn1crypto's TimeStampResp declares the token mandatory; RFC 3161 does not)."""
    info = tsp.PKIStatusInfo({"status": tsp.PKIStatus(status), "status_string": [text],
                              "fail_info": tsp.PKIFailureInfo({fail_info})}).dump()
    return _RawResponse(core.Sequence.load(b"\x30" + _der_length(len(info)) + info))


def _der_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


class _RawResponse:
    """A failure response: dumps to DER; pyHanko only reads ``["status"]`` of it."""

    def __init__(self, sequence):
        self.sequence = sequence
        self.status_info = tsp.PKIStatusInfo.load(sequence[0].dump())

    def dump(self):
        return self.sequence.dump()

    def __getitem__(self, key):
        if key == "status":
            return self.status_info
        raise KeyError(key)


class TimestampAuthority:
    """Answers time-stamp requests; one instance serves every request thread of a process.

    asn1crypto objects are not thread-safe: placing one inside a new structure re-tags it and clears its cached
    encoding, so two threads building responses from one shared certificate object broke each other's DER
    ("can't concat NoneType to bytes", a 500 on a signing race). Each response therefore parses its own copy
    of the certificate from DER.
    """

    def __init__(self, identity: Identity):
        self.identity = identity
        self.cert_der = to_asn1_cert(identity.cert).dump()

    def respond(self, request_der: bytes) -> bytes:
        return self.respond_asn1(request_der).dump()

    def respond_asn1(self, request) -> tsp.TimeStampResp:
        try:
            req = request if isinstance(request, tsp.TimeStampReq) else tsp.TimeStampReq.load(request)
            imprint = tsp.MessageImprint.load(req["message_imprint"].dump())
            md = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
        except Exception:  # noqa: BLE001  any malformed request
            return _failure("rejection", "malformed request", "bad_data_format")
        if md not in HASHES:
            return _failure("rejection", f"unsupported hash algorithm {md}", "bad_alg")
        if len(digest) != DIGEST_SIZES[md]:
            return _failure("rejection", "digest length does not match the algorithm", "bad_data_format")
        cert = asn1_x509.Certificate.load(self.cert_der)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        info = {
            "version": "v1", "policy": tsp.ObjectIdentifier(POLICY_OID), "message_imprint": imprint,
            "serial_number": secrets.randbits(63), "gen_time": now,
            "tsa": asn1_x509.GeneralName(name="directory_name", value=cert.subject),
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
            simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(cert)),
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
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": digest_algorithm,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sig_alg}),
            "signed_attrs": signed_attrs, "signature": signature,
        })
        # only the TSA certificate: with the CA chain in the token as well, pyHanko's CMS assembly around it
        # was seen to take 20-70 s in about one signature of five (asn1crypto re-encoding); validators get the
        # chain from the signature's certificates and the DSS
        certs = [cert] if req["cert_req"].native else []
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

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        # through DER and back, as over HTTP: a token built from Python values stays "mutated" in asn1crypto,
        # and pyHanko re-dumping a CMS that embeds it was seen to take up to 50 s (re-encoding cascades)
        der = self.authority.respond(req.dump())
        response = tsp.TimeStampResp.load(der)
        if response["status"]["status"].native not in ("granted", "granted_with_mods"):
            raise TimestampRequestError(f"local TSA refused: {response['status']['status_string'].native}")
        return response


def timestamper_for(tsa_url: str | None, authority: TimestampAuthority, token: str | None = None) -> TimeStamper:
    """``HTTPTimeStamper(TSA_URL)`` (with ``token`` as its bearer credential) when configured, else the in-process
    local TSA."""
    if tsa_url:
        return HTTPTimeStamper(tsa_url, headers={"Authorization": f"Bearer {token}"} if token else None)
    return LocalTimestamper(authority)
