from decimal import Decimal

import pytest

from workflows.contracts.money import amount_in_words, format_yuan, split_tax, to_decimal, to_fen


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1080000", Decimal("1080000.00")),
        ("1080000.00", Decimal("1080000.00")),
        (" 12.5 ", Decimal("12.50")),
        ("1.500", Decimal("1.50")),
        ("-3", Decimal("-3.00")),
        ("1E3", Decimal("1000.00")),
        (450000, Decimal("450000.00")),
        (0, Decimal("0.00")),
        (Decimal("0.1"), Decimal("0.10")),
    ],
)
def test_to_fen_parses_exact_amounts(value, expected):
    result = to_fen(value)
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [0.5, 1.0, True, None, [], {}, "", "abc", "1.005", "0.001", Decimal("1.234"), "NaN", "Infinity",
     "1,000", "1" * 40, "1e100", Decimal("1e30")],
)
def test_to_fen_refuses_inexact_or_garbage(value):
    with pytest.raises(ValueError):
        to_fen(value)


def test_to_decimal_keeps_all_places():
    assert to_decimal("0.0005") == Decimal("0.0005")
    with pytest.raises(ValueError):
        to_decimal(0.06)


@pytest.mark.parametrize(
    ("total", "rate", "net", "tax"),
    [
        ("1080000.00", "0.06", "1018867.92", "61132.08"),
        ("450000.00", "0.06", "424528.30", "25471.70"),
        ("109.00", "0.09", "100.00", "9.00"),
        ("100.00", "0", "100.00", "0.00"),
        ("0.01", "0.06", "0.01", "0.00"),
        ("1.06", "0.06", "1.00", "0.06"),
    ],
)
def test_split_tax_adds_up_exactly(total, rate, net, tax):
    result = split_tax(Decimal(total), Decimal(rate))
    assert result == (Decimal(net), Decimal(tax))
    assert sum(result) == Decimal(total)


def test_split_tax_rounds_half_up_not_half_even():
    # 0.03 / 1.2 = 0.025 exactly: half-up gives 0.03 where banker's rounding would give 0.02
    assert split_tax(Decimal("0.03"), Decimal("0.2")) == (Decimal("0.03"), Decimal("0.00"))
    # 0.05 / 1.06 = 0.0471… → 0.05
    assert split_tax(Decimal("0.05"), Decimal("0.06")) == (Decimal("0.05"), Decimal("0.00"))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1080000", "1,080,000.00"),
        ("0", "0.00"),
        ("999.5", "999.50"),
        ("1234567.891", None),
        ("-1234.5", "-1,234.50"),
    ],
)
def test_format_yuan(amount, expected):
    if expected is None:
        with pytest.raises(ValueError):
            format_yuan(Decimal(amount))
    else:
        assert format_yuan(Decimal(amount)) == expected


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        # seed contracts
        ("1080000", "壹佰零捌万元整"),
        ("1018867.92", "壹佰零壹万捌仟捌佰陆拾柒元玖角贰分"),
        ("61132.08", "陆万壹仟壹佰叁拾贰元零捌分"),
        ("180000", "壹拾捌万元整"),
        ("450000", "肆拾伍万元整"),
        ("359600", "叁拾伍万玖仟陆佰元整"),
        ("90400", "玖万零肆佰元整"),
        # fractions: 整 after 元 or 角, never after 分
        ("0", "零元整"),
        ("0.5", "伍角整"),
        ("0.05", "伍分"),
        ("0.55", "伍角伍分"),
        ("10.50", "壹拾元伍角整"),
        ("1", "壹元整"),
        # PBoC examples (rule 四): 零 after 元 when 角 is zero and 分 is not
        ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
        ("325.04", "叁佰贰拾伍元零肆分"),
        ("1004.05", "壹仟零肆元零伍分"),
        ("10.05", "壹拾元零伍分"),
        # PBoC examples (rules 一, 二): one 零 for any run of zeros inside the digits
        ("1409.50", "壹仟肆佰零玖元伍角整"),
        ("6007.14", "陆仟零柒元壹角肆分"),
        ("1010", "壹仟零壹拾元整"),
        ("1001", "壹仟零壹元整"),
        ("1100", "壹仟壹佰元整"),
        # PBoC rule 三, the no-零 spelling: only the 元/万 digit is zero before a non-zero 角/仟
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),
        ("10007000", "壹仟万柒仟元整"),
        # 拾 always carries 壹
        ("10", "壹拾元整"),
        ("110", "壹佰壹拾元整"),
        ("100000", "壹拾万元整"),
        ("1000010", "壹佰万零壹拾元整"),
        # zeros across 万 and 亿 groups
        ("10000", "壹万元整"),
        ("10001", "壹万零壹元整"),
        ("10010", "壹万零壹拾元整"),
        ("100100", "壹拾万零壹佰元整"),
        ("100000000", "壹亿元整"),
        ("1000000000", "壹拾亿元整"),
        ("100000001", "壹亿零壹元整"),
        ("100001000", "壹亿零壹仟元整"),
        ("100010000", "壹亿零壹万元整"),
        ("101000000", "壹亿零壹佰万元整"),
        ("110000000", "壹亿壹仟万元整"),
        ("200000001.10", "贰亿零壹元壹角整"),
        ("305004000.06", "叁亿零伍佰万肆仟元零陆分"),
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ],
)
def test_amount_in_words(amount, words):
    assert amount_in_words(Decimal(amount)) == words


@pytest.mark.parametrize("amount", [Decimal("-1"), Decimal("1000000000000"), Decimal("0.001"), 1.5])
def test_amount_in_words_refuses_what_it_cannot_spell(amount):
    with pytest.raises(ValueError):
        amount_in_words(amount)
