"""Money in fen-exact Decimals, tax splitting and 大写 amounts as printed on contracts."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
MAX_TEXT_LENGTH = 32
WORDS_LIMIT = Decimal(10) ** 12  # 壹万亿: nothing on a contract comes near, and 万亿 would need one more unit

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")  # inside a four-digit group
GROUP_UNITS = ("", "万", "亿")  # for groups from the lowest up


def to_fen(value) -> Decimal:
    """Parse an amount to the fen, refusing anything that would need rounding (floats, a third decimal)."""
    amount = to_decimal(value)
    try:
        in_fen = amount.quantize(FEN, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"amount out of range: {value!r}") from None
    if in_fen != amount:
        raise ValueError(f"more than two decimals: {value!r}")
    return abs(in_fen) if in_fen.is_zero() else in_fen  # "-0" is zero, never printed as -0.00


def to_decimal(value) -> Decimal:
    """Parse str/int/Decimal exactly; floats are refused because they have already lost precision."""
    if isinstance(value, bool | float):
        raise ValueError(f"not an exact amount: {value!r}")
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH:
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return amount


def split_tax(total: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    """Split a tax-inclusive total into (net, tax); tax takes the rounding so the two add up exactly."""
    net = (total / (1 + rate)).quantize(FEN, rounding=ROUND_HALF_UP)
    return net, total - net


def format_yuan(amount: Decimal) -> str:
    """Thousands-separated with two places, as the ¥ figures are printed: 1,080,000.00."""
    return f"{to_fen(amount):,.2f}"


def amount_in_words(amount: Decimal) -> str:
    """Chinese financial numerals (大写) without the 人民币 prefix.

    Follows the PBoC 《正确填写票据和结算凭证的基本规定》; where it allows two spellings this
    picks one consistently: 整 after 元 and after 角 (as 《会计基础工作规范》 §52 requires), and no
    零 when only the 元 or 万 digit is zero before a non-zero 角 or 仟 (10.50 → 壹拾元伍角整,
    107000 → 壹拾万柒仟元整). 拾 always carries its digit (壹拾), which guards against alteration.
    """
    fen = to_fen(amount)
    if fen < 0 or fen >= WORDS_LIMIT:
        raise ValueError(f"amount out of range for words: {amount!r}")
    yuan = int(fen)
    jiao, cents = divmod(int((fen - yuan) * 100), 10)
    if yuan == 0 and jiao == 0 and cents == 0:
        return "零元整"
    words = _yuan_words(yuan) + "元" if yuan else ""
    return words + _fraction_words(yuan, jiao, cents)


def _fraction_words(yuan: int, jiao: int, cents: int) -> str:
    if jiao == 0 and cents == 0:
        return "整"
    if jiao == 0:
        return ("零" if yuan else "") + DIGITS[cents] + "分"
    return DIGITS[jiao] + "角" + (DIGITS[cents] + "分" if cents else "整")


def _yuan_words(yuan: int) -> str:
    """Whole yuan, four digits per group; one 零 stands for any run of zeros between digits."""
    groups = _groups_high_first(yuan)
    words = ""
    zero_pending = False
    for unit, group in groups:
        if group == 0:
            zero_pending = bool(words)
            continue
        if words and (zero_pending or group < 1000):
            words += "零"
        words += _group_words(group) + unit
        zero_pending = False
    return words


def _groups_high_first(yuan: int) -> list[tuple[str, int]]:
    groups = []
    for unit in GROUP_UNITS:
        yuan, group = divmod(yuan, 10000)
        groups.append((unit, group))
    while groups[-1][1] == 0:
        groups.pop()
    return groups[::-1]


def _group_words(group: int) -> str:
    """One group below 10000, e.g. 1018 → 壹仟零壹拾捌, 1100 → 壹仟壹佰."""
    words = ""
    zero_pending = False
    for place in range(3, -1, -1):
        digit = group // 10**place % 10
        if digit == 0:
            zero_pending = bool(words)
            continue
        if zero_pending:
            words += "零"
        words += DIGITS[digit] + PLACES[place]
        zero_pending = False
    return words
