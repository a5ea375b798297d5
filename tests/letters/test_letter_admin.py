"""Admins add letter template versions in the browser; bad declarations are refused field by field."""
import json


def test_admin_adds_a_letter_version_and_bad_input_is_refused(as_user, platform):
    admin = as_user("admin")
    assert admin.get("/admin/letters").status_code == 200
    page = admin.get("/admin/letters/information_security/new").get_data(as_text=True)
    assert "信息安全" in page
    with platform.db.read() as session:
        current = platform.letters.template(session, "information_security")
    fields = json.loads(current.fields_json) + [{"name": "backup_contact", "label": "备用联系人", "type": "phone",
                                                 "required": False}]
    bad = admin.post("/admin/letters/information_security/new",
                     {"title": current.title, "source": current.source, "fields": "[not json"})
    assert bad.status_code == 422 and "error-text" in bad.get_data(as_text=True)
    saved = admin.post("/admin/letters/information_security/new",
                       {"title": current.title, "source": current.source, "fields": json.dumps(fields), "note": "备用联系人"})
    assert saved.status_code == 302
    with platform.db.read() as session:
        assert platform.letters.latest_version(session, "information_security") == current.version + 1
    assert admin.get(f"/admin/letters/information_security/{current.version + 1}").status_code == 200
