// Run page: the chain's timeline (only visible rows are drawn, so 10,000 runs scroll
// smoothly), the live log tail, and live status through /ui/stream.
(function () {
  var meta = document.getElementById("run-meta");
  if (!meta) { return; }
  var RUN = meta.dataset.run, ROOT = meta.dataset.root, STATUS = meta.dataset.status;
  var FINAL = { completed: 1, failed: 1, canceled: 1 };
  var ICONS = { pending: "◷", running: "▶", completed: "✓", failed: "✕", canceled: "⊘" };
  var ROW_H = 28;

  function fmt(s) {
    if (s < 1) { return Math.round(s * 1000) + " ms"; }
    if (s < 60) { return s.toFixed(2) + " s"; }
    var m = Math.floor(s / 60);
    return m < 60 ? m + "m " + Math.floor(s % 60) + "s" : Math.floor(m / 60) + "h " + (m % 60) + "m";
  }

  // ---- timeline -----------------------------------------------------------------------------
  var box = document.getElementById("timeline");
  var rows = [], t0 = 0, t1 = 1, axis, bodyEl, pad, drawn = "";

  function order(data) {
    var byParent = {}, list = [];
    data.rows.forEach(function (r) { (byParent[r[1] || ""] = byParent[r[1] || ""] || []).push(r); });
    var stack = (byParent[""] || []).map(function (r) { return [r, 0]; }).reverse();
    while (stack.length) {
      var item = stack.pop(), r = item[0];
      list.push({ id: r[0], task: r[2], status: r[3], created: r[4], ended: r[5], spans: r[6], depth: item[1] });
      var kids = byParent[r[0]] || [];
      for (var i = kids.length - 1; i >= 0; i--) { stack.push([kids[i], item[1] + 1]); }
    }
    return list;
  }

  function segments(r, now) {
    // queued: from creation (or the previous attempt's end) to the next attempt's start
    var out = [], from = r.created;
    r.spans.forEach(function (s) {
      if (s[0] > from) { out.push([from, s[0], "queued"]); }
      var end = s[1] === null ? now : s[1];
      out.push([s[0], end, s[2] === "failed" ? "failed" : s[2] === "canceled" ? "canceled" : "running"]);
      from = end;
    });
    var end = r.ended === null ? now : r.ended;
    if (end > from && (r.spans.length === 0 || r.status === "pending")) { out.push([from, end, "queued"]); }
    return out;
  }

  function build(data) {
    rows = order(data);
    var now = data.now;
    t0 = Infinity; t1 = -Infinity;
    rows.forEach(function (r) {
      r.segs = segments(r, now);
      t0 = Math.min(t0, r.created);
      r.segs.forEach(function (s) { t1 = Math.max(t1, s[1]); });
      t1 = Math.max(t1, r.ended || r.created);
    });
    if (!(t1 > t0)) { t1 = t0 + 1; }
    box.replaceChildren();
    axis = document.createElement("div"); axis.className = "tl-axis"; axis.setAttribute("aria-hidden", "true");
    pad = document.createElement("div"); pad.className = "tl-axis-pad"; axis.appendChild(pad);
    for (var i = 0; i <= 4; i++) {
      var tick = document.createElement("span");
      tick.style.left = (i * 25) + "%";
      tick.textContent = "+" + fmt((t1 - t0) * i / 4);
      pad.appendChild(tick);
    }
    bodyEl = document.createElement("div"); bodyEl.className = "tl-body";
    bodyEl.style.height = (rows.length * ROW_H) + "px";
    box.appendChild(axis); box.appendChild(bodyEl);
    box.style.height = Math.min(rows.length * ROW_H + 34, 416) + "px";
    var note = document.getElementById("timeline-count");
    if (note) { note.textContent = rows.length + " run(s)" + (data.truncated ? " (truncated)" : ""); }
    drawn = ""; draw();
  }

  function row(r, i) {
    var el = document.createElement("div");
    el.className = "tl-row" + (r.id === RUN ? " current" : "");
    el.style.top = (i * ROW_H) + "px";
    el.dataset.run = r.id; el.dataset.status = r.status;
    var label = document.createElement("div"); label.className = "tl-label";
    label.style.paddingLeft = (0.4 + Math.min(r.depth, 12) * 0.9) + "rem";
    var a = document.createElement("a"); a.href = "/runs/" + r.id; a.textContent = r.task;
    var st = document.createElement("span"); st.className = "st status-" + r.status;
    st.textContent = " " + (ICONS[r.status] || "") + " " + r.status;
    label.appendChild(a); label.appendChild(st);
    var track = document.createElement("div"); track.className = "tl-track";
    var queued = 0, ran = 0, span = t1 - t0;
    r.segs.forEach(function (s) {
      var bar = document.createElement("span"); bar.className = "tl-" + s[2];
      bar.style.left = ((s[0] - t0) / span * 100) + "%";
      bar.style.width = ((s[1] - s[0]) / span * 100) + "%";
      if (s[2] === "queued") { queued += s[1] - s[0]; } else { ran += s[1] - s[0]; }
      track.appendChild(bar);
    });
    var text = r.task + ", " + r.status + ", queued " + fmt(queued) + ", ran " + fmt(ran);
    track.title = text;
    track.setAttribute("role", "img"); track.setAttribute("aria-label", text);
    el.appendChild(label); el.appendChild(track);
    return el;
  }

  function draw() {
    if (!bodyEl) { return; }
    var top = Math.max(0, box.scrollTop - 26), height = box.clientHeight || 400;
    var first = Math.max(0, Math.floor(top / ROW_H) - 10);
    var last = Math.min(rows.length, Math.ceil((top + height) / ROW_H) + 10);
    var key = first + ":" + last;
    if (key === drawn) { return; }
    drawn = key;
    var frag = document.createDocumentFragment();
    for (var i = first; i < last; i++) { frag.appendChild(row(rows[i], i)); }
    bodyEl.replaceChildren(frag);
  }

  var scheduled = false;
  box.addEventListener("scroll", function () {
    if (!scheduled) { scheduled = true; requestAnimationFrame(function () { scheduled = false; draw(); }); }
  }, { passive: true });
  window.addEventListener("resize", function () { drawn = ""; draw(); });

  var loading = false, again = false;
  function loadTimeline() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(box.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { var y = box.scrollTop; build(data); box.scrollTop = y; drawn = ""; draw(); })
      .catch(function () {})
      .then(function () { loading = false; if (again) { again = false; setTimeout(loadTimeline, 300); } });
  }
  var pendingTimer = null;
  function soon() { if (!pendingTimer) { pendingTimer = setTimeout(function () { pendingTimer = null; loadTimeline(); }, 400); } }
  loadTimeline();
  setInterval(function () {
    if (rows.some(function (r) { return !FINAL[r.status]; })) { loadTimeline(); }
  }, 2000);

  // ---- logs ---------------------------------------------------------------------------------
  var logs = document.getElementById("logs"), pick = document.getElementById("log-attempt");
  var state = document.getElementById("log-state");
  // after the run ends, look a few more times: a killed process's last lines land late
  var after = 0, extra = 3, timer = null, gen = 0;

  function addLines(lines) {
    var atBottom = logs.scrollHeight - logs.scrollTop - logs.clientHeight < 30;
    var frag = document.createDocumentFragment();
    lines.forEach(function (l) {
      var div = document.createElement("div");
      if (l.stream === "stderr") { div.className = "err"; }
      var m = document.createElement("span"); m.className = "meta";
      m.textContent = "#" + (l.attempt + 1) + " ";
      div.appendChild(m); div.appendChild(document.createTextNode(l.line));
      frag.appendChild(div);
    });
    logs.appendChild(frag);
    if (atBottom) { logs.scrollTop = logs.scrollHeight; }
  }

  function poll() {
    var mine = gen, url = logs.dataset.src + "?after=" + after + (pick.value ? "&attempt=" + pick.value : "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== gen) { return; }
        addLines(data.lines || []);
        after = data.next;
        var more = (data.lines || []).length >= 2000;
        if (data.final && !more) {
          state.textContent = logs.childNodes.length ? "" : "This run printed nothing.";
          if (extra-- > 0) { timer = setTimeout(poll, 1000); }
          return;
        }
        state.textContent = "Following the log…";
        timer = setTimeout(poll, more ? 50 : 1000);
      })
      .catch(function () { timer = setTimeout(poll, 2000); });
  }
  pick.addEventListener("change", function () {
    gen++; clearTimeout(timer); logs.replaceChildren(); after = 0; extra = 3; poll();
  });
  poll();

  // ---- live status --------------------------------------------------------------------------
  var source = new EventSource("/ui/stream?root=" + encodeURIComponent(ROOT));
  source.addEventListener("run", function (ev) {
    var run = JSON.parse(ev.data);
    soon();
    if (run.id === RUN && run.status !== STATUS) {
      STATUS = run.status;
      var badge = document.querySelector("#run-status .status");
      if (badge) {
        badge.className = "status status-" + run.status; badge.dataset.status = run.status;
        badge.lastChild.textContent = " " + run.status;
        badge.firstChild.textContent = ICONS[run.status] || "";
      }
      document.getElementById("fact-status").textContent = run.status;
      if (FINAL[run.status]) { setTimeout(function () { location.reload(); }, 1500); }
    }
  });
  source.addEventListener("resync", soon);
  window.addEventListener("pagehide", function () { source.close(); });
})();
