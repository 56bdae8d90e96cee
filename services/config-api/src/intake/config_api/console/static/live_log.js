// Intake console: the email log's live mode. The page works without this file; with it, rows that arrive or
// change (server-sent events from /email-log/live) appear in the table without a reload.
//
// It never moves focus, and it keeps what the person is reading where it is: at the top of the page new
// rows appear in view and the scroll position stays; scrolled down, a row inserted above the window
// shifts the page by exactly its height, so the visible rows stay put. New rows are
// counted and announced politely ("3 new messages") in a role=status region. Pausing holds new rows and
// counts them; resuming (or "Show held messages") inserts them.
"use strict";

(function () {
  var MAX_ROWS = 500; // rows kept in the table; older ones are dropped from the bottom
  var ANNOUNCE_AFTER_MS = 1500; // new rows within this time are announced together

  function start(bar) {
    if (!window.EventSource) return;
    var table = document.getElementById("log-table");
    var body = document.getElementById("log-rows");
    var wrap = document.getElementById("log-table-wrap");
    var empty = document.getElementById("log-empty");
    var status = document.getElementById("live-status");
    var pause = document.getElementById("live-pause");
    var showHeld = document.getElementById("live-show-held");
    if (!table || !body || !status || !pause || !showHeld) return;
    var olderPagesExist = !!document.querySelector(".pager a[href*='cursor=']");
    var held = [];
    var deferred = {}; // row id -> html, for a row that holds focus (replaced once focus leaves it)
    var unannounced = 0;
    var announceTimer = null;
    var paused = false;

    bar.hidden = false;

    function say(text) {
      status.textContent = text;
    }

    function plural(n, word) {
      return n + " " + word + (n === 1 ? "" : "s");
    }

    function announce() {
      announceTimer = null;
      if (unannounced > 0 && !paused) say(plural(unannounced, "new message") + " in the log.");
      unannounced = 0;
    }

    function rowFrom(html) {
      var template = document.createElement("template");
      template.innerHTML = html.trim(); // rendered and escaped by the server's row template
      return template.content.firstElementChild;
    }

    // The first row whose top is within the window: what the person is looking at.
    function anchorRow() {
      var rows = body.rows;
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].getBoundingClientRect().bottom > 0) return rows[i];
      }
      return null;
    }

    // Insert or replace at `where` (a row) without moving what is on screen. Only a change above the top of
    // the window can move what is shown; then the first visible row is measured before and after.
    function keepingPlace(where, change) {
      if (!where || where.getBoundingClientRect().top >= 0) {
        change(); // on screen or below: the person sees it happen; the scroll position stays
        return;
      }
      var anchor = anchorRow();
      var before = anchor ? anchor.getBoundingClientRect().top : 0;
      change();
      if (anchor && anchor.isConnected) {
        var shift = anchor.getBoundingClientRect().top - before;
        if (shift !== 0) window.scrollBy(0, shift);
      }
    }

    // A row that arrived while the page was open: a bar and the word "New" (never colour alone).
    function markNew(row) {
      row.classList.add("is-new");
      var link = row.querySelector("td.subject a");
      if (!link) return;
      var tag = document.createElement("span");
      tag.className = "new-tag";
      tag.textContent = "New";
      link.before(tag, " ");
    }

    function place(data) {
      var existing = document.getElementById("log-row-" + data.id);
      if (existing) {
        if (existing.contains(document.activeElement)) {
          deferred[data.id] = data.html; // replacing it would take the focus away
          return false;
        }
        var replacement = rowFrom(data.html);
        if (existing.classList.contains("is-new")) markNew(replacement);
        keepingPlace(existing, function () { existing.replaceWith(replacement); });
        return false;
      }
      var row = rowFrom(data.html);
      markNew(row);
      var at = Date.parse(data.logged_at);
      var next = null;
      for (var i = 0; i < body.rows.length; i++) {
        var other = Date.parse(body.rows[i].getAttribute("data-logged-at"));
        if (!(other > at)) { next = body.rows[i]; break; }
      }
      if (!next && olderPagesExist) return false; // it belongs on an older page
      keepingPlace(next, function () {
        body.insertBefore(row, next);
        while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
      });
      if (wrap) wrap.hidden = false;
      if (empty) empty.hidden = true;
      return true;
    }

    function receive(data) {
      if (paused && !document.getElementById("log-row-" + data.id)) {
        held.push(data);
        say(plural(held.length, "new message") + " held while paused.");
        showHeld.hidden = false;
        return;
      }
      if (place(data)) {
        unannounced += 1;
        if (!announceTimer) announceTimer = window.setTimeout(announce, ANNOUNCE_AFTER_MS);
      }
    }

    function releaseHeld() {
      var shown = 0;
      held.splice(0).forEach(function (data) { if (place(data)) shown += 1; });
      showHeld.hidden = true;
      say(shown ? plural(shown, "held message") + " shown." : "No held messages.");
    }

    document.addEventListener("focusout", function (event) {
      var row = event.target.closest && event.target.closest("tr[data-id]");
      if (!row) return;
      var id = row.getAttribute("data-id");
      if (deferred[id] && !row.contains(event.relatedTarget)) {
        var html = deferred[id];
        delete deferred[id];
        var replacement = rowFrom(html);
        if (row.classList.contains("is-new")) markNew(replacement);
        keepingPlace(row, function () { row.replaceWith(replacement); });
      }
    });

    pause.addEventListener("click", function () {
      paused = !paused;
      pause.setAttribute("aria-pressed", paused ? "true" : "false");
      if (announceTimer) window.clearTimeout(announceTimer);
      announceTimer = null;
      unannounced = 0;
      if (paused) {
        say("Paused: new messages are held until you resume.");
      } else {
        say("Live: new messages appear at the top as they arrive.");
        if (held.length) releaseHeld();
      }
    });
    showHeld.addEventListener("click", releaseHeld);

    var url = bar.getAttribute("data-live-url");
    var since = bar.getAttribute("data-live-since");
    var source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "live_since=" + encodeURIComponent(since));
    source.addEventListener("row", function (event) {
      try {
        receive(JSON.parse(event.data));
      } catch (error) {
        // A malformed event is skipped; the next poll's rows still arrive.
      }
    });
    source.addEventListener("overflow", function () {
      say("Many messages arrived at once. Reload the page to see them all.");
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) say("Live updates stopped. Reload the page to start them again.");
    });
    bar.setAttribute("data-live-state", "connected");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var bar = document.getElementById("live-bar");
    if (bar) start(bar);
  });
})();
