"""A page looks up the names of the people it shows at once, in its own read: the contract page, the task page and
the inbox looked up each person in a transaction of its own (six on a contract page, a quarter of its time)."""
from tests.conftest import load_fixture
from tests.process.test_lifecycle import create, submit
from tests.process.test_statements import counted_statements

NAMES_LOOKUP = "SELECT app_user.username, app_user.display_name"


def name_lookups(platform, browser, path):
    with counted_statements(platform.db) as statements:
        page = browser.get(path).get_data(as_text=True)
    return sum(statement.startswith(NAMES_LOOKUP) for statement in statements), page


def test_the_contract_and_task_pages_look_up_every_name_at_once(api, platform, as_user):
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")  # now with finance: the history names 王敏 and 李娜
    (task,) = api.tasks("finance", contract["id"])
    api.call("POST", f"/tasks/{task['id']}/claim", "finance")
    finance = as_user("finance")
    for path in (f"/contracts/{contract['id']}", f"/tasks/{task['id']}"):
        lookups, page = name_lookups(platform, finance, path)
        assert all(name in page for name in ("王敏", "李娜", "赵静")), path
        assert lookups == 1, path


def test_the_inbox_looks_up_the_holders_at_once(api, platform, as_user):
    with platform.db.write() as session:
        platform.accounts.create_user(session, "legal2", ["legal"], "legal2-password", "孙磊")
    for holder in ("legal", "legal2"):
        contract = create(api, load_fixture("contract-technical-service.json"))
        submit(api, contract["id"])
        (task,) = api.tasks(holder, contract["id"])
        assert api.call("POST", f"/tasks/{task['id']}/claim", holder).status_code == 200
    lookups, page = name_lookups(platform, as_user("legal"), "/inbox")
    assert "李娜" in page and "孙磊" in page
    assert lookups == 1
