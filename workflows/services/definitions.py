"""Repository of process definitions: deploy a BPMN file (with the DMN tables it calls), list versions."""
import hashlib
import json
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.orm.util import identity_key
from sqlmodel import select

from ..db import Statement
from ..errors import InvalidDefinition, NotFound
from ..models import ProcessDefinition
from ..engine.bpmn_checks import check_dmn, check_process, parse_safe_xml
from ..engine.spiff import parse_process, spec_to_json
from .accounts import ROLES

MAX_FILE_BYTES = 2_000_000
DMN_DECISION = "{https://www.omg.org/spec/DMN/20191111/MODEL/}decision"
LATEST_VERSION = Statement("SELECT id FROM process_definition WHERE key = :key ORDER BY version DESC LIMIT 1")


def definition_digest(bpmn_xml: bytes, dmn_files: dict) -> str:
    digest = hashlib.sha256(bpmn_xml)
    for name in sorted(dmn_files):
        digest.update(b"\0" + name.encode() + b"\0" + dmn_files[name])
    return digest.hexdigest()


def decisions_in(dmn_xml: bytes):
    return [node.get("id") for node in parse_safe_xml(dmn_xml).iter(DMN_DECISION)]


class RepositoryService:
    def __init__(self):
        self._by_id = {}

    def deploy(self, session, bpmn_xml: bytes, dmn_files: dict, deployed_by: str, expected_key=None):
        """Validate and store a new version. Returns (definition, created); identical XML creates nothing.

        ``expected_key``: the process the caller edits; a diagram whose process id differs is refused.
        """
        for name, data in [("process.bpmn", bpmn_xml), *dmn_files.items()]:
            if len(data) > MAX_FILE_BYTES:
                raise InvalidDefinition(f"{name} is larger than {MAX_FILE_BYTES} bytes")
        problems = check_process(bpmn_xml, set(ROLES))
        for name, data in sorted(dmn_files.items()):
            problems += check_dmn(data)
        if problems:
            raise InvalidDefinition(
                "; ".join(f"{p.element_id} ({p.element_name}): {p.message}" if p.element_name else f"{p.element_id}: {p.message}"
                          for p in problems),
                {p.element_id: p.message for p in problems},
            )
        try:
            key, name, spec, subprocess_specs = parse_process(bpmn_xml, dmn_files)
        except InvalidDefinition:
            raise
        except Exception as exc:  # the parser's own bugs on odd input must not become a 500
            raise InvalidDefinition(f"SpiffWorkflow could not parse the diagram: {type(exc).__name__}: {exc}") from exc
        if expected_key is not None and key != expected_key:
            raise InvalidDefinition(f"the diagram's process id is {key!r}, not {expected_key!r}: keep the process id",
                                    {key: f"process id must stay {expected_key!r}"})
        sha256 = definition_digest(bpmn_xml, dmn_files)
        latest = self.latest(session, key, required=False)
        if latest is not None and latest.sha256 == sha256:
            return latest, False
        definition = ProcessDefinition(
            key=key, version=(latest.version + 1) if latest else 1, name=name, sha256=sha256,
            bpmn_xml=bpmn_xml.decode("utf-8"),
            dmn_xml=json.dumps({n: d.decode("utf-8") for n, d in dmn_files.items()}, ensure_ascii=False),
            spec_json=spec_to_json(spec, subprocess_specs), deployed_by=deployed_by,
        )
        session.add(definition)
        session.flush()
        return definition, True

    def deploy_file(self, session, path, deployed_by):
        """Deploy a .bpmn file with the .dmn files beside it that define the decisions it calls."""
        path = Path(path)
        bpmn_xml = path.read_bytes()
        needed = {node.text.strip() for node in parse_safe_xml(bpmn_xml).iter("{*}calledDecisionId") if node.text}
        dmn_files = {}
        for candidate in sorted(path.parent.glob("*.dmn")):
            data = candidate.read_bytes()
            if needed & set(decisions_in(data)):
                dmn_files[candidate.name] = data
        return self.deploy(session, bpmn_xml, dmn_files, deployed_by)

    def latest(self, session, key, required=True):
        """The newest version of a process (every start asks: one indexed lookup, the row itself from the cache)."""
        definition_id = LATEST_VERSION.scalar(session, {"key": key})
        if definition_id is None:
            if required:
                raise NotFound(f"no process definition {key!r} is deployed")
            return None
        return self.get(session, definition_id)

    def get(self, session, definition_id):
        """Definitions never change once stored, so they are cached by id.

        One this session deployed itself is not cached: its transaction may still roll back, and SQLite would
        give the id to the next definition.
        """
        definition = self._by_id.get(definition_id)
        if definition is None:
            own = session.identity_map.get(identity_key(ProcessDefinition, definition_id))
            if own is not None:
                return own
            definition = session.get(ProcessDefinition, definition_id)
            if definition is None:
                raise NotFound(f"no process definition {definition_id}")
            session.expunge(definition)
            self._by_id[definition_id] = definition
        return definition

    def version(self, session, key, number):
        definition = session.exec(select(ProcessDefinition).where(ProcessDefinition.key == key,
                                                                  ProcessDefinition.version == number)).first()
        if definition is None:
            raise NotFound(f"process {key!r} has no version {number}")
        return definition

    def redeploy(self, session, key, number, deployed_by):
        """Deploy an older version's files again as the newest version (nothing happens if it is the newest)."""
        old = self.version(session, key, number)
        return self.deploy(session, old.bpmn_xml.encode("utf-8"),
                           {n: d.encode("utf-8") for n, d in json.loads(old.dmn_xml or "{}").items()},
                           deployed_by, expected_key=key)

    def versions(self, session, key=None):
        query = select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version)
        if key:
            query = query.where(ProcessDefinition.key == key)
        return list(session.exec(query))

    def count(self, session):
        return session.exec(select(func.count()).select_from(ProcessDefinition)).one()


def definition_as_dict(definition):
    return {
        "id": definition.id, "key": definition.key, "version": definition.version, "name": definition.name,
        "sha256": definition.sha256, "deployed_by": definition.deployed_by,
        "deployed_at": definition.deployed_at.isoformat(),
    }
