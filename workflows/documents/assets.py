"""What a document may load: the product's own packaged stylesheets, images and fonts, nothing else.

Templates are written by administrators. Left to WeasyPrint's default fetcher, a template reads any file the server
can read (``<link rel="attachment" href="file:///…/secret_key">`` embeds it in every PDF) and makes the server
request any URL (SSRF). So every document is laid out with one fetcher (``layout.html_document``) that serves only
files found here, and a template version that asks to embed files is refused when it is saved.

Text needs no fetching: fontconfig finds the system's CJK fonts by family name. ``data:`` URLs are refused too: no
product document has an inline image (signatures and seals are drawn by the signing code, not by WeasyPrint), and
they would let a template embed arbitrary bytes as a file or feed them to the image decoders.
"""

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from lxml import html as lxml_html

ASSETS_DIR = Path(__file__).resolve().parent / "templates"
ASSET_TYPES = {".css": "text/css", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".svg": "image/svg+xml", ".woff": "font/woff", ".woff2": "font/woff2",
               ".ttf": "font/ttf", ".otf": "font/otf"}


def packaged_asset(url: str, root: Path = ASSETS_DIR) -> Path | None:
    """The file a ``file:`` URL names when it is a stylesheet, image or font inside ``root``, else None.

    The path is resolved first, so ``..`` and symbolic links pointing out of ``root`` name no asset.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    try:
        path = Path(url2pathname(parts.path)).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root.resolve()) or path.suffix.lower() not in ASSET_TYPES or not path.is_file():
        return None
    return path


def embedding_problem(html: str) -> str | None:
    """Why rendered template HTML cannot be saved, or None: a link with ``rel="attachment"`` asks WeasyPrint to
    embed the file it points at in the PDF, and no document of the product embeds files."""
    tree = lxml_html.document_fromstring(html)
    links = [element.get("href") or "" for element in tree.xpath("//*[@rel]")
             if "attachment" in element.get("rel").lower().split()]
    if not links:
        return None
    return ('documents cannot embed files: remove rel="attachment" from the links to '
            + ", ".join(repr(link[:100]) for link in links[:3]))
