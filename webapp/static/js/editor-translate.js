/* A diagram-js `translate` service fed by the page's #editor-texts table (English -> the user's language), so the
 * palette, menus and table headings of bpmn-js and dmn-js speak the language of the rest of the page. */
window.qyEditorTranslate = function () {
  "use strict";
  var node = document.getElementById("editor-texts");
  var texts = node ? JSON.parse(node.textContent) : {};
  function translate(template, replacements) {
    replacements = replacements || {};
    return (texts[template] || template).replace(/{([^}]+)}/g, function (whole, key) {
      return key in replacements ? replacements[key] : whole;
    });
  }
  return { translate: ["value", translate] };
};
