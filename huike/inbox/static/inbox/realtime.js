/* The inbox's live updates: one websocket to /ws/inbox/.
 * Every server event is dispatched on document.body as the DOM event "huike:inbox"
 * (detail: {type, conversation_id, message_id?, ...}); the list and the thread refresh
 * themselves through htmx on it. Typing: shown in [data-typing-for="<conversation id>"],
 * sent while the agent types in textarea[data-typing-conversation="<conversation id>"]. */
(function () {
  "use strict";
  if (window.__huikeInboxRealtime) { return; }
  window.__huikeInboxRealtime = true;
  var socket = null;
  var retry = 0;
  var pingTimer = null;
  var seen = {};
  var seenOrder = [];
  var typingTimers = {};
  var typedAt = {};

  function dispatch(detail) {
    document.body.dispatchEvent(new CustomEvent("huike:inbox", { detail: detail }));
  }

  function firstTime(messageId) {
    // A visitor's message is announced at once by its socket and again by the outbox.
    if (!messageId) { return true; }
    if (seen[messageId]) { return false; }
    seen[messageId] = true;
    seenOrder.push(messageId);
    if (seenOrder.length > 500) { delete seen[seenOrder.shift()]; }
    return true;
  }

  function showTyping(conversationId) {
    var selector = '[data-typing-for="' + String(conversationId).replace(/[^0-9a-fA-F-]/g, "") + '"]';
    var indicator = document.querySelector(selector);
    if (!indicator) { return; }
    indicator.hidden = false;
    clearTimeout(typingTimers[conversationId]);
    typingTimers[conversationId] = setTimeout(function () {
      var current = document.querySelector(selector);
      if (current) { current.hidden = true; }
    }, 4000);
  }

  function onEvent(event) {
    if (!event || !event.type || event.type === "pong") { return; }
    if (event.type === "message.created" && !firstTime(event.message_id)) { return; }
    if (event.type === "typing" && event.by === "visitor") { showTyping(event.conversation_id); }
    if (event.type === "message.created" && event.direction === "in") {
      var indicator = document.querySelector('[data-typing-for="' + event.conversation_id + '"]');
      if (indicator) { indicator.hidden = true; }
    }
    dispatch(event);
  }

  function send(frame) {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify(frame)); }
  }

  document.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || !field.matches || !field.matches("textarea[data-typing-conversation]")) { return; }
    var conversationId = field.getAttribute("data-typing-conversation");
    var now = Date.now();
    if (now - (typedAt[conversationId] || 0) < 2500) { return; }
    typedAt[conversationId] = now;
    send({ type: "typing", conversation_id: conversationId });
  });

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/inbox/");
    socket.onopen = function () {
      if (retry > 0) { dispatch({ type: "reconnected" }); }
      retry = 0;
      document.body.setAttribute("data-realtime", "connected");
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 30000);
    };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      onEvent(event);
    };
    socket.onclose = function () {
      socket = null;
      clearInterval(pingTimer);
      document.body.setAttribute("data-realtime", "disconnected");
      var delay = Math.min(30000, 1000 * Math.pow(2, retry)) * (0.5 + Math.random() / 2);
      retry += 1;
      setTimeout(connect, delay);
    };
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", connect); } else { connect(); }
})();
