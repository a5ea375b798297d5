// The signing page: a signature pad (signature_pad, vendored) for the "draw" method. Without JavaScript the
// page still works with the typed-name and seal methods (the draw option stays hidden).
(function () {
  "use strict";
  function ready() {
    var form = document.getElementById("sign-form");
    var canvas = document.getElementById("signature-pad");
    if (!form || !canvas || typeof window.SignaturePad !== "function") return;
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
    document.getElementById("clear-signature").addEventListener("click", function () { pad.clear(); picture = null; });
    form.addEventListener("submit", function () {
      var method = (form.querySelector("input[name=method]:checked") || {}).value;
      document.getElementById("signature_image").value = method === "drawn" && !pad.isEmpty() ? pad.toDataURL("image/png") : "";
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else ready();
})();
