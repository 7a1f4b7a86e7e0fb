// App page: live pipeline progress (status WebSocket → htmx refresh), build-log viewer (live while building),
// runtime logs (WebSocket), CPU/memory charts (uPlot), env var editing.
(function () {
  "use strict";
  var root = document.getElementById("app-root");
  if (!root) return;
  var appId = root.dataset.appId;
  var MAX_LINES = 5000;

  function wsUrl(path, params) {
    var q = new URLSearchParams(params || {}).toString();
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path + (q ? "?" + q : "");
  }
  function refresh(selector) { var el = document.querySelector(selector); if (el && window.htmx) htmx.trigger(el, "refresh"); }
  function setBadge(el, text, cls) { el.textContent = text; el.className = "badge " + (cls || ""); }
  function statusLabel(status) { return status.replace(/_/g, " "); }
  function appendLine(pre, text, cls) {
    var stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 30;
    var span = document.createElement("span");
    if (cls) span.className = cls;
    span.textContent = text + "\n";
    pre.appendChild(span);
    while (pre.childNodes.length > MAX_LINES) pre.removeChild(pre.firstChild);
    if (stick) pre.scrollTop = pre.scrollHeight;
  }

  // ------------------------------------------------------------------------------- build log viewer
  var buildLog = document.getElementById("build-log");
  var buildState = document.getElementById("build-log-state");
  var buildWhich = document.getElementById("build-log-which");
  var buildWs = null, buildId = null;
  function showLog(deploymentId) {
    if (!deploymentId) return;
    if (buildWs) { buildWs.onclose = null; buildWs.close(); }
    buildId = deploymentId;
    buildLog.textContent = "";
    buildWhich.textContent = "· " + deploymentId.slice(0, 8);
    buildLog.dataset.deployment = deploymentId;
    setBadge(buildState, "connecting", "active");
    var ws = buildWs = new WebSocket(wsUrl("/api/deployments/" + encodeURIComponent(deploymentId) + "/logs/stream"), Rivetr.wsProtocols());
    ws.onopen = function () { setBadge(buildState, "live", "active"); };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.event === "end") {
        setBadge(buildState, statusLabel(msg.status), msg.status);
        if (msg.error) appendLine(buildLog, "✕ " + msg.error, "err");
      } else if (msg.event === "status") {
        // A pipeline step begins here: a header above its output, as `rivetr deploy --follow` prints.
        appendLine(buildLog, "==> " + statusLabel(msg.status), "step");
      } else if (typeof msg.line === "string") appendLine(buildLog, msg.line);
    };
    ws.onclose = function (ev) {
      if (ws !== buildWs) return;
      if (ev.code !== 1000) setBadge(buildState, ev.reason || "disconnected", "warn");
    };
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-show-log]");
    if (b) { showLog(b.dataset.showLog); buildLog.focus(); }
  });
  // Deploy / restart / rollback buttons answer with the new deployment: follow its log at once.
  document.addEventListener("api:success", function (ev) {
    var d = ev.detail;
    if (d && d.id && d.status === "queued" && d.app_id === appId) showLog(d.id);
  });
  var latest = document.getElementById("latest-status");
  if (latest) showLog(latest.dataset.deployment);

  // ------------------------------------------------------------------------------- health check form
  // Only the fields of the selected kind are shown and sent (disabled fields stay out of the body).
  var healthKind = document.querySelector("[data-health-kind]");
  function syncHealthFields() {
    var kind = healthKind.value, builtin = ["http", "tcp", "command"].indexOf(kind) >= 0;
    document.querySelectorAll("[data-health-for]").forEach(function (field) {
      var on = field.dataset.healthFor.split(" ").some(function (k) { return k === kind || (k === "plugin" && !builtin); });
      field.hidden = !on;
      field.querySelectorAll("input, textarea, select").forEach(function (input) { input.disabled = !on; });
    });
  }
  if (healthKind) { healthKind.addEventListener("change", syncHealthFields); syncHealthFields(); }

  // ------------------------------------------------------------------------------- live status
  var retry = 500;
  function connectEvents() {
    var ws = new WebSocket(wsUrl("/ws/events", { app_id: appId }), Rivetr.wsProtocols());
    ws.onopen = function () { retry = 500; refresh("#deploy-panel"); refresh("#deployments"); };
    ws.onmessage = function (ev) {
      var change = JSON.parse(ev.data);
      refresh("#deploy-panel");
      refresh("#deployments");
      if (["running", "failed", "cancelled", "superseded"].indexOf(change.status) >= 0) refresh("#app-header");
      if (change.status === "running") setTimeout(poll, 300);  // graphs start with the new container
      if (change.status === "queued" && change.deployment_id !== buildId) showLog(change.deployment_id);
    };
    ws.onclose = function () { setTimeout(connectEvents, retry); retry = Math.min(retry * 2, 10000); };
  }
  connectEvents();

  // ------------------------------------------------------------------------------- runtime logs
  var runLog = document.getElementById("runtime-log");
  var runState = document.getElementById("runtime-log-state");
  var runToggle = document.getElementById("runtime-log-toggle");
  var runWs = null;
  function stopRuntimeLogs() {
    if (runWs) { runWs.onclose = null; runWs.close(); runWs = null; }
    setBadge(runState, "paused", "");
    runToggle.textContent = "Follow live";
  }
  function startRuntimeLogs() {
    stopRuntimeLogs();
    setBadge(runState, "connecting", "active");
    runToggle.textContent = "Pause";
    var ws = runWs = new WebSocket(wsUrl("/api/apps/" + encodeURIComponent(appId) + "/logs/stream", { tail: "200" }), Rivetr.wsProtocols());
    ws.onopen = function () { setBadge(runState, "live", "running"); };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.event === "end") { appendLine(runLog, "— container output ended —", "err"); return; }
      appendLine(runLog, msg.line, msg.stream === "stderr" ? "err" : "");
    };
    ws.onclose = function (ev) {
      if (ws !== runWs) return;
      runWs = null;
      runToggle.textContent = "Follow live";
      setBadge(runState, ev.reason || "disconnected", "warn");
    };
  }
  runToggle.addEventListener("click", function () { if (runWs) stopRuntimeLogs(); else startRuntimeLogs(); });
  document.getElementById("runtime-log-clear").addEventListener("click", function () { runLog.textContent = ""; });
  if (location.hash === "#logs") startRuntimeLogs();
  window.addEventListener("hashchange", function () { if (location.hash === "#logs" && !runWs) startRuntimeLogs(); });

  // ------------------------------------------------------------------------------- metrics
  var cpuEl = document.getElementById("cpu-chart"), memEl = document.getElementById("mem-chart");
  var series = { t: [], cpu: [], mem: [] }, cpuPlot = null, memPlot = null, seen = {}, historyLoaded = false;
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function makePlot(el, label, color, fmt) {
    if (!window.uPlot) return null;
    var opts = {
      width: Math.max(el.clientWidth, 200), height: 180,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max * 1.2, label === "CPU %" ? 5 : 1)]; } } },
      axes: [{ stroke: css("--muted"), grid: { stroke: css("--border") } },
             { stroke: css("--muted"), grid: { stroke: css("--border") }, values: function (u, v) { return v.map(fmt); }, size: 60 }],
      series: [{}, { label: label, stroke: color, width: 2, fill: color + "22", value: function (u, v) { return v == null ? "—" : fmt(v); } }],
      legend: { show: true }
    };
    return new uPlot(opts, [[], []], el);
  }
  function mib(v) {
    if (v >= 1073741824) return (v / 1073741824).toFixed(1) + " GiB";
    return (v / 1048576).toFixed(v < 10485760 ? 1 : 0) + " MiB";
  }
  function pct(v) { return v.toFixed(1) + "%"; }
  function add(sample) {
    var t = Date.parse(sample.ts) / 1000;
    if (!t || seen[t]) return;
    seen[t] = true;
    var i = series.t.length;
    while (i > 0 && series.t[i - 1] > t) i--;  // keep time order (history and live samples interleave)
    series.t.splice(i, 0, t); series.cpu.splice(i, 0, sample.cpu_percent || 0); series.mem.splice(i, 0, sample.memory_used || 0);
    if (series.t.length > 720) { delete seen[series.t.shift()]; series.cpu.shift(); series.mem.shift(); }
  }
  async function poll() {
    try {
      var res = await fetch("/apps/" + encodeURIComponent(appId) + "/stats.json", { credentials: "same-origin" });
      if (!res.ok) return;
      var data = await res.json();
      if (!historyLoaded) {
        historyLoaded = true;
        try {
          var hist = await Rivetr.api("GET", "/api/apps/" + encodeURIComponent(appId) + "/metrics?range=1h");
          (hist.points || []).forEach(add);
        } catch (e) { /* no history yet: live samples still draw */ }
      }
      var now = document.getElementById("metrics-now");
      if (data.now) {
        add(data.now);
        now.textContent = "now: " + pct(data.now.cpu_percent) + " CPU · " + mib(data.now.memory_used) + (data.now.memory_limit ? " of " + mib(data.now.memory_limit) : "");
      } else now.textContent = data.error || "";
      if (!series.t.length) return;
      document.getElementById("metrics-empty").hidden = true;
      document.getElementById("charts").hidden = false;
      if (!cpuPlot) { cpuPlot = makePlot(cpuEl, "CPU %", "#2f6fed", pct); memPlot = makePlot(memEl, "Memory", "#1a9a55", mib); }
      if (cpuPlot) {
        cpuPlot.setData([series.t, series.cpu]);
        memPlot.setData([series.t, series.mem]);
        // At least a five-minute window: a lone first sample would otherwise stretch the axis over years.
        var last = series.t[series.t.length - 1];
        var x = { min: Math.min(series.t[0], last - 300), max: last + 5 };
        cpuPlot.setScale("x", x);
        memPlot.setScale("x", x);
      }
    } catch (e) { /* offline for a moment: the next poll retries */ }
  }
  poll();
  setInterval(function () { if (!document.hidden) poll(); }, 5000);
  window.addEventListener("resize", function () {
    if (cpuPlot) { cpuPlot.setSize({ width: cpuEl.clientWidth, height: 180 }); memPlot.setSize({ width: memEl.clientWidth, height: 180 }); }
  });

  // ------------------------------------------------------------------------------- env var editing
  var dlg = document.getElementById("env-edit-dialog");
  var form = document.getElementById("env-edit-form");
  document.addEventListener("click", async function (ev) {
    var b = ev.target.closest("[data-edit-env]");
    if (!b) return;
    var key = b.dataset.editEnv;
    var path = "/api/apps/" + encodeURIComponent(appId) + "/env-vars/" + encodeURIComponent(key);
    try {
      var current = await Rivetr.api("GET", path + "?reveal=true");
      form.dataset.api = "PUT " + path;
      document.getElementById("env-edit-key").textContent = key;
      form.elements.value.value = current.value;
      form.elements.is_secret.checked = current.is_secret;
      form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
      dlg.showModal();
      form.elements.value.focus();
    } catch (err) { Rivetr.toast(err.message, "error"); }
  });
  if (form) {
    form.addEventListener("api:success", function () { dlg.close(); refresh("#env-vars"); });
    document.getElementById("env-edit-cancel").addEventListener("click", function () { dlg.close(); });
  }
})();
