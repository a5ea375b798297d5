"""How long PAdES signing takes: certify, one visible signature, document timestamp, verify a finished package.

On the real seed-003-like technical service contract PDF (bench/documents.py builds it), with the deployment
PKI in a temporary SQLite database and the in-process TSA. Baseline in the same run: an invisible signature without
timestamp and validation data (pyHanko's floor). Goal: median under 200 ms for each.

    .venv/bin/python bench/signing.py [N]
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflows import migrate  # noqa: E402
from workflows.db import Database  # noqa: E402
from workflows.documents import render_contract_pdf  # noqa: E402
from workflows.signing import pdf as pades  # noqa: E402
from workflows.signing import seals  # noqa: E402
from workflows.signing.pki import DeploymentPKI  # noqa: E402
from workflows.signing.service import SigningService  # noqa: E402

GOAL = 0.200


def technical_service_contract():
    """The contract bench/documents.py renders (loaded by path: ``bench`` is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_documents", REPO / "bench" / "documents.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.technical_service_contract()


def timings(run, runs):
    output = run()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        output = run()
        seconds.append(time.perf_counter() - started)
    return seconds, output


def main(runs):
    import logging
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    contract_pdf = render_contract_pdf(technical_service_contract())
    db = Database(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}")
    migrate.upgrade(db)
    pki = DeploymentPKI.open(db, b"bench")
    service = SigningService(None, pki)
    ts = service.timestamper
    certified = service.prepare(contract_pdf, ["网络及信息安全承诺书"])
    key, cert = pki.issue_signer("张三", "https://id.example.com|u-1", "福州某某科技有限公司", "91350100M000100Y43")
    stamp = seals.stamp_png(seals.signature_image_from_text("张三"), "张三", pades.now())
    results = {}
    results["baseline: invisible signature, no timestamp, no LTV"] = timings(
        lambda: _invisible(certified, key, cert, pki), runs)[0]
    results["certify (all fields, DocMDP, timestamped)"] = timings(lambda: service.prepare(contract_pdf, ["承诺书"]), runs)[0]
    results["one visible signature (stamp, timestamp, B-LT)"] = timings(
        lambda: pades.sign(certified, "customer", key, cert, pki, stamp, "张三", "甲方签署", timestamper=ts), runs)[0]
    results["issue a signer certificate (EC P-256)"] = timings(
        lambda: pki.issue_signer("张三", "https://id.example.com|u-1", "福州某某科技有限公司"), runs)[0]
    results["stamp image (name and time drawn in)"] = timings(
        lambda: seals.stamp_png(seals.signature_image_from_text("张三"), "张三", pades.now()), runs)[0]
    signed = pades.sign(certified, "customer", key, cert, pki, stamp, "张三", "甲方签署", timestamper=ts)
    seal = pki.seal_certificate("中国电信股份有限公司福州分公司", "91350100MA2XN0001K")
    seal_stamp = seals.stamp_png(seals.round_seal_png("中国电信股份有限公司福州分公司"), "陆洋", pades.now())
    signed = pades.sign(signed, "provider", seal.key, seal.cert, pki, seal_stamp, "陆洋", "乙方盖章", timestamper=ts)
    results["document timestamp (B-LTA)"] = timings(lambda: pades.timestamp(signed, ts, pki), runs)[0]
    package = service.finalize(signed, {"contract": {"number": "N", "title": "T", "customer": "C", "provider": "P"},
                                        "sha256_before": "0" * 64, "audit_head": "0" * 64, "signers": []})
    results["finalize (timestamp + certificate page + package seal + timestamp)"] = timings(
        lambda: service.finalize(signed, {"contract": {"number": "N", "title": "T", "customer": "C", "provider": "P"},
                                          "sha256_before": "0" * 64, "audit_head": "0" * 64, "signers": []}),
        max(3, runs // 4))[0]
    contract_seconds, contract_report = timings(lambda: service.verify(pades.timestamp(signed, ts, pki)), runs)
    results["  (timestamp + verify the signed contract alone, %d signatures)" % len(contract_report.signatures)] = contract_seconds
    report_seconds, report = timings(lambda: service.verify(package), runs)
    results["verify a finished package (%d signatures)" % len(report.signatures)] = report_seconds
    assert report.valid, report.problems
    print(f"contract PDF {len(contract_pdf) // 1024} KB, package {len(package) // 1024} KB, {runs} runs each")
    for name, seconds in results.items():
        median = statistics.median(seconds)
        mark = "" if "finalize" in name or "baseline" in name or name.startswith("  ") else ("  ok" if median < GOAL else "  OVER GOAL")
        print(f"{name:70s} median {median * 1000:7.1f} ms  max {max(seconds) * 1000:7.1f} ms{mark}")


def _invisible(certified, key, cert, pki):
    import io

    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    meta = signers.PdfSignatureMetadata(field_name="customer", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    out = io.BytesIO()
    signers.PdfSigner(meta, pades.simple_signer(cert, key, pki)).sign_pdf(
        pades._writer(certified), existing_fields_only=True, output=out)
    return out.getvalue()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
