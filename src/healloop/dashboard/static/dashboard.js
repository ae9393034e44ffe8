// healloop dashboard: live rows over server-sent events. No framework, no build step.
// The server renders every row (escaped); this script only swaps in fresh server-rendered HTML.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var live = document.getElementById("live");
  if (!live || (page !== "events" && page !== "event" && page !== "test")) return;
  if (page === "test" && !body.hasAttribute("data-test")) return;  // the lookup form, no test shown yet

  function setLive(on) {
    live.setAttribute("data-state", on ? "on" : "off");
    live.textContent = live.getAttribute(on ? "data-on" : "data-off");
  }

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.delete("done");
    url.searchParams.set("partial", "1");
    return url.toString();
  }

  // The test page has no partial: it takes its figures' sections from the whole page, and the
  // quarantine section only while nobody is typing in its forms.
  var TEST_PARTS = ["summary", "per-node", "heals", "test-events", "past"];
  function typing(section) {
    if (!section) return false;
    if (section.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return true;
    var inputs = section.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].type !== "hidden" && inputs[i].value !== inputs[i].defaultValue) return true;
    }
    return false;
  }
  var heldBack = false;  // the quarantine section was not updated while someone typed in it
  function swapTest(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var parts = TEST_PARTS.slice();
    heldBack = typing(document.getElementById("quarantine"));
    if (!heldBack) parts.push("quarantine", "q-state");
    parts.forEach(function (id) {
      var old = document.getElementById(id);
      var now = fresh.getElementById(id);
      if (old && now) old.replaceWith(document.importNode(now, true));
    });
  }

  function pageUrl() {
    if (page !== "test") return partialUrl();
    var url = new URL(window.location.href);
    url.searchParams.delete("done");
    return url.toString();
  }

  var pending = false;
  var again = false;
  // One refetch at a time; changes arriving meanwhile cause one more, not one each.
  function refresh(changedId) {
    if (pending) { again = true; return; }
    pending = true;
    fetch(pageUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        if (page === "test") { swapTest(html); return; }
        var target = document.getElementById(page === "events" ? "events" : "event");
        target.innerHTML = html;
        if (page === "event") {
          var note = document.getElementById("changed");
          if (note) note.hidden = false;
        } else if (changedId) {
          var rows = target.querySelectorAll("tr[data-id]");
          for (var i = 0; i < rows.length; i++) {
            if (rows[i].getAttribute("data-id") === changedId) rows[i].classList.add("flash");
          }
        }
      })
      .catch(function () {})
      .then(function () {
        pending = false;
        if (again) { again = false; refresh(null); }
      });
  }

  var source = new EventSource("/live");
  var connectedOnce = false;
  source.addEventListener("hello", function () {
    // Reconnected after a drop or restart: changes may have been missed, so reload the rows.
    if (connectedOnce) refresh(null);
    connectedOnce = true;
    setLive(true);
  });
  source.onerror = function () { setLive(false); };
  function ofThisTest(change) {
    return change.spec === body.getAttribute("data-spec") && change.test === body.getAttribute("data-test");
  }
  source.onmessage = function (msg) {
    var change;
    try { change = JSON.parse(msg.data); } catch (e) { return; }
    if (page === "event" && change.id !== body.getAttribute("data-event-id")) return;
    if (page === "test" && !ofThisTest(change)) return;
    refresh(change.id);
  };
  if (page === "test") {
    source.addEventListener("test", function (msg) {
      var change;
      try { change = JSON.parse(msg.data); } catch (e) { return; }
      if (ofThisTest(change)) refresh(null);
    });
    // A run report names no test here (one may count hundreds): any may have counted this one.
    source.addEventListener("runs", function () { refresh(null); });
    // Typing done (the field left, nothing changed in it): catch up on what was held back.
    document.addEventListener("focusout", function () {
      setTimeout(function () {
        if (heldBack && !typing(document.getElementById("quarantine"))) refresh(null);
      }, 0);
    });
  }
})();
