"""Fill empty msgstr in the zh_CN catalog from a JSON object {msgid: msgstr} (used with `make translations`).

    .venv/bin/python scripts/fill_translations.py '{"Account enabled": "账号启用"}'
"""
import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "webapp/translations/zh_Hans_CN/LC_MESSAGES/messages.po"

translations = json.loads(sys.argv[1])
with open(PO, "rb") as f:
    catalog = read_po(f)
for message in catalog:
    if message.id in translations and not message.string:
        message.string = translations[message.id]
with open(PO, "wb") as f:
    write_po(f, catalog, width=120)
missing = [m.id for m in catalog if m.id and not m.string]
print("untranslated:", missing)
