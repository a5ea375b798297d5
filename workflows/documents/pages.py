"""A contract's PDF as one PNG image per page, for reading it on a phone (as DocuSeal and e签宝 show documents there):
a 390 px screen shows a page at its width, and the reader pinches to zoom.

poppler's ``pdftoppm`` draws the pages: the project installs poppler-utils anyway (scripts/system-deps.sh: pdftotext
and pdfsig check documents in the tests), so nothing new is pinned. A page is drawn 1240 px wide (A4 at 150 dpi: sharp
at a phone's 3 device pixels per CSS pixel, and when pinched) and packed by Pillow into 16 colours, which a page of
black text needs: about 60 KB instead of 210 KB over a phone's network.
"""
import io
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

PAGE_WIDTH = 1240
COLOURS = 16
RENDER_SECONDS = 120  # a runaway render fails the job's try instead of holding its lease


@dataclass(frozen=True)
class PageImage:
    number: int  # from 1
    png: bytes
    width: int
    height: int


def page_images(pdf: bytes, width: int = PAGE_WIDTH) -> list[PageImage]:
    """Every page of ``pdf``, in order, as a PNG ``width`` pixels wide."""
    with tempfile.TemporaryDirectory(prefix="qianyue-pages-") as folder:
        source, prefix = Path(folder) / "document.pdf", Path(folder) / "page"
        source.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-scale-to-x", str(width), "-scale-to-y", "-1", str(source), str(prefix)],
                       check=True, capture_output=True, timeout=RENDER_SECONDS)
        # page-1.ppm … or page-01.ppm …: pdftoppm pads the number to the width of the page count
        drawn = sorted(Path(folder).glob("page-*.ppm"), key=lambda path: int(path.stem.rsplit("-", 1)[1]))
        return [_packed(number, path) for number, path in enumerate(drawn, 1)]


def _packed(number, path):
    with Image.open(path) as image:
        packed = io.BytesIO()
        image.quantize(COLOURS, method=Image.Quantize.FASTOCTREE).save(packed, "PNG", bits=4)
        return PageImage(number, packed.getvalue(), image.width, image.height)
