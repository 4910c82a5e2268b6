// The kanban board (huike/sales/templates/sales/deals/board.html): drag a card to another
// column, or pick a stage in the card's "move to" select (keyboard and phones). The move is
// posted to the card's move URL; a lost stage first asks for the reason. On failure the card
// goes back where it was and the error is shown. Without this script the select's form posts
// and the page reloads.
(function () {
  "use strict";
  var board = document.getElementById("kanban");
  if (!board) return;
  document.body.classList.add("js-kanban");
  var errorBox = document.getElementById("board-error");
  var dialog = document.getElementById("lost-dialog");
  var dragged = null;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function columnOf(element) {
    return element.closest(".kanban-column");
  }

  function columnFor(stageId) {
    return board.querySelector('.kanban-column[data-stage-id="' + stageId + '"]');
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function askReason() {
    return new Promise(function (resolve) {
      if (!dialog) {
        resolve(null);
        return;
      }
      var field = dialog.querySelector("textarea");
      field.value = "";
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        function () {
          var reason = field.value.trim();
          resolve(dialog.returnValue === "confirm" && reason ? reason : null);
        },
        { once: true }
      );
      dialog.showModal();
      field.focus();
    });
  }

  function setSelect(card, stageId) {
    var select = card.querySelector("[data-role=move-to]");
    if (select) select.value = stageId;
  }

  function updateColumns(columns) {
    Object.keys(columns).forEach(function (stageId) {
      var column = columnFor(stageId);
      if (!column) return;
      var values = columns[stageId];
      ["count", "total", "weighted"].forEach(function (name) {
        var target = column.querySelector('[data-role="' + name + '"]');
        if (target && values[name] !== undefined) target.textContent = values[name];
      });
    });
  }

  function move(card, target) {
    var origin = columnOf(card);
    if (!target || target === origin) return;
    var list = origin.querySelector("[data-role=cards]");
    var place = { list: list, next: card.nextSibling, stage: origin.dataset.stageId };
    var asked = target.dataset.stageKind === "lost" ? askReason() : Promise.resolve("");
    asked.then(function (reason) {
      if (reason === null) {
        setSelect(card, place.stage);
        return;
      }
      var cards = target.querySelector("[data-role=cards]");
      cards.insertBefore(card, cards.firstChild);
      card.classList.add("pending");
      errorBox.hidden = true;
      var body = new FormData();
      body.append("stage", target.dataset.stageId);
      body.append("lost_reason", reason);
      fetch(card.dataset.moveUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
      })
        .then(function (response) {
          return response.json().then(function (data) {
            return { ok: response.ok, data: data };
          });
        })
        .then(function (result) {
          if (!result.ok) throw new Error(result.data.detail || board.dataset.failedText);
          card.classList.remove("pending");
          setSelect(card, target.dataset.stageId);
          updateColumns(result.data.columns);
        })
        .catch(function (error) {
          card.classList.remove("pending");
          place.list.insertBefore(card, place.next && place.next.parentNode === place.list ? place.next : null);
          setSelect(card, place.stage);
          showError(error.message || board.dataset.failedText);
        });
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".kanban-card");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.dealId);
  });
  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    dragged = null;
    board.querySelectorAll(".drop-target").forEach(function (column) {
      column.classList.remove("drop-target");
    });
  });
  board.addEventListener("dragover", function (event) {
    var column = dragged && columnOf(event.target);
    if (!column) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("drop-target");
  });
  board.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });
  board.addEventListener("drop", function (event) {
    var column = dragged && columnOf(event.target);
    if (!column) return;
    event.preventDefault();
    column.classList.remove("drop-target");
    var card = dragged;
    dragged = null;
    card.classList.remove("dragging");
    move(card, column);
  });
  board.addEventListener("change", function (event) {
    if (!event.target.matches("[data-role=move-to]")) return;
    var card = event.target.closest(".kanban-card");
    move(card, columnFor(event.target.value));
  });
})();
