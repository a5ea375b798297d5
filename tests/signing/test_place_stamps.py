"""The stamp drawn into a signature place: seal over the party line, signature on its row, China date on its row."""
import io
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from workflows.signing import seals
from workflows.signing.seals import STAMP_DPI

# the customer place of the shipped signature page: points, sub-areas from the place's bottom-left corner
SIZE = (221.1, 223.94)
AREAS = {"seal": (0.0, 104.88, 221.1, 223.94), "sign": (105.0, 39.4, 212.72, 79.68), "date": (52.5, 8.06, 177.23, 31.34)}
LEGAL_REPRESENTATIVE_ROW = (0.0, 80.0, 221.1, 104.0)  # 法定代表人/负责人: between the seal and the signature
CHINA_MIDNIGHT_PAST = datetime(2026, 12, 1, 16, 30, 5, 123456, tzinfo=timezone.utc)  # 2 December 00:30 in China


def stamp(signed_at=CHINA_MIDNIGHT_PAST, **images) -> Image.Image:
    return Image.open(io.BytesIO(seals.place_stamp_png(SIZE, AREAS, signed_at, **images)))


def crop(image: Image.Image, area) -> Image.Image:
    """``area`` in points from the place's bottom left, cut out of the image (top-down pixels)."""
    scale = image.width / SIZE[0]
    x1, y1, x2, y2 = area
    return image.crop((round(x1 * scale), round((SIZE[1] - y2) * scale), round(x2 * scale), round((SIZE[1] - y1) * scale)))


def has_ink(image: Image.Image) -> bool:
    return image.getchannel("A").getbbox() is not None


def test_china_date_is_the_day_in_china():
    assert seals.china_date(CHINA_MIDNIGHT_PAST) == "2026年12月2日"
    assert seals.china_date(CHINA_MIDNIGHT_PAST - timedelta(hours=1)) == "2026年12月1日"
    assert seals.china_date(datetime(2026, 12, 2, 0, 30, tzinfo=timezone(timedelta(hours=8)))) == "2026年12月2日"
    with pytest.raises(ValueError):
        seals.china_date(datetime(2026, 12, 1, 16, 30))


def test_stamp_has_the_place_aspect_at_print_resolution():
    image = stamp(seal_png=seals.round_seal_png("长垣市第一中学"), mark_png=seals.signature_image_from_text("徐永立"))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.width / image.height == pytest.approx(SIZE[0] / SIZE[1], rel=0.005)
    assert image.width >= SIZE[0] / 72 * STAMP_DPI - 1


def test_each_mark_goes_to_its_area_and_nothing_else_is_painted():
    image = stamp(seal_png=seals.round_seal_png("长垣市第一中学"), mark_png=seals.signature_image_from_text("徐永立"))
    seal = crop(image, AREAS["seal"]).convert("RGBA")
    red = sum(1 for r, g, b, a in seal.get_flattened_data() if a > 100 and r > 150 and g < 90)
    assert red > 0.05 * seal.width * seal.height
    seal_side = seal.getchannel("A").getbbox()
    assert seal_side[2] - seal_side[0] == pytest.approx(0.95 * seal.height, rel=0.03)  # a 40 mm seal in the 42 mm area
    assert has_ink(crop(image, AREAS["sign"])) and has_ink(crop(image, AREAS["date"]))
    assert not has_ink(crop(image, LEGAL_REPRESENTATIVE_ROW))


def test_without_a_seal_or_mark_only_the_date_is_written():
    image = stamp()
    assert not has_ink(crop(image, AREAS["seal"])) and not has_ink(crop(image, AREAS["sign"]))
    assert has_ink(crop(image, AREAS["date"]))


def test_the_date_written_is_the_day_in_china():
    """00:30 in China on 2 December is still 1 December in UTC: the stamp must write the 2nd."""
    written = crop(stamp(), AREAS["date"]).tobytes()
    assert written == crop(stamp(datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)), AREAS["date"]).tobytes()
    assert written != crop(stamp(CHINA_MIDNIGHT_PAST - timedelta(hours=1)), AREAS["date"]).tobytes()
