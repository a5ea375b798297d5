// The signing page: a counter over the document's pages; a button that takes the signer to the next thing still to
// fill in (the letters' fields, then signing); the code sent without leaving the page; a signature pad
// (signature_pad, vendored) for the "draw" method. Without JavaScript the page still works: the pages load, the code
// is sent by loading the page again, and the typed-name and seal methods remain (the draw option stays hidden).
(function () {
  "use strict";

  // "Page 3 of 15" for the page at the upper third of what shows of the pages (on a phone they scroll with the page,
  // at a desk in their own box), as the reader scrolls
  function pageCounter() {
    var counter = document.getElementById("page-counter");
    var box = document.querySelector(".pages");
    var pages = Array.prototype.slice.call(document.querySelectorAll("img.page"));
    if (!counter || !box || !pages.length) return;
    var template = counter.getAttribute("data-template"), shown = 0, queued = false;
    function update() {
      queued = false;
      var shows = box.getBoundingClientRect();
      var top = Math.max(shows.top, 0), bottom = Math.min(shows.bottom, window.innerHeight);
      var line = top + Math.max(bottom - top, 0) / 3, number = 1;
      pages.forEach(function (page) {
        if (page.getBoundingClientRect().top <= line) number = Number(page.getAttribute("data-number"));
      });
      if (number !== shown) { shown = number; counter.textContent = template.replace("{n}", number); }
    }
    document.addEventListener("scroll", function () {  // the page's scrolling and the box's
      if (!queued) { queued = true; window.requestAnimationFrame(update); }
    }, { passive: true, capture: true });
    update();
  }

  function signaturePad(form) {
    var canvas = document.getElementById("signature-pad");
    if (!form || !canvas || typeof window.SignaturePad !== "function") return null;
    document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
    var pad = new window.SignaturePad(canvas, { penColor: "#0b2a6f", minWidth: 1, maxWidth: 2.8 });
    var picture = null;  // the image a refused attempt sent back: the pad knows it only as pixels, not strokes
    // Resizing a canvas wipes it, and phones resize the page often (the address bar, the keyboard): draw again what
    // was there, the picture sent back under the strokes drawn since (as signature_pad's own redraw does).
    function fit() {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var strokes = pad.toData();
      canvas.width = canvas.offsetWidth * ratio;
      canvas.height = canvas.offsetHeight * ratio;
      canvas.getContext("2d").scale(ratio, ratio);
      pad.clear();
      if (picture) pad.fromDataURL(picture, { ratio: 1, width: canvas.offsetWidth, height: canvas.offsetHeight });
      if (strokes.length) pad.fromData(strokes, { clear: false });
    }
    window.addEventListener("resize", fit);
    function show() {
      var method = (form.querySelector("input[name=method]:checked") || {}).value;
      form.querySelectorAll(".method-panel").forEach(function (panel) {
        panel.hidden = panel.getAttribute("data-method") !== method;
      });
      if (method === "drawn") fit();  // a hidden canvas has no size: size it when it shows
    }
    form.querySelectorAll("input[name=method]").forEach(function (radio) { radio.addEventListener("change", show); });
    // with JavaScript, drawing is the first choice (the page without it offers typing and the seal)
    if (form.getAttribute("data-fresh") || !form.querySelector("input[name=method]:checked")) {
      form.querySelector("input[value=drawn]").checked = true;
    }
    show();
    var kept = document.getElementById("signature_image").value;  // a refused attempt keeps what was drawn
    if (kept) { picture = kept; fit(); }
    document.getElementById("clear-signature").addEventListener("click", function () {
      pad.clear(); picture = null;
      canvas.dispatchEvent(new Event("change", { bubbles: true }));  // the guide counts the pad as empty again
    });
    pad.addEventListener("endStroke", function () { canvas.dispatchEvent(new Event("change", { bubbles: true })); });
    form.addEventListener("submit", function () {
      var method = (form.querySelector("input[name=method]:checked") || {}).value;
      document.getElementById("signature_image").value = method === "drawn" && !pad.isEmpty() ? pad.toDataURL("image/png") : "";
    });
    return pad;
  }

  // What is still to do, in the page's order: each letter's empty required fields, or its save button once they are
  // filled and something was changed; then signing: the signature, consent, sending the code, typing it.
  function stillToDo(form, pad) {
    var todo = [];
    document.querySelectorAll("#letters form").forEach(function (letter) {
      var changed = false, empty = 0;
      letter.querySelectorAll("input[name^='value.']").forEach(function (input) {
        if (input.hasAttribute("data-required") && !input.value.trim()) { todo.push(input); empty += 1; }
        if (input.value !== input.defaultValue) changed = true;
      });
      if (changed && !empty) todo.push(letter.querySelector("button[type=submit]"));
    });
    if (!form) return todo;
    var method = (form.querySelector("input[name=method]:checked") || {}).value;
    var byId = function (id) { return document.getElementById(id); };
    if (method === "drawn" && (!pad || pad.isEmpty())) todo.push(byId("signature-pad"));
    if (method === "typed" && !byId("typed_name").value.trim()) todo.push(byId("typed_name"));
    if (method === "seal" && !byId("seal").files.length) todo.push(byId("seal"));
    if (!byId("consent").checked) todo.push(byId("consent"));
    if (byId("code-entry").hidden) todo.push(byId("intent-button"));
    else if (!/^\d{6}$/.test(byId("intent_code").value.trim())) todo.push(byId("intent_code"));
    return todo;
  }

  // The "next item to fill in" button: each press goes to the next thing still to do after the one it went to last
  // (so a field left empty on purpose is passed over), round to the first; it hides when nothing is left.
  function guide(form, pad) {
    var button = document.getElementById("next-field");
    if (!button) return function () {};
    var last = null;
    function refresh() { button.hidden = stillToDo(form, pad).length === 0; }
    button.addEventListener("click", function () {
      var todo = stillToDo(form, pad);
      if (!todo.length) { refresh(); return; }
      var after = last ? todo.filter(function (el) {
        return el !== last && (last.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
      }) : [];
      var target = after[0] || todo[0];
      last = target;
      target.scrollIntoView({ behavior: "smooth", block: "center" });
      if (target.tagName !== "CANVAS") target.focus({ preventScroll: true });
      target.classList.remove("guided");
      void target.offsetWidth;  // restart the highlight
      target.classList.add("guided");
    });
    document.addEventListener("input", refresh);
    document.addEventListener("change", refresh);
    refresh();
    return refresh;
  }

  // "Send me a code" without leaving the page (what was drawn, typed and ticked stays): the field for the code shows
  // with where the code went. If that fails, the form is sent as without JavaScript and the page says why.
  function sendCodeInPlace(refresh) {
    var form = document.getElementById("intent-form"), button = document.getElementById("intent-button");
    if (!form || !button || !window.fetch || !window.FormData) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      button.disabled = true;
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
        .then(function (sent) {
          document.getElementById("code-sent").textContent = sent.message;
          document.getElementById("code-entry").hidden = false;
          button.textContent = button.getAttribute("data-again");
          button.disabled = false;
          document.getElementById("intent_code").focus();
          refresh();
        })
        .catch(function () { form.submit(); });
    });
  }

  function ready() {
    pageCounter();
    var form = document.getElementById("sign-form");
    var refresh = guide(form, signaturePad(form));
    sendCodeInPlace(refresh);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else ready();
})();
