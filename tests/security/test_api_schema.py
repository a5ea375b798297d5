"""The API against its own OpenAPI document: schemathesis generates requests from /api/v1/openapi.json (valid ones
and invalid ones) and sends them to the app in process, with the bearer token of each role; every answer must be a
documented status with a body that matches its schema, and none a 500.

Reproducible and bounded: a fixed number of examples per operation, derandomized (the same requests every run), no
shrinking. The stateful run follows the links the document declares (a task listed, then opened, claimed, completed;
its contract read) for a fixed number of steps.
"""
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer

pytestmark = pytest.mark.slow

ROLES = ("sales", "legal", "finance", "signatory", "admin", "customer")
EXAMPLES = 5  # per operation and mode: about 300 requests, each with the token of a role drawn for it
RUNS = hypothesis.settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                           phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
CHECKS = {  # every check schemathesis has but one: a body the schema allows may still break a business rule (422 with
    # its fields, docs/contract-data.md) or hold U+0000 (400); statuses, content types and bodies must conform
    "positive_data_acceptance": {"enabled": False}}
GENERATION = {"deterministic": True, "allow-extra-parameters": False}  # unknown query arguments are ignored, as usual


def load(app, token=None):
    config = {"generation": GENERATION, "checks": CHECKS}
    if token:
        config["auth"] = {"openapi": {"bearer": {"bearer": token}}}
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app,
                                          config=SchemathesisConfig.from_dict(config))


@pytest.fixture
def seeded(api):
    """Something to find: a draft, one with legal, one with its customer (the demo account's school)."""
    api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json"))
    review = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json["id"]
    api.call("POST", f"/contracts/{review}/submit", "sales")
    at_customer(api, load_fixture("contract-technical-service.json"))
    return api


def failures_of(run):
    try:
        run()
    except BaseExceptionGroup as found:  # schemathesis reports every distinct failure of an operation at once
        return str(found)
    return None


def test_every_operation_answers_as_documented(app, seeded):
    schema = load(app)
    tokens = st.sampled_from([seeded.token(role) for role in ROLES])
    found = []
    for operation in (result.ok() for result in schema.get_all_operations()):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(mode), token=tokens)
            @RUNS
            def conforms(case, token):
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
            report = failures_of(conforms)
            if report:
                found.append(f"{operation.label} ({mode.value})\n{report}")
    assert not found, "\n\n".join(found)


@pytest.mark.parametrize("role", ["legal", "customer"])  # each has an open task on a contract it sees
def test_linked_operations_answer_as_documented(app, seeded, role):
    machine = load(app, seeded.token(role)).as_state_machine()
    found = failures_of(lambda: machine.run(settings=hypothesis.settings(RUNS, max_examples=15, stateful_step_count=8)))
    assert not found, found


def test_every_link_names_an_operation_and_its_parameters(client):
    document = client.get("/api/v1/openapi.json").json
    links = [link for operations in document["paths"].values() for operation in operations.values()
             for response in operation["responses"].values() for link in response.get("links", {}).values()]
    assert len(links) > 20
    for link in links:
        path, method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
        target = document["paths"][path.replace("~1", "/").replace("~0", "~")][method]
        assert set(link["parameters"]) <= {parameter["name"] for parameter in target["parameters"]}, link
