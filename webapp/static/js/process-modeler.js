/* The BPMN editor page: bpmn-js Modeler (global BpmnJS) plus a small form for what SpiffWorkflow reads.
 *
 * No moddle descriptor is registered for spiffworkflow:* on purpose: bpmn-js then keeps every extension
 * element as a generic element and writes it back untouched; a partial descriptor would drop the others.
 * The form edits those generic elements directly (attributes as properties, text as $body).
 */
(function () {
  "use strict";

  /* The whole diagram if it can be read so, else readable size from its top left; never under the palette. */
  function readableZoom(canvas) {
    var PALETTE = 100, READABLE = 0.8;
    canvas.zoom("fit-viewport");
    var box = canvas.viewbox(), scale = Math.max(box.scale, READABLE);
    canvas.viewbox({ x: box.inner.x - PALETTE / scale, y: box.inner.y - 20 / scale,
                     width: box.outer.width / scale, height: box.outer.height / scale });
  }
  var SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var app = document.getElementById("modeler-app");
  if (!app || !window.BpmnJS) { return; }
  var T = JSON.parse(document.getElementById("modeler-i18n").textContent);
  var roleNames = JSON.parse(app.dataset.roles), roles = Object.keys(roleNames);  // code -> the role's name
  var statusEl = document.getElementById("modeler-status");
  var errorsEl = document.getElementById("deploy-errors");
  var panel = document.getElementById("properties");
  var modeler = new window.BpmnJS({ container: "#canvas", keyboard: { bindTo: document },
                                     additionalModules: [window.qyEditorTranslate()] });
  var modeling = modeler.get("modeling"), moddle = modeler.get("moddle"), registry = modeler.get("elementRegistry");
  var canvas = modeler.get("canvas");
  var state = { version: null, dirty: false, selected: null, errorIds: [] };
  window.qyModeler = modeler;  // for tests and the console

  function status(text, kind) { statusEl.textContent = text; statusEl.className = kind || ""; }
  function markDirty() { state.dirty = true; status(T.unsaved); }

  // --- generic spiffworkflow:* extension elements ------------------------------------------------
  function extValues(bo) { return (bo.extensionElements && bo.extensionElements.values) || []; }
  function findExt(bo, type) { return extValues(bo).filter(function (v) { return v.$type === type; })[0]; }
  function ensureExt(bo) {
    if (!bo.extensionElements) {
      bo.extensionElements = moddle.create("bpmn:ExtensionElements", { values: [] });
      bo.extensionElements.$parent = bo;
    }
    return bo.extensionElements;
  }
  function getProperty(bo, name) {
    var props = findExt(bo, "spiffworkflow:properties");
    var found = props && (props.$children || []).filter(function (c) { return c.name === name; })[0];
    return found ? (found.value || "") : "";
  }
  function setProperty(bo, name, value) {
    var props = findExt(bo, "spiffworkflow:properties");
    if (!props) {
      props = moddle.createAny("spiffworkflow:properties", SPIFF, { $children: [] });
      props.$parent = ensureExt(bo);
      ensureExt(bo).values.push(props);
    }
    props.$children = props.$children || [];
    var found = props.$children.filter(function (c) { return c.name === name; })[0];
    if (!found) {
      found = moddle.createAny("spiffworkflow:property", SPIFF, { name: name, value: "" });
      found.$parent = props;
      props.$children.push(found);
    }
    found.value = value;
  }
  function getText(bo, type) { var e = findExt(bo, type); return e ? (e.$body || "") : ""; }
  function setText(bo, type, value) {
    var e = findExt(bo, type);
    if (!e && !value) { return; }
    if (!e) {
      e = moddle.createAny(type, SPIFF, {});
      e.$parent = ensureExt(bo);
      ensureExt(bo).values.push(e);
    }
    if (value) { e.$body = value; } else { ensureExt(bo).values.splice(ensureExt(bo).values.indexOf(e), 1); }
  }
  function expr(body) { return body ? moddle.create("bpmn:FormalExpression", { body: body }) : undefined; }

  // --- multi-instance (会签/或签) ------------------------------------------------------------------------
  // bpmn-moddle reads loopDataInputRef as a reference to an element and drops it when none has that id, as with
  // SpiffWorkflow's task-data variable: a stand-in element with the variable as its id writes it back unchanged.
  var MODES = { all: 'decision == "return"', any: 'decision in ("approve", "return")' };
  function collectionRef(name) { return name ? moddle.create("bpmn:ItemAwareElement", { id: name }) : undefined; }
  function restoreCollections(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    Array.prototype.forEach.call(doc.getElementsByTagNameNS("*", "multiInstanceLoopCharacteristics"), function (loop) {
      var ref = loop.getElementsByTagNameNS("*", "loopDataInputRef")[0], owner = registry.get(loop.parentNode.getAttribute("id"));
      if (ref && owner && owner.businessObject.loopCharacteristics) {
        owner.businessObject.loopCharacteristics.loopDataInputRef = collectionRef(ref.textContent.trim());
      }
    });
  }
  function loopOf(bo) {
    var loop = bo.loopCharacteristics;
    return loop && loop.$type === "bpmn:MultiInstanceLoopCharacteristics" ? loop : null;
  }
  function modeOf(loop) {
    if (!loop) { return ""; }
    var condition = loop.completionCondition ? loop.completionCondition.body : "";
    return Object.keys(MODES).filter(function (m) { return MODES[m] === condition && !loop.isSequential; })[0] || "custom";
  }
  function renderLoop(element, bo) {
    var fs = document.createElement("fieldset"), lg = document.createElement("legend");
    lg.textContent = T.approvers; fs.appendChild(lg); panel.appendChild(fs);
    var loop = loopOf(bo), mode = modeOf(loop);
    var modes = [["", T.mode_single], ["all", T.mode_all], ["any", T.mode_any]].concat(mode === "custom" ? [["custom", T.mode_custom]] : []);
    add(fs, field("prop-mi-mode", T.mode, mode, "select", modes), function (v) {
      if (!v) { modeling.updateProperties(element, { loopCharacteristics: undefined }); }
      else if (v !== "custom") {
        var next = loop || moddle.create("bpmn:MultiInstanceLoopCharacteristics", {
          loopDataInputRef: collectionRef("approvers"),
          inputDataItem: moddle.create("bpmn:DataInput", { id: bo.id + "_approver", name: bo.id + "_approver" }) });
        next.isSequential = false;
        next.completionCondition = expr(MODES[v]);
        modeling.updateProperties(element, { loopCharacteristics: next });
      }
      markDirty(); render(element);
    });
    if (!loop) { return; }
    add(fs, field("prop-mi-collection", T.collection, loop.loopDataInputRef ? loop.loopDataInputRef.id : ""), function (v) {
      modeling.updateModdleProperties(element, loop, { loopDataInputRef: collectionRef(v.trim()) }); markDirty();
    });
    add(fs, field("prop-mi-item", T.item, loop.inputDataItem ? loop.inputDataItem.id : ""), function (v) {
      var name = v.trim();
      modeling.updateModdleProperties(element, loop, {
        inputDataItem: name ? moddle.create("bpmn:DataInput", { id: name, name: name }) : undefined }); markDirty();
    });
    add(fs, field("prop-mi-condition", T.completion, loop.completionCondition ? loop.completionCondition.body : "", "textarea"),
        function (v) { modeling.updateModdleProperties(element, loop, { completionCondition: expr(v.trim()) }); markDirty(); render(element); });
  }

  // --- the form ---------------------------------------------------------------------------------
  function field(id, label, value, kind, options) {
    var wrap = document.createElement("div");
    var l = document.createElement("label");
    l.htmlFor = id; l.textContent = label;
    var input;
    if (kind === "textarea") { input = document.createElement("textarea"); input.value = value || ""; }
    else if (kind === "select") {
      input = document.createElement("select");
      options.forEach(function (o) {
        var opt = document.createElement("option");
        opt.value = o[0]; opt.textContent = o[1]; opt.selected = o[0] === value; input.appendChild(opt);
      });
    } else { input = document.createElement("input"); input.type = "text"; input.value = value || ""; }
    input.id = id;
    wrap.appendChild(l); wrap.appendChild(input);
    return { wrap: wrap, input: input };
  }
  function add(parent, f, onchange) {
    parent.appendChild(f.wrap);
    f.input.addEventListener("change", function () { onchange(f.input.value); });
    return f.input;
  }

  function render(element) {
    panel.innerHTML = "";
    state.selected = element;
    if (!element || element.type === "bpmn:Process" || element.type === "label") {
      var p = document.createElement("p"); p.className = "muted"; p.textContent = T.select; panel.appendChild(p); return;
    }
    var bo = element.businessObject, type = element.type.replace("bpmn:", "");
    var h = document.createElement("h3"); h.textContent = (T.types || {})[type] || type; panel.appendChild(h);
    var id = field("prop-id", T.id, bo.id); id.input.readOnly = true; panel.appendChild(id.wrap);
    if (type === "Lane") {
      var opts = roles.map(function (r) { return [r, roleNames[r] + "（" + r + "）"]; });
      if (roles.indexOf(bo.name || "") < 0) { opts.unshift([bo.name || "", bo.name || "—"]); }
      add(panel, field("prop-lane", T.lane_role, bo.name || "", "select", opts),
          function (v) { modeling.updateLabel(element, v); markDirty(); });
      return;
    }
    add(panel, field("prop-name", T.name, bo.name || ""), function (v) { modeling.updateLabel(element, v); markDirty(); });
    if (type === "SequenceFlow") {
      add(panel, field("prop-condition", T.condition, bo.conditionExpression ? bo.conditionExpression.body : "", "textarea"),
          function (v) { modeling.updateProperties(element, { conditionExpression: expr(v.trim()) }); markDirty(); });
    }
    if (/Gateway$/.test(type) && element.outgoing.length) {
      var flows = [["", "—"]].concat(element.outgoing.map(function (c) {
        return [c.id, (c.businessObject.name || c.id) + " → " + (c.target.businessObject.name || c.target.id)];
      }));
      add(panel, field("prop-default", T.default_flow, bo["default"] ? bo["default"].id : "", "select", flows), function (v) {
        modeling.updateProperties(element, { "default": v ? registry.get(v).businessObject : undefined }); markDirty();
      });
    }
    if (type === "ScriptTask") {
      add(panel, field("prop-script", T.script, bo.script || "", "textarea"),
          function (v) { modeling.updateProperties(element, { scriptFormat: "python", script: v }); markDirty(); });
    }
    (bo.eventDefinitions || []).forEach(function (def) {
      if (def.$type !== "bpmn:TimerEventDefinition") { return; }
      var kind = def.timeDate ? "timeDate" : def.timeCycle ? "timeCycle" : "timeDuration";
      var kindInput = add(panel, field("prop-timer-kind", T.timer_kind, kind, "select",
        [["timeDuration", "timeDuration"], ["timeDate", "timeDate"], ["timeCycle", "timeCycle"]]), function () { apply(); });
      var valueInput = add(panel, field("prop-timer", T.timer, def[kind] ? def[kind].body : ""), function () { apply(); });
      function apply() {
        var props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
        props[kindInput.value] = expr(valueInput.value.trim());
        modeling.updateModdleProperties(element, def, props); markDirty();
      }
    });
    if (type === "UserTask" || type === "ManualTask") {
      var fs = document.createElement("fieldset"), lg = document.createElement("legend");
      lg.textContent = T.task_form; fs.appendChild(lg); panel.appendChild(fs);
      [["decisions", T.decisions], ["comment_required", T.comment_required], ["due_in", T.due_in]].forEach(function (p) {
        add(fs, field("prop-" + p[0].replace("_", "-"), p[1], getProperty(bo, p[0])),
            function (v) { setProperty(bo, p[0], v.trim()); markDirty(); });
      });
      if (type === "UserTask") { renderLoop(element, bo); }
    }
    if (type === "BusinessRuleTask") {
      add(panel, field("prop-decision-id", T.decision_id, getText(bo, "spiffworkflow:calledDecisionId")),
          function (v) { setText(bo, "spiffworkflow:calledDecisionId", v.trim()); markDirty(); });
    }
    if (/Task$/.test(type) && type !== "ScriptTask") {
      add(panel, field("prop-pre-script", T.pre_script, getText(bo, "spiffworkflow:preScript"), "textarea"),
          function (v) { setText(bo, "spiffworkflow:preScript", v); markDirty(); });
      add(panel, field("prop-post-script", T.post_script, getText(bo, "spiffworkflow:postScript"), "textarea"),
          function (v) { setText(bo, "spiffworkflow:postScript", v); markDirty(); });
    }
  }

  modeler.on("selection.changed", function (e) { render(e.newSelection.length === 1 ? e.newSelection[0] : null); });
  modeler.on("element.changed", function (e) {
    if (state.selected && e.element === state.selected && !panel.contains(document.activeElement)) { render(e.element); }
  });
  modeler.on("commandStack.changed", function () { if (state.version !== null) { markDirty(); } });

  // --- load, save, download ------------------------------------------------------------------------
  function clearErrors() {
    state.errorIds.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, "qy-error"); } });
    state.errorIds = []; errorsEl.hidden = true; errorsEl.innerHTML = "";
  }
  function showErrors(body) {
    clearErrors();
    var p = document.createElement("p"); p.textContent = T.rejected + " " + (body.message || ""); errorsEl.appendChild(p);
    var ul = document.createElement("ul");
    Object.keys(body.fields || {}).forEach(function (id) {
      var li = document.createElement("li"); li.textContent = id + ": " + body.fields[id]; li.dataset.elementId = id;
      if (registry.get(id)) {
        canvas.addMarker(id, "qy-error"); state.errorIds.push(id);
        li.addEventListener("click", function () { modeler.get("selection").select(registry.get(id)); });
      }
      ul.appendChild(li);
    });
    errorsEl.appendChild(ul); errorsEl.hidden = false;
  }

  fetch(app.dataset.source, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    return modeler.importXML(data.bpmn_xml).then(function () {
      restoreCollections(data.bpmn_xml);
      state.version = data.version; state.dirty = false;
      readableZoom(canvas);
      status(T.loaded.replace("{v}", data.version), "ok");
    });
  }).catch(function (err) { status(String(err), "bad"); });

  document.getElementById("save-deploy").addEventListener("click", function () {
    if (document.activeElement && panel.contains(document.activeElement)) { document.activeElement.blur(); }
    status(T.saving);
    modeler.saveXML({ format: true }).then(function (result) {
      return fetch(app.dataset.deploy, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": app.dataset.csrf },
        body: JSON.stringify({ bpmn_xml: result.xml, base_version: state.version })
      });
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); }).then(function (res) {
      if (res.ok) {
        clearErrors(); state.version = res.body.version; state.dirty = false; status(res.body.message, "ok");
      } else {
        showErrors(res.body); status(res.body.message || "error", "bad");
      }
    }).catch(function (err) { status(String(err), "bad"); });
  });

  document.getElementById("download-xml").addEventListener("click", function () {
    modeler.saveXML({ format: true }).then(function (result) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([result.xml], { type: "application/xml" }));
      a.download = "process.bpmn"; a.click();
    });
  });
  window.addEventListener("beforeunload", function (e) { if (state.dirty) { e.preventDefault(); e.returnValue = ""; } });
})();
