/* The decision table page: dmn-js Modeler (global DmnJS, DMN 1.3). Save = validate + deploy a new version. */
(function () {
  "use strict";
  var app = document.getElementById("dmn-app");
  if (!app || !window.DmnJS) { return; }
  var T = JSON.parse(document.getElementById("modeler-i18n").textContent);
  var statusEl = document.getElementById("modeler-status"), errorsEl = document.getElementById("deploy-errors");
  var translated = { additionalModules: [window.qyEditorTranslate()] };  // per view: dmn-js drops common's modules
  var modeler = new window.DmnJS({ container: "#dmn-canvas", common: { keyboard: { bindTo: window } },
                                   drd: translated, decisionTable: translated, literalExpression: translated,
                                   boxedExpression: translated });
  var state = { version: null, dirty: false };
  window.qyDmnModeler = modeler;
  function status(text, kind) { statusEl.textContent = text; statusEl.className = kind || ""; }

  fetch(app.dataset.source, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    return modeler.importXML(data.dmn[app.dataset.filename]).then(function () {
      var table = modeler.getViews().filter(function (v) { return v.type === "decisionTable"; })[0];
      if (table) { return modeler.open(table); }
    }).then(function () {
      state.version = data.version;
      status(T.loaded.replace("{v}", data.version), "ok");
      var viewer = modeler.getActiveViewer();
      if (viewer) { viewer.on("elements.changed", function () { state.dirty = true; status(T.unsaved); }); }
    });
  }).catch(function (err) { status(String(err), "bad"); });

  document.getElementById("save-deploy").addEventListener("click", function () {
    status(T.saving);
    modeler.saveXML({ format: true }).then(function (result) {
      var dmn = {}; dmn[app.dataset.filename] = result.xml;
      return fetch(app.dataset.deploy, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": app.dataset.csrf },
        body: JSON.stringify({ dmn: dmn, base_version: state.version })
      });
    }).then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); }).then(function (res) {
      errorsEl.innerHTML = "";
      if (res.ok) {
        errorsEl.hidden = true; state.version = res.body.version; state.dirty = false; status(res.body.message, "ok"); return;
      }
      var p = document.createElement("p"); p.textContent = T.rejected + " " + (res.body.message || ""); errorsEl.appendChild(p);
      var ul = document.createElement("ul");
      Object.keys(res.body.fields || {}).forEach(function (id) {
        var li = document.createElement("li"); li.textContent = id + ": " + res.body.fields[id]; ul.appendChild(li);
      });
      errorsEl.appendChild(ul); errorsEl.hidden = false; status(res.body.message || "error", "bad");
    }).catch(function (err) { status(String(err), "bad"); });
  });
  window.addEventListener("beforeunload", function (e) { if (state.dirty) { e.preventDefault(); e.returnValue = ""; } });
})();
