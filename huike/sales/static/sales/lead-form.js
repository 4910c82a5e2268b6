/* Huike lead form: embedded with
 *   <script src="https://huike.example/forms/<key>/embed.js" async></script>
 * it renders the form where the script stands (or into <div data-huike-form="<key>">), in the
 * page's language (zh-Hans or English), and posts it with the page's UTM parameters, referrer
 * and address. No dependencies; served by Huike itself. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) { return; }
  var match = script.src.match(/^(.*\/forms\/([^\/?#]+)\/)embed\.js/);
  if (!match) { return; }
  var base = match[1], key = match[2];
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var STORE = "huike-utm";

  function pageLanguage() {
    var lang = document.documentElement.getAttribute("lang") || navigator.language || "";
    return lang.toLowerCase().indexOf("zh") === 0 ? "zh-hans" : "en";
  }

  // The campaign that brought the visitor, kept for the visit: the form may sit on a later page.
  function campaign() {
    var found = {}, params = new URLSearchParams(window.location.search), any = false;
    UTM.forEach(function (name) {
      var value = params.get(name);
      if (value) { found[name] = value.slice(0, 200); any = true; }
    });
    try {
      if (any) { window.sessionStorage.setItem(STORE, JSON.stringify(found)); }
      else { found = JSON.parse(window.sessionStorage.getItem(STORE) || "{}") || {}; }
    } catch (error) { /* storage blocked: the current page's parameters only */ }
    return found;
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  var STYLE = ".hk-lf{box-sizing:border-box;max-width:480px;width:100%;font:15px/1.5 system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;color:#1d2330;background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:16px;margin:8px 0}" +
    ".hk-lf *{box-sizing:border-box}.hk-lf h3{font-size:1.1rem;margin:0 0 12px}" +
    ".hk-lf label{display:block;font-weight:600;font-size:.9rem;margin:0 0 4px}" +
    ".hk-lf .hk-f{margin:0 0 12px}.hk-lf input[type=text],.hk-lf input[type=email],.hk-lf input[type=tel],.hk-lf textarea{font:inherit;width:100%;padding:8px 10px;border:1px solid #c8ced8;border-radius:4px;background:#fff}" +
    ".hk-lf textarea{min-height:80px}.hk-lf .hk-c label{display:flex;gap:8px;font-weight:400;align-items:baseline}" +
    ".hk-lf .hk-e{color:#c0362c;font-size:.85rem;margin:4px 0 0}.hk-lf button{font:inherit;padding:10px 16px;border-radius:4px;border:1px solid #0b6bcb;background:#0b6bcb;color:#fff;cursor:pointer;width:100%}" +
    ".hk-lf button[disabled]{opacity:.6}.hk-lf .hk-hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}.hk-lf .hk-done{margin:0;color:#1b7f3b;font-weight:600}";

  function addStyle() {
    if (document.getElementById("hk-lf-style")) { return; }
    var style = element("style", { id: "hk-lf-style" });
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  function render(config) {
    addStyle();
    var form = element("form", { "class": "hk-lf", novalidate: "", "data-huike-form-key": key, lang: config.language });
    form.appendChild(element("h3", {}, config.title));
    var errors = {};
    config.fields.forEach(function (field) {
      var id = "hk-" + key + "-" + field.name;
      var wrap = element("div", { "class": "hk-f" });
      wrap.appendChild(element("label", { "for": id }, field.label + (field.required ? " *" : "")));
      var input = field.type === "textarea"
        ? element("textarea", { id: id, name: field.name, rows: "3" })
        : element("input", { id: id, name: field.name, type: field.type, autocomplete: field.type === "email" ? "email" : field.type === "tel" ? "tel" : field.name === "name" ? "name" : "on" });
      if (field.required) { input.setAttribute("required", ""); input.setAttribute("aria-required", "true"); }
      wrap.appendChild(input);
      var error = element("p", { "class": "hk-e", id: id + "-error", role: "alert" });
      error.hidden = true;
      input.setAttribute("aria-describedby", id + "-error");
      wrap.appendChild(error);
      errors[field.name] = error;
      form.appendChild(wrap);
    });
    if (config.consent) {
      var consentId = "hk-" + key + "-consent";
      var box = element("div", { "class": "hk-f hk-c" });
      var label = element("label", { "for": consentId });
      label.appendChild(element("input", { type: "checkbox", id: consentId, name: "consent", value: "1" }));
      label.appendChild(document.createTextNode(config.consent.text + (config.consent.required ? " *" : "")));
      box.appendChild(label);
      var consentError = element("p", { "class": "hk-e", role: "alert" });
      consentError.hidden = true;
      box.appendChild(consentError);
      errors.consent = consentError;
      form.appendChild(box);
    }
    // People never see or fill this; bots fill every field they find.
    var trap = element("div", { "class": "hk-hp", "aria-hidden": "true" });
    trap.appendChild(element("label", { "for": "hk-" + key + "-hp" }, config.strings.honeypot));
    trap.appendChild(element("input", { type: "text", id: "hk-" + key + "-hp", name: config.honeypot, tabindex: "-1", autocomplete: "off" }));
    form.appendChild(trap);
    var general = element("p", { "class": "hk-e", role: "alert" });
    general.hidden = true;
    form.appendChild(general);
    var button = element("button", { type: "submit" }, config.strings.submit);
    form.appendChild(button);

    function clearErrors() {
      Object.keys(errors).forEach(function (name) { errors[name].hidden = true; errors[name].textContent = ""; });
      general.hidden = true;
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors();
      var body = { token: config.token, language: config.language, referrer: document.referrer, page_url: window.location.href };
      var missing = false;
      config.fields.forEach(function (field) {
        var value = form.elements[field.name].value.trim();
        body[field.name] = value;
        if (field.required && !value) {
          errors[field.name].textContent = config.strings.required;
          errors[field.name].hidden = false;
          missing = true;
        }
      });
      if (config.consent) { body.consent = form.elements.consent.checked ? "1" : ""; }
      body[config.honeypot] = form.elements[config.honeypot].value;
      var found = campaign();
      Object.keys(found).forEach(function (name) { body[name] = found[name]; });
      if (missing) { return; }
      button.disabled = true;
      button.textContent = config.strings.sending;
      fetch(config.submit_url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "omit" })
        .then(function (response) { return response.json().then(function (data) { return { status: response.status, data: data }; }); })
        .then(function (result) {
          if (result.data.ok) {
            var done = element("p", { "class": "hk-done", role: "status" }, result.data.message || config.strings.thanks);
            form.replaceChildren(done);
            return;
          }
          if (result.data.errors) {
            Object.keys(result.data.errors).forEach(function (name) {
              var target = errors[name] || general;
              target.textContent = result.data.errors[name];
              target.hidden = false;
            });
          } else {
            general.textContent = result.data.message || config.strings.error;
            general.hidden = false;
          }
        })
        .catch(function () { general.textContent = config.strings.error; general.hidden = false; })
        .then(function () { button.disabled = false; button.textContent = config.strings.submit; });
    });
    var target = document.querySelector('[data-huike-form="' + key + '"]');
    if (target) { target.appendChild(form); }
    else if (script.parentNode && script.parentNode !== document.head) { script.parentNode.insertBefore(form, script.nextSibling); }
    else { document.body.appendChild(form); }
  }

  campaign();
  fetch(base + "config?lang=" + encodeURIComponent(pageLanguage()), { credentials: "omit" })
    .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
    .then(render)
    .catch(function () { /* the form is off or this site may not use it: show nothing */ });
})();
