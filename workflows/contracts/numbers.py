"""Contract numbers: a provider's pattern filled from its profile, the template and the month, and a sequence number.

The default pattern ``{province}{city}{kind}{yymm}{seq:03d}{suffix}`` gives HAXXS2501001ECN00: the province and city of
the provider branch, the template's kind letter, the year and month in China (a contract drafted on 1 February at
00:30 in Shanghai is numbered in February, whatever the server's zone), at least three digits of sequence, the
template's suffix. Everything before ``{seq`` is the prefix the database keeps one counter for, so numbers never repeat;
a number taken for a draft whose creation then fails is skipped (unique, not gap-free, like a database sequence).
"""
from datetime import date

from workflows.contracts.catalog import TEMPLATES


def number_fields(profile: dict, template: str, day: date) -> dict:
    """What a pattern may name besides ``seq``; ``day`` is the date in China."""
    kind = TEMPLATES[template]
    return {"province": profile.get("province", ""), "city": profile.get("city", ""), "kind": kind["number_kind"],
            "yymm": day.strftime("%y%m"), "yyyy": day.strftime("%Y"), "suffix": kind["number_suffix"]}


def number_prefix(pattern: str, fields: dict) -> str:
    """The part of the number before the sequence: the key of its counter."""
    return pattern.split("{seq")[0].format(**fields)


def contract_number(pattern: str, fields: dict, seq: int) -> str:
    return pattern.format(seq=seq, **fields)
