// healloop dashboard: live rows over server-sent events. No framework, no build step.
// The server renders every row (escaped); this script only swaps in fresh server-rendered HTML.
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var live = document.getElementById("live");
  if (!live || (page !== "events" && page !== "event")) return;

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

  var pending = false;
  var again = false;
  // One refetch at a time; changes arriving meanwhile cause one more, not one each.
  function refresh(changedId) {
    if (pending) { again = true; return; }
    pending = true;
    fetch(partialUrl(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
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
  source.onmessage = function (msg) {
    var change;
    try { change = JSON.parse(msg.data); } catch (e) { return; }
    if (page === "event" && change.id !== body.getAttribute("data-event-id")) return;
    refresh(change.id);
  };
})();
