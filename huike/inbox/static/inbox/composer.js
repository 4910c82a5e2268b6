// The composer's pickers: "/shortcut" followed by a space or Tab expands a canned reply; the
// canned-reply and template selects insert their text (already rendered for this customer).
// Without JavaScript the template select still works: the server renders the chosen template.
(function () {
  "use strict";

  function parse(form, name) {
    try {
      return JSON.parse(form.dataset[name] || "{}");
    } catch (error) {
      return {};
    }
  }

  function insert(textarea, text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    textarea.focus();
  }

  function expandShortcut(event) {
    var textarea = event.target;
    if (!textarea.matches("textarea[data-composer=reply]")) return;
    if (event.key !== " " && event.key !== "Tab") return;
    var form = textarea.closest("form");
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = before.match(/(^|\s)\/([\w.\-]+)$/u);
    if (!match) return;
    var text = parse(form, "canned")[match[2]];
    if (text === undefined) return;
    event.preventDefault();
    textarea.selectionStart = textarea.selectionStart - match[2].length - 1;
    insert(textarea, text);
  }

  function pick(event) {
    var select = event.target;
    var form = select.closest("form");
    if (!form) return;
    var textarea = form.querySelector("textarea[data-composer=reply]");
    if (!textarea || !select.value) return;
    if (select.matches("[data-canned-picker]")) {
      var text = parse(form, "canned")[select.value];
      if (text !== undefined) insert(textarea, text);
      select.value = "";
    } else if (select.name === "template") {
      var rendered = parse(form, "templates")[select.value];
      if (rendered !== undefined && !textarea.value.trim()) textarea.value = rendered;
    }
  }

  document.addEventListener("keydown", expandShortcut);
  document.addEventListener("change", pick);
})();
