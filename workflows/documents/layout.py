"""Every PDF the product lays out with WeasyPrint starts here: ``html_document`` with the one URL fetcher that serves
only packaged assets (``assets``). Importing this module loads WeasyPrint and pango (about 1 s): callers that only
need HTML import it when they lay out.
"""

from pathlib import Path

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from workflows.documents.assets import ASSET_TYPES, ASSETS_DIR, packaged_asset


class PackagedAssetsOnly(URLFetcher):
    """Serves files under ``root`` that ``packaged_asset`` accepts and refuses every other URL (``file:`` outside
    it, ``http(s):``, ``ftp:``, ``data:``): WeasyPrint leaves a refused resource out and logs a warning."""

    def __init__(self, root: Path = ASSETS_DIR):
        super().__init__()
        self.root = root

    def fetch(self, url, headers=None):
        path = packaged_asset(url, self.root)
        if path is None:
            raise ValueError(f"documents load only the product's own stylesheets, images and fonts, not {url[:200]}")
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": ASSET_TYPES[path.suffix.lower()]})


def html_document(html: str, root: Path = ASSETS_DIR) -> HTML:
    """A WeasyPrint document of ``html``; relative URLs name files under ``root``, the only ones it may load."""
    return HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=PackagedAssetsOnly(root))
