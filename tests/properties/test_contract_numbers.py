"""Contract numbers: each has the documented shape (HAXXS2501001ECN00), begins with the prefix its counter is kept
under, fits its column, and no two (branch, template, month, sequence) give the same number."""
import re
from datetime import date

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.properties.budget import PROPERTY
from workflows.contracts.catalog import DEMO_PROVIDERS, TEMPLATES
from workflows.contracts.numbers import contract_number, number_fields, number_prefix
from workflows.models import Contract, Provider

PATTERN = Provider.model_fields["number_pattern"].default
NUMBER_LENGTH = Contract.__table__.c.number.type.length

keys = st.tuples(st.sampled_from(DEMO_PROVIDERS), st.sampled_from(sorted(TEMPLATES)),
                 st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(1, 10**7))


def number_of(key):
    profile, template, day, seq = key
    fields = number_fields(profile, template, day)
    return fields, contract_number(PATTERN, fields, seq)


@PROPERTY
@given(keys)
def test_a_number_has_the_documented_shape(key):
    profile, template, day, seq = key
    fields, number = number_of(key)
    kind = TEMPLATES[template]
    match = re.fullmatch(f"{profile['province']}{profile['city']}{kind['number_kind']}(\\d\\d)(\\d\\d)(\\d{{3,}})"
                         f"{kind['number_suffix']}", number)
    assert match, number
    assert (int(match[1]), int(match[2]), int(match[3])) == (day.year % 100, day.month, seq)
    assert number.startswith(number_prefix(PATTERN, fields))
    assert len(number) <= NUMBER_LENGTH


@PROPERTY
@given(keys, keys)
def test_different_keys_never_share_a_number(first, second):
    profile, template, day, seq = first
    other_profile, other_template, other_day, other_seq = second
    assume((profile["code"], template, day.strftime("%y%m"), seq)
           != (other_profile["code"], other_template, other_day.strftime("%y%m"), other_seq))
    assert number_of(first)[1] != number_of(second)[1]


@PROPERTY
@given(keys, st.integers(1, 10**7))
def test_one_counter_gives_one_number_per_value(key, other_seq):
    """Numbers under one prefix differ by their sequence value alone, so a counter that never repeats never repeats a
    number."""
    assume(key[3] != other_seq)
    fields, number = number_of(key)
    assert number != contract_number(PATTERN, fields, other_seq)
