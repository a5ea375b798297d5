"""The pages of the route × role table, with the roles that see them: what tests/web/test_chinese_pages.py reads and
bench/pages.py times."""
import re

from tests.security.test_route_roles import TABLE
from tests.security.world import ROLES

NOT_PAGES = ("/api/", "/idp/.well", "/idp/jwks", "/static/", "/healthz", "/readyz")
FETCHED = re.compile(r"\.(json|csv|xlsx|png|ico|bpmn|dmn|xml)(\?|$)|/download$|/preview$")  # what a page fetches or offers
PDF = re.compile(r"\.pdf(\?|$)")


def pages(ids, fetched=False):
    """The table's GET pages (not the API, the provider's keys, static files or health checks) as (path, roles that
    get 200). Only HTML a person reads, unless ``fetched``: then also what the pages fetch or offer (the modeler's
    JSON, a diagram's download, the CSV export, the document previews). Never the PDFs: the worker renders them."""
    for method, path, *statuses in TABLE:
        if method != "GET" or path.startswith(NOT_PAGES) or PDF.search(path) or (FETCHED.search(path) and not fetched):
            continue
        yield path.format(**ids), [role for role, status in zip(ROLES, statuses) if status == 200]
