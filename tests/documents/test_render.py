"""Contract documents: generated numbering, seed content in HTML, and the PDF a reader gets."""

import copy
import re
import subprocess

import pytest
from PIL import Image

from workflows.documents import render_contract_html, render_contract_pdf
from workflows.documents.formatting import chinese_date, chinese_numeral, daily_rate, money
from workflows.documents.numbering import ArticleNumbering
from workflows.documents.render import template_environment
from workflows.errors import ValidationFailed

ARTICLE = re.compile(r"第([一二三四五六七八九十百]+)条")
CLAUSE = re.compile(r'<span class="no">(\d+(?:\.\d+)+)</span>')


def article_numerals(html: str) -> list[str]:
    return ARTICLE.findall(html.split("<body>", 1)[1])


def assert_clauses_contiguous(html: str) -> None:
    """Every clause number follows its predecessor: 3.1 → 3.1.1 → 3.1.2 → 3.2, never 3.3 after 3.1."""
    previous = None
    for number in CLAUSE.findall(html):
        parts = [int(part) for part in number.split(".")]
        if previous is not None and parts[0] == previous[0]:
            depth = len(parts)
            expected = previous[:depth - 1] + [1] if depth > len(previous) else previous[:depth - 1] + [previous[depth - 1] + 1]
            assert parts == expected, f"{number} after {'.'.join(map(str, previous))}"
        else:
            assert parts[1:] == [1], f"{number} opens an article"
        previous = parts


@pytest.mark.parametrize("number, numeral", [(1, "一"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"), (90, "九十"), (105, "一百零五"), (110, "一百一十"), (1001, "一千零一")])
def test_chinese_numerals(number, numeral):
    assert chinese_numeral(number) == numeral


def test_money_dates_and_rates_print_as_contracts_write_them():
    assert money("1080000") == "1,080,000.00"
    assert money("0.5") == "0.50"
    assert chinese_date("2025-01-01") == "2025年1月1日"
    assert daily_rate("0.03") == "3%"
    assert daily_rate("0.0005") == "千分之0.5"
    assert daily_rate("0.005") == "千分之5"


def test_clause_numbers_restart_per_article_and_nest():
    numbering = ArticleNumbering()
    assert numbering.article() == "第一条"
    assert [numbering.clause(), numbering.clause(2), numbering.clause(2), numbering.clause()] == ["1.1", "1.1.1", "1.1.2", "1.2"]
    assert numbering.article() == "第二条"
    assert numbering.clause() == "2.1"
    with pytest.raises(ValueError):
        numbering.clause(3)


def test_environment_is_built_once_and_sandboxed():
    from jinja2.sandbox import SandboxedEnvironment

    assert template_environment() is template_environment()
    assert isinstance(template_environment(), SandboxedEnvironment)


def test_technical_service_html_follows_seed_003(technical_service_contract):
    html = render_contract_html(technical_service_contract)
    assert html.startswith("<!DOCTYPE html>")
    assert article_numerals(html) == [chinese_numeral(number) for number in range(1, 16)]
    assert_clauses_contiguous(html)
    for text in ("长垣市第一中学", "中国电信集团有限公司新乡分公司", "壹佰零捌万元整", "¥1,080,000.00", "壹佰零壹万捌仟捌佰陆拾柒元玖角贰分", "陆万壹仟壹佰叁拾贰元零捌分", "261000019000000006", "91410700747429956F", "千分之0.5", "甲方指定徐永立为甲方项目联系人，乙方指定王超琦为乙方项目联系人", "附件一：网络及信息安全承诺书", "以本补充附页为准：无", "2027年12月31日"):
        assert text in html, text


def test_network_line_html_follows_seed_000(network_line_contract):
    html = render_contract_html(network_line_contract)
    assert article_numerals(html) == [chinese_numeral(number) for number in range(1, 13)]
    assert_clauses_contiguous(html)
    assert re.search(r"第十一条</span>|第十一条 服务期限及其他", html)
    for text in ("常州市城市管理局", "中国电信股份有限公司常州分公司", "合同签订地：常州", "肆拾伍万元整", "每日加收3%的违约金", "赔偿违约金人民币10,000.00元", "服务期届满前九十日书面通知", "每次续展期限为12个月", "附件一《用户入网责任书》、附件二《网络及信息安全承诺书》", "附件二：网络及信息安全承诺书"):
        assert text in html, text


def test_absent_optional_clauses_leave_no_gap(technical_service_contract):
    contract = copy.deepcopy(technical_service_contract)
    contract["data"]["late_fee_rate_per_day"] = None
    contract["letters"] = []
    html = render_contract_html(contract)
    assert "千分之" not in html
    assert_clauses_contiguous(html)
    assert article_numerals(html) == [chinese_numeral(number) for number in range(1, 16)]
    assert "本合同附件为：</p>\n<p class=\"depth-2\">无</p>" in html


def test_special_terms_are_printed_and_escaped(network_line_contract):
    contract = copy.deepcopy(network_line_contract)
    contract["data"]["special_terms"] = "甲方<b>另行</b>支付测试费。\n第二段。"
    contract["data"]["customer"]["name"] = "<script>alert(1)</script>"
    html = render_contract_html(contract)
    assert "甲方&lt;b&gt;另行&lt;/b&gt;支付测试费。" in html
    assert "第二段。" in html
    assert "<script>" not in html


def test_unknown_template_kind_is_a_validation_error(network_line_contract):
    contract = copy.deepcopy(network_line_contract)
    contract["data"]["template"] = "lease"
    with pytest.raises(ValidationFailed) as failure:
        render_contract_html(contract)
    assert "template" in failure.value.fields


def pdf_text(pdf_path) -> str:
    """pdftotext's layout text with every space removed: CJK runs come out spaced unpredictably."""
    completed = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, check=True, text=True)
    return re.sub(r"[ \u3000]+", "", completed.stdout)


@pytest.fixture(scope="module")
def technical_service_pdf(technical_service_contract, tmp_path_factory):
    path = tmp_path_factory.mktemp("documents") / "technical_service.pdf"
    path.write_bytes(render_contract_pdf(technical_service_contract))
    return path


@pytest.mark.slow
def test_pdf_text_has_parties_amounts_number_and_page_footer(technical_service_pdf):
    text = pdf_text(technical_service_pdf)
    for expected in ("长垣市第一中学", "壹佰零捌万元整", "合同编号：HAXXS2401525ECN00", "第十五条"):
        assert expected in text, expected
    footers = re.findall(r"第(\d+)页共(\d+)页", text)
    page_count = int(footers[0][1])
    assert [int(page) for page, _ in footers] == list(range(1, page_count + 1))
    assert text.count("合同编号：HAXXS2401525ECN00") >= page_count


@pytest.mark.slow
def test_pdf_is_small_and_its_first_page_is_not_blank(technical_service_pdf, tmp_path):
    assert technical_service_pdf.stat().st_size < 1_000_000
    subprocess.run(["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(technical_service_pdf), str(tmp_path / "page")], check=True)
    (png,) = tmp_path.glob("page*.png")
    histogram = Image.open(png).convert("L").histogram()
    dark_pixels = sum(histogram[:200])
    assert dark_pixels > 500


@pytest.mark.slow
def test_long_service_list_repeats_its_header_on_each_page(technical_service_contract, tmp_path):
    contract = copy.deepcopy(technical_service_contract)
    contract["data"]["items"] = [dict(item, name=f"服务项目{number}") for number, item in enumerate(contract["data"]["items"] * 20, start=1)]
    pdf_path = tmp_path / "long.pdf"
    pdf_path.write_bytes(render_contract_pdf(contract))
    pages = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, check=True, text=True).stdout.split("\f")
    pages_with_rows = [page.replace(" ", "") for page in pages if "270,000.00" in page]
    assert len(pages_with_rows) >= 2
    assert all("服务项目名称" in page for page in pages_with_rows)
    assert sum(page.count("合计") for page in pages_with_rows) == 1


@pytest.mark.slow
def test_fonts_are_subset_with_harfbuzz():
    """Without Debian's libharfbuzz-subset0 WeasyPrint falls back to fontTools: ~17 s instead of ~1 s per contract."""
    from weasyprint.text.ffi import harfbuzz_subset

    assert harfbuzz_subset is not None, "apt-get install libharfbuzz-subset0"


def test_the_articles_name_the_project_not_the_contracts_title(technical_service_contract):
    """Seed 003 reads 就长垣市第一中学精准教学考试服务项目（“项目”）, not 就…服务项目服务合同（“项目”）."""
    html = render_contract_html(technical_service_contract)
    assert "<td>项目名称：</td><td>长垣市第一中学精准教学考试服务项目</td>" in html
    assert "本合同甲方委托乙方就长垣市第一中学精准教学考试服务项目（“项目”）进行专项技术服务" in html
    assert "技术服务的目标：完成长垣市第一中学精准教学考试服务项目技术服务。" in html
    assert "服务合同（“项目”）" not in html and "服务合同技术服务" not in html
    earlier = copy.deepcopy(technical_service_contract)  # a version stored before the project had a field prints its title
    del earlier["data"]["project_name"]
    assert "就长垣市第一中学精准教学考试服务项目服务合同（“项目”）" in render_contract_html(earlier)


def test_each_one_time_fee_says_what_it_covers(network_line_contract):
    """Seed 000's 1.1 explains the access fee (开户费、工料费、安装调测费); the relocation fee of 1.2 is not an access fee."""
    html = render_contract_html(network_line_contract)
    access = next(line for line in html.splitlines() if "一次性接入费" in line)
    relocation = next(line for line in html.splitlines() if "移机费" in line)
    assert "一次性接入费（包括开户费、工料费、安装调测费等一次性费用，不包括用户终端和内部局域网设备费）标准资费为" in access
    assert "开户费" not in relocation and "迁至新的装机地址" in relocation and "在新址重新布放线路并安装调测" in relocation
    contract = copy.deepcopy(network_line_contract)
    contract["data"]["one_time_fees"][0]["name"] = "设备租赁费"  # a fee of another kind claims no scope
    assert "设备租赁费标准资费为" in render_contract_html(contract)


@pytest.mark.parametrize(("status", "mark"), [("draft", "草稿 · 第3版"), ("review", "第3版"), ("final", "")])
def test_the_version_mark_is_on_drafts_and_review_copies_not_on_the_document_to_sign(technical_service_with_letter,
                                                                                      status, mark):
    html = render_contract_html({**technical_service_with_letter, "status": status})
    assert f'<div class="page-status">{mark}</div>' in html
    assert f'<div class="page-status">{mark + " · " if mark else ""}附件一</div>' in html
    if status == "final":
        assert "第3版" not in html
