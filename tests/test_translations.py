"""The message catalogs are complete, current and compiled; the UI speaks Chinese by default.

After adding or changing a _("...") string, run `make translations`, translate the new entries
in webapp/translations/zh_Hans_CN/LC_MESSAGES/messages.po, run `make translations` again and commit
the .pot, .po and .mo files.
"""
import io
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import refresh

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webapp" / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("zh_Hans_CN", "en")
FIX = "run `make translations`"
# The same extraction as the Makefile's `translations` target.
EXTRACT = ["extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "_p:1c,2",
           "--ignore-dirs", ".* ._ node_modules __pycache__"]
# git writes a checkout's files in no promised order, so a fresh clone's .mo may be a moment older than its .po.
CHECKOUT_SLACK_SECONDS = 2


def po_path(locale):
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def read_catalog(path, locale=None):
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def msgids(catalog):
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context) for m in catalog if m.id}


def show(keys):
    return "\n  ".join(repr(k[0]) + (f" (context {k[1]!r})" if k[1] else "") for k in sorted(keys, key=str))


# --- (a) every Chinese entry is translated and reviewed --------------------------------------
def test_every_zh_cn_message_is_translated():
    catalog = read_catalog(po_path("zh_Hans_CN"), "zh_Hans_CN")
    assert not catalog.fuzzy, "the zh_CN catalog header is marked fuzzy; pybabel compile would skip the whole file"
    empty = [m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not empty, f"{len(empty)} msgid(s) without a Chinese msgstr in {po_path('zh_Hans_CN').relative_to(ROOT)}:\n  " \
                      + "\n  ".join(map(repr, empty))
    assert not fuzzy, "fuzzy (unreviewed) entries in zh_CN: check each translation, then remove its '#, fuzzy' line:\n  " \
                      + "\n  ".join(map(repr, fuzzy))


def test_placeholders_survive_translation():
    for locale in LOCALES:
        catalog = read_catalog(po_path(locale), locale)
        problems = [f"{m.id!r}: {'; '.join(map(str, errors))}" for m, errors in catalog.check()]
        assert not problems, f"{locale}: msgstr placeholders do not match the msgid:\n  " + "\n  ".join(problems)


# --- (b) the committed template holds exactly what the code asks for ----------------------------
def test_pot_is_current(tmp_path):
    fresh = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "--quiet", *EXTRACT, "-o", str(fresh), "."],
                   cwd=ROOT, check=True, capture_output=True)
    committed, extracted = msgids(read_catalog(POT)), msgids(read_catalog(fresh))
    added, removed = extracted - committed, committed - extracted
    assert not (added or removed), (
        f"webapp/translations/messages.pot is stale: {FIX}, translate the new zh_CN entries and commit the catalogs."
        + (f"\nNew in the code:\n  {show(added)}" if added else "")
        + (f"\nNo longer in the code:\n  {show(removed)}" if removed else ""))


@pytest.mark.parametrize("locale", LOCALES)
def test_po_follows_the_pot(locale):
    missing = msgids(read_catalog(POT)) ^ msgids(read_catalog(po_path(locale), locale))
    assert not missing, f"{locale}/messages.po and messages.pot differ ({FIX}):\n  {show(missing)}"


# --- (c) the committed .mo files are compiled from the committed .po files ----------------------
def messages(catalog):
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context): m.string for m in catalog if m.id}


@pytest.mark.parametrize("locale", LOCALES)
def test_mo_is_compiled_from_po(locale):
    po, mo = po_path(locale), po_path(locale).with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: {FIX}"
    assert mo.stat().st_mtime + CHECKOUT_SLACK_SECONDS >= po.stat().st_mtime, \
        f"{mo.relative_to(ROOT)} is older than its .po: {FIX}"
    compiled = io.BytesIO()
    write_mo(compiled, read_catalog(po, locale))  # as `pybabel compile` does: fuzzy and empty entries left out
    compiled.seek(0)
    with open(mo, "rb") as f:
        committed = read_mo(f)
    fresh = read_mo(compiled)
    assert messages(committed) == messages(fresh), f"{mo.relative_to(ROOT)} does not match its .po: {FIX}"
    assert committed.plural_forms == fresh.plural_forms, f"{mo.relative_to(ROOT)} has other plural forms: {FIX}"


# --- (d) the pages speak Chinese unless asked for English ---------------------------------------
def test_login_page_is_chinese_by_default_and_english_on_request(client):
    chinese = client.get("/login").get_data(as_text=True)
    assert "登录" in chinese and "用户名" in chinese and "Sign in" not in chinese

    # pytest-flask keeps one request context pushed for the whole test, so every request shares its `g`,
    # where Flask-Babel caches the locale: forget it, as a new request in the real server would.
    refresh()
    english = client.get("/login?lang=en").get_data(as_text=True)
    assert "Sign in" in english and "Username" in english and "登录" not in english
