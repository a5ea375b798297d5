"""The fast hex-string reader returns what pyHanko's own reader returns, and leaves the stream where it would."""
import io
import random

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError

from workflows.signing.hexstrings import PYHANKO_READER, read_hex_string

CASES = [
    b"<>", b"<0>", b"<4E6F>", b"<4e 6f\n20\r\t41>", b"<ABC>", b"<00ff>rest", b"<61 % a comment\n62>",
    b"<zz>", b"<12", b"<1 2 3", b"<" + b"30" * 20000 + b">", b"<" + b"0" * 9999 + b">tail",
    "<e4b8ad>".encode(), b"<FEFF4E2D6587>",
]


def outcome(reader, data):
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except PdfReadError as exc:
        return ("error", type(exc), str(exc))
    return (type(value), value, bytes(value.original_bytes), stream.tell())


@pytest.mark.parametrize("data", CASES)
def test_same_result_as_pyhanko(data):
    assert outcome(read_hex_string, data) == outcome(PYHANKO_READER, data)


def test_same_result_on_random_strings():
    rng = random.Random(7)
    alphabet = b"0123456789abcdefABCDEF \n\t"
    for _ in range(300):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        data = b"<" + body + (b">" if rng.random() < 0.9 else b"") + b"after"
        assert outcome(read_hex_string, data) == outcome(PYHANKO_READER, data), data


def test_installed_into_pyhankos_parser():
    import workflows.signing  # noqa: F401  (installs the reader)

    assert generic.read_hex_string_from_stream is read_hex_string
    assert generic.read_object(io.BytesIO(b"<4869>"), None) == "Hi"
