"""The README says only what is so: every path it names is served, every command it names exists, every setting it
lists is read (and every setting is listed), every `make` target it names is in the Makefile."""
import re
from pathlib import Path

import click
import pytest

from workflows.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SPANS = re.findall(r"`([^`\n]+)`", README)
PLACEHOLDER = re.compile(r"<[^>]+>|\{[^}]+\}")
NOT_ROUTES = ("/usr/", "/Contents", "/etc/", "/tmp/")


def section(title):
    """The text of a README section: from its heading to the next heading of the same or a higher level (lines in
    code blocks are not headings)."""
    lines, inside, level, in_code = [], False, 0, False
    for line in README.splitlines():
        in_code = in_code != line.startswith("```")
        heading = re.match(r"(#+) ", line) if not in_code else None
        if heading and inside and len(heading.group(1)) <= level:
            break
        if heading and line[len(heading.group(0)):].startswith(title):
            inside, level = True, len(heading.group(1))
        elif inside:
            lines.append(line)
    assert lines, f"no section {title!r} in the README"
    return "\n".join(lines)


def shape(path):
    return PLACEHOLDER.sub("<>", path).rstrip("/") or "/"


def test_every_path_the_readme_names_is_served(app):
    routes = {shape(rule.rule) for rule in app.url_map.iter_rules()}
    wrong = []
    for span in SPANS:
        if not span.startswith("/") or span.startswith(NOT_ROUTES) or " " in span:
            continue
        path = span.split("?")[0]
        if path.endswith(("...", "/")) and shape(path) not in routes:  # a family of routes
            served = any(route.startswith(shape(path.removesuffix("..."))) for route in routes)
        elif path.count("/") == 1 and shape(path) not in routes:  # a route's last part, said in passing
            served = any(route.endswith(path) for route in routes)
        else:
            served = shape(path) in routes
        if not served:
            wrong.append(span)
    assert not wrong, f"the README names paths nothing serves: {sorted(set(wrong))}"


def test_every_command_the_readme_lists_exists(app):
    commands = section("Commands")
    listed = [entry for entry in re.findall(r"`([a-z][a-z-]*(?: [a-z|-]+)?)[^`]*`", commands)
              if not entry.startswith("make ")]
    missing = []
    for entry in listed:
        group_name, *rest = entry.split()
        group = app.cli.get_command(click.Context(app.cli), group_name)
        if group is None:
            missing.append(entry)
        elif isinstance(group, click.Group) and rest:
            missing += [f"{group_name} {sub}" for sub in rest[0].split("|") if sub not in group.commands]
    assert listed and not missing, f"the README lists commands that do not exist: {missing}"


def test_every_setting_is_documented_and_every_documented_setting_is_read():
    table = section("Configuration")
    documented = set(re.findall(r"^\| `([A-Z][A-Z_0-9]+)`", table, re.M)) | {
        name for row in re.findall(r"^\| ((?:`[A-Z_0-9]+`,? ?)+)\|", table, re.M) for name in re.findall(r"`([A-Z_0-9]+)`", row)}
    fields = set(Settings.model_fields)
    assert not documented - fields, f"the README's table lists settings nothing reads: {sorted(documented - fields)}"
    assert not fields - documented, f"settings missing from the README's table: {sorted(fields - documented)}"


@pytest.mark.parametrize("target", sorted(set(re.findall(r"`make ([a-z-]+)", README))))
def test_every_make_target_the_readme_names_exists(target):
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), re.M), f"no make target {target}"
