// The Server page's proxy card: the proxy process (pid, uptime, version) from GET /api/proxy, and the result of
// its Restart button (a data-action POST /api/proxy/restart with a confirm dialog, see app.js) as a toast.
(function () {
  "use strict";
  var line = document.querySelector("[data-proxy-process]");
  if (!line) return;

  function uptime(seconds) {
    var s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  }

  function show(st) {
    line.textContent = st.running
      ? "pid " + st.pid + " · up " + uptime(st.uptime) + (st.version ? " · v" + st.version : "")
      : "not running" + (st.error ? ": " + st.error : "");
    line.dataset.pid = st.pid == null ? "" : String(st.pid);
  }

  async function refresh() {
    try { show(await Rivetr.api("GET", line.dataset.proxyProcess)); }
    catch (err) { line.textContent = err.message || String(err); }
  }

  document.addEventListener("api:success", function (ev) {
    if (!ev.target.matches || !ev.target.matches("[data-proxy-restart]")) return;
    var res = ev.detail;
    show(res.status);
    Rivetr.toast(res.restarted
      ? "Proxy restarted: pid " + res.previous_pid + " → " + res.pid + ", ports kept open."
      : "The proxy was not running: started it (pid " + res.pid + ").", "ok");
  });
  refresh();
})();
