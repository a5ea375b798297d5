"""One signable document: the letters as the contract's 附件 pages, and signature places where the paper signs."""

import copy
import html
import io
import json
import re
import subprocess
from datetime import datetime, timezone

import pytest
from jinja2.exceptions import SecurityError, UndefinedError
from PIL import Image

from workflows.documents import render_contract_html
from workflows.documents.attachments import render_letter_body
from workflows.documents.formatting import chinese_numeral
from workflows.documents.places import LETTER_AREAS, document_places, letter_place, missing_places
from workflows.documents.render import render_document_pdf
from workflows.errors import ValidationFailed
from workflows.signing import seals

from tests.documents.conftest import LETTERS_DIR, attached_letter

SIGNING_WORDS = ("盖章", "签字", "签章", "日期")  # what /work/shared/checks/signing-package calls a signing line
# the text each sub-area belongs to: the party line under the seal, the label left of the signature and date lines
AREA_LINES = {
    "customer": {"seal": "甲方（盖章）", "sign": "或授权代表（签字）", "date": "签署日期"},
    "provider": {"seal": "乙方（盖章）"},
    "provider-signatory": {"sign": "或授权代表（签字）", "date": "签署日期"},
    "letter-network_access": {"seal": "用户盖章", "sign": "或授权代表（签字）", "date": "日期"},
    "letter-information_security": {"seal": "承诺单位（盖章）", "sign": "或授权代表（签字）", "date": "日期"},
}
LETTER_CLAUSES = {"network_access": ("一、用户接入中国电信公网，应遵守国家的有关法律、法规和行政规章制度。",),
                  "information_security": ("二十一、本承诺书经本单位签署后，与合同同时生效。", "姓名：张伟")}
SECURITY_FIELDS = json.loads((LETTERS_DIR / "fields.json").read_text(encoding="utf-8"))["information_security"]
SECURITY_SOURCE = (LETTERS_DIR / "information_security.html").read_text(encoding="utf-8")
LETTER_DOCUMENT = {"number": "N0001", "title": "网络及信息安全承诺书", "customer": {"name": "甲<单位>"},
                   "provider": {"name": "乙分公司"}, "service_types": ["vpn_line"]}
NO_PLACES_TEMPLATE = '{% extends "base.html" %}{% block content %}<p>甲方（盖章）：</p><p>乙方（盖章）：</p>{% endblock %}'


# --- letter bodies -----------------------------------------------------------------------------------------------

def test_letter_body_sees_what_the_letter_renderer_gives_it():
    source = ("{{ number }}|{{ title }}|{{ customer.name }}|{{ provider.name }}|{{ values.security_officer_name }}|"
              '<span class="blank">{{ values.security_officer_title }}</span>|{{ applies.voice_usage_hours }}|'
              "{{ applies.security_officer_name }}")
    body = render_letter_body(source, SECURITY_FIELDS, {"security_officer_name": "张伟"}, LETTER_DOCUMENT)
    assert body == 'N0001|网络及信息安全承诺书|甲&lt;单位&gt;|乙分公司|张伟|<span class="blank"></span>|False|True'
    voice = dict(LETTER_DOCUMENT, service_types=["voice_line"])
    assert render_letter_body("{{ applies.voice_usage_hours }}", SECURITY_FIELDS, {}, voice) == "True"


def test_shipped_letter_prints_voice_fields_only_for_voice_services():
    values = {"voice_usage_hours": "08:00-18:00"}
    assert "08:00-18:00" not in render_letter_body(SECURITY_SOURCE, SECURITY_FIELDS, values, LETTER_DOCUMENT)
    voice = dict(LETTER_DOCUMENT, service_types=["voice_line"])
    assert '<span class="blank">08:00-18:00</span>' in render_letter_body(SECURITY_SOURCE, SECURITY_FIELDS, values, voice)


def test_letter_body_is_strict_and_sandboxed():
    with pytest.raises(UndefinedError):
        render_letter_body("{{ values.not_declared }}", SECURITY_FIELDS, {}, LETTER_DOCUMENT)
    with pytest.raises(SecurityError):
        render_letter_body("{{ ().__class__.__base__.__subclasses__() }}", [], {}, LETTER_DOCUMENT)


# --- the letters in the contract's HTML -----------------------------------------------------------------------------

def body_of(document_html: str) -> str:
    return document_html.split("<body>", 1)[1]


def test_letters_follow_the_signature_page_in_position_order(network_line_with_letters):
    contract = copy.deepcopy(network_line_with_letters)
    contract["letters"].reverse()  # listed out of order: the positions decide
    body = body_of(render_contract_html(contract))
    order = [body.index(text) for text in ("为合同签署页", '<p class="attachment-label">附件一</p>', "<h1>用户入网责任书</h1>",
                                            '<p class="attachment-label">附件二</p>', "<h1>网络及信息安全承诺书</h1>")]
    assert order == sorted(order)
    assert "附件一：用户入网责任书" in body and "附件二：网络及信息安全承诺书" in body
    assert '姓名：<span class="blank">张伟</span>' in body


def test_listed_letters_without_a_template_only_appear_in_the_attachment_list(network_line_contract):
    body = body_of(render_contract_html(network_line_contract))
    assert "附件一：用户入网责任书" in body
    assert "attachment-label" not in body and "place-letter" not in body


def test_a_letter_body_without_a_title_gets_one(technical_service_contract):
    contract = copy.deepcopy(technical_service_contract)
    contract["letters"] = [dict(attached_letter("information_security", 1, {}), source="<p>本单位承诺。</p>")]
    body = body_of(render_contract_html(contract))
    assert '附件一</p>\n<h1>网络及信息安全承诺书</h1>\n<p>本单位承诺。</p>' in body


def test_stylesheet_styles_what_letter_bodies_and_places_use(network_line_with_letters):
    css = render_contract_html(network_line_with_letters).split("<style>", 1)[1].split("</style>", 1)[0]
    for selector in ("h1", ".lead", ".info", ".blank", ".sign-block", ".place-seal", ".place-sign", ".place-date"):
        assert re.search(rf"(^|[\s,}}]){re.escape(selector)}\s*[{{,]", css), selector


# --- template checks ---------------------------------------------------------------------------------------------------

def test_shipped_templates_have_every_place(network_line_with_letters, technical_service_with_letter):
    for contract in (network_line_with_letters, technical_service_with_letter):
        codes = [letter["code"] for letter in contract["letters"]]
        assert missing_places(render_contract_html(contract), document_places(codes)) == []


def test_a_template_without_places_is_reported(network_line_with_letters):
    contract = dict(network_line_with_letters, template_source=NO_PLACES_TEMPLATE)
    places = document_places(["network_access", "information_security"])
    assert missing_places(render_contract_html(contract), places) == ["customer", "provider", "provider-signatory"]


def test_a_letter_without_its_place_or_a_sub_area_is_reported():
    required = {letter_place("information_security"): LETTER_AREAS}
    assert missing_places("<h1>承诺书</h1><p>承诺单位（盖章）：</p>", required) == ["letter-information_security"]
    no_date = ('<div id="place-letter-information_security"><div class="place-seal">承诺单位（盖章）：</div>'
               '<p>或授权代表（签字）：<span class="place-sign"></span></p></div>')
    assert missing_places(no_date, required) == ["letter-information_security.date"]
    shipped = render_letter_body(SECURITY_SOURCE, SECURITY_FIELDS, {}, LETTER_DOCUMENT)
    assert missing_places(shipped, required) == []


# --- the PDF -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["network_line_with_letters", "technical_service_with_letter"])
def signable(request, tmp_path_factory):
    """(contract, pdf path, places) for each seed contract with its letters."""
    contract = request.getfixturevalue(request.param)
    pdf, places = render_document_pdf(contract)
    path = tmp_path_factory.mktemp("signable") / f"{request.param}.pdf"
    path.write_bytes(pdf)
    return contract, path, places


def page_texts(pdf_path) -> list[str]:
    """Each page's text without spaces (CJK runs come out spaced unpredictably)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, check=True, text=True).stdout
    return [re.sub(r"[ \u3000]+", "", page) for page in text.split("\f")[:-1]]


def page_words(pdf_path, page_index: int) -> tuple[float, list[tuple[str, float, float, float, float]]]:
    """The page height and its words (text, x min, y min, x max, y max), top-down as pdftotext gives them."""
    box = subprocess.run(["pdftotext", "-bbox", "-f", str(page_index + 1), "-l", str(page_index + 1), str(pdf_path), "-"],
                         capture_output=True, check=True, text=True).stdout
    height = float(re.search(r'<page width="[\d.]+" height="([\d.]+)"', box).group(1))
    words = [(html.unescape(m.group(5)), *map(float, m.group(1, 2, 3, 4))) for m in
             re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', box)]
    return height, words


@pytest.mark.slow
def test_letters_are_pages_after_the_signature_page_numbered_with_the_contract(signable):
    contract, pdf_path, _places = signable
    pages = page_texts(pdf_path)
    signature_page = next(index for index, page in enumerate(pages) if "为合同签署页" in page)
    assert "年月日" not in pages[signature_page]  # no ____年__月__日 blanks under the date places
    for position, letter in enumerate(contract["letters"], start=1):
        opening = [index for index, page in enumerate(pages)
                   if f"\n附件{chinese_numeral(position)}\n" in page and letter["title"] in page]
        assert opening and opening[0] > signature_page, letter["title"]
        for clause in LETTER_CLAUSES[letter["code"]]:
            found = [index for index, page in enumerate(pages) if clause in page]
            assert found and min(found) > signature_page, clause
    assert all(f"合同编号：{contract['number']}" in page for page in pages)
    assert re.findall(r"第(\d+)页共(\d+)页", "".join(pages)) == [(str(n), str(len(pages))) for n in range(1, len(pages) + 1)]


@pytest.mark.slow
def test_places_sit_on_their_signing_lines(signable):
    contract, pdf_path, places = signable
    assert [place.field_name for place in places] == list(document_places([l["code"] for l in contract["letters"]]))
    signature_page = places[0].page_index
    for place in places:
        height, words = page_words(pdf_path, place.page_index)
        x1, y1, x2, y2 = place.box
        top, bottom = height - y2, height - y1
        # the acceptance check's rule: a signing line within 120 pt of the field
        lines = [w[2] for w in words if any(k in w[0] for k in SIGNING_WORDS)]
        gap = min(0 if top - 30 <= y <= bottom + 30 else min(abs(y - top), abs(y - bottom)) for y in lines)
        assert gap <= 120, place
        # and closer: each sub-area is on the row of its own label, in the place's column
        for area_name, label in AREA_LINES[place.field_name].items():
            ax1, ay1, ax2, ay2 = place.area(area_name)
            area_top, area_bottom = height - (y1 + ay2), height - (y1 + ay1)
            row = [w for w in words if w[0].startswith(label) and x1 - 1 <= w[1] <= x2]
            assert row, (place.field_name, label)
            middle = (row[0][2] + row[0][4]) / 2
            assert area_top <= middle <= area_bottom, (place.field_name, area_name, middle, area_top, area_bottom)
        if place.field_name.startswith("letter-"):
            assert place.page_index > signature_page


@pytest.mark.slow
def test_places_are_big_enough_for_a_seal_and_a_signature(signable):
    _contract, _pdf_path, places = signable
    millimetre = 72 / 25.4
    for place in places:
        if place.area("seal"):
            x1, y1, x2, y2 = place.area("seal")
            assert min(x2 - x1, y2 - y1) >= 40 * millimetre, place
        if place.area("sign"):
            x1, y1, x2, y2 = place.area("sign")
            assert x2 - x1 >= 35 * millimetre and y2 - y1 >= 12 * millimetre, place


@pytest.mark.slow
def test_a_stamp_fits_its_place(signable):
    _contract, _pdf_path, places = signable
    place = places[0]
    stamp = seals.place_stamp_png(place.size, dict(place.areas), datetime(2026, 12, 2, tzinfo=timezone.utc),
                                  seal_png=seals.round_seal_png("长垣市第一中学"),
                                  mark_png=seals.signature_image_from_text("徐永立"))
    image = Image.open(io.BytesIO(stamp))
    assert image.width / image.height == pytest.approx(place.size[0] / place.size[1], rel=0.005)


@pytest.mark.slow
def test_same_contract_same_pdf_and_places(technical_service_with_letter):
    """The signing code certifies one rendering and signs into its fields: a second rendering must agree."""
    first, second = render_document_pdf(technical_service_with_letter), render_document_pdf(technical_service_with_letter)
    assert first[0] == second[0] and first[1] == second[1]


@pytest.mark.slow
def test_a_missing_place_is_named(network_line_with_letters):
    with pytest.raises(ValidationFailed, match="place-customer"):
        render_document_pdf(dict(network_line_with_letters, template_source=NO_PLACES_TEMPLATE))
    contract = copy.deepcopy(network_line_with_letters)
    contract["letters"][1]["source"] = "<h1>网络及信息安全承诺书</h1><p>承诺单位（盖章）：</p>"
    with pytest.raises(ValidationFailed, match="place-letter-information_security"):
        render_document_pdf(contract)
