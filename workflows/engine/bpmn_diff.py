"""Element-level differences between two BPMN documents: tasks, events, gateways, flows, lanes.

A pure function over two XML documents (no database, no SpiffWorkflow): what an admin sees
before deploying or redeploying, and what the version page shows between any two versions.
Diagram layout (BPMNDI) is ignored: moving a shape is not a change of the process.
"""
from dataclasses import dataclass, field

from lxml import etree

from .bpmn_checks import BPMN, SPIFF, _FLOW_NODES, parse_safe_xml

_TIMER_FIELDS = ("timeDuration", "timeDate", "timeCycle")


@dataclass
class Change:
    element_id: str
    kind: str  # the BPMN element, e.g. userTask, sequenceFlow, lane
    change: str  # added, removed, changed
    name: str = ""
    fields: dict = field(default_factory=dict)  # field -> (old, new); for added/removed the element's own values

    def as_dict(self):
        return {"id": self.element_id, "kind": self.kind, "change": self.change, "name": self.name,
                "fields": {k: list(v) for k, v in self.fields.items()}}


def _text(element, path):
    found = element.find(path)
    return (found.text or "").strip() if found is not None else ""


def _lanes_of(process):
    lane_of = {}
    for lane in process.iter(BPMN + "lane"):
        for ref in lane.iterchildren(BPMN + "flowNodeRef"):
            lane_of[(ref.text or "").strip()] = lane.get("name") or ""
    return lane_of


def _describe(element, lane_of):
    """The facts of one element that matter to how the process runs (and its name)."""
    tag = etree.QName(element).localname
    facts = {"name": (element.get("name") or "").strip()}
    if tag == "sequenceFlow":
        facts.update(source=element.get("sourceRef") or "", target=element.get("targetRef") or "",
                     condition=_text(element, BPMN + "conditionExpression"))
    elif tag == "lane":
        facts["tasks"] = ", ".join(sorted((r.text or "").strip() for r in element.iterchildren(BPMN + "flowNodeRef")))
    else:
        facts["lane"] = lane_of.get(element.get("id"), "")
        if tag == "scriptTask":
            facts["script"] = _text(element, BPMN + "script")
        if tag == "boundaryEvent":
            facts["attached_to"] = element.get("attachedToRef") or ""
            facts["interrupting"] = element.get("cancelActivity", "true")
        if element.get("default"):
            facts["default_flow"] = element.get("default")
        extensions = element.find(BPMN + "extensionElements")
        if extensions is not None:
            for prop in extensions.iter(SPIFF + "property"):
                facts[f"property {prop.get('name')}"] = prop.get("value") or ""
            for child in ("calledDecisionId", "preScript", "postScript"):
                value = _text(extensions, SPIFF + child)
                if value:
                    facts[child] = value
        for timer in element.iterchildren(BPMN + "timerEventDefinition"):
            for name in _TIMER_FIELDS:
                value = _text(timer, BPMN + name)
                if value:
                    facts[name] = value
        definitions = sorted(etree.QName(c).localname for c in element
                             if isinstance(c.tag, str) and etree.QName(c).localname.endswith("EventDefinition"))
        if definitions:
            facts["event"] = ", ".join(definitions)
    return {k: v for k, v in facts.items() if v not in ("", None)}


def elements(bpmn_xml):
    """{id: (kind, facts)} for every flow node, sequence flow and lane of every process in the document."""
    root = parse_safe_xml(bpmn_xml)
    found = {}
    for process in root.iter(BPMN + "process"):
        lane_of = _lanes_of(process)
        for element in process.iter(etree.Element):
            if not element.tag.startswith(BPMN) or not element.get("id"):
                continue
            tag = etree.QName(element).localname
            if tag in _FLOW_NODES or tag in ("sequenceFlow", "lane"):
                found[element.get("id")] = (tag, _describe(element, lane_of))
    return found


_ORDER = {"removed": 0, "changed": 1, "added": 2}


def diff(old_xml, new_xml):
    """Changes from ``old_xml`` to ``new_xml``, removed first, then changed, then added; each sorted by id."""
    old, new = elements(old_xml), elements(new_xml)
    changes = []
    for element_id in old.keys() - new.keys():
        kind, facts = old[element_id]
        changes.append(Change(element_id, kind, "removed", facts.get("name", ""),
                              {k: (v, None) for k, v in facts.items()}))
    for element_id in new.keys() - old.keys():
        kind, facts = new[element_id]
        changes.append(Change(element_id, kind, "added", facts.get("name", ""),
                              {k: (None, v) for k, v in facts.items()}))
    for element_id in old.keys() & new.keys():
        (old_kind, before), (new_kind, after) = old[element_id], new[element_id]
        fields = {k: (before.get(k), after.get(k)) for k in sorted(before.keys() | after.keys())
                  if before.get(k) != after.get(k)}
        if old_kind != new_kind:
            fields["type"] = (old_kind, new_kind)
        if fields:
            changes.append(Change(element_id, new_kind, "changed", after.get("name") or before.get("name", ""), fields))
    changes.sort(key=lambda c: (_ORDER[c.change], c.element_id))
    return changes
