/* Huike website chat widget. Embed with one tag:
 *   <script src="https://crm.example.com/webchat/widget.js" data-key="PUBLIC_KEY" async></script>
 * Plain JavaScript, no framework, nothing loaded from elsewhere. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='/webchat/widget.js']");
  if (!script || window.__huikeWebchat) { return; }
  window.__huikeWebchat = true;
  var key = script.getAttribute("data-key") || "";
  var base = new URL(script.src, document.baseURI);
  var origin = base.origin;
  var lang = (document.documentElement.lang || navigator.language || "").toLowerCase().indexOf("zh") === 0 ? "zh-hans" : "en";
  var storageKey = "huike-webchat-visitor:" + key;
  var visitor = "";
  try { visitor = localStorage.getItem(storageKey) || ""; } catch (e) { visitor = ""; }
  if (!/^[0-9a-f]{32}$/.test(visitor)) { visitor = ""; }

  var config = { strings: {}, online: true, welcome_text: "", max_upload_mb: 5 };
  var socket = null;
  var retry = 0;
  var pending = {};
  var shown = {};
  var typingTimer = null;
  var typingSentAt = 0;
  var el = {};

  function t(name) { return config.strings[name] || name; }
  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function node(tag, className, text) {
    var n = document.createElement(tag);
    if (className) { n.className = className; }
    if (text) { n.textContent = text; }
    return n;
  }
  function fileUrl(url) {
    var absolute = new URL(url, origin);
    if (visitor) { absolute.searchParams.set("visitor", visitor); }
    return absolute.toString();
  }

  function build() {
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = origin + "/webchat/widget.css";
    document.head.appendChild(css);
    var root = node("div", "huike-wc");
    root.setAttribute("data-huike-webchat", "");
    el.launcher = node("button", "huike-wc-launcher", t("open"));
    el.launcher.type = "button";
    el.launcher.setAttribute("aria-expanded", "false");
    el.panel = node("section", "huike-wc-panel");
    el.panel.hidden = true;
    el.panel.setAttribute("role", "dialog");
    el.panel.setAttribute("aria-label", t("title"));
    var header = node("header", "huike-wc-header");
    header.appendChild(node("strong", "", t("title")));
    el.close = node("button", "huike-wc-close", "×");
    el.close.type = "button";
    el.close.setAttribute("aria-label", t("close"));
    header.appendChild(el.close);
    el.status = node("div", "huike-wc-status");
    el.status.hidden = true;
    el.log = node("div", "huike-wc-log");
    el.log.setAttribute("aria-live", "polite");
    el.typing = node("div", "huike-wc-typing", t("typing"));
    el.typing.hidden = true;
    el.offline = buildOffline();
    el.form = node("form", "huike-wc-composer");
    el.input = node("textarea", "huike-wc-input");
    el.input.rows = 1;
    el.input.placeholder = t("placeholder");
    el.input.setAttribute("aria-label", t("placeholder"));
    el.file = node("input", "");
    el.file.type = "file";
    el.file.accept = "image/png,image/jpeg,image/gif,image/webp";
    el.file.hidden = true;
    el.attach = node("button", "huike-wc-attach", "+");
    el.attach.type = "button";
    el.attach.title = t("attach");
    el.attach.setAttribute("aria-label", t("attach"));
    el.send = node("button", "huike-wc-send", t("send"));
    el.send.type = "submit";
    el.form.appendChild(el.attach);
    el.form.appendChild(el.file);
    el.form.appendChild(el.input);
    el.form.appendChild(el.send);
    [header, el.status, el.log, el.typing, el.offline, el.form].forEach(function (part) { el.panel.appendChild(part); });
    root.appendChild(el.panel);
    root.appendChild(el.launcher);
    document.body.appendChild(root);
    el.launcher.addEventListener("click", function () { toggle(true); });
    el.close.addEventListener("click", function () { toggle(false); });
    el.form.addEventListener("submit", function (event) { event.preventDefault(); sendText(); });
    el.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); sendText(); }
    });
    el.input.addEventListener("input", sendTyping);
    el.attach.addEventListener("click", function () { el.file.click(); });
    el.file.addEventListener("change", sendPicture);
    if (config.welcome_text) { addLine({ id: "welcome", from: "agent", text: config.welcome_text }); }
  }

  function buildOffline() {
    var form = node("form", "huike-wc-offline");
    form.hidden = config.online;
    form.appendChild(node("strong", "", t("offline_title")));
    form.appendChild(node("p", "", t("offline_text")));
    ["name", "email", "phone"].forEach(function (name) {
      var label = node("label", "", t(name));
      var input = node("input", "");
      input.name = name;
      input.type = name === "email" ? "email" : name === "phone" ? "tel" : "text";
      label.appendChild(input);
      form.appendChild(label);
    });
    var submit = node("button", "huike-wc-send", t("submit"));
    submit.type = "submit";
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var frame = { type: "contact", client_id: randomId() };
      ["name", "email", "phone"].forEach(function (name) {
        var value = form.elements[name].value.trim();
        if (value) { frame[name] = value; }
      });
      if (!frame.email && !frame.phone) { showStatus(t("offline_text")); return; }
      pending[frame.client_id] = { frame: frame, contact: true };
      transmit(frame);
    });
    return form;
  }

  function toggle(open) {
    el.panel.hidden = !open;
    el.launcher.hidden = open;
    el.launcher.setAttribute("aria-expanded", String(open));
    if (open) { el.input.focus(); el.log.scrollTop = el.log.scrollHeight; }
  }

  function showStatus(text) {
    el.status.textContent = text || "";
    el.status.hidden = !text;
  }

  function addLine(message, clientId) {
    if (message.id && shown[message.id]) { return shown[message.id]; }
    var line = node("div", "huike-wc-msg huike-wc-" + (message.from === "visitor" ? "visitor" : "agent"));
    if (message.text) { line.appendChild(node("span", "huike-wc-text", message.text)); }
    (message.attachments || []).forEach(function (item) {
      if (item.kind === "image" && item.url) {
        var img = node("img", "huike-wc-image");
        img.alt = item.name || "";
        img.src = fileUrl(item.url);
        line.appendChild(img);
      }
    });
    if (clientId) { line.setAttribute("data-client-id", clientId); line.classList.add("huike-wc-pending"); }
    if (message.id) { line.setAttribute("data-message-id", message.id); shown[message.id] = line; }
    el.log.appendChild(line);
    el.log.scrollTop = el.log.scrollHeight;
    return line;
  }

  function transmit(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); }
  }

  function sendText() {
    var text = el.input.value.trim();
    if (!text) { return; }
    var frame = { type: "message", client_id: randomId(), text: text };
    pending[frame.client_id] = { frame: frame, line: addLine({ from: "visitor", text: text }, frame.client_id) };
    el.input.value = "";
    transmit(frame);
  }

  function sendTyping() {
    var now = Date.now();
    if (now - typingSentAt > 2500) { typingSentAt = now; transmit({ type: "typing" }); }
  }

  function sendPicture() {
    var file = el.file.files && el.file.files[0];
    el.file.value = "";
    if (!file) { return; }
    if (file.size > config.max_upload_mb * 1024 * 1024) { showStatus(t("upload_failed")); return; }
    var body = new FormData();
    body.append("visitor", visitor);
    body.append("file", file);
    fetch(origin + "/webchat/" + encodeURIComponent(key) + "/upload?lang=" + lang, { method: "POST", body: body })
      .then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); })
      .then(function (result) {
        if (!result.ok) { showStatus(result.data.message || t("upload_failed")); return; }
        var frame = { type: "image", client_id: randomId(), token: result.data.token };
        pending[frame.client_id] = {
          frame: frame,
          line: addLine({ from: "visitor", attachments: [{ kind: "image", url: result.data.url, name: result.data.name }] }, frame.client_id)
        };
        transmit(frame);
      })
      .catch(function () { showStatus(t("upload_failed")); });
  }

  function onFrame(frame) {
    if (frame.type === "welcome") {
      visitor = frame.visitor_id;
      try { localStorage.setItem(storageKey, visitor); } catch (e) { /* private mode: this tab only */ }
      showStatus("");
      retry = 0;
      Object.keys(pending).forEach(function (clientId) { transmit(pending[clientId].frame); });
    } else if (frame.type === "history") {
      (frame.messages || []).forEach(function (message) { addLine(message); });
    } else if (frame.type === "ack") {
      var sent = pending[frame.client_id];
      delete pending[frame.client_id];
      if (sent && sent.contact) {
        el.offline.innerHTML = "";
        el.offline.appendChild(node("p", "", t("thanks")));
      }
      if (sent && sent.line) {
        sent.line.classList.remove("huike-wc-pending");
        if (frame.id) { sent.line.setAttribute("data-message-id", frame.id); shown[frame.id] = sent.line; }
      }
    } else if (frame.type === "message") {
      el.typing.hidden = true;
      addLine({ id: frame.id, from: "agent", text: frame.text });
    } else if (frame.type === "typing" && frame.by === "agent") {
      el.typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { el.typing.hidden = true; }, 4000);
    } else if (frame.type === "error") {
      if (frame.client_id && pending[frame.client_id]) {
        var failed = pending[frame.client_id];
        delete pending[frame.client_id];
        if (failed.line) { failed.line.classList.add("huike-wc-failed"); }
      }
      showStatus(frame.message);
    }
  }

  function connect() {
    var url = new URL("/ws/webchat/" + encodeURIComponent(key) + "/", origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (visitor) { url.searchParams.set("visitor", visitor); }
    url.searchParams.set("lang", lang);
    socket = new WebSocket(url.toString());
    socket.onmessage = function (event) {
      try { onFrame(JSON.parse(event.data)); } catch (e) { /* a frame we cannot read */ }
    };
    socket.onclose = function () {
      socket = null;
      showStatus(t("reconnecting"));
      var delay = Math.min(30000, 1000 * Math.pow(2, retry)) * (0.5 + Math.random() / 2);
      retry += 1;
      setTimeout(connect, delay);
    };
  }

  function start() {
    fetch(origin + "/webchat/" + encodeURIComponent(key) + "/config?lang=" + lang)
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { config = data; } })
      .catch(function () { /* defaults; the socket tells us more */ })
      .then(function () { build(); connect(); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
