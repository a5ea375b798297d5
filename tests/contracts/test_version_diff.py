from workflows.contracts.diff import field_changes, flatten, text_changes, text_lines


def test_flatten_uses_dotted_paths():
    assert flatten({"a": {"b": 1}, "c": [2, {"d": 3}], "e": []}) == {"a.b": 1, "c.0": 2, "c.1.d": 3, "e": []}


def test_field_changes_lists_changed_added_and_removed_paths():
    before = {"title": "甲", "items": [{"amount": "1.00"}], "term": {"end": "2025-12-31"}}
    after = {"title": "乙", "items": [{"amount": "1.00"}, {"amount": "2.00"}], "term": {}}
    changes = [(c.path, c.before, c.after) for c in field_changes(before, after)]
    assert changes == [("items.1.amount", None, "2.00"), ("term", None, {}), ("term.end", "2025-12-31", None),
                       ("title", "甲", "乙")]


def test_field_changes_leave_out_what_is_computed_from_the_fields():
    """A moved due date is one change, not three (and no routing flag like installments_after_term True → False)."""
    before = {"payment_plan": {"installments": [{"due_date": "2023-06-01"}]},
              "figures": {"schedule": [{"due_date": "2023-06-01"}], "installments_after_term": True}}
    after = {"payment_plan": {"installments": [{"due_date": "2022-12-31"}]},
             "figures": {"schedule": [{"due_date": "2022-12-31"}], "installments_after_term": False}}
    assert [c.path for c in field_changes(before, after)] == ["payment_plan.installments.0.due_date"]


def test_text_changes_show_the_changed_clause_with_context():
    before = "<html><body><p>第一条 甲方</p><p>第二条 价款为100元</p><p>第三条 其他</p></body></html>"
    after = "<html><body><p>第一条 甲方</p><p>第二条 价款为120元</p><p>第三条 其他</p></body></html>"
    assert text_changes(before, after) == [(" ", "第一条 甲方"), ("-", "第二条 价款为100元"), ("+", "第二条 价款为120元"),
                                           (" ", "第三条 其他")]


def test_text_lines_skip_styles_and_take_the_innermost_blocks():
    html = "<html><head><style>p{}</style></head><body><div><p>一</p><p>二</p></div><table><tr><td>甲</td><td>乙</td></tr></table></body></html>"
    assert text_lines(html) == ["一", "二", "甲", "乙"]
