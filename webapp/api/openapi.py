"""The OpenAPI 3.1 document. A test checks it validates and that every /api/v1 route is in it."""
import re

from workflows.contracts.catalog import SERVICE_TYPES
from workflows.services.contracts import STATUS_TITLES
from workflows.services.register import CANNED_FILTERS, EXPORT_LIMIT, MAX_DAYS, MAX_TERMS

from ..downloads import REGISTER_EXPORTS
from ..inputs import LARGEST_ID, LARGEST_OFFSET, MAX_JSON_DEPTH
from . import MAX_PAGE


ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema):
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes):
    titles = {400: f"Malformed request: the body is not JSON or nests deeper than {MAX_JSON_DEPTH} levels, a text "
                   "(a key or a value) holds U+0000 or a lone surrogate (`fields` names each), the path or a query "
                   "argument holds U+0000, or a signed-in browser's unsafe call lacks its X-CSRFToken header",
              401: "Missing or unknown token", 403: "Not allowed for your roles",
              404: "Not found", 409: "Conflict: the state changed, or the step is not open",
              422: "Invalid input; `fields` names each field"}
    return {str(code): {"description": titles[code], **_json(ERROR)} for code in codes}


def _op(summary, ok, ok_schema, *errors, body=None, params=None, tag=None, media="application/json", links=None):
    op = {"summary": summary, "tags": [tag] if tag else [],
          "responses": {str(ok): {"description": "OK", "content": {media: {"schema": ok_schema}}},
                        **_errors(400, 401, *errors)}}
    if links:
        op["responses"][str(ok)]["links"] = links
    if body:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    return op


def _path_param(name, schema):
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name, schema, description=""):
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


ID = {"type": "integer", "minimum": 0, "maximum": LARGEST_ID}  # a larger id in a path matches no route: 404
CONTRACT_ID = _path_param("contract_id", ID)
LETTER_CODE = _path_param("code", {"type": "string"})
TASK_ID = _path_param("task_id", {"type": "string", "format": "uuid"})
USERNAME = _path_param("username", {"type": "string"})
ABSENCE_ID = _path_param("absence_id", ID)
PAGING = [_query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, f"outside 1 to {MAX_PAGE}: 422"),
          _query("offset", {"type": "integer", "minimum": 0, "maximum": LARGEST_OFFSET}, "negative or too large: 422")]
REF = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
DAY = {"type": "string", "format": "date"}
AMOUNT = {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"}
REGISTER_SEARCH = [  # what RegisterQuery.parse reads; every argument given must hold
    _query("number", {"type": "string", "maxLength": 40}, "part of the contract number"),
    _query("customer", {"type": "string", "maxLength": 100}, "part of the customer's name"),
    _query("credit_code", {"type": "string", "pattern": "^[0-9A-Za-z]{1,18}$"},
           "the start of the unified social credit code"),
    _query("service_type", {"enum": list(SERVICE_TYPES)}), _query("status", {"enum": list(STATUS_TITLES)}),
    _query("min_total", AMOUNT, "yuan, inclusive"), _query("max_total", AMOUNT, "yuan, inclusive"),
    _query("start_from", DAY, "the term in force starts on or after"), _query("start_to", DAY, "... on or before"),
    _query("end_from", DAY, "the term in force ends on or after"), _query("end_to", DAY, "... on or before"),
    _query("text", {"type": "string", "maxLength": 100},
           f"up to {MAX_TERMS} words, each in a paragraph of the current version's text (Chinese or not)"),
    _query("canned", {"enum": [canned.code for canned in CANNED_FILTERS]},
           "expiring: active, the term ends within `days` (30); awaiting_customer: sent for signature more than "
           "`days` (7) ago, unsigned"),
    _query("days", {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}, "the canned filter's N"),
]


def _links(source, *targets):
    """OpenAPI links from an answer to the operations on what it names: ``source`` points at the id in the answer's
    body; each target is a (method, path) with one path parameter, which the id fills."""
    links = {}
    for method, path in targets:
        pointer = path.replace("~", "~0").replace("/", "~1")
        parameter = re.search(r"{(\w+)}", path).group(1)
        links[re.sub(r"\W+", "_", method + path).strip("_")] = {
            "operationRef": f"#/paths/{pointer}/{method}", "parameters": {parameter: f"$response.body#{source}"}}
    return links


CONTRACT_LINKS = [("get", "/contracts/{contract_id}"), ("patch", "/contracts/{contract_id}"),
                  ("post", "/contracts/{contract_id}/submit"), ("get", "/contracts/{contract_id}/history"),
                  ("get", "/contracts/{contract_id}/letters"), ("get", "/contracts/{contract_id}/signing"),
                  ("get", "/contracts/{contract_id}/document.html")]
TASK_LINKS = [("get", "/tasks/{task_id}"), ("post", "/tasks/{task_id}/claim"), ("post", "/tasks/{task_id}/unclaim"),
              ("post", "/tasks/{task_id}/complete"), ("post", "/tasks/{task_id}/delegate"),
              ("post", "/tasks/{task_id}/transfer"), ("post", "/tasks/{task_id}/add-reviewer"),
              ("post", "/tasks/{task_id}/send-back")]


def build_document():
    contract_ops = {
        "/contracts": {
            "post": _op("Create a draft contract (role sales); starts its approval process", 201, REF("Contract"),
                        403, 409, 422, body=REF("ContractDraft"), tag="contracts", links=_links("/id", *CONTRACT_LINKS)),
            "get": _op("The register: the contracts you may see that match every argument given, newest first "
                       "(a customer: its own)", 200, REF("ContractPage"), 403, 422, tag="contracts",
                       params=[*REGISTER_SEARCH, *PAGING], links=_links("/items/0/id", *CONTRACT_LINKS)),
        },
        **{f"/contracts/export.{kind}": {"get": _op(
            f"The register's search as {kind.upper()} (staff): the arguments of GET /contracts, Chinese headers, "
            f"amounts as numbers to the fen, times in China time; at most {EXPORT_LIMIT} contracts, else 422", 200,
            {"type": "string", "format": "binary"}, 403, 422, tag="contracts", params=REGISTER_SEARCH, media=media)}
           for kind, (_write, media) in REGISTER_EXPORTS.items()},
        "/contracts/filters": {
            "get": _op("Your saved register searches (staff), by name", 200, {"type": "object", "properties": {
                "items": {"type": "array", "items": REF("SavedFilter")}}}, 403, tag="contracts"),
            "post": _op("Save a register search under a name (staff); the same name again replaces its search", 201,
                        REF("SavedFilter"), 403, 409, 422, tag="contracts", body={
                            "type": "object", "required": ["name", "query"], "properties": {
                                "name": {"type": "string", "minLength": 1, "maxLength": 60},
                                "query": {"type": "string", "description": "the query string of GET /contracts"}}}),
        },
        "/contracts/filters/{filter_id}": {
            "delete": {**_op("Delete one of your saved searches (another person's: 404)", 204, {}, 403, 404,
                             tag="contracts", params=[_path_param("filter_id", ID)]),
                       "responses": {"204": {"description": "Deleted"}, **_errors(400, 401, 403, 404)}},
        },
        "/contracts/{contract_id}": {
            "get": _op("A contract: status, figures, open tasks, letters, lint findings, versions, history", 200,
                       REF("Contract"), 403, 404, tag="contracts", params=[CONTRACT_ID],
                       links=_links("/tasks/0/id", *TASK_LINKS)),
            "patch": _op("Revise a draft that is with sales: a JSON merge patch, saved as a new version", 200,
                         REF("Contract"), 403, 404, 409, 422, body={"type": "object"}, tag="contracts", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/submit": {
            "post": _op("Submit the draft for review (completes the sales task)", 200, REF("Contract"), 403, 404, 409, 422,
                        body={"type": "object", "properties": {"comment": {"type": "string"}}}, tag="contracts",
                        params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/history": {
            "get": _op("The contract's audit events, oldest first", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Event")}}},
                       403, 404, tag="contracts", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/document.html": {
            "get": _op("The contract with its letters (its 附件 pages) as one HTML page: what reviewers read, with the "
                       "customer's entries once filled", 200, {"type": "string"}, 403, 404,
                       tag="contracts", params=[CONTRACT_ID], media="text/html"),
        },
        "/contracts/{contract_id}/document.pdf": {
            "get": _op("The document as PDF: once the customer is asked to sign, the current PDF of the signing chain "
                       "(certified, then with every signature; `X-Document-SHA256`), before that a rendering of the "
                       "current version", 200, {"type": "string", "format": "binary"}, 403, 404, tag="contracts",
                       params=[CONTRACT_ID], media="application/pdf"),
        },
        "/contracts/{contract_id}/package.pdf": {
            "get": _op("The final package of an active contract: the completion certificate with the signed, "
                       "document-timestamped contract (and its letters) embedded byte for byte, certified and "
                       "timestamped. Built once by a background job after activation: 202 with Retry-After until then",
                       200, {"type": "string", "format": "binary"}, 403, 404, 409, tag="signing", params=[CONTRACT_ID],
                       media="application/pdf"),
        },
        "/contracts/{contract_id}/letters": {
            "get": _op("The mandated letters with their status (required, attached, filled, signed), pinned template "
                       "version and SHA-256, fields and values, and `activation_missing`: what still keeps the contract "
                       "from becoming active", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Letter")},
                                                         "activation_missing": {"type": "object"}}},
                       403, 404, tag="signing", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/letters/{code}": {
            "put": _op("The customer fills an attached letter's fields (checked field by field: 422); the document to "
                       "sign is then prepared again with them", 200, REF("Letter"), 403, 404, 409, 422,
                       body={"type": "object", "properties": {"values": {"type": "object"}}}, tag="signing",
                       params=[CONTRACT_ID, LETTER_CODE]),
        },
        "/contracts/{contract_id}/signing": {
            "get": _op("For the customer's signer: `status` (letters: fill them first; preparing; ready), the SHA-256 "
                       "of the document to sign (send it back with the signature), and the letters", 200,
                       {"type": "object", "properties": {"status": {"enum": ["letters", "preparing", "ready"]},
                                                         "document_sha256": {"type": ["string", "null"]},
                                                         "letters": {"type": "array", "items": REF("Letter")}}},
                       404, 409, tag="signing", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/intent": {
            "post": _op("A one-time confirmation code (email) for the caller's signing act on this contract: one code "
                        "covers the contract and every letter; 5 codes an hour", 201,
                        {"type": "object", "properties": {"channel": {"type": "string"}, "destination": {"type": "string"},
                                                          "expires_at": {"type": "string"}}},
                        403, 404, 409, 422, tag="signing", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/sign": {
            "post": _op("The customer's signing act: the contract and every letter, one PAdES signature in each field, "
                        "with one code. 409 when the document changed since it was read or another signature came "
                        "first; 422 on each missing or wrong field", 200,
                        {"type": "object", "properties": {"document_sha256": {"type": "string"},
                                                          "fields": {"type": "array", "items": {"type": "string"}}}},
                        403, 404, 409, 422, body=REF("Signature"), tag="signing", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/decline": {
            "post": _op("The customer declines, with a reason", 200, {"type": "object"}, 403, 404, 409, 422,
                        body={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}},
                        tag="signing", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/invitation": {
            "post": _op("Sales or an administrator: `resend` the invitation, or `change_contact` (once the signer "
                        "accepted, 202: the change waits for an administrator's approval)", 200, {"type": "object"},
                        403, 404, 409, 422, tag="signing", params=[CONTRACT_ID],
                        body={"type": "object", "required": ["action"], "properties": {
                            "action": {"enum": ["resend", "change_contact"]}, "email": {"type": "string"},
                            "reason": {"type": "string"}}}),
        },
        "/contracts/{contract_id}/signer": {
            "post": _op("An administrator binds the customer's signer: an integration's API account (`username`) or "
                        "an identity that signed in once (`identity_id`)", 200, {"type": "object"}, 403, 404, 409, 422,
                        tag="signing", params=[CONTRACT_ID],
                        body={"type": "object", "properties": {"username": {"type": "string"},
                                                               "identity_id": {"type": "integer"}}}),
        },
        "/contact-changes/{change_id}/decision": {
            "post": _op("An administrator approves or rejects a change of signer", 200, {"type": "object"},
                        403, 404, 409, 422, tag="signing", params=[_path_param("change_id", ID)],
                        body={"type": "object", "required": ["approve"], "properties": {
                            "approve": {"type": "boolean"}, "comment": {"type": "string"}}}),
        },
        "/contracts/{contract_id}/audit": {
            "get": _op("Recompute the hash-chained audit trail: ok, the head, and the first broken link if any", 200,
                       {"type": "object", "properties": {"ok": {"type": "boolean"}, "head": {"type": "string"},
                                                         "events": {"type": "integer"},
                                                         "first_broken_event_id": {"type": ["integer", "null"]},
                                                         "reason": {"type": "string"}}},
                       403, 404, tag="contracts", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/renewal": {
            "post": _op("Sales draft the renewal of an active contract: prefilled from it (the term following on from the "
                        "end of the term in force, the same customer, services, figures and letters, the payment dates "
                        "moved with the term), a new number, linked both ways (`lifecycle.renewal_of`, "
                        "`lifecycle.renewed_by`); it then goes through the same approval and signing. 409 when the "
                        "contract is not active or already has a renewal in progress", 201, REF("Contract"),
                        403, 404, 409, 422, tag="lifecycle", params=[CONTRACT_ID], links=_links("/id", *CONTRACT_LINKS)),
        },
        "/contracts/{contract_id}/non-renewal": {
            "post": _op("A notice of non-renewal: the provider's (sales, admin) or the customer's. On the deadline day "
                        "(`lifecycle.notice_deadline`: term end minus the contract's notice days) at the latest; after "
                        "it, for a contract that does not renew by itself, or a second time: 409. The contract then "
                        "ends at its term's end instead of renewing", 200, REF("Contract"), 403, 404, 409, 422,
                        body={"type": "object", "properties": {"comment": {"type": "string", "maxLength": 500}}},
                        tag="lifecycle", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/termination": {
            "post": _op("Sales or an administrator terminate an active contract early: a reason and the effective date "
                        "(no earlier than today plus the contract's notice days, `lifecycle.earliest_termination`, and "
                        "within the term: 422 on `effective_on`). The term's timers end; the contract is `terminated` "
                        "from that date (at once when it is today). 409 when it is not active or already terminated",
                        200, REF("Contract"), 403, 404, 409, 422, tag="lifecycle", params=[CONTRACT_ID],
                        body={"type": "object", "required": ["effective_on", "reason"], "properties": {
                            "effective_on": {"type": "string", "format": "date"},
                            "reason": {"type": "string", "maxLength": 500}}}),
        },
        "/contracts/{contract_id}/amendments": {
            "get": _op("The contract's amendments (补充协议), oldest first", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Amendment")}}},
                       403, 404, tag="lifecycle", params=[CONTRACT_ID]),
            "post": _op("Either side proposes a change of an active contract: the provider's sales or an administrator, "
                        "or the customer. `changes` names only amendable fields (`items`, `total`, `payment_plan`, "
                        "`term_end`, `clauses` as {number: new text}); the terms they make are checked as a draft is "
                        "(422 on `changes.<field>...`, money half-up to the fen). The other side answers within the "
                        "contract's working days (`answer_due_at`); 409 when the contract is not active or another "
                        "change waits for its answer", 201, REF("Amendment"), 403, 404, 409, 422, tag="lifecycle",
                        params=[CONTRACT_ID], body=REF("AmendmentInput")),
        },
        "/contracts/{contract_id}/amendments/{number}": {
            "get": _op("One amendment", 200, REF("Amendment"), 403, 404, tag="lifecycle",
                       params=[CONTRACT_ID, _path_param("number", ID)]),
        },
        "/contracts/{contract_id}/amendments/{number}/answer": {
            "post": _op("The other side answers: `agree`, or `refuse` with a `comment`. An agreed change becomes a "
                        "补充协议 to sign (`status` signing; it takes effect, `contract.amended`, once signed). 403 for the side that proposed it; 409 once answered, deemed agreed or "
                        "lapsed, or when `version` (the amendment's, as read) is no longer current", 200,
                        REF("Amendment"), 403, 404, 409, 422, tag="lifecycle",
                        params=[CONTRACT_ID, _path_param("number", ID)],
                        body={"type": "object", "required": ["decision"], "properties": {
                            "decision": {"enum": ["agree", "refuse"]}, "comment": {"type": "string", "maxLength": 500},
                            "version": {"type": "integer"}}}),
        },
        "/contracts/{contract_id}/amendments/{number}/intent": {
            "post": _op("A one-time confirmation code (email) for the caller's signature on the 补充协议: its side's "
                        "signature is awaited (`signing_party`) and its document is ready (`document.status`). 403 while "
                        "it waits for the other side; 409 while it is being prepared or when it awaits no signature", 201,
                        {"type": "object", "properties": {"channel": {"type": "string"}, "destination": {"type": "string"},
                                                          "expires_at": {"type": "string"}}},
                        403, 404, 409, 422, tag="signing", params=[CONTRACT_ID, _path_param("number", ID)]),
        },
        "/contracts/{contract_id}/amendments/{number}/sign": {
            "post": _op("The caller's side signs the 补充协议 as the contract is signed: `document_sha256` (as read) and "
                        "`intent_code`, and for the customer `consent` and `method`; the provider's signatory signs and "
                        "the 合同专用章 is applied. The last signature makes it effective. 409 when the document changed "
                        "since it was read; 422 on each missing or wrong field", 200, REF("Amendment"),
                        403, 404, 409, 422, body=REF("Signature"), tag="signing",
                        params=[CONTRACT_ID, _path_param("number", ID)]),
        },
        "/contracts/{contract_id}/amendments/{number}/document": {
            "get": _op("The 补充协议 as PDF: certified to sign, then with every signature so far (`X-Document-SHA256`); "
                       "404 before it is rendered", 200, {"type": "string", "format": "binary"}, 403, 404, tag="signing",
                       params=[CONTRACT_ID, _path_param("number", ID)], media="application/pdf"),
        },
        "/contracts/{contract_id}/terms": {
            "get": _op("The terms in force: the signed contract with every amendment in force applied in order, and "
                       "each change's history (which amendment, the former and the new value, who agreed, when)", 200,
                       REF("EffectiveTerms"), 403, 404, tag="lifecycle", params=[CONTRACT_ID]),
        },
        "/contracts/{contract_id}/versions/{version}": {
            "get": _op("One stored version of the contract's data", 200, {"type": "object"}, 403, 404, tag="contracts",
                       params=[CONTRACT_ID, _path_param("version", ID)]),
        },
    }
    task_ops = {
        "/tasks": {
            "get": _op("Open tasks for the caller's roles (named for nobody) and those named for the caller, by due date", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Task")}}}, 403, 422,
                       tag="tasks", params=[_query("role", {"type": "string"}), _query("contract_id", ID),
                                            _query("assignee", {"type": "string"}),
                                            _query("escalated", {"enum": ["1"]}, "1: only the overdue tasks escalated "
                                                   "to the caller (升级给我), whatever their role"),
                                            *PAGING],
                       links={**_links("/items/0/id", *TASK_LINKS), **_links("/items/0/contract_id", *CONTRACT_LINKS)}),
        },
        "/tasks/{task_id}": {"get": _op("One task", 200, REF("Task"), 403, 404, tag="tasks", params=[TASK_ID],
                                        links=_links("/contract_id", *CONTRACT_LINKS))},
        "/tasks/{task_id}/complete": {
            "post": _op("Decide a task. `return` and `decline` need a comment; `sign` on a task whose diagram declares "
                        "a signature is the signing act: `document_sha256` of the document read and `intent_code` (from "
                        "POST /tasks/{task_id}/intent), and for the customer consent and the method", 200,
                        {"type": "object"}, 403, 404, 409, 422, body=REF("Decision"), tag="tasks", params=[TASK_ID]),
        },
        "/tasks/{task_id}/intent": {
            "post": _op("Send the caller a one-time confirmation code (email) for a task that needs a signature; "
                        "5 codes an hour (409 beyond)", 201,
                        {"type": "object", "properties": {"channel": {"type": "string"}, "destination": {"type": "string"},
                                                          "expires_at": {"type": "string"}}},
                        403, 404, 409, 422, tag="tasks", params=[TASK_ID]),
        },
        "/tasks/{task_id}/claim": {"post": _op("Claim a task for yourself", 200, REF("Task"), 403, 404, 409, tag="tasks", params=[TASK_ID])},
        "/tasks/{task_id}/delegate": {
            "post": _op("Delegate a task to another holder of its role (the holder or an admin); a task named for a "
                        "person, to another member of staff, who is then the one named; history keeps both",
                        200, REF("Task"), 403, 404, 409, 422, tag="tasks", params=[TASK_ID],
                        body={"type": "object", "required": ["to"],
                              "properties": {"to": {"type": "string"}, "comment": {"type": "string"}}}),
        },
        "/tasks/{task_id}/unclaim": {"post": _op("Release a claimed task (not one named for a person: 409)", 200, REF("Task"), 403, 404, 409, tag="tasks", params=[TASK_ID])},
        "/tasks/{task_id}/transfer": {
            "post": _op("转办: hand a task over to a named holder of its role (the holder, anyone of the role while "
                        "nobody holds it, or an admin), who then decides in their own name and is mailed; history "
                        "names both", 200, REF("Task"), 403, 404, 409, 422, tag="tasks", params=[TASK_ID],
                        body={"type": "object", "required": ["to", "reason"],
                              "properties": {"to": {"type": "string"}, "reason": {"type": "string", "maxLength": 2000}}}),
        },
        "/tasks/{task_id}/add-reviewer": {
            "post": _op("加签 on a step that takes `approve`: the named reviewer decides (approve or return) `before` "
                        "you, or `after` (adding is then your approval: the process moves on once they approve too); "
                        "the step waits meanwhile (409 on any decision). Returns the added reviewer's task", 201,
                        REF("Task"), 403, 404, 409, 422, tag="tasks", params=[TASK_ID],
                        body={"type": "object", "required": ["reviewer", "position", "reason"], "properties": {
                            "reviewer": {"type": "string"}, "position": {"enum": ["before", "after"]},
                            "reason": {"type": "string", "maxLength": 2000}}}),
        },
        "/tasks/{task_id}/send-back": {
            "get": _op("The earlier steps an open task may send its contract back to (回退), oldest first", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
                           "name": {"type": "string"}, "title": {"type": "string"}}}}}},
                       403, 404, tag="tasks", params=[TASK_ID]),
            "post": _op("回退 from a step that takes `return`: back to an earlier step the contract passed (`to`: its "
                        "name), with a comment; that step's reviewer decides again. Returns the reopened task and the "
                        "contract", 200, {"type": "object"}, 403, 404, 409, 422, tag="tasks", params=[TASK_ID],
                        body={"type": "object", "required": ["to", "comment"], "properties": {
                            "to": {"type": "string"}, "comment": {"type": "string", "maxLength": 2000}}}),
        },
        "/tasks/bulk-complete": {
            "post": _op("One decision (not `sign`) on up to 50 open tasks of one step, each in its own transaction "
                        "and history entry; a refusal of one does not stop the others: `items` holds each task's "
                        "result (`ok`, else `error`, `message`, `fields`)", 200,
                        {"type": "object", "properties": {"items": {"type": "array", "items": REF("BulkResult")}}},
                        403, 422, tag="tasks",
                        body={"type": "object", "required": ["task_ids", "decision"], "properties": {
                            "task_ids": {"type": "array", "minItems": 1, "maxItems": 50,
                                         "items": {"type": "string", "format": "uuid"}},
                            "decision": {"type": "string"}, "comment": {"type": "string", "maxLength": 2000}}}),
        },
        "/contracts/{contract_id}/withdraw": {
            "post": _op("撤回: sales take a submitted contract back to its draft while no reviewer has taken it up "
                        "(claimed, added a reviewer or decided: 409). Returns the draft's task and the contract", 200,
                        {"type": "object"}, 403, 404, 409, 422, tag="tasks", params=[CONTRACT_ID],
                        body={"type": "object", "properties": {"comment": {"type": "string", "maxLength": 2000}}}),
        },
        "/contracts/invitations/resend": {
            "post": _op("Sales or an administrator: resend the invitation of up to 50 contracts waiting for their "
                        "customer, each on its own: `items` holds each contract's result", 200,
                        {"type": "object", "properties": {"items": {"type": "array", "items": REF("BulkResult")}}},
                        403, 422, tag="signing",
                        body={"type": "object", "required": ["contract_ids"], "properties": {
                            "contract_ids": {"type": "array", "minItems": 1, "maxItems": 50, "items": ID}}}),
        },
    }
    payment_ops = {
        "/contracts/{contract_id}/payments": {
            "get": _op("An active contract's payment plan as of `as_of` (default today, China time): each instalment's "
                       "due date, amount, what was paid (each payment), what is owed, its status and the late fee the "
                       "contract defines (its daily rate on each amount for each day late, half-up to the fen)", 200,
                       REF("PaymentPlan"), 403, 404, 422, tag="payments",
                       params=[CONTRACT_ID, _query("as_of", {"type": "string", "format": "date"}, "not a date: 422")]),
            "post": _op("Finance records money received for one instalment: partial payments allowed, never more than "
                        "it still owes (422 naming `amount`). `version` (the instalment's, as read) makes a stale form a "
                        "409; two clerks recording at once never lose a payment (one of them gets 409). 409 too when "
                        "the contract has no payment plan (not active yet)", 201, REF("Instalment"),
                        403, 404, 409, 422, tag="payments", params=[CONTRACT_ID], body=REF("PaymentInput")),
        },
        "/payments/open": {
            "get": _op("Instalments of active contracts not fully paid: overdue, or due within `within_days` (default "
                       "PAYMENT_REMINDER_DAYS), earliest due first", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Instalment")}}},
                       403, 422, tag="payments",
                       params=[_query("within_days", {"type": "integer", "minimum": 0, "maximum": 3660}),
                               _query("as_of", {"type": "string", "format": "date"}, "not a date: 422")]),
        },
        "/payments/import": {
            "post": {**_op("Finance imports a bank statement (CSV, UTF-8 or GBK; columns 交易日期, 金额 or 贷方金额, "
                           "流水号, and 附言 or 合同编号). Each line is matched to a contract by the contract number it "
                           "names and spread over its oldest open instalments; all matched lines are recorded in one "
                           "transaction, or none when any line is wrong (422, `fields` names `lines.<n>`); a line whose "
                           "bank reference is already recorded for its contract is skipped (importing twice records "
                           "once); unmatched and ambiguous lines are reported, not recorded", 200,
                           REF("ImportReport"), 403, 409, 422, tag="payments"),
                     "requestBody": {"required": True, "content": {
                         "text/csv": {"schema": {"type": "string"}},
                         "multipart/form-data": {"schema": {"type": "object", "properties": {
                             "file": {"type": "string", "format": "binary"}}}}}}},
        },
        "/dashboard": {
            "get": _op("The managers' dashboard (sales, legal, finance, administrators): contracts by status and per "
                       "China month of the last 12 (created, activated, value signed), cycle time per step (p50/p90 "
                       "seconds from a task's creation to its completion), open tasks per step by age (bands: 1, 3, "
                       "7, 30 days) and overdue, the longest waiting, overdue instalments by days overdue (bands: "
                       "30, 60, 90) and active contracts whose term ends within 30/60/90 days", 200,
                       REF("Dashboard"), 403, tag="dashboard"),
        },
    }
    absence_body = {"type": "object", "required": ["substitute", "starts_at", "ends_at"], "properties": {
        "substitute": {"type": "string", "description": "the sign-in name of an active member of staff holding each "
                       "of the user's work roles, not the user"},
        "starts_at": {"type": "string", "description": "ISO 8601; without an offset, China time"},
        "ends_at": {"type": "string", "description": "ISO 8601, after the start and in the future"},
        "reason": {"type": "string", "maxLength": 500}}}
    absence_ops = {
        "/users/{username}/absences": {
            "get": _op("A member of staff's out-of-office periods (current and upcoming first, then ended ones) and "
                       "who may be their substitute; the user or an admin", 200,
                       {"type": "object", "properties": {"items": {"type": "array", "items": REF("Absence")},
                                                         "substitutes": {"type": "array", "items": {"type": "object"}}}},
                       403, 404, tag="out of office", params=[USERNAME]),
            "post": _op("Set an out-of-office period: tasks named for the user that arrive meanwhile (the approval "
                        "matrix's, 加签, 转办) go to the substitute (theirs, when they are away too), who decides for "
                        "the user; history `task_substituted`. No overlapping periods (422)", 201, REF("Absence"),
                        403, 404, 422, tag="out of office", params=[USERNAME], body=absence_body),
        },
        "/users/{username}/absences/{absence_id}": {
            "put": _op("Change a period not over yet, with the `version` read (409 if it moved)", 200, REF("Absence"),
                       403, 404, 409, 422, tag="out of office", params=[USERNAME, ABSENCE_ID],
                       body={**absence_body, "required": [*absence_body["required"], "version"],
                             "properties": {**absence_body["properties"], "version": {"type": "integer"}}}),
        },
        "/users/{username}/absences/{absence_id}/end": {
            "post": _op("End a period now (an upcoming one never starts); tasks already handed on stay with the "
                        "substitute", 200, REF("Absence"), 403, 404, 409, tag="out of office",
                        params=[USERNAME, ABSENCE_ID]),
        },
        "/users/{username}/absences/hand-on": {
            "post": _op("Hand the tasks open and named for the user to their substitute now (转办, history "
                        "`task_transferred`; the substitute is mailed): of the period they are away in, else of the next "
                        "(409 without one)", 200,
                        {"type": "object", "properties": {"substitute": {"type": "string"},
                                                          "items": {"type": "array", "items": REF("Task")}}},
                        403, 404, 409, tag="out of office", params=[USERNAME]),
        },
    }
    process_ops = {
        "/processes": {"get": _op("Deployed process definition versions", 200, {"type": "object"}, 403, tag="processes",
                                  params=[_query("key", {"type": "string"})])},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Qianyue API", "version": "1.0.0",
                 "description": "Contract approval and e-signature. Amounts are decimal strings; errors are "
                                "`{error, message, fields}`."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {**contract_ops, **task_ops, **payment_ops, **absence_ops, **process_ops,
                  "/openapi.json": {"get": {"summary": "This document", "security": [],
                                            "responses": {"200": {"description": "OK", **_json({"type": "object"})}}}}},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "`flask --app wsgi tokens create NAME` prints a token"}},
            "schemas": SCHEMAS,
        },
    }


MONEY = {"type": "string", "pattern": r"^\d+\.\d{2}$"}
SCHEMAS = {
    "Absence": {"type": "object", "properties": {
        "id": {"type": "integer"}, "username": {"type": "string"}, "substitute": {"type": "string"},
        "starts_at": {"type": "string"}, "ends_at": {"type": "string"}, "ended_at": {"type": ["string", "null"]},
        "reason": {"type": "string"}, "created_at": {"type": "string"}, "version": {"type": "integer"},
        "status": {"enum": ["upcoming", "current", "ended"]}}},
    "Error": {"type": "object", "required": ["error", "message", "fields"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "ContractDraft": {"type": "object", "required": ["template", "title", "service_types", "customer", "items", "total",
                                                     "payment_plan", "term"],
                      "description": "See docs/contract-data.md for every field and rule.",
                      "properties": {"template": {"enum": ["network_line", "technical_service"]},
                                     "title": {"type": "string", "maxLength": 200},
                                     "project_name": {"type": "string", "maxLength": 200,
                                                      "description": "required for a technical service"},
                                     "provider": {"type": "string", "description": "a provider profile's code; "
                                                  "by default the account manager's branch"},
                                     "service_types": {"type": "array", "items": {"type": "string"}},
                                     "customer": {"type": "object"}, "items": {"type": "array"},
                                     "total": {"type": ["string", "number"]}, "payment_plan": {"type": "object"},
                                     "term": {"type": "object"}}},
    "Task": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "title": {"type": "string"}, "role": {"type": "string"},
        "state": {"enum": ["open", "completed", "cancelled", "suspended"]}, "contract_id": {"type": "integer"},
        "assignee": {"type": ["string", "null"]}, "created_at": {"type": "string"}, "due_at": {"type": ["string", "null"]},
        "delegated_by": {"type": ["string", "null"], "description": "whom the holder acts for: the one who delegated "
                         "it, or the one named who is out of office (the holder is then their substitute)"},
        "candidate": {"type": ["string", "null"], "description": "the person the task is named for (the approval "
                      "matrix's user or the drafter's manager): only they act on it"},
        "step_id": {"type": ["string", "null"], "description": "the multi-instance step (会签/或签) the task is one "
                    "approver of: its tasks share it"},
        "escalated_at": {"type": ["string", "null"], "description": "when the step's overdue timer escalated it"},
        "escalated_to": {"type": ["string", "null"], "description": "the supervisor it was escalated to, who may "
                         "decide it too"}}},
    "BulkResult": {"type": "object", "required": ["id", "ok"], "properties": {
        "id": {"type": ["string", "integer"]}, "ok": {"type": "boolean"}, "contract_id": {"type": "integer"},
        "error": {"type": "string"}, "message": {"type": "string"}, "fields": {"type": "object"}}},
    "Decision": {"type": "object", "required": ["decision"], "properties": {
        "decision": {"enum": ["submit", "approve", "return", "sign", "decline"]}, "comment": {"type": "string", "maxLength": 2000},
        "document_sha256": {"type": "string"}, "intent_code": {"type": "string", "pattern": "^[0-9]{6}$"},
        "method": {"enum": ["typed", "drawn", "seal"]}, "typed_name": {"type": "string"}, "image": {"type": "string"},
        "consent": {"type": "boolean"}}},
    "Signature": {"type": "object", "required": ["document_sha256", "method", "consent", "intent_code"], "properties": {
        "document_sha256": {"type": "string", "description": "of the document read (GET .../signing)"},
        "method": {"enum": ["typed", "drawn", "seal"]}, "typed_name": {"type": "string"},
        "image": {"type": "string", "description": "data:image/png;base64,...: the drawn signature, or the seal"},
        "consent": {"type": "boolean"}, "intent_code": {"type": "string", "pattern": "^[0-9]{6}$"}}},
    "Event": {"type": "object", "properties": {
        "id": {"type": "integer"}, "event": {"type": "string"}, "actor": {"type": "string"}, "decision": {"type": ["string", "null"]},
        "comment": {"type": "string"}, "at": {"type": "string"}}},
    "ContractSummary": {"type": "object", "properties": {
        "id": {"type": "integer"}, "number": {"type": "string"}, "status": {"type": "string"}, "version": {"type": "integer"},
        "title": {"type": "string"}, "customer_name": {"type": "string"}, "total": MONEY}},
    "Letter": {"type": "object", "required": ["code", "title", "status"], "properties": {
        "code": {"type": "string"}, "title": {"type": "string"},
        "status": {"enum": ["required", "attached", "filled", "signed"]}, "position": {"type": "integer"},
        "template_version": {"type": "integer"}, "template_sha256": {"type": "string"},
        "fields": {"type": "array", "items": {"type": "object"}}, "values": {"type": "object"}}},
    "PaymentInput": {"type": "object", "required": ["instalment", "amount", "received_on", "bank_reference"],
                     "properties": {"instalment": {"type": "integer", "description": "its number in the plan, from 1"},
                                    "amount": {"type": "string", "description": "yuan, at most two decimals"},
                                    "received_on": {"type": "string", "format": "date"},
                                    "bank_reference": {"type": "string", "maxLength": 100},
                                    "version": {"type": "integer", "description": "the instalment's, as read"}}},
    "Dashboard": {"type": "object", "properties": {
        "as_of": {"type": "string", "format": "date-time"}, "total": {"type": "integer"},
        "by_status": {"type": "array", "items": {"type": "object", "properties": {
            "status": {"type": "string"}, "count": {"type": "integer"}}}},
        "months": {"type": "array", "items": {"type": "object", "properties": {
            "month": {"type": "string", "pattern": r"^\d{4}-\d{2}$"}, "created": {"type": "integer"},
            "activated": {"type": "integer"}, "value_signed": MONEY}}},
        "cycle_times": {"type": "array", "items": {"type": "object", "properties": {
            "step": {"type": "string"}, "title": {"type": "string"}, "completed": {"type": "integer"},
            "p50_seconds": {"type": "number"}, "p90_seconds": {"type": "number"}}}},
        "waiting": {"type": "array", "items": {"type": "object", "properties": {
            "step": {"type": "string"}, "title": {"type": "string"}, "open": {"type": "integer"},
            "overdue": {"type": "integer"}, "by_age": {"type": "array", "items": {"type": "integer"}}}}},
        "longest_waiting": {"type": "array", "items": {"type": "object", "properties": {
            "contract_id": {"type": "integer"}, "contract_number": {"type": "string"},
            "customer_name": {"type": "string"}, "step": {"type": "string"}, "title": {"type": "string"},
            "waiting_since": {"type": "string", "format": "date-time"},
            "due_at": {"type": "string", "format": "date-time"}}}},
        "overdue_instalments": {"type": "object", "properties": {
            "instalments": {"type": "integer"}, "contracts": {"type": "integer"}, "outstanding": MONEY,
            "by_days": {"type": "array", "items": {"type": "object", "properties": {
                "instalments": {"type": "integer"}, "outstanding": MONEY}}}}},
        "expiring": {"type": "array", "items": {"type": "object", "properties": {
            "within_days": {"type": "integer"}, "contracts": {"type": "integer"}}}}}},
    "Instalment": {"type": "object", "properties": {
        "contract_id": {"type": "integer"}, "contract_number": {"type": "string"}, "customer_name": {"type": "string"},
        "contract_status": {"type": "string", "description": "active, or terminated / ended: what such a contract "
                            "still owes stays owed"},
        "seq": {"type": "integer"}, "due_date": {"type": "string", "format": "date"}, "amount": MONEY, "paid": MONEY,
        "outstanding": MONEY, "status": {"enum": ["paid", "cancelled", "overdue", "due_soon", "scheduled"]},
        "days_overdue": {"type": "integer"}, "late_fee": {"oneOf": [MONEY, {"type": "null"}]},
        "version": {"type": "integer"}, "reminded_at": {"type": ["string", "null"]},
        "overdue_at": {"type": ["string", "null"]},
        "cancelled_at": {"type": ["string", "null"], "description": "cancelled by an early termination effective on "
                         "or before its due date: no longer owed"},
        "payments": {"type": "array", "items": {"type": "object", "properties": {
            "amount": MONEY, "received_on": {"type": "string", "format": "date"}, "bank_reference": {"type": "string"},
            "source": {"enum": ["manual", "import"]}, "recorded_by": {"type": "string"},
            "recorded_at": {"type": "string"}}}}}},
    "PaymentPlan": {"type": "object", "properties": {
        "contract_id": {"type": "integer"}, "contract_number": {"type": "string"}, "status": {"type": "string"},
        "as_of": {"type": "string", "format": "date"}, "late_fee_rate_per_day": {"type": ["string", "null"]},
        "late_fee_on": {"enum": ["owed", "contract_total"],
                        "description": "what the daily rate is charged on, as the contract's article says"},
        "totals": {"type": "object"}, "instalments": {"type": "array", "items": REF("Instalment")}}},
    "ImportReport": {"type": "object", "properties": {
        name: {"type": "array", "items": {"type": "object"}}
        for name in ("recorded", "already_recorded", "unmatched", "ambiguous")}},
    "Lifecycle": {"type": "object", "description": "Life after activation. `renewal_of`, `renewed_by` and "
                  "`earliest_termination` are for staff", "properties": {
        "notice_deadline": {"type": ["string", "null"], "format": "date"},
        "non_renewal": {"type": ["object", "null"], "properties": {"at": {"type": "string"},
                                                                   "party": {"enum": ["provider", "customer"]}}},
        "terminates_on": {"type": ["string", "null"], "format": "date"},
        "termination_reason": {"type": ["string", "null"]},
        "earliest_termination": {"type": ["string", "null"], "format": "date"},
        "renewal_of": {"type": ["object", "null"]}, "renewed_by": {"type": ["object", "null"]}}},
    "AmendmentInput": {"type": "object", "required": ["changes", "reason"], "properties": {
        "reason": {"type": "string", "maxLength": 2000},
        "changes": {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": {
            "items": {"type": "array", "items": {"type": "object"}}, "total": AMOUNT,
            "payment_plan": {"type": "object"}, "term_end": DAY,
            "clauses": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 2000}}}}}},
    "Amendment": {"type": "object", "properties": {
        "number": {"type": "integer"},
        "status": {"enum": ["proposed", "signing", "effective", "refused", "lapsed", "void"]},
        "status_title": {"type": "string"}, "party": {"enum": ["provider", "customer"]},
        "proposed_by": {"type": "string"}, "proposed_at": {"type": "string", "format": "date-time"},
        "reason": {"type": "string"}, "changes": {"type": "object"}, "before": {"type": ["object", "null"]},
        "working_days": {"type": "integer"}, "answer_due_at": {"type": "string", "format": "date-time"},
        "answer": {"enum": ["agreed", "refused", "deemed_agreed", None]}, "answered_by": {"type": ["string", "null"]},
        "answered_at": {"type": ["string", "null"]}, "answer_comment": {"type": "string"},
        "effective_at": {"type": ["string", "null"]}, "version": {"type": "integer"},
        "answering_party": {"enum": ["provider", "customer", None]},
        "signing_party": {"enum": ["provider", "customer", None]}, "signed_at": {"type": ["string", "null"]},
        "document": {"type": ["object", "null"], "properties": {"status": {"enum": ["preparing", "ready", "signed"]},
                                                                "sha256": {"type": ["string", "null"]}}},
        "task_id": {"type": ["string", "null"]}}},
    "EffectiveTerms": {"type": "object", "properties": {
        "amended": {"type": "boolean"}, "items": {"type": "array"}, "total": MONEY, "net_amount": MONEY,
        "tax_amount": MONEY, "payment_plan": {"type": "object"}, "schedule": {"type": "array"},
        "term": {"type": "object"}, "clauses": {"type": "object"},
        "history": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "title": {"type": "string"}, "before": {}, "after": {},
            "amendment": {"type": "integer"}, "proposed_by": {"type": "string"}, "answer": {"type": "string"},
            "answered_by": {"type": "string"}, "effective_at": {"type": ["string", "null"]}}}}}},
    "SavedFilter": {"type": "object", "required": ["id", "name", "query"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "query": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "contracts_url": {"type": "string"}}},
    "ContractPage": {"type": "object", "properties": {
        "items": {"type": "array", "items": REF("ContractSummary")},
        "total": {"type": "integer", "description": "how many match, counted up to 1,000 or to the end of this page"},
        "total_exact": {"type": "boolean", "description": "false: more than total match (shown as 1,000+)"},
        "limit": {"type": "integer"}, "offset": {"type": "integer"}}},
    "Contract": {"allOf": [REF("ContractSummary"), {"type": "object", "properties": {
        "net_amount": MONEY, "tax_amount": MONEY, "total_in_words": {"type": "string"},
        "tasks": {"type": "array", "items": REF("Task")},
        "letters": {"type": "array", "items": REF("Letter")},
        "lifecycle": REF("Lifecycle"),
        "versions": {"type": "array"}, "history": {"type": "array", "items": REF("Event")}, "data": {"type": "object"},
        "signatures": {"type": "array", "items": {"type": "object", "properties": {
            "role": {"type": "string"}, "field": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
            "issuer": {"type": "string"}, "subject": {"type": "string"},
            "method": {"enum": ["drawn", "typed", "seal", "account_name", "organisation_seal"]},
            "document_sha256": {"type": "string"}, "ip": {"type": "string"}, "signed_at": {"type": "string"}}}}}}]},
}
