// Re-fetches this page every data-every seconds and swaps <main>: live counts without reload.
(function () {
  var me = document.currentScript;
  var every = Math.max(1, parseInt(me && me.dataset.every, 10) || 5) * 1000;
  function tick() {
    if (document.hidden) { return setTimeout(tick, every); }
    fetch(location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main"), main = document.getElementById("main");
        var active = document.activeElement;
        if (fresh && main && !(active && main.contains(active) && /INPUT|SELECT/.test(active.tagName))) {
          main.innerHTML = fresh.innerHTML;
        }
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
