"""Contract documents rendered from templates to HTML and PDF."""

from workflows.documents.render import render_contract_html, render_contract_pdf

__all__ = ["render_contract_html", "render_contract_pdf"]
