"""Text people read carries nothing they cannot see.

Names, addresses, titles, typed signatures and letter values are printed on contracts, letters and certificates or
shown to other people. A right-to-left override (U+202E) makes a name read otherwise than it is stored, a zero-width
space makes two names that look the same differ, and a lone surrogate cannot be written to a PDF or the database. Every
such field is checked by this one rule, which refuses:

- the controls (category Cc), except tab, line feed and carriage return in a field of several lines;
- the format characters (Cf): the bidirectional embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069,
  the zero-width and direction marks U+200B–U+200F, the byte-order mark U+FEFF, the soft hyphen, tags…;
- the line and paragraph separators U+2028 and U+2029 (Zl, Zp);
- surrogates (Cs), which are never text on their own.
"""
import unicodedata

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
LINE_BREAKS = frozenset("\t\n\r")
NAMED_AT_MOST = 5


def hidden_characters(text: str, *, multiline: bool = False) -> list[str]:
    """The characters of ``text`` the rule refuses, each once, in order of code point."""
    allowed = LINE_BREAKS if multiline else frozenset()
    return sorted({char for char in text if char not in allowed and unicodedata.category(char) in REFUSED_CATEGORIES})


def hidden_characters_error(text: str, *, multiline: bool = False) -> str | None:
    """The field-level message for ``text`` naming what it must lose (U+202E…), or None when it may be printed."""
    found = hidden_characters(text, multiline=multiline)
    if not found:
        return None
    codes = ", ".join(f"U+{ord(char):04X}" for char in found[:NAMED_AT_MOST])
    if len(found) > NAMED_AT_MOST:
        codes += "…"
    return f"不能含有不可见字符或控制字符 / invisible or control characters are not allowed: {codes}"
