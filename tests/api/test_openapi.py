"""The OpenAPI document validates and lists every route the API serves."""
import re

from openapi_spec_validator import validate


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1"):])
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                yield path, method.lower()


def test_document_is_valid_openapi(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.json)


def test_every_route_is_documented_and_every_documented_route_exists(app, client):
    document = client.get("/api/v1/openapi.json").json
    served = set(api_routes(app))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented


def test_every_operation_documents_its_errors_as_the_error_schema(client):
    document = client.get("/api/v1/openapi.json").json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
