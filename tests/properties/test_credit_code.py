"""统一社会信用代码 (GB 32100-2015): a code whose 18th character is computed from the first 17 is accepted, and any
single mistake a clerk makes copying it (one character changed, two neighbours swapped, one left out or added, a
character the standard does not use) is refused."""
import copy

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.conftest import load_fixture
from tests.properties.budget import HEAVY, PROPERTY
from workflows.contracts.catalog import DEMO_PROVIDERS
from workflows.contracts.credit_code import CHARSET, check_character, credit_code_error, is_valid_credit_code
from workflows.contracts.validation import normalize_draft
from workflows.errors import ValidationFailed

bodies = st.text(alphabet=CHARSET, min_size=17, max_size=17)


@st.composite
def valid_codes(draw):
    body = draw(bodies)
    return body + check_character(body)


def mod31_check(body: str) -> str:
    """The standard's formula written out: C18 = 31 - (Σ value(Ci) × 3^(i-1) mod 31) mod 31, 31 meaning 0."""
    total = sum(CHARSET.index(char) * 3 ** position for position, char in enumerate(body))
    return CHARSET[(31 - total % 31) % 31]


@PROPERTY
@given(bodies)
def test_the_check_character_is_the_standards(body):
    assert check_character(body) == mod31_check(body)


@PROPERTY
@given(valid_codes())
def test_a_code_with_its_check_character_is_accepted(code):
    assert credit_code_error(code) is None and is_valid_credit_code(code)


@PROPERTY
@given(valid_codes(), st.integers(0, 17), st.sampled_from(CHARSET))
def test_one_character_changed_is_refused(code, position, replacement):
    assume(code[position] != replacement)
    assert credit_code_error(code[:position] + replacement + code[position + 1:]) is not None


@PROPERTY
@given(valid_codes(), st.integers(0, 15))
def test_two_neighbours_swapped_are_refused(code, position):
    assume(code[position] != code[position + 1])
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
    assert credit_code_error(swapped) is not None


@PROPERTY
@given(valid_codes(), st.integers(0, 17), st.characters(exclude_characters=CHARSET))
def test_a_character_outside_the_standards_alphabet_is_refused(code, position, stranger):
    assert credit_code_error(code[:position] + stranger + code[position + 1:]) is not None


@PROPERTY
@given(valid_codes(), st.integers(0, 17), st.sampled_from(CHARSET))
def test_a_character_left_out_or_added_is_refused(code, position, extra):
    assert "18位" in credit_code_error(code[:position] + code[position + 1:])
    assert "18位" in credit_code_error(code[:position] + extra + code[position:])


@HEAVY
@given(valid_codes(), st.integers(0, 17), st.sampled_from(CHARSET))
def test_a_draft_takes_the_code_in_either_case_and_refuses_a_changed_one(code, position, replacement):
    draft = load_fixture("contract-technical-service.json")
    provider = copy.deepcopy(DEMO_PROVIDERS[0])
    draft["customer"]["credit_code"] = f" {code.lower()} "
    assert normalize_draft(draft, provider)["customer"]["credit_code"] == code
    assume(code[position] != replacement)
    draft["customer"]["credit_code"] = code[:position] + replacement + code[position + 1:]
    try:
        normalize_draft(draft, provider)
    except ValidationFailed as refused:
        assert list(refused.fields) == ["customer.credit_code"]
    else:
        raise AssertionError("a changed code was accepted")
