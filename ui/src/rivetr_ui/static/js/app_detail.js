// App page (one tab per page: data-tab on #app-root): the tab bar's keys and the old anchors, live pipeline
// progress (status WebSocket → htmx refresh), the build-log viewer (live while building), runtime logs (search
// through the API, follow through a WebSocket), copy/download/full screen of a log, env var editing and the
// bulk .env paste, the pending-changes banner. CPU/memory charts: metrics_charts.js (shared with services).
(function () {
  "use strict";
  var root = document.getElementById("app-root");
  if (!root) return;
  var appId = root.dataset.appId;
  var tab = root.dataset.tab;
  var base = root.dataset.base;
  var MAX_LINES = 10000;

  // ------------------------------------------------------------------------------- tabs
  // Links of the single-page layout (/apps/<id>#logs, #config, #backups-panel ...) land on their tab.
  var OLD_ANCHORS = { "#logs": "logs", "#env": "env", "#config": "settings", "#settings": "settings",
    "#links-panel": "links", "#volumes-panel": "volumes", "#backups-panel": "backups", "#previews-panel": "previews",
    "#timeline": "deployments", "#deployments": "deployments", "#build-log": "deployments" };
  if (tab === "overview" && OLD_ANCHORS[location.hash]) {
    location.replace(base + "/" + OLD_ANCHORS[location.hash]);
    return;
  }
  // Arrow keys, Home and End move along the tab bar (one Tab stop: the current tab); Enter follows the link.
  var tabs = Array.prototype.slice.call(document.querySelectorAll('#app-tabs [role="tab"]'));
  document.getElementById("app-tabs").addEventListener("keydown", function (ev) {
    var i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    var next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    var t = tabs[(next + tabs.length) % tabs.length];
    t.focus();
    t.scrollIntoView({ block: "nearest", inline: "nearest" });
  });
  var current = document.querySelector('#app-tabs [aria-selected="true"]');
  if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest", inline: "center" });

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
    if (!deploymentId || !buildLog) return;
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
    if (b && buildLog) { showLog(b.dataset.showLog); buildLog.focus(); }
  });
  // Deploy / restart / rollback buttons answer with the new deployment: follow its log at once. Any change
  // (a variable, a setting, a deploy) may show or clear the pending-changes banner.
  document.addEventListener("api:success", function (ev) {
    var d = ev.detail;
    if (d && d.id && d.status === "queued" && d.app_id === appId) showLog(d.id);
    // An action that leaves the page (deleting the app) has nothing left to re-read: its banner would be a 404.
    var then = (ev.target && ev.target.dataset && ev.target.dataset.apiSuccess) || "";
    if (then.indexOf("redirect:") < 0) refresh("#app-pending");
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
      if (["running", "failed", "cancelled", "superseded"].indexOf(change.status) >= 0) { refresh("#app-header"); refresh("#app-pending"); }
      if (change.status === "running") setTimeout(refreshMetrics, 300);  // graphs start with the new container
      if (change.status === "queued" && change.deployment_id !== buildId) showLog(change.deployment_id);
    };
    ws.onclose = function () { setTimeout(connectEvents, retry); retry = Math.min(retry * 2, 10000); };
  }
  connectEvents();

  // ------------------------------------------------------------------------------- runtime logs
  // On open: the last lines through GET /api/apps/{id}/logs (search, since, tail: the server filters); Follow
  // live appends new lines from the WebSocket, the search applied to them too. Download takes the same filters.
  var runLog = document.getElementById("runtime-log");
  if (runLog) {
    var runState = document.getElementById("runtime-log-state");
    var runToggle = document.getElementById("runtime-log-toggle");
    var runSummary = document.getElementById("runtime-log-summary");
    var filter = document.getElementById("runtime-log-filter");
    var download = document.getElementById("runtime-log-download");
    var runWs = null;
    var logsPath = "/api/apps/" + encodeURIComponent(appId) + "/logs";
    function filterParams() {
      var p = new URLSearchParams();
      var q = filter.elements.q.value.trim(), since = filter.elements.since.value;
      if (q) p.set("q", q);
      if (since) p.set("since", since);
      p.set("tail", filter.elements.tail.value);
      return p;
    }
    function syncDownload() {
      var p = filterParams();
      p.set("download", "1");
      download.href = logsPath + "?" + p.toString();
    }
    function stopRuntimeLogs() {
      if (runWs) { runWs.onclose = null; runWs.close(); runWs = null; }
      setBadge(runState, "paused", "");
      runToggle.textContent = "Follow live";
      runToggle.setAttribute("aria-pressed", "false");
    }
    async function loadRuntimeLogs() {
      stopRuntimeLogs();
      syncDownload();
      setBadge(runState, "loading", "active");
      var p = filterParams();
      try {
        var lines = await Rivetr.api("GET", logsPath + "?" + p.toString());
        runLog.textContent = "";
        lines.forEach(function (e) { appendLine(runLog, e.line, e.stream === "stderr" ? "err" : ""); });
        runLog.scrollTop = runLog.scrollHeight;
        var what = p.get("q") ? " containing “" + p.get("q") + "”" : "";
        runSummary.textContent = lines.length + (lines.length === 1 ? " line" : " lines") + what + (p.get("since") ? " from the last " + p.get("since") : "") + ".";
        setBadge(runState, "loaded", "");
      } catch (err) {
        runLog.textContent = "";
        runSummary.textContent = err.message;
        setBadge(runState, err.code === "no_container" ? "not running" : "error", "warn");
      }
    }
    function startRuntimeLogs() {
      stopRuntimeLogs();
      setBadge(runState, "connecting", "active");
      runToggle.textContent = "Pause";
      runToggle.setAttribute("aria-pressed", "true");
      var needle = filter.elements.q.value.trim().toLowerCase();
      // tail 0: what is shown already came from the search; only new lines follow.
      var ws = runWs = new WebSocket(wsUrl("/api/apps/" + encodeURIComponent(appId) + "/logs/stream", { tail: "0" }), Rivetr.wsProtocols());
      ws.onopen = function () { setBadge(runState, "live", "running"); };
      ws.onmessage = function (ev) {
        var msg = JSON.parse(ev.data);
        if (msg.event === "end") { appendLine(runLog, "— container output ended —", "err"); return; }
        if (needle && msg.line.toLowerCase().indexOf(needle) < 0) return;
        appendLine(runLog, msg.line, msg.stream === "stderr" ? "err" : "");
      };
      ws.onclose = function (ev) {
        if (ws !== runWs) return;
        runWs = null;
        runToggle.textContent = "Follow live";
        runToggle.setAttribute("aria-pressed", "false");
        setBadge(runState, ev.reason || "disconnected", "warn");
      };
    }
    runToggle.addEventListener("click", function () { if (runWs) stopRuntimeLogs(); else startRuntimeLogs(); });
    document.getElementById("runtime-log-clear").addEventListener("click", function () { runLog.textContent = ""; runSummary.textContent = ""; });
    // The API wants the session's CSRF header, which a plain link cannot send: fetch the file, then save it
    // under the name the server gave (Content-Disposition).
    download.addEventListener("click", async function (ev) {
      ev.preventDefault();
      syncDownload();
      try {
        var res = await fetch(download.href, { credentials: "same-origin", headers: { "X-CSRF-Token": Rivetr.csrf } });
        if (!res.ok) {
          var body = null;
          try { body = await res.json(); } catch (e) { body = null; }
          throw new Rivetr.ApiError(res.status, body);
        }
        var name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
        saveFile(await res.blob(), name ? name[1] : root.dataset.appName + ".log");
      } catch (err) { Rivetr.toast(err.message, "error"); }
    });
    filter.addEventListener("submit", function (ev) { ev.preventDefault(); loadRuntimeLogs(); });
    filter.addEventListener("change", syncDownload);
    filter.elements.q.addEventListener("input", syncDownload);
    // Never deployed: nothing to ask for (the API would answer 409 no_container).
    if (runLog.dataset.hasContainer === "true") loadRuntimeLogs();
    else { setBadge(runState, "not running", ""); runToggle.disabled = true; }
  }

  // ------------------------------------------------------------------------------- log tools
  // Copy, download (the text shown, as a file) and full screen, for the build log and the runtime log.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-log-copy],[data-log-download],[data-log-full]");
    if (!b) return;
    if (b.dataset.logCopy) {
      Rivetr.copy(document.getElementById(b.dataset.logCopy).textContent, "Log");
    } else if (b.dataset.logDownload) {
      var pre = document.getElementById(b.dataset.logDownload);
      saveFile(new Blob([pre.textContent], { type: "text/plain" }), root.dataset.appName + "-build-" + (pre.dataset.deployment || "log").slice(0, 8) + ".log");
    } else {
      setFull(document.getElementById(b.dataset.logFull), b);
    }
  });
  function saveFile(blob, name) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  }
  function setFull(panel, button, off) {
    var on = off ? false : !panel.classList.contains("full");
    panel.classList.toggle("full", on);
    document.body.classList.toggle("log-full", on);
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Exit full screen" : "Full screen";
    var pre = panel.querySelector(".log");
    if (pre) pre.focus();
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    var panel = document.querySelector(".log-panel.full");
    if (panel) setFull(panel, panel.querySelector("[data-log-full]"), true);
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
        // Which port a deployment uses and why (the app's, detected at the first deployment, or the default).
        if (plan.port) parts.push("port " + plan.port + (plan.port_reason ? " (" + plan.port_reason + ")" : ""));
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

  // ------------------------------------------------------------------------------- bulk .env paste
  // Preview (POST .../env-vars/bulk/preview: nothing written) lists what would be added and changed; Apply sends
  // the same body to .../bulk. Editing the text or the options after a preview asks for a new one.
  var bulk = document.getElementById("env-bulk");
  if (bulk) {
    var bulkPath = "/api/apps/" + encodeURIComponent(appId) + "/env-vars/bulk";
    var applyBtn = document.getElementById("env-bulk-apply");
    var previewBox = document.getElementById("env-bulk-preview");
    var previewed = null;
    function bulkBody() {
      var body = { dotenv: bulk.elements.dotenv.value };
      if (bulk.elements.is_secret.value) body.is_secret = bulk.elements.is_secret.value === "true";
      if (bulk.elements.scope.value) body.scope = bulk.elements.scope.value;
      return body;
    }
    function keyList(title, keys, id) {
      var wrap = document.createElement("div");
      wrap.id = id;
      var h = document.createElement("p");
      h.className = "small";
      h.innerHTML = "<strong></strong>";
      h.firstChild.textContent = title + " (" + keys.length + ")";
      wrap.appendChild(h);
      var ul = document.createElement("ul");
      keys.forEach(function (k) { var li = document.createElement("li"); var c = document.createElement("code"); c.textContent = k; li.appendChild(c); ul.appendChild(li); });
      wrap.appendChild(ul);
      return wrap;
    }
    function showPlan(plan, done) {
      previewBox.textContent = "";
      if (plan.added.length) previewBox.appendChild(keyList(done ? "Added" : "To add", plan.added, "env-bulk-added"));
      if (plan.changed.length) previewBox.appendChild(keyList(done ? "Changed" : "To change", plan.changed, "env-bulk-changed"));
      if (plan.unchanged.length) previewBox.appendChild(keyList("Already set so", plan.unchanged, "env-bulk-unchanged"));
      var note = document.createElement("p");
      note.className = "small muted";
      note.textContent = done ? "Saved: the changes apply at the next deployment." : (plan.added.length || plan.changed.length ? "Nothing is written until you press Apply." : "Nothing to change.");
      previewBox.appendChild(note);
      previewBox.hidden = false;
    }
    function resetPreview() { previewed = null; applyBtn.disabled = true; }
    function clearBulkErrors() {
      bulk.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
      var box = bulk.querySelector("[data-form-error]");
      box.hidden = true;
      return box;
    }
    function bulkError(err) {
      var box = clearBulkErrors();
      var detail = Array.isArray(err.details) && err.details[0];
      var slot = detail && bulk.querySelector('[data-error-for="' + (detail.field || "").split(".")[0] + '"]');
      if (slot) slot.textContent = detail.message; else { box.textContent = err.message; box.hidden = false; }
    }
    bulk.addEventListener("input", function () { if (previewed) { resetPreview(); previewBox.hidden = true; } });
    bulk.addEventListener("change", function () { if (previewed) { resetPreview(); previewBox.hidden = true; } });
    bulk.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      clearBulkErrors();
      resetPreview();
      var body = bulkBody();
      try {
        var plan = await Rivetr.api("POST", bulkPath + "/preview", body);
        showPlan(plan, false);
        if (plan.added.length || plan.changed.length) { previewed = body; applyBtn.disabled = false; applyBtn.focus(); }
      } catch (err) { previewBox.hidden = true; bulkError(err); }
    });
    applyBtn.addEventListener("click", async function () {
      if (!previewed) return;
      applyBtn.setAttribute("aria-busy", "true");
      try {
        var result = await Rivetr.api("POST", bulkPath, previewed);
        showPlan(result, true);
        resetPreview();
        bulk.elements.dotenv.value = "";
        Rivetr.toast((result.added.length + result.changed.length) + " variables saved.", "ok");
        refresh("#env-vars");
        refresh("#app-pending");
      } catch (err) { bulkError(err); } finally { applyBtn.removeAttribute("aria-busy"); }
    });
  }
})();
