// Runs page: follows /ui/stream (server-sent events) and updates or prepends rows live.
(function () {
  var table = document.getElementById("runs");
  if (!table || !table.dataset.stream) { return; }
  var body = table.tBodies[0], empty = document.getElementById("runs-empty");
  var MAX_ROWS = 50, ICONS = { pending: "◷", running: "▶", completed: "✓", failed: "✕", canceled: "⊘" };

  function badge(status) {
    var s = document.createElement("span");
    s.className = "status status-" + status;
    s.dataset.status = status;
    var icon = document.createElement("span");
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = ICONS[status] || "";
    s.appendChild(icon);
    s.appendChild(document.createTextNode(" " + status));
    return s;
  }
  function when(iso) { return iso ? iso.replace("T", " ").replace("Z", "").slice(0, 23) : "—"; }
  function cell(tr, text) { var td = tr.insertCell(); td.textContent = text; return td; }

  function newRow(run) {
    var tr = document.createElement("tr");
    tr.id = "run-" + run.id;
    tr.dataset.run = run.id;
    var td = tr.insertCell(), a = document.createElement("a"), code = document.createElement("code");
    a.href = "/runs/" + run.id; code.textContent = run.id; a.appendChild(code); td.appendChild(a);
    if (run.parentId) {
      var tag = document.createElement("span"); tag.className = "tag"; tag.textContent = "chained";
      td.appendChild(document.createTextNode(" ")); td.appendChild(tag);
    }
    cell(tr, run.slug);
    cell(tr, "").className = "c-status";
    var t = document.createElement("time"); t.dateTime = run.createdAt || "";
    t.textContent = when(run.createdAt); tr.insertCell().appendChild(t);
    cell(tr, "").className = "c-duration";
    cell(tr, "").className = "c-attempts";
    return tr;
  }
  function update(tr, run) {
    var st = tr.querySelector(".c-status");
    st.replaceChildren(badge(run.status));
    tr.querySelector(".c-duration").textContent =
      run.duration || (run.startedAt ? "running" : "—");
    tr.querySelector(".c-attempts").textContent = String(run.attempts);
  }
  function onRun(ev) {
    var run = JSON.parse(ev.data), tr = document.getElementById("run-" + run.id);
    if (!tr) {
      tr = newRow(run);
      body.insertBefore(tr, body.firstChild);
      tr.classList.add("flash-row");
      while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
      if (empty) { empty.hidden = true; }
    }
    update(tr, run);
  }
  var source = new EventSource(table.dataset.stream);
  source.addEventListener("run", onRun);
  source.addEventListener("resync", function () { location.reload(); });
  window.addEventListener("pagehide", function () { source.close(); });
})();
