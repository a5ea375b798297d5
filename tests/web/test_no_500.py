"""Pages never answer 500, whatever a visitor sends."""
import pytest

from tests.conftest import load_fixture

GETS = ["/tasks/not-a-task", "/tasks/00000000-0000-4000-8000-000000000000", "/contracts/999999", "/contracts/1/diff?from=9&to=-1",
        "/contracts/1/preview?version=99", "/contracts?page=abc", "/contracts?page=-5&status=%00", "/inbox?page=999999",
        "/inbox?min_total=1e999&max_total=NaN", "/inbox?role=wizard&assignment=%27;drop", "/contracts/export.csv?customer=%25_",
        "/admin/templates/../../etc/passwd", "/admin/letters/%E2%80%AE/new", "/login?next=//evil.example"]
POSTS = [("/contracts/new", {"action": "save", "items-0-quantity": "many", "total": "x" * 10_000}),
         ("/contracts/new", {"action": "add:nothing"}), ("/contracts/new", {"action": "preview", "term-start": "2025-02-30"}),
         ("/contracts/1/submit", {}), ("/tasks/not-a-task/decide", {"decision": "approve"}),
         ("/tasks/not-a-task/delegate", {"to": "nobody"}), ("/admin/users", {"username": "\u0000", "roles": "wizard"})]


@pytest.mark.parametrize("username", ["sales", "admin"])
def test_no_page_answers_500(as_user, api, username):
    api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json"))
    visitor = as_user(username)
    for path in GETS:
        assert visitor.get(path).status_code < 500, path
    for path, data in POSTS:
        assert visitor.post(path, data, page="/inbox").status_code < 500, path
