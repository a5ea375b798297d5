"""The job that prepares the document to sign also draws its pages as images (to read it on a phone): one PNG per
page of the certified PDF; before the letters are filled in, of a reading copy; only the latest rendering's are kept."""
import io

from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import delete
from sqlmodel import func, select

from tests.letters.helpers import at_customer, complete_letters, technical_service
from workflows.documents.pages import PAGE_WIDTH
from workflows.models import Contract, DocumentPage


def page_count(pdf):
    return PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"]


def drawn(platform, contract_id):
    """The contract's page listing, its current document, and how many page rows it keeps in all."""
    with platform.db.read() as session:
        contract = session.get(Contract, contract_id)
        listing = platform.documents.page_listing(session, contract)
        pngs = [platform.documents.page_png(session, contract, listing.source_sha256, page.number)
                for page in listing.pages]
        kept = session.exec(select(func.count()).select_from(DocumentPage)
                            .where(DocumentPage.contract_id == contract_id)).one()
        return listing, pngs, platform.documents.current(session, contract), kept


def test_the_job_draws_every_page_of_the_pdf_the_customer_signs(api, platform):
    contract_id = at_customer(api, technical_service())
    api.run_jobs()  # the customer's step opened: the letters are not filled in yet
    listing, pngs, current, _kept = drawn(platform, contract_id)
    assert current is None and len(listing.pages) > 10  # nothing to sign yet, but a copy to read

    complete_letters(api, contract_id)  # the job prepares the document to sign
    listing, pngs, current, kept = drawn(platform, contract_id)
    assert current.kind == "certified" and listing.source_sha256 == current.source_sha256
    assert len(pngs) == page_count(current.pdf) == kept  # every page of that PDF, and the reading copy's are gone
    assert [page.number for page in listing.pages] == list(range(1, len(pngs) + 1))
    for page, png in zip(listing.pages, pngs):
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG" and image.size == (page.width, page.height)
            assert image.width == PAGE_WIDTH and image.height > image.width  # A4, upright


    with platform.db.write() as session:  # as a document prepared by a release that drew no pages (the upgrade
        session.execute(delete(DocumentPage))  # queues the job for each contract waiting for its customer)
        platform.signing.request_prepare(session, contract_id)
    api.run_jobs()
    _listing, again, still, _kept = drawn(platform, contract_id)
    assert still.id == current.id and again == pngs  # the same document, its pages drawn
