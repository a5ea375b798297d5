"""大写 amounts: every amount to the fen in range is spelled as well-formed Chinese financial numerals that read back
to the same amount; nothing else is spelled."""
import re
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.properties.budget import PROPERTY
from workflows.contracts.money import WORDS_LIMIT, amount_in_words, to_fen

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = {"拾": 10, "佰": 100, "仟": 1000}
UNITS = "拾佰仟万亿元角分"
MAX_FEN = int(WORDS_LIMIT * 100) - 1

fens = st.one_of(st.integers(0, MAX_FEN), st.integers(0, 10**6), st.sampled_from([0, 1, 10, 100, 1000, 10**5, MAX_FEN]))


def as_amount(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)


def read_integer(words: str) -> int:
    """Whole yuan from 大写, read the way a clerk reads them (an independent reading, not the writer reversed)."""
    yi = wan = section = digit = 0  # the 亿s, the 万s below them, the group below 万, the last digit
    for char in words:
        if char in DIGITS:
            digit = DIGITS.index(char)
        elif char in PLACES:
            assert digit, f"{char} without its digit in {words}"
            section, digit = section + digit * PLACES[char], 0
        elif char == "万":
            wan, section, digit = (section + digit) * 10**4, 0, 0
        elif char == "亿":
            yi, wan, section, digit = (wan + section + digit) * 10**8, 0, 0, 0
        else:
            raise AssertionError(f"unexpected {char} in {words}")
    return yi + wan + section + digit


def read_words(words: str) -> Decimal:
    """The amount 大写 words stand for, failing on anything that is not well-formed."""
    match = re.fullmatch(r"(?:(.+)元)?(?:([壹贰叁肆伍陆柒捌玖])角)?(?:零?([壹贰叁肆伍陆柒捌玖])分)?(整)?", words)
    assert match, words
    yuan_words, jiao, fen, whole = match.groups()
    assert bool(whole) != bool(fen), f"整 exactly when there is no 分: {words}"
    yuan = read_integer(yuan_words) if yuan_words and yuan_words != "零" else 0
    return as_amount(yuan * 100 + DIGITS.index(jiao or "零") * 10 + DIGITS.index(fen or "零"))


@PROPERTY
@given(fens)
def test_words_read_back_to_the_amount(fen):
    assert read_words(amount_in_words(as_amount(fen))) == as_amount(fen)


@PROPERTY
@given(fens)
def test_words_are_well_formed(fen):
    words = amount_in_words(as_amount(fen))
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    assert set(words) <= set(DIGITS + UNITS + "整")
    assert words.endswith("整") == (cents == 0) and words.count("整") <= 1
    assert ("角" in words) == (jiao != 0) and ("分" in words) == (cents != 0)
    assert ("元" in words) == (yuan != 0 or fen == 0)
    if fen == 0:
        assert words == "零元整"
        return
    assert "零零" not in words and not words.startswith("零") and not words.endswith("零")
    assert not re.search(f"零[{UNITS}]", words), "零 stands between digits, never before a unit"
    assert re.fullmatch(f"(?:[{DIGITS[1:]}](?=[{UNITS}])[拾佰仟]?[万亿]?元?[角分]?|零)+整?", words), \
        "every digit carries its unit (壹拾, never 拾 alone)"


@PROPERTY
@given(fens)
def test_the_digits_are_the_amounts_digits_in_order(fen):
    spelled = [DIGITS.index(char) for char in amount_in_words(as_amount(fen)) if char in DIGITS[1:]]
    assert spelled == [int(digit) for digit in str(fen) if digit != "0"]


def zero_between(high: int, low: int) -> bool:
    """Whether 零 stands between the non-zero digits at fen positions ``high`` > ``low`` (10**k fen at position k).

    In the yuan: one 零 for zeros inside a four-digit group or a whole zero group; none for zeros that only end the
    higher group when the lower group starts with its 仟 digit (107000 → 壹拾万柒仟元). Between 元 and 角 none
    (10.50 → 壹拾元伍角整); before 分 one when the 角 digit is zero (10.05 → 壹拾元零伍分)."""
    if low == 1:
        return False
    if low == 0:
        return high >= 2
    high_group, low_group = (high - 2) // 4, (low - 2) // 4
    if high_group == low_group:
        return high - low > 1
    return (low - 2) % 4 != 3 or high_group - low_group > 1


@PROPERTY
@given(fens)
def test_zero_is_written_where_the_rules_put_it(fen):
    positions = [k for k, digit in enumerate(str(fen)[::-1]) if digit != "0"][::-1]
    written, pending = [], False
    for char in amount_in_words(as_amount(fen)):
        if char == "零":
            pending = True
        elif char in DIGITS:
            written, pending = written + [pending], False
    assert written[1:] == [zero_between(high, low) for high, low in zip(positions, positions[1:])]


@PROPERTY
@given(fens, st.sampled_from(["str", "int", "exponent", "padded"]))
def test_every_spelling_of_an_amount_gets_the_same_words(fen, form):
    amount = as_amount(fen)
    if form == "int":
        assume(fen % 100 == 0)
        given_as = fen // 100
    else:
        given_as = {"str": str(amount), "exponent": amount.normalize(),
                    "padded": amount.quantize(Decimal("0.0001"))}[form]
    assert amount_in_words(given_as) == amount_in_words(amount)


@PROPERTY
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_float_is_never_spelled(value):
    with pytest.raises(ValueError):
        amount_in_words(value)
    with pytest.raises(ValueError):
        to_fen(value)


@PROPERTY
@given(st.one_of(st.integers(-MAX_FEN, -1), st.integers(MAX_FEN + 1, 10**20)))
def test_amounts_out_of_range_are_refused(fen):
    with pytest.raises(ValueError):
        amount_in_words(as_amount(fen))


@PROPERTY
@given(st.integers(0, MAX_FEN), st.integers(1, 9))
def test_a_third_decimal_is_refused_not_rounded(fen, mills):
    with pytest.raises(ValueError):
        amount_in_words(as_amount(fen) + Decimal(mills).scaleb(-3))
