/* The process card on a contract page: bpmn-js NavigatedViewer (global BpmnJS) with what happened marked. */
(function () {
  "use strict";
  var el = document.getElementById("process-viewer");
  if (!el || !window.BpmnJS) { return; }
  var viewer = new window.BpmnJS({ container: el });
  var roles = JSON.parse(el.dataset.roles || "{}");
  /* A lane's name is the role code the engine assigns by ("legal"); readers see the role's name ("法务"). Read-only
   * page, so the shown copy of the XML may differ from the deployed one. */
  function withRoleNames(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    Array.prototype.forEach.call(doc.getElementsByTagNameNS("http://www.omg.org/spec/BPMN/20100524/MODEL", "lane"), function (lane) {
      var code = lane.getAttribute("name");
      if (roles[code]) { lane.setAttribute("name", roles[code]); }
    });
    return new XMLSerializer().serializeToString(doc);
  }
  window.qyViewer = viewer;
  fetch(el.dataset.source, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) { throw new Error(r.status === 404 ? "" : "HTTP " + r.status); }
    return r.json();
  }).then(function (trace) {
    return viewer.importXML(withRoleNames(trace.bpmn_xml)).then(function () {
      var canvas = viewer.get("canvas"), registry = viewer.get("elementRegistry");
      function mark(ids, marker) { ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, marker); } }); }
      mark(trace.completed, "qy-done"); mark(trace.current, "qy-current"); mark(trace.flows, "qy-path");
      canvas.zoom("fit-viewport");
      var box = canvas.viewbox(), scale = Math.max(box.scale, 0.7);  // readable; the rest is a drag away
      if (scale > box.scale) {
        var current = trace.current.map(function (id) { return registry.get(id); }).filter(Boolean)[0];
        var x = current ? current.x - box.outer.width / scale / 3 : box.inner.x;
        canvas.viewbox({ x: Math.max(x, box.inner.x - 10), y: box.inner.y - 10,
                         width: box.outer.width / scale, height: box.outer.height / scale });
      }
      el.dataset.loaded = "1";
      var info = document.getElementById("process-viewer-info");
      var statuses = JSON.parse(el.dataset.statuses || "{}");
      if (info) {
        info.textContent = el.dataset.versionLabel.replace("{v}", trace.version) + " · " + (statuses[trace.status] || trace.status) +
          (trace.error ? " · " + trace.error : "");
      }
    });
  }).catch(function (err) { el.dataset.loaded = "error"; el.textContent = String(err.message || err); });
})();
