"""Malformed input is refused at the door with a 4xx that names what is wrong, never a 500, and changes nothing:
numbers past what the database compares, JSON nested without end, text that is not Unicode."""
import json

from tests.conftest import load_fixture

HUGE = "99999999999999999999999"  # > 2**63
LARGEST_ID = 2**31 - 1  # ids are INTEGER columns: 4 bytes on PostgreSQL
LARGEST_OFFSET = 2**63 - 1  # OFFSET takes a bigint
JSON = {"Content-Type": "application/json"}


PAST_THE_DATABASE = [
    ("GET", f"/contracts/{HUGE}"), ("PATCH", f"/contracts/{HUGE}"), ("POST", f"/contracts/{LARGEST_ID + 1}/submit"),
    ("GET", f"/contracts/{LARGEST_ID + 1}/document.pdf"), ("GET", f"/contracts/1/versions/{2**63}"),
    ("POST", f"/contact-changes/{HUGE}/decision"), ("GET", "/contracts/" + "9" * 5000),
    ("GET", f"/contracts/{LARGEST_ID}")]  # the largest a column holds is looked up: there is none


def test_an_id_past_the_database_is_not_found(api, as_user):
    for method, path in PAST_THE_DATABASE:
        response = api.call(method, path, "admin", {})
        assert (response.status_code, response.json["error"]) == (404, "not_found"), (method, path)
    assert as_user("sales").get(f"/contracts/{HUGE}").status_code == 404  # the page, too


OUT_OF_RANGE = [
    ("offset=8523815449347922853888", "offset"), (f"offset={LARGEST_OFFSET + 1}", "offset"), ("offset=-1", "offset"),
    ("offset=1e3", "offset"), ("limit=0", "limit"), ("limit=201", "limit"), ("limit=²", "limit"),
    ("limit=" + "1" * 5000, "limit")]


def test_paging_out_of_range_is_refused_not_clamped(api):
    queries = [(path, query, field) for path in ("/contracts", "/tasks") for query, field in OUT_OF_RANGE]
    queries += [("/tasks", f"contract_id={value}", "contract_id") for value in (HUGE, LARGEST_ID + 1, "-3", "²", "٣")]
    for path, query, field in queries:
        response = api.call("GET", f"{path}?{query}", "sales")
        assert (response.status_code, set(response.json["fields"])) == (422, {field}), (path, query)


def test_paging_and_ids_in_range_are_served(api):
    for path in (f"/contracts?limit=200&offset={LARGEST_OFFSET}", f"/tasks?limit=200&offset={LARGEST_OFFSET}"):
        page = api.call("GET", path, "sales")
        assert page.status_code == 200 and (page.json["limit"], page.json["offset"], page.json["items"]) == \
            (200, LARGEST_OFFSET, []), path
    assert api.call("GET", f"/tasks?contract_id={LARGEST_ID}", "sales").json["items"] == []


def nested(depth):
    return '{"title": ' + "[" * depth + "]" * depth + "}"


def test_json_nested_too_deeply_is_400(api):
    for depth in (100_000, 33):
        response = api.call("POST", "/contracts", "sales", data=nested(depth), headers=JSON)
        assert (response.status_code, response.json["error"]) == (400, "bad_request"), depth
        assert "nests deeper than 32 levels" in response.json["message"]
    assert api.call("POST", "/contracts", "sales", data=nested(32), headers=JSON).status_code == 422  # validated
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


UNSTORABLE = [  # a change to a valid draft, and the field the answer names
    (lambda d: d.update(title="合同\ud800"), "title"),
    (lambda d: d["customer"].update(name="\udfff学校"), "customer.name"),
    (lambda d: d["items"][0].update(content="a\udc00b"), "items.0.content"),
    (lambda d: d.update({"\ud83d": 1}), "\\ud83d"),
    (lambda d: d.update(title="合同\u0000标题"), "title")]


def test_text_no_database_stores_is_400_naming_the_field(api):
    for place, field in UNSTORABLE:
        draft = load_fixture("contract-technical-service.json")
        place(draft)
        response = api.call("POST", "/contracts", "sales", data=json.dumps(draft), headers=JSON)  # escapes \ud800
        assert (response.status_code, response.json["error"]) == (400, "bad_request"), field
        assert list(response.json["fields"]) == [field]
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_a_surrogate_pair_is_text(api):
    draft = load_fixture("contract-technical-service.json")
    draft["title"] = "合同 \U0001F4DD"  # json.dumps writes it as the pair \ud83d\udcdd
    response = api.call("POST", "/contracts", "sales", data=json.dumps(draft), headers=JSON)
    assert response.status_code == 201 and response.json["title"] == "合同 \U0001F4DD"


def test_a_contact_change_decision_without_true_or_false_is_422(api):
    for body in ({}, {"approve": "yes"}, {"approve": None}):
        response = api.call("POST", "/contact-changes/1/decision", "admin", body)
        assert (response.status_code, set(response.json["fields"])) == (422, {"approve"}), body


def test_every_operation_documents_its_400_and_the_bounds(client):
    document = client.get("/api/v1/openapi.json").json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert path == "/openapi.json" or "400" in operation["responses"], (path, method)
    paging = {p["name"]: p["schema"] for p in document["paths"]["/contracts"]["get"]["parameters"]}
    assert (paging["limit"]["maximum"], paging["offset"]["maximum"]) == (200, LARGEST_OFFSET)


def test_a_nul_character_in_the_path_is_400(api, as_user):
    """PostgreSQL's text columns refuse U+0000 wherever it comes from: a path segment too."""
    for method, path in (("GET", "/tasks/%00"), ("PUT", "/contracts/1/letters/a%00b"), ("POST", "/tasks/%00/claim")):
        response = api.call(method, path, "admin", {})
        assert (response.status_code, response.json["error"]) == (400, "bad_request"), path
    admin = as_user("admin")
    assert [admin.get(path).status_code for path in ("/admin/letters/%00/new", "/invitations/%00")] == [400, 400]


def test_a_signing_field_of_the_wrong_type_is_422_whatever_the_decision(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    (task,) = api.tasks("legal", contract["id"])
    body = {"decision": "approve", "document_sha256": ["a"], "typed_name": {}, "intent_code": 123456, "consent": "yes"}
    response = api.call("POST", f"/tasks/{task['id']}/complete", "legal", body)
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"document_sha256", "typed_name", "intent_code", "consent"}
    assert api.tasks("legal", contract["id"]) == [task]  # not approved


def test_pages_take_any_page_number_and_version_without_a_500(as_user):
    """A person's link with a page past what OFFSET reaches gets the first page; an admin's diff of a version past
    the database, the versions page saying so; a deploy nested without end, a 400."""
    sales, admin = as_user("sales"), as_user("admin")
    for path in (f"/contracts?page={HUGE}", f"/inbox?page={HUGE}", "/contracts?page=-2", "/inbox?page=²"):
        assert sales.get(path).status_code == 200, path
    diff = admin.get(f"/admin/processes/contract_approval/diff?from={HUGE}&to=1")
    assert diff.status_code == 302 and diff.location.endswith("/admin/processes/contract_approval/")
    modeler = admin.get("/admin/processes/contract_approval/edit").get_data(as_text=True)
    token = modeler.split('data-csrf="')[1].split('"')[0]
    response = admin.client.post("/admin/processes/contract_approval/deploy", data=nested(100_000),
                                 headers={**JSON, "X-CSRFToken": token})
    assert response.status_code == 400 and "nests deeper than 32 levels" in response.json["message"]
