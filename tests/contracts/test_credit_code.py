import pytest

from workflows.contracts.credit_code import WEIGHTS, check_character, credit_code_error, is_valid_credit_code

VALID = ["12410728417309214T", "91410700747429956F"]


def test_weights_are_powers_of_three_mod_31():
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@pytest.mark.parametrize("code", VALID)
def test_seed_codes_are_valid(code):
    assert is_valid_credit_code(code)
    assert credit_code_error(code) is None
    assert check_character(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("12410728417309214X", "校验位"),
        ("91410700747429956G", "校验位"),
        ("92410700747429956F", "校验位"),  # one body character changed
        ("91410700747429956", "18位"),
        ("91410700747429956FF", "18位"),
        ("", "18位"),
        ("9141070074742995IF", "I"),
        ("9141070074742995OF", "O"),
        ("9141070074742995SF", "S"),
        ("9141070074742995VF", "V"),
        ("9141070074742995ZF", "Z"),
        ("91410700747429956f", "f"),
        (None, "文本"),
        (91410700747429956, "文本"),
    ],
)
def test_invalid_codes_explain_why(code, reason):
    assert not is_valid_credit_code(code)
    assert reason in credit_code_error(code)
