"""Signature places: where on the laid-out pages each signature goes, so a stamp lands on its signing line.

A template marks a place with an element ``id="place-<name>"`` and its sub-areas with descendants of class
``place-seal`` (the organisation's seal, over the party line), ``place-sign`` (the signature, on the
或授权代表（签字） row) and ``place-date`` (the date the stamp writes, on the 签署日期 row). The positions are
read from WeasyPrint's layout, so they follow the text wherever it flows.

Places of a contract: ``customer`` (seal, sign, date), ``provider`` (its 合同专用章: seal) and
``provider-signatory`` (sign, date); each attached letter adds ``letter-<code>`` (seal, sign, date).
"""

from dataclasses import dataclass

from lxml import html as lxml_html

from workflows.errors import ValidationFailed

PLACE_ID_PREFIX = "place-"
AREA_CLASS_PREFIX = "place-"
CUSTOMER_PLACE, PROVIDER_PLACE, SIGNATORY_PLACE = "customer", "provider", "provider-signatory"
CONTRACT_PLACES = {CUSTOMER_PLACE: ("seal", "sign", "date"), PROVIDER_PLACE: ("seal",), SIGNATORY_PLACE: ("sign", "date")}
LETTER_AREAS = ("seal", "sign", "date")
PT_PER_CSS_PX = 0.75
TOLERANCE_PT = 1.0  # rounding of layout positions; a sub-area further out than this would be cut off

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class SignaturePlace:
    """One signature field: ``box`` (x1, y1, x2, y2) in PDF points, origin at the page's bottom left, as pyHanko's
    ``SigFieldSpec(box=...)`` takes it; ``areas`` name → box in points relative to the box's bottom-left corner."""

    field_name: str
    page_index: int
    box: Box
    areas: tuple[tuple[str, Box], ...]

    @property
    def size(self) -> tuple[float, float]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]

    def area(self, name: str) -> Box | None:
        return dict(self.areas).get(name)


def letter_place(code: str) -> str:
    return f"letter-{code}"


def document_places(letter_codes) -> dict[str, tuple[str, ...]]:
    """Every place a contract with these attached letters must have, with its sub-areas, in signing order."""
    return {**CONTRACT_PLACES, **{letter_place(code): LETTER_AREAS for code in letter_codes}}


def missing_places(html: str, places: dict[str, tuple[str, ...]]) -> list[str]:
    """What rendered template HTML lacks: a place's name, or ``name.area`` for a sub-area missing inside it.

    For template uploads: a version that cannot be signed where its paper says is refused before it is stored.
    """
    tree = lxml_html.document_fromstring(html)
    missing = []
    for name, areas in places.items():
        elements = tree.xpath("//*[@id=$id]", id=PLACE_ID_PREFIX + name)
        if not elements:
            missing.append(name)
            continue
        for area in areas:
            if not elements[0].xpath('.//*[contains(concat(" ", normalize-space(@class), " "), $css)]',
                                     css=f" {AREA_CLASS_PREFIX}{area} "):
                missing.append(f"{name}.{area}")
    return missing


def find_places(document, places: dict[str, tuple[str, ...]]) -> list[SignaturePlace]:
    """The places of a rendered WeasyPrint document, in the order of ``places``.

    Raises ValidationFailed naming the element when a place or sub-area is missing, appears twice, is split over
    two pages, or sticks out of its place: the signing code needs one box per field, on one page.
    """
    pages_and_boxes: dict[tuple[str, str | None], tuple[int, list[Box]]] = {}  # (place, area or None) → where
    for page_index, page in enumerate(document.pages):
        for place, area, box in _marked_boxes(page._page_box, None, None):
            seen = pages_and_boxes.setdefault((place, area), (page_index, []))
            if seen[0] != page_index:
                raise _template_error(f"{_describe(place, area)} is split over two pages")
            seen[1].append(_pdf_box(box, page.height))
    result = []
    for name, areas in places.items():
        if (name, None) not in pages_and_boxes:
            raise _template_error(f"the template has no {_describe(name)}")
        page_index, boxes = pages_and_boxes[(name, None)]
        if len(boxes) > 1:
            raise _template_error(f"{_describe(name)} appears more than once")
        box, relative = boxes[0], []
        for area in areas:
            area_page, area_boxes = pages_and_boxes.get((name, area), (None, []))
            if area_page != page_index:
                raise _template_error(f"the template has no {_describe(name, area)}")
            area_box = _union(area_boxes)
            if not _inside(area_box, box):
                raise _template_error(f"{_describe(name, area)} sticks out of its place")
            relative.append((area, _round((area_box[0] - box[0], area_box[1] - box[1],
                                           area_box[2] - box[0], area_box[3] - box[1]))))
        result.append(SignaturePlace(name, page_index, box, tuple(relative)))
    return result


def _marked_boxes(box, parent_element, place):
    """(place, None, box) and (place, area, box) for each box that starts a marked element.

    Line boxes and anonymous boxes repeat their parent's element and are skipped; an inline element broken over
    two lines gives one box per line (``find_places`` joins them).
    """
    element = box.element
    if element is not None and element is not parent_element:
        element_id = element.get("id") or ""
        if element_id.startswith(PLACE_ID_PREFIX):
            place = element_id[len(PLACE_ID_PREFIX):]
            yield place, None, box
        elif place is not None:
            for css_class in (element.get("class") or "").split():
                if css_class.startswith(AREA_CLASS_PREFIX):
                    yield place, css_class[len(AREA_CLASS_PREFIX):], box
    for child in getattr(box, "children", ()):
        yield from _marked_boxes(child, element, place)


def _pdf_box(box, page_height_px: float) -> Box:
    """A layout box (CSS px from the page's top left) as PDF points from its bottom left."""
    x, y = box.border_box_x(), box.border_box_y()
    width, height = box.border_width(), box.border_height()
    return _round((x * PT_PER_CSS_PX, (page_height_px - y - height) * PT_PER_CSS_PX,
                   (x + width) * PT_PER_CSS_PX, (page_height_px - y) * PT_PER_CSS_PX))


def _union(boxes: list) -> Box:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _inside(inner: Box, outer: Box) -> bool:
    return (inner[0] >= outer[0] - TOLERANCE_PT and inner[1] >= outer[1] - TOLERANCE_PT
            and inner[2] <= outer[2] + TOLERANCE_PT and inner[3] <= outer[3] + TOLERANCE_PT)


def _round(box) -> Box:
    return tuple(round(value, 2) for value in box)


def _describe(place: str, area: str | None = None) -> str:
    """The element a template author has to write, in words."""
    where = f'signature place id="{PLACE_ID_PREFIX}{place}"'
    return where if area is None else f'element class="{AREA_CLASS_PREFIX}{area}" inside the {where}'


def _template_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"template": message})
