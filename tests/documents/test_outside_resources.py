"""A document loads only the product's packaged assets: a template cannot embed the server's files in the PDF nor
make the server fetch URLs; templates asking to embed files are refused when saved."""

import copy
import http.server
import subprocess
import threading

import pytest

from tests.documents.conftest import FILLED_VALUES, attached_letter
from workflows.documents import letter_problems, render_contract_pdf
from workflows.documents.assets import packaged_asset
from workflows.documents.layout import html_document
from workflows.documents.render import shipped_source

PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
                        "0000000a4944415478da63600000000200015e2ab1b90000000049454e44ae426082")


@pytest.fixture(scope="module")
def listener():
    """A local HTTP server that records every request it gets (and answers none usefully)."""
    requests = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()


def hostile_markup(secret, url):
    return (f'<link rel="attachment" href="file://{secret}"><a rel="attachment" href="{secret}">key</a>'
            f'<a rel="attachment" href="../../../../../../../../etc/passwd">passwd</a>'
            f'<img src="{url}/image.png"><link rel="stylesheet" href="{url}/style.css">'
            f'<p style="background: url({url}/background.png)">x</p><style>@import url("{url}/import.css");</style>'
            f'<img src="file://{secret}"><img src="data:image/png;base64,iVBORw0KGgo=">')


def embedded_files(pdf_path):
    """pdfdetach's list: files in the document's name tree and in file-attachment annotations alike."""
    listing = subprocess.run(["pdfdetach", "-list", str(pdf_path)], capture_output=True, check=True, text=True).stdout
    return [line.split(": ", 1)[1] for line in listing.splitlines()[1:]]


@pytest.fixture(scope="module")
def hostile_pdf(technical_service_contract, listener, tmp_path_factory):
    """A contract rendered from a template version and a letter version that both reach for a secret file and URLs."""
    folder = tmp_path_factory.mktemp("hostile")
    secret = folder / "secret_key"
    secret.write_text("do not ship me")
    url, _ = listener
    contract = copy.deepcopy(technical_service_contract)
    contract["template_source"] = shipped_source("technical_service").replace(
        '<section class="cover">', hostile_markup(secret, url) + '<section class="cover">', 1)
    letter = attached_letter("information_security", 1, FILLED_VALUES)
    letter["source"] = hostile_markup(secret, url + "/letter") + letter["source"]
    contract["letters"] = [letter]
    path = folder / "contract.pdf"
    path.write_bytes(render_contract_pdf(contract))
    return path


@pytest.mark.slow
def test_no_file_of_the_server_is_embedded(hostile_pdf):
    assert embedded_files(hostile_pdf) == []
    assert b"do not ship me" not in hostile_pdf.read_bytes()


@pytest.mark.slow
def test_the_server_fetches_no_url(hostile_pdf, listener):
    _, requests = listener
    assert requests == []


@pytest.mark.slow
def test_the_document_still_lays_out_in_its_fonts(hostile_pdf):
    text = subprocess.run(["pdftotext", str(hostile_pdf), "-"], capture_output=True, check=True, text=True).stdout
    assert "长垣市第一中学" in text.replace(" ", "")
    fonts = subprocess.run(["pdffonts", str(hostile_pdf)], capture_output=True, check=True, text=True).stdout
    assert "CJK" in fonts


def test_only_packaged_stylesheets_images_and_fonts_are_served(tmp_path):
    root = tmp_path / "assets"
    (root / "img").mkdir(parents=True)
    (root / "img" / "logo.png").write_bytes(PNG_1PX)
    (root / "notes.html").write_text("<p>template</p>")
    (tmp_path / "secret.png").write_bytes(b"secret")
    (root / "escape.png").symlink_to(tmp_path / "secret.png")
    assert packaged_asset((root / "img" / "logo.png").as_uri(), root) == root / "img" / "logo.png"
    assert packaged_asset((root / "img" / "logo.png").as_uri() + "?v=1#x", root) == root / "img" / "logo.png"
    for url in [(root / "img" / ".." / ".." / "secret.png").as_uri(), f"file://{root}/img/%2e%2e/%2e%2e/secret.png",
                (root / "escape.png").as_uri(), (root / "notes.html").as_uri(), (root / "missing.png").as_uri(),
                f"file://example.com{root}/img/logo.png", "http://127.0.0.1/img/logo.png", "ftp://127.0.0.1/logo.png",
                "data:image/png;base64,iVBORw0KGgo=", "file:///etc/passwd"]:
        assert packaged_asset(url, root) is None, url


@pytest.mark.slow
def test_a_packaged_image_is_laid_out(tmp_path):
    (tmp_path / "logo.png").write_bytes(PNG_1PX)
    pdf = tmp_path / "logo.pdf"
    pdf.write_bytes(html_document('<img src="logo.png" style="width: 20mm">', root=tmp_path).write_pdf())
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, check=True, text=True).stdout
    assert len(images.splitlines()) == 3  # the header, its underline and the one image


def test_a_letter_version_that_embeds_files_is_refused():
    source = ('<p>本单位承诺。</p><a rel="Attachment nofollow" href="file:///etc/passwd">x</a><div id="place-letter-pledge">'
              '<span class="place-seal"></span><span class="place-sign"></span><span class="place-date"></span></div>')
    problem = letter_problems("pledge", "承诺书", source, [])
    assert problem and 'rel="attachment"' in problem and "/etc/passwd" in problem
    assert letter_problems("pledge", "承诺书", source.replace('rel="Attachment nofollow" ', ""), []) is None
