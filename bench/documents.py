"""How long the document to sign takes to render, against WeasyPrint's own floor.

Renders the seed-003-like technical service contract with its mandated letter as 附件一 (the document the
parties sign, with its signature places found) N times (warm, after one untimed render that loads fonts)
and, in the same run, a trivial one-page "<p>合同</p>"; the ratio tells template cost from WeasyPrint's
fixed cost. Goal: median under 1 s and PDF under 1 MB.

    .venv/bin/python bench/documents.py [N]
"""

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from weasyprint import HTML  # noqa: E402

from workflows.contracts.catalog import DEMO_PROVIDERS  # noqa: E402
from workflows.contracts.validation import normalize_draft  # noqa: E402
from workflows.documents import render_document_pdf  # noqa: E402
from workflows.services.letters import LETTERS_DIR, SHIPPED, shipped_fields  # noqa: E402

LETTER = "information_security"
LETTER_VALUES = {"security_officer_name": "徐永立", "security_officer_title": "校长",
                 "security_officer_contact": "0373-8887111"}

TRIVIAL_PAGE = '<p style="font-family: \'Noto Serif CJK SC\'">合同</p>'


def technical_service_contract() -> dict:
    """The seed 003 draft from the test fixtures, normalized as the application stores it, with its letter filled."""
    draft = json.loads((REPO / "tests/fixtures/contract-technical-service.json").read_text(encoding="utf-8"))
    draft["late_fee_rate_per_day"] = "0.0005"
    provider = next(profile for profile in DEMO_PROVIDERS if profile["code"] == "xinxiang")
    return {
        "number": "HAXXS2401525ECN00",
        "version": 3,
        "status": "draft",
        "data": normalize_draft(draft, provider),
        "letters": [{"code": LETTER, "title": SHIPPED[LETTER], "position": 1, "template_version": 1,
                     "source": (LETTERS_DIR / f"{LETTER}.html").read_text(encoding="utf-8"),
                     "fields": shipped_fields()[LETTER], "values": LETTER_VALUES}],
    }


def timings(render, runs: int) -> tuple[list[float], bytes]:
    """Seconds per call after one warm-up call, and the last output."""
    output = render()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        output = render()
        seconds.append(time.perf_counter() - started)
    return seconds, output


def p95(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=20, method="inclusive")[-1]


def main(runs: int) -> None:
    contract = technical_service_contract()
    contract_seconds, (pdf, places) = timings(lambda: render_document_pdf(contract), runs)
    trivial_seconds, _ = timings(lambda: HTML(string=TRIVIAL_PAGE).write_pdf(), runs)
    contract_median = statistics.median(contract_seconds)
    trivial_median = statistics.median(trivial_seconds)
    print(f"contract with its letter, {len(places)} signature places: {runs} runs, median {contract_median * 1000:.0f} ms, p95 {p95(contract_seconds) * 1000:.0f} ms, size {len(pdf) / 1024:.0f} KiB")
    print(f"trivial page: median {trivial_median * 1000:.0f} ms")
    print(f"ratio contract/trivial: {contract_median / trivial_median:.1f}x")
    print(f"goals: median < 1 s {'met' if contract_median < 1 else 'MISSED'}, size < 1 MB {'met' if len(pdf) < 1_000_000 else 'MISSED'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
