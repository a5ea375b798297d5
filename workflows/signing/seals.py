"""Seal and signature images, drawn with Pillow so that no CJK font is ever parsed while signing a PDF.

``round_seal_png`` draws an organisation's round seal: red ring, the name along the upper arc, a
five-pointed star, the purpose (合同专用章) underneath. ``place_stamp_png`` fills a signature place of the
document (``workflows.documents.places``) the way a clerk fills the paper: the seal over the party line, the
signature on the 签字 row, the date on the 签署日期 row.
"""
from __future__ import annotations

import io
import math
import subprocess
import warnings
from collections.abc import Mapping
from datetime import datetime
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from workflows.clock import CHINA

SEAL_RED = (200, 16, 30, 255)
INK_BLUE = (20, 30, 110, 255)
STAMP_DPI = 200  # a stamp prints sharply on paper; at 300 dpi each signature costs 45 % more to embed, for nothing seen
SEAL_SHARE = 0.95  # of the seal area's smaller side: a 42 mm area holds a 40 mm seal
SEAL_INK_OPACITY = 0.85  # like stamp ink, the name under the seal stays readable
MAX_UPLOAD, MAX_UPLOAD_SIDE = 1024 * 1024, 4000  # a drawn signature or a seal PNG
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FALLBACK_FONTS = ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc",
                  "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
                  "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@cache
def font_file(pattern: str = "Noto Serif CJK SC:bold") -> str:
    try:
        path = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        if path:
            return path
    except (OSError, subprocess.SubprocessError):
        pass
    for path in FALLBACK_FONTS:
        try:
            open(path, "rb").close()
            return path
        except OSError:
            continue
    raise RuntimeError("no CJK font found (install fonts-noto-cjk)")


@cache
def font(size: int, pattern: str = "Noto Serif CJK SC:bold") -> ImageFont.FreeTypeFont:
    """One parsed font per size; index 2 of the Noto CJK collections is the SC face."""
    path = font_file(pattern)
    index = 0
    if path.endswith(".ttc") and "Noto" in path:
        index = _sc_index(path)
    return ImageFont.truetype(path, size, index=index)


@cache
def _sc_index(path):
    for index in range(10):
        try:
            face = ImageFont.truetype(path, 10, index=index)
        except OSError:
            break
        if face.getname()[0].endswith(" SC"):
            return index
    return 0


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _star(draw, cx, cy, r, fill):
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.382
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=fill)


def round_seal_png(org_name: str, purpose: str = "合同专用章", size: int = 400) -> bytes:
    """A round seal as a transparent PNG: ring, name along the upper arc, star, purpose underneath."""
    scale = 2  # draw large, then downsample: smooth edges
    s = size * scale
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ring = max(4, s // 32)
    draw.ellipse((ring // 2, ring // 2, s - ring // 2, s - ring // 2), outline=SEAL_RED, width=ring)
    c = s / 2
    _star(draw, c, c, s * 0.15, SEAL_RED)
    # the name along the upper arc, characters upright to the circle, spread over up to 240 degrees
    chars = list(org_name.strip()) or [" "]
    char_size = int(s * (0.13 if len(chars) <= 12 else 0.11 if len(chars) <= 18 else 0.085))
    span = min(math.radians(250), math.radians(22) * len(chars)) if len(chars) > 1 else 0
    for _ in range(2):  # shrink the characters until neighbours on the arc do not touch
        text_radius = c - ring * 1.5 - char_size * 0.62
        if len(chars) > 1:
            char_size = min(char_size, int(text_radius * span / (len(chars) - 1) * 0.92))
    text_radius = c - ring * 1.5 - char_size * 0.62
    face = font(char_size)
    for i, char in enumerate(chars):
        angle = -span / 2 + (span * i / (len(chars) - 1) if len(chars) > 1 else 0)  # 0 = top
        glyph = Image.new("RGBA", (char_size * 2, char_size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((char_size, char_size), char, font=face, fill=SEAL_RED, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.BICUBIC)
        x = c + text_radius * math.sin(angle)
        y = c - text_radius * math.cos(angle)
        image.alpha_composite(glyph, (int(x - char_size), int(y - char_size)))
    if purpose:
        purpose_face = font(int(s * 0.085))
        draw.text((c, c + s * 0.29), purpose, font=purpose_face, fill=SEAL_RED, anchor="mm")
    return _png(image.resize((size, size), Image.LANCZOS))


def signature_image_from_text(name: str, width: int = 480, height: int = 160) -> bytes:
    """A typed signature: the name in a calligraphic-looking weight, dark blue ink on transparent."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    size = min(int(height * 0.6), int(width * 0.9 / max(1, len(name))))
    draw.text((width / 2, height / 2), name, font=font(size), fill=(20, 30, 110, 255), anchor="mm")
    return _png(image)


def image_problem(data: bytes | None) -> str | None:
    """What is wrong with a signature or seal image a signer sends, in words for the form; None when it is a PNG
    Pillow reads, of at most 1 MB and 4,000 px a side (kept as sent: the evidence is what the signer gave).

    Only the header is read before the size is checked: a 20 KB PNG can claim 13,000 x 13,000 pixels and would cost
    seconds and more than a gigabyte to decode. ``verify`` then checks the chunks' CRCs without decompressing.
    """
    if not data:
        return "add a signature image"
    if len(data) > MAX_UPLOAD:
        return f"the image is larger than {MAX_UPLOAD // 1024} KB"
    if not data.startswith(PNG_MAGIC):
        return "the image must be a PNG file"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is judged below, in words
            with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
                width, height = image.size
                if not (1 <= width <= MAX_UPLOAD_SIDE and 1 <= height <= MAX_UPLOAD_SIDE):
                    return f"the image must be at most {MAX_UPLOAD_SIDE} pixels on each side"
                image.verify()
    except Image.DecompressionBombError:
        return f"the image must be at most {MAX_UPLOAD_SIDE} pixels on each side"
    except Exception:  # noqa: BLE001  Pillow raises many kinds on broken files
        return "the image could not be read as a PNG file"
    return None


def china_date(moment: datetime) -> str:
    """The signing date as the paper writes it, in China time whatever the server's zone: 2026年12月2日."""
    if moment.tzinfo is None:
        raise ValueError("the signing time must carry its time zone: a naive time could be UTC or China time")
    local = moment.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日"


def place_stamp_png(size: tuple[float, float], areas: Mapping[str, tuple[float, float, float, float]],
                    signed_at: datetime, seal_png: bytes | None = None, mark_png: bytes | None = None,
                    dpi: int = STAMP_DPI) -> bytes:
    """The image pyHanko scales onto one signature place: transparent but for what the signer puts there.

    ``size`` is the place's (width, height) in points and ``areas`` its sub-areas in points from its bottom-left
    corner (``SignaturePlace.size`` and ``dict(SignaturePlace.areas)``). The seal (``round_seal_png`` or an
    uploaded one) is centred over the ``seal`` area, the signer's mark (a drawn signature, or
    ``signature_image_from_text``) fills the ``sign`` area, and the date in China time is written on the ``date``
    area. The image has the place's aspect ratio, so pyHanko's shrink-to-fit puts every part where it belongs.
    """
    width_pt, height_pt = size
    scale = dpi / 72
    canvas = Image.new("RGBA", (max(1, round(width_pt * scale)), max(1, round(height_pt * scale))), (0, 0, 0, 0))

    def pixels(area):
        x1, y1, x2, y2 = area
        return x1 * scale, (height_pt - y2) * scale, x2 * scale, (height_pt - y1) * scale

    if seal_png is not None and "seal" in areas:
        left, top, right, bottom = pixels(areas["seal"])
        side = min(right - left, bottom - top) * SEAL_SHARE
        _paste_fitted(canvas, seal_png, (left, top, right, bottom), side, side, SEAL_INK_OPACITY)
    if mark_png is not None and "sign" in areas:
        left, top, right, bottom = pixels(areas["sign"])
        _paste_fitted(canvas, mark_png, (left, top, right, bottom), (right - left) * 0.95, (bottom - top) * 0.9)
    if "date" in areas:
        left, top, right, bottom = pixels(areas["date"])
        size_px = int(min((bottom - top) * 0.75, 12 * scale))  # 12 pt at most: a little above the 10.5 pt text
        ImageDraw.Draw(canvas).text((left + size_px * 0.3, bottom - (bottom - top) * 0.15), china_date(signed_at),
                                    font=font(size_px, "Noto Serif CJK SC"), fill=INK_BLUE, anchor="ls")
    return _png(canvas)


def _paste_fitted(canvas: Image.Image, png: bytes, area, max_width: float, max_height: float,
                  opacity: float = 1.0) -> None:
    """The picture without its transparent margin, as large as fits ``max_width`` × ``max_height``, centred on
    ``area``."""
    with Image.open(io.BytesIO(png)) as source:
        picture = source.convert("RGBA")
    if opacity < 1:
        picture.putalpha(picture.getchannel("A").point(lambda alpha: round(alpha * opacity)))
    bounds = picture.getchannel("A").getbbox()
    if bounds is None:  # fully transparent: nothing to put there
        return
    picture = picture.crop(bounds)
    ratio = min(max_width / picture.width, max_height / picture.height)
    picture = picture.resize((max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio))), Image.LANCZOS)
    left, top, right, bottom = area
    canvas.alpha_composite(picture, (round((left + right - picture.width) / 2), round((top + bottom - picture.height) / 2)))
