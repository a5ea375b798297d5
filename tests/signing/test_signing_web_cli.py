"""``flask verify FILE`` and the public /verify page."""
import io

import pytest

from tests.conftest import load_fixture
from tests.process.test_lifecycle import create
from tests.signing.conftest import embedded_contract
from workflows.signing import pdf as pades
from workflows.signing.toolkit import SigningToolkit

pytestmark = pytest.mark.slow


@pytest.fixture
def deployed(app, platform, pki):
    """The app uses the session's PKI (the package fixture was signed under it)."""
    platform.use_toolkit(SigningToolkit(pki))
    return app


def test_cli_verify_exit_status(deployed, package, tmp_path, caplog):
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(package)
    tampered = bytearray(package)
    tampered[len(tampered) // 3] ^= 0x01
    bad.write_bytes(bytes(tampered))
    runner = deployed.test_cli_runner()
    result = runner.invoke(args=["verify", str(good)])
    assert result.exit_code == 0, result.output
    assert "所有签名有效" in result.output and "every signature is valid" in result.output
    assert "customer" in result.output and "张三" in result.output
    caplog.clear()
    result = runner.invoke(args=["verify", str(bad)])
    assert result.exit_code == 1 and "NOT valid" in result.output
    assert not [r for r in caplog.records if r.name.startswith("pyhanko")], "the CLI prints findings, not library logs"


def test_a_document_timestamp_alone_is_not_a_signed_document(deployed, platform, contract_pdf, tmp_path, client):
    """Anyone can timestamp a forged PDF ("总金额 1.00, both parties signed"): it is not valid on any door."""
    toolkit = platform.toolkit()
    forged = pades.timestamp(contract_pdf, toolkit.timestamper, toolkit.pki)
    report = toolkit.verify(forged)
    assert [s.kind for s in report.signatures] == ["timestamp"] and report.signatures[0].ok
    assert not report.valid and any("only document timestamps" in p for p in report.problems)
    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    result = deployed.test_cli_runner().invoke(args=["verify", str(path)])
    assert result.exit_code == 1 and "NOT valid" in result.output
    page = client.post("/verify", data={"file": (io.BytesIO(forged), "forged.pdf")},
                       content_type="multipart/form-data").get_data(as_text=True)
    assert "验证未通过" in page and "文件完整有效" not in page


def test_verify_page_reports_and_matches_the_record(deployed, platform, package, client, api):
    contract_id = create(api, load_fixture("contract-technical-service.json"))["id"]
    with platform.db.write() as session:
        platform.documents.add_package(session, platform.contracts.get(session, contract_id), package)
    assert client.get("/verify").status_code == 200
    response = client.post("/verify", data={"file": (io.BytesIO(package), "package.pdf")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "文件完整有效" in page and "Matches on record" in page
    response = client.post("/verify", data={"file": (io.BytesIO(embedded_contract(package)[:-200]), "x.pdf")},
                           content_type="multipart/form-data")
    assert "验证未通过" in response.get_data(as_text=True)
    response = client.post("/verify", data={"file": (io.BytesIO(b"GIF89a"), "x.gif")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
