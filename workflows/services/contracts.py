"""Contracts: drafts with immutable versions, numbering, and their approval process.

A contract's status follows its process: while a user task is open the status names
that step (by the task's lane); when the process ends, or waits on a timer after the
diagram set it (the term's timers after activation), the ``outcome`` variable
(``active``, ``declined``, ``expired``, ``seal_refused``, ``terminated``, ``ended``) becomes the status.

This is the contract domain: rows, versions, numbers, the figures the process routes on. Who may do what with a
contract, and the orchestration of a use case, are the application services' (``drafting``, ``approval``,
``signing``).
"""
import json
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from ..clock import china_time, utcnow
from ..contracts.lint import LintContext, lint
from ..contracts.numbers import contract_number, number_fields, number_prefix
from ..contracts.catalog import TEMPLATES
from ..contracts.validation import PROVIDER_FIXED, merge_patch, normalize_draft, project_name_from_title
from ..db import Statement
from ..errors import Conflict, NotFound, ValidationFailed
from ..fingerprints import canonical_json, sha256_hex
from ..models import Contract, ContractVersion, HumanTask, NumberSequence, ProcessInstance, Provider

PROCESS_KEY = "contract_approval"
STATUS_BY_ROLE = {
    "sales": "draft", "legal": "legal_review", "finance": "finance_review",
    "customer": "awaiting_customer", "provider": "countersigning",
}
STATUS_TITLES = {
    "draft": "草稿（客户经理）", "legal_review": "法务审核中", "finance_review": "财务审核中",
    "awaiting_customer": "待客户签署", "countersigning": "待乙方会签盖章", "active": "已生效",
    "declined": "客户已拒签", "expired": "签署邀请已过期", "seal_refused": "不予用印（未生效）", "error": "流程出错",
    "terminated": "已提前终止", "ended": "已期满终止",
}
FINANCE_THRESHOLD = Decimal("500000")
CONTRACT_BRIEF = Statement("SELECT id, number, status, current_version FROM contract WHERE id = :id")
INSTANCE_DEFINITION = Statement("SELECT definition_id FROM process_instance WHERE business_key = :key "
                                "ORDER BY id DESC LIMIT 1")
VERSION_LIST = Statement("SELECT version, sha256, created_by, created_at FROM contract_version WHERE contract_id = :id "
                         "ORDER BY version", columns=[ContractVersion.__table__.c[name] for name in (
                             "version", "sha256", "created_by", "created_at")])
FOLLOW_STATUS = Statement("UPDATE contract SET status = :status, updated_at = :now WHERE id = :id AND status <> :status",
                          now=Contract.__table__.c.updated_at)


class ContractService:
    def __init__(self, runtime, templates, history):
        self.runtime = runtime
        self.templates = templates
        self.history = history

    # --- providers -----------------------------------------------------------
    def providers(self, session):
        """Every provider profile (乙方 branch), the default one first: what a new draft may be made for."""
        return list(session.exec(select(Provider).order_by(Provider.is_default.desc(), Provider.code)))

    def provider_profile(self, session, code):
        provider = session.exec(select(Provider).where(Provider.code == code).limit(1)).first()
        if provider is None:
            raise NotFound(f"no provider profile {code!r}")
        return provider

    def default_provider(self, session, branch=""):
        """The provider of a new draft that names none: the account manager's branch, else the only profile, else the
        one marked default."""
        profiles = self.providers(session)
        chosen = next((p for p in profiles if branch and p.code == branch), None)
        if chosen is None and len(profiles) == 1:
            chosen = profiles[0]
        chosen = chosen or next((p for p in profiles if p.is_default), None)
        if chosen is None:
            raise Conflict("no default provider profile is configured (run `flask --app wsgi demo seed` or add one)")
        return chosen

    # --- drafting --------------------------------------------------------------
    def draft(self, session, payload, branch="", contract=None):
        """A draft checked and normalized against its provider profile: (provider, data), nothing written.

        A new draft is made for the provider it names (``provider``: a profile's code), by default the account
        manager's ``branch``; a contract's draft for the provider its number was taken under. Naming an unknown
        provider, or another than the contract's, is a field error reported with the draft's others."""
        if not isinstance(payload, dict):
            raise ValidationFailed("the contract must be a JSON object", {"": "expected an object"})
        code = payload.get("provider")
        named = code.strip() if isinstance(code, str) else ""
        if contract is not None:
            provider = self.provider_profile(session, contract.provider_code)
            changed = PROVIDER_FIXED if named and named != provider.code else None
            return provider, normalize_draft(payload, json.loads(provider.profile_json), changed)
        # a code that names no profile is checked against the default one, which the validator reports as unknown
        provider = next((p for p in self.providers(session) if p.code == named), None) if named else None
        provider = provider or self.default_provider(session, branch)
        return provider, normalize_draft(payload, json.loads(provider.profile_json))

    def current_draft(self, session, contract):
        """The current version as the draft to revise: without what is computed (figures) or copied from the profile
        (the provider), and with what versions written before a field existed lack: a technical service's project
        name, from its title."""
        data = self.version_data(session, contract.id, contract.current_version)
        draft = {key: value for key, value in data.items() if key not in ("figures", "provider")}
        if TEMPLATES[contract.template]["names_project"] and "project_name" not in draft:
            draft["project_name"] = project_name_from_title(draft["title"])
        return draft

    def create(self, session, provider, data, number, user):
        """A new contract and its version 1, under a number taken before (``take_number``); the process is started by
        the caller, once the version is complete."""
        contract = Contract(
            number=number, template=data["template"], title=data["title"],
            provider_code=provider.code, customer_name=data["customer"]["name"],
            customer_credit_code=data["customer"].get("credit_code") or "", total=Decimal(data["figures"]["total"]),
            service_types=",".join(data["service_types"]), created_by=user.username,
            template_version=self.templates.latest_version(session, data["template"]) or 1,
        )
        session.add(contract)
        session.flush()
        version = self._add_version(session, contract, 1, data, user)
        self.history.record(session, "contract_created", user.username, contract_id=contract.id,
                            details={"number": contract.number, "version": 1})
        return contract, version

    def start_process(self, session, contract, user):
        self.runtime.start(session, PROCESS_KEY, contract.id, contract.id, {"contract_id": contract.id}, user.username)

    def update(self, session, contract_id, patch, user):
        """A new immutable version of a draft that is with sales. Returns (contract, the version row)."""
        contract = self.get(session, contract_id)
        if contract.status != "draft":
            raise Conflict(f"the contract can be edited only while it is a draft with sales (it is {contract.status})")
        if not isinstance(patch, dict) or not patch:
            raise ValidationFailed("send the fields to change as a JSON object", {"": "expected a non-empty object"})
        _provider, data = self.draft(session, merge_patch(self.current_draft(session, contract), patch), contract=contract)
        if data["template"] != contract.template:
            raise ValidationFailed("the template of a contract cannot change", {"template": "cannot change"})
        version = contract.current_version + 1
        row = self._add_version(session, contract, version, data, user)
        contract.title, contract.customer_name = data["title"], data["customer"]["name"]
        contract.customer_credit_code = data["customer"].get("credit_code") or ""
        contract.total, contract.service_types = Decimal(data["figures"]["total"]), ",".join(data["service_types"])
        contract.current_version, contract.updated_at = version, utcnow()
        self.history.record(session, "contract_revised", user.username, contract_id=contract.id,
                            details={"version": version, "fields": sorted(patch)})
        try:
            session.flush()
        except IntegrityError as exc:
            raise Conflict("the draft was revised by someone else at the same moment; reload and try again") from exc
        return contract, row

    def process_variables(self, session, contract):
        """What the diagram routes on, from the contract's current version: handed to the process with every decision,
        so no path (the submit endpoint, the task API, a page) can route on stale or missing figures."""
        data = self.version_data(session, contract.id, contract.current_version)
        figures = data["figures"]
        return {"total": Decimal(figures["total"]), "has_discount": figures["has_discount"],
                "installments_after_term": figures["installments_after_term"], "service_types": data["service_types"],
                "branch": contract.provider_code, "contract_version": contract.current_version}

    def open_task(self, session, contract_id, role):
        """The contract's open task of a role in its own process (the draft with sales, the customer's signature...),
        or None: an amendment's tasks (its own process, ``<id>:amendment:<n>``) are the amendment's to find."""
        return session.exec(select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(
            HumanTask.contract_id == contract_id, HumanTask.role == role, HumanTask.state.in_(("open", "suspended")),
            ProcessInstance.business_key == str(contract_id))).first()

    def with_open_task(self, session, contract_ids, role):
        """Which of ``contract_ids`` have an open task of a role: one query for a list of contracts."""
        if not contract_ids:
            return set()
        return set(session.exec(select(HumanTask.contract_id).where(
            HumanTask.contract_id.in_(contract_ids), HumanTask.role == role,
            HumanTask.state.in_(("open", "suspended")))))

    # --- reading ---------------------------------------------------------------
    def get(self, session, contract_id):
        contract = session.get(Contract, contract_id) if isinstance(contract_id, int) else None
        if contract is None:
            raise NotFound(f"no contract {contract_id}")
        return contract

    def search(self, session, status=None, customer=None, number=None, limit=50, offset=0):
        """Newest first; filters match a status exactly and a customer or number by substring."""
        query = select(Contract)
        if status:
            query = query.where(Contract.status == status)
        if customer:
            query = query.where(Contract.customer_name.contains(customer, autoescape=True))
        if number:
            query = query.where(Contract.number.contains(number, autoescape=True))
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        items = session.exec(query.order_by(Contract.created_at.desc(), Contract.id.desc()).limit(limit).offset(offset))
        return list(items), total

    def brief(self, session, contract_id):
        """Number, status and version, for answers that follow a decision (one cheap statement)."""
        row = CONTRACT_BRIEF.first(session, {"id": contract_id})
        if row is None:
            raise NotFound(f"no contract {contract_id}")
        return {"id": row.id, "number": row.number, "status": row.status,
                "status_title": STATUS_TITLES.get(row.status, row.status), "version": row.current_version}

    def numbers(self, session, contract_ids):
        """Contract numbers by id, for lists of other things that name contracts (e.g. the background jobs page)."""
        ids = {i for i in contract_ids if i is not None}
        if not ids:
            return {}
        return dict(session.exec(select(Contract.id, Contract.number).where(Contract.id.in_(ids))).all())

    def version(self, session, contract_id, version):
        """A version row; read once per transaction (versions never change, and a step asks for its data, its pinned
        letters and its figures)."""
        known = session.info.setdefault("contract_versions", {})
        row = known.get((contract_id, version))
        if row is None:
            row = session.exec(select(ContractVersion).where(ContractVersion.contract_id == contract_id,
                                                             ContractVersion.version == version)).first()
            if row is None:
                raise NotFound(f"contract {contract_id} has no version {version}")
            known[(contract_id, version)] = row
        return row

    def version_data(self, session, contract_id, version):
        return json.loads(self.version(session, contract_id, version).data_json)

    def versions(self, session, contract_id):
        query = select(ContractVersion).where(ContractVersion.contract_id == contract_id).order_by(ContractVersion.version)
        return list(session.exec(query))

    def version_list(self, session, contract_id):
        """Each version's number, SHA-256, author and time, oldest first (not its data: a listing)."""
        return VERSION_LIST.rows(session, {"id": contract_id})

    def last_seen_version(self, session, contract_id, role):
        """The version that was current when ``role`` last decided on this contract (None if it never did)."""
        decided = session.exec(select(HumanTask.completed_at).where(
            HumanTask.contract_id == contract_id, HumanTask.role == role, HumanTask.state == "completed")
            .order_by(HumanTask.completed_at.desc()).limit(1)).first()
        if decided is None:
            return None
        return session.exec(select(func.max(ContractVersion.version)).where(
            ContractVersion.contract_id == contract_id, ContractVersion.created_at <= decided)).one()

    def definition_id(self, session, contract_id):
        """The process definition the contract's (newest) instance runs, or None before it has one."""
        return INSTANCE_DEFINITION.scalar(session, {"key": str(contract_id)})

    def instance(self, session, contract_id):
        query = select(ProcessInstance).where(ProcessInstance.business_key == str(contract_id)).order_by(ProcessInstance.id.desc())
        return session.exec(query.limit(1)).first()

    def lint(self, data, letter_titles):
        """The reviewers' hints on a version's data, knowing the letters its services mandate."""
        return lint(data, LintContext(finance_threshold=FINANCE_THRESHOLD, mandated_letters=list(letter_titles),
                                      today=china_time(utcnow()).date()))

    # --- internals ---------------------------------------------------------------
    def _add_version(self, session, contract, version, data, user):
        text = canonical_json(data)
        row = ContractVersion(contract_id=contract.id, version=version, data_json=text,
                              sha256=sha256_hex(text), created_by=user.username)
        session.add(row)
        return row

    def take_number(self, session, provider, data):
        """The next number of the draft's prefix, from a per-prefix counter; the month in the number is China's.

        The caller runs this in a write transaction of its own, committed before the contract is written: the counter
        row is locked from the increment to that commit only, so drafts are created in parallel rather than one after
        the other. Numbers never repeat (the increment is atomic), but they are not gap-free: a number taken for a
        create that then fails is not handed out again (as with database sequences)."""
        fields = number_fields(json.loads(provider.profile_json), data["template"], china_time(utcnow()).date())
        prefix = number_prefix(provider.number_pattern, fields)
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (insert(NumberSequence).values(prefix=prefix, last_value=1)
                     .on_conflict_do_update(index_elements=["prefix"], set_={"last_value": NumberSequence.last_value + 1})
                     .returning(NumberSequence.last_value))
        seq = session.execute(statement).scalar_one()
        return contract_number(provider.number_pattern, fields, seq)

    def follow_process(self, session, step):
        """Step listener: keep the contract's status in step with its own process."""
        if not step.of_contract:
            return
        if step.completed:
            status = _outcome(step.workflow) or "completed"
        else:
            roles = [task.task_spec.lane for task in step.ready]
            status = next((STATUS_BY_ROLE[r] for r in roles if r in STATUS_BY_ROLE), None)
            if status is None:  # e.g. active, waiting on the term's timers: the outcome the diagram set
                status = next((t.data["outcome"] for t in step.timers if t.data.get("outcome")), None)
        if status is None:
            return
        FOLLOW_STATUS.execute(session, {"id": step.contract_id, "status": status, "now": utcnow()})


def _outcome(workflow):
    """The ``outcome`` the diagram's last script task set (the end event's data becomes the workflow's)."""
    return workflow.data.get("outcome")
