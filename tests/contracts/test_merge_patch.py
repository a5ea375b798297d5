import copy

import pytest

from workflows.contracts.validation import merge_patch, normalize_draft
from workflows.errors import ValidationFailed


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A, where the patch is an object
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": "b"}, {}, {"a": "b"}),
    ],
)
def test_rfc_7386_examples(target, patch, expected):
    assert merge_patch(target, patch) == expected


@pytest.mark.parametrize("patch", [["c"], "title", None, 1])
def test_patch_must_be_an_object(patch):
    with pytest.raises(ValidationFailed) as caught:
        merge_patch({"title": "x"}, patch)
    assert "payload" in caught.value.fields


def test_too_deep_patch_is_refused():
    patch = {}
    node = patch
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ValidationFailed):
        merge_patch({}, patch)


def test_inputs_are_untouched(technical_draft):
    before = copy.deepcopy(technical_draft)
    patch = {"customer": {"contact": {"email": None}}, "items": [{"name": "新"}]}
    patch_before = copy.deepcopy(patch)
    merged = merge_patch(technical_draft, patch)
    merged["customer"]["name"] = "changed"
    assert technical_draft == before
    assert patch == patch_before


def test_sales_can_patch_only_the_title(technical_draft, xinxiang):
    merged = merge_patch(technical_draft, {"title": "长垣一中考试服务合同（修订）"})
    normalized = normalize_draft(merged, xinxiang)
    assert normalized["title"] == "长垣一中考试服务合同（修订）"
    assert normalized["figures"]["total"] == "1080000.00"


def test_null_removes_an_optional_field(technical_draft, xinxiang):
    merged = merge_patch(technical_draft, {"customer": {"bank": None}})
    assert normalize_draft(merged, xinxiang)["customer"]["bank"] is None
