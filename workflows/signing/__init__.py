"""Electronic signatures: deployment PKI, per-signer certificates, seals, RFC 3161 timestamps,
PAdES signing with pyHanko, verification, the per-contract audit hash chain, intent codes and
the completion certificate. No Flask here and no contract logic: ``SigningToolkit`` is what the signing use cases
(``workflows.services.signing``) call.
"""
from .hexstrings import install as _install_fast_hex_strings
from .pki import LicensedCA
from .toolkit import SigningSettings, SigningToolkit
from .verify import PDF_MAGIC

_install_fast_hex_strings()  # every signature's /Contents is a long hex string: see hexstrings.py

__all__ = ["LicensedCA", "PDF_MAGIC", "SigningSettings", "SigningToolkit"]
