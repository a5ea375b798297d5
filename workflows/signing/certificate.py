"""The completion certificate (签署完成证明) and the final package.

Decision: the final package is a SEPARATE PDF, not pages appended to the signed contract.

* Appending pages to the signed contract after the approval signatures is a change that DocMDP level 2
  (FILL_FORMS) does not permit: pyHanko's difference analysis judges a new page ``OTHER`` and every earlier
  signature then fails its overall verdict; an attachment or any change to the catalog is judged the same way.
  Reserving text fields for the certificate in the certified revision would be permitted form filling,
  but needs CJK appearance streams built by pyHanko (the 16 MB font parse RECIPES warns about) and cannot
  hold the per-signer table well.
* So the package is: the certificate page(s) rendered by WeasyPrint, with the signed (and document-
  timestamped) contract embedded byte-for-byte as an associated file (``signed-contract.pdf``,
  AFRelationship /Source, the file's SHA-256 in its description, PDF/A-3 style); the package is then
  certified by the platform (DocMDP: no changes) and document-timestamped. The contract's own signatures stay
  exactly as signed (their verdicts do not change), the certificate and the embedded contract bytes are both
  covered by the package's signature and timestamp, and pdfsig validates the package's platform signature as
  well as the contract's signatures once extracted (``pdfdetach``). ``verify.verify_pdf`` verifies both
  levels and checks the stated hash against the embedded bytes.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from functools import cache

from jinja2 import Environment, select_autoescape

from ..clock import china_time
from .verify import PACKAGE_ATTACHMENT

CERTIFICATE_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>电子签署完成证明</title>
<style>
@page { size: A4; margin: 18mm 16mm 18mm 16mm;
  @top-left { content: "合同编号：{{ contract.number }}"; font-size: 8pt; color: #444; vertical-align: bottom; }
  @bottom-center { content: "第 " counter(page) " 页 共 " counter(pages) " 页"; font-size: 8pt; color: #444; } }
html { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", serif; font-size: 9.5pt;
  line-height: 1.6; color: #000; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 2mm; letter-spacing: 0.1em; }
.sub { text-align: center; color: #444; margin-bottom: 5mm; }
table { width: 100%; border-collapse: collapse; margin: 2mm 0 4mm; }
th, td { border: 0.5pt solid #666; padding: 1.2mm 2mm; vertical-align: top; text-align: left; }
th { background: #f0f0f0; width: 26%; font-weight: bold; }
.hash { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
h2 { font-size: 11pt; margin: 5mm 0 1mm; break-after: avoid; }
section { break-inside: avoid; }
.note { font-size: 8.5pt; color: #222; }
</style></head><body>
<h1>电子签署完成证明</h1>
<div class="sub">出具时间：{{ generated_at }}（北京时间）</div>
<table>
<tr><th>合同编号</th><td>{{ contract.number }}</td></tr>
<tr><th>合同名称</th><td>{{ contract.title }}</td></tr>
<tr><th>甲方</th><td>{{ contract.customer }}</td></tr>
<tr><th>乙方</th><td>{{ contract.provider }}</td></tr>
<tr><th>审核通过的文本 SHA-256</th><td class="hash">{{ approved_sha256 or "—" }}</td></tr>
<tr><th>签署前文件 SHA-256</th><td class="hash">{{ sha256_before }}</td></tr>
<tr><th>签署完成后文件 SHA-256</th><td class="hash">{{ sha256_after }}</td></tr>
<tr><th>审计链头</th><td class="hash">{{ audit_head }}</td></tr>
<tr><th>审计事件数</th><td>{{ audit_events }}</td></tr>
</table>
{% for s in signers %}
<section>
<h2>{{ loop.index }}. {{ s.role_label }}：{{ s.name }}</h2>
<table>
<tr><th>签署人身份</th><td>{{ s.identity }}{% if s.organisation %}<br>{{ s.organisation }}{% if s.credit_code %}（统一社会信用代码 {{ s.credit_code }}）{% endif %}{% endif %}</td></tr>
<tr><th>签署位置（PDF 签名域）</th><td>{{ s.field }}</td></tr>
<tr><th>签署方式</th><td>{{ s.method }}</td></tr>
<tr><th>意愿确认</th><td>{{ s.intent }}</td></tr>
<tr><th>签署时间</th><td>{{ s.signed_at }}（北京时间）</td></tr>
<tr><th>签署时所见文件 SHA-256</th><td class="hash">{{ s.document_sha256 }}</td></tr>
<tr><th>IP 地址 / 客户端</th><td>{{ s.ip or "—" }}<br><span class="note">{{ s.user_agent }}</span></td></tr>
<tr><th>证书序列号</th><td class="hash">{{ s.certificate_serial }}</td></tr>
</table>
</section>
{% endfor %}
{% if signer_changes %}
<h2>签署人变更记录</h2>
<table>
{% for c in signer_changes %}<tr><th>{{ c.at }}</th><td>由 {{ c["from"] }} 变更为 {{ c["to"] }}；申请人 {{ c.requested_by }}，批准人 {{ c.decided_by }}{% if c.reason %}；原因：{{ c.reason }}{% endif %}</td></tr>{% endfor %}
</table>
{% endif %}
<p class="note">本证明与所附已签署合同（含全部附件，文件名 {{ attachment }}）一并由签约平台认证并加盖可信时间戳，任何对本文件或所附合同的修改均可被检测。
验证方法：访问 {{ verify_url }} 上传本文件，或使用任何支持 PAdES 的 PDF 阅读器查看签名。</p>
</body></html>
"""
METHOD_LABELS = {"drawn": "手写签名", "typed": "键入姓名", "seal": "上传的单位印章", "account_name": "平台账户姓名签章",
                 "organisation_seal": "合同专用章（机构印章证书签署）"}


@cache
def _template():
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string(
        CERTIFICATE_TEMPLATE)


def _moment(value) -> str:
    """A moment as people read it here: China time, to the second."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return china_time(value).strftime("%Y-%m-%d %H:%M:%S")


def _intent_text(evidence: dict | None) -> str:
    if not evidence:
        return "与授权代表同一签署行为" if evidence is not None else "无"
    channel = {"email": "邮箱确认码", "sms": "短信确认码"}.get(evidence.get("channel"), evidence.get("channel", ""))
    return (f"{channel}（发送至 {evidence.get('destination', '')}），发送于 {_moment(evidence['issued_at'])}，"
            f"验证于 {_moment(evidence['verified_at'])}（北京时间）")


def render_certificate_html(data: dict) -> str:
    """``data``: contract {number, title, customer, provider}, approved_sha256, sha256_before, sha256_after,
    audit_head, audit_events, verify_url, signer_changes, signers [{role_label, name, identity, organisation,
    credit_code, method (in words), intent (evidence dict), signed_at, ip, user_agent, certificate_serial, field,
    document_sha256}]."""
    signers = [{**s, "intent": _intent_text(s.get("intent")), "signed_at": _moment(s["signed_at"])}
               for s in data.get("signers", [])]
    changes = [{**c, "at": _moment(c["at"])} for c in data.get("signer_changes", [])]
    return _template().render(**{**data, "signers": signers, "signer_changes": changes,
                                 "attachment": PACKAGE_ATTACHMENT,
                                 "generated_at": _moment(data.get("generated_at") or datetime.now(timezone.utc))})


def build_package(signed_contract_pdf: bytes, certificate_data: dict) -> bytes:
    """The unsigned package: certificate pages with the signed contract embedded as an associated file."""
    from weasyprint import Attachment  # WeasyPrint costs ~1 s to import; only callers that render pay it

    from ..documents.layout import html_document

    digest = hashlib.sha256(signed_contract_pdf).hexdigest()
    data = {**certificate_data, "sha256_after": certificate_data.get("sha256_after") or digest}
    attachment = Attachment(string=signed_contract_pdf, name=PACKAGE_ATTACHMENT, description=f"sha256:{digest}",
                            relationship="Source")
    return html_document(render_certificate_html(data)).write_pdf(attachments=[attachment])
