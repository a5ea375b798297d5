"""Contract documents rendered from templates to HTML and PDF, with the places where each party signs."""

from workflows.documents.attachments import field_applies, letter_problems, render_letter_body
from workflows.documents.formatting import chinese_numeral
from workflows.documents.places import (CONTRACT_PLACES, CUSTOMER_PLACE, PROVIDER_PLACE, SIGNATORY_PLACE, SignaturePlace,
                                        document_places, letter_place, missing_places)
from workflows.documents.render import (render_contract_html, render_contract_pdf, render_document_pdf,
                                       render_supplement_html, render_supplement_pdf)

__all__ = ["CONTRACT_PLACES", "CUSTOMER_PLACE", "PROVIDER_PLACE", "SIGNATORY_PLACE", "SignaturePlace", "chinese_numeral",
           "document_places", "field_applies", "letter_place", "letter_problems", "missing_places", "render_contract_html",
           "render_contract_pdf", "render_document_pdf", "render_letter_body", "render_supplement_html",
           "render_supplement_pdf"]
