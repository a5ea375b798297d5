"""Readable differences between two contract versions: changed fields, and changed lines of the rendered text."""
import difflib
import re
from dataclasses import dataclass

from lxml import html as lxml_html

BLOCK_TAGS = ("p", "li", "tr", "h1", "h2", "h3", "h4", "div", "td", "th")


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: object
    after: object


def flatten(value, prefix=""):
    """{"a": {"b": 1}, "c": [2]} -> {"a.b": 1, "c.0": 2}: the dotted paths validation errors use."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat = {}
    for key, child in items:
        flat.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    if not flat and prefix:
        flat[prefix] = value  # keep empty lists and dicts visible
    return flat


COMPUTED = "figures"  # derived from the fields (schedule, amounts in words, routing flags): their change is the fields'


def field_changes(before: dict, after: dict) -> list[FieldChange]:
    """The fields sales changed; what the system computes from them shows in the changed clauses instead."""
    old, new = (flatten({key: value for key, value in data.items() if key != COMPUTED}) for data in (before, after))
    return [FieldChange(path, old.get(path), new.get(path)) for path in sorted(old.keys() | new.keys())
            if old.get(path) != new.get(path)]


def text_lines(document_html: str) -> list[str]:
    """The rendered document as lines of text, one per paragraph, list item or table row."""
    tree = lxml_html.fromstring(document_html)
    for bad in tree.xpath("//style|//script|//head"):
        bad.getparent().remove(bad)
    lines = []
    for element in tree.iter(*BLOCK_TAGS):
        if any(child.tag in BLOCK_TAGS for child in element):
            continue  # the innermost blocks carry the text
        text = re.sub(r"\s+", " ", element.text_content()).strip()
        if text:
            lines.append(text)
    return lines


def text_changes(before_html: str, after_html: str) -> list[tuple[str, str]]:
    """[(" " | "-" | "+", line)] for the lines that changed, with one line of context around each change."""
    diff = difflib.unified_diff(text_lines(before_html), text_lines(after_html), lineterm="", n=1)
    return [(line[0], line[1:]) for line in diff if line[:1] in " -+" and not line.startswith(("---", "+++"))]
