"""Unified social credit codes (统一社会信用代码, GB 32100-2015), checked before they are printed on a contract."""

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
LENGTH = 18
WEIGHTS = tuple(pow(3, position, 31) for position in range(LENGTH - 1))


def check_character(body: str) -> str:
    """The 18th character the standard derives from the first 17 (modulus 31)."""
    total = sum(CHARSET.index(char) * weight for char, weight in zip(body, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def credit_code_error(code) -> str | None:
    """Why `code` is not a valid credit code, in words a clerk can act on; None when it is valid."""
    if not isinstance(code, str):
        return "统一社会信用代码必须是文本"
    if len(code) != LENGTH:
        return f"统一社会信用代码应为{LENGTH}位，实际为{len(code)}位"
    invalid = sorted({char for char in code if char not in CHARSET})
    if invalid:
        return f"统一社会信用代码含有不允许的字符：{''.join(invalid)}"
    if code[-1] != check_character(code[:-1]):
        return "统一社会信用代码校验位错误，请核对是否抄错"
    return None


def is_valid_credit_code(code) -> bool:
    return credit_code_error(code) is None
