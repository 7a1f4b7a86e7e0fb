// App page: live pipeline progress (status WebSocket → htmx refresh), build-log viewer (live while building),
// runtime logs (WebSocket), env var editing. The CPU/memory charts are metrics_charts.js (shared with services).
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
  function refreshMetrics() { var m = document.getElementById("metrics"); if (m) m.dispatchEvent(new Event("metrics-refresh")); }
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
      if (change.status === "running") setTimeout(refreshMetrics, 300);  // graphs start with the new container
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
      form.elements.scope.value = current.scope || "runtime";
      form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
      dlg.showModal();
      form.elements.value.focus();
    } catch (err) { Rivetr.toast(err.message, "error"); }
  });
  // ------------------------------------------------------------------------------- build plan
  // What the build would do (builder, detector, commands, generated Dockerfile) without building; the
  // Dockerfile downloads as a file to commit and edit.
  var planDlg = document.getElementById("plan-dialog");
  var planBtn = document.getElementById("plan-show");
  if (planBtn && planDlg) {
    var planDownload = document.getElementById("plan-download");
    planBtn.addEventListener("click", async function () {
      var summary = document.getElementById("plan-summary");
      var text = document.getElementById("plan-dockerfile");
      summary.textContent = "Cloning and detecting…";
      text.textContent = "";
      planDownload.hidden = true;
      planDlg.showModal();
      try {
        var plan = await Rivetr.api("GET", planBtn.dataset.plan);
        var parts = ["Builder: " + plan.builder];
        if (plan.detector) parts.push("detected " + plan.language + (plan.framework ? " (" + plan.framework + ")" : ""));
        if (plan.install_command) parts.push("install: " + plan.install_command);
        if (plan.build_command) parts.push("build: " + plan.build_command);
        if (plan.start_command) parts.push("start: " + plan.start_command);
        if (plan.port) parts.push("port " + plan.port);
        summary.textContent = parts.join(" · ");
        if (plan.dockerfile) {
          text.textContent = plan.dockerfile;
          if (planDownload.href) URL.revokeObjectURL(planDownload.href);
          planDownload.href = URL.createObjectURL(new Blob([plan.dockerfile], { type: "text/plain" }));
          planDownload.hidden = false;
        } else {
          text.textContent = "The repository's own Dockerfile is built as it is.";
        }
      } catch (err) {
        summary.textContent = err.message;
      }
    });
    document.getElementById("plan-close").addEventListener("click", function () { planDlg.close(); });
  }

  if (form) {
    form.addEventListener("api:success", function () { dlg.close(); refresh("#env-vars"); });
    document.getElementById("env-edit-cancel").addEventListener("click", function () { dlg.close(); });
  }
})();
