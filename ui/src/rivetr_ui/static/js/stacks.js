// Compose stacks: the New stack form and a stack's Settings (pasted file or repository, domain and variable rows,
// profiles, Validate through POST /api/compose/validate with each problem's line:column), and the stack page (a
// deployment's build log followed live, a service's logs followed live, delete with its volumes option). Every call
// goes to /api/* through Rivetr.api.
(function () {
  "use strict";
  var MAX_LINES = 5000;

  function show(el, on) { if (el) el.hidden = !on; }
  function wsUrl(path, params) {
    var q = new URLSearchParams(params || {}).toString();
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path + (q ? "?" + q : "");
  }
  function setBadge(el, text, cls) { el.textContent = text; el.className = "badge " + (cls || ""); }
  function appendLine(pre, text, cls) {
    var stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 30;
    var span = document.createElement("span");
    if (cls) span.className = cls;
    span.textContent = text + "\n";
    pre.appendChild(span);
    while (pre.childNodes.length > MAX_LINES) pre.removeChild(pre.firstChild);
    if (stick) pre.scrollTop = pre.scrollHeight;
  }

  // The webhook URL a stack's secret goes with: this dashboard's address (the API's webhook endpoint is here too).
  document.querySelectorAll("[data-webhook-base]").forEach(function (el) { el.textContent = location.origin; });

  // ------------------------------------------------------------------------------- rows and source
  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-add-row]");
    if (add) {
      var form = add.closest("form");
      var kind = add.dataset.addRow;
      var tpl = form.querySelector('template[data-row-template="' + kind + '"]');
      var rows = form.querySelector('[data-rows="' + kind + '"]');
      rows.appendChild(tpl.content.cloneNode(true));
      var last = rows.lastElementChild;
      if (last) { var first = last.querySelector("input"); if (first) first.focus(); }
      return;
    }
    var remove = ev.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest("[data-row]");
      var owner = row.closest("form");
      if (row.dataset.row === "env" && owner) owner.dataset.envChanged = "true";
      row.remove();
    }
  });
  document.addEventListener("input", function (ev) {
    if (ev.target.closest && ev.target.closest('[data-row="env"]')) ev.target.form.dataset.envChanged = "true";
  });
  document.addEventListener("change", function (ev) {
    if (!ev.target.matches("[data-source-radio]")) return;
    var box = ev.target.closest("[data-source-choice]");
    box.querySelectorAll("[data-source-for]").forEach(function (part) { part.hidden = part.dataset.sourceFor !== ev.target.value; });
  });

  function source(form) {
    var checked = form.querySelector("[data-source-radio]:checked");
    return checked ? checked.value : "inline";
  }
  function profiles(form) {
    return form.elements.profiles.value.split(/[\s,]+/).filter(Boolean);
  }
  function domains(form) {
    var out = [];
    form.querySelectorAll('[data-rows="domain"] [data-row="domain"]').forEach(function (row) {
      var domain = row.querySelector("[data-domain-domain]").value.trim();
      var service = row.querySelector("[data-domain-service]").value.trim();
      var port = row.querySelector("[data-domain-port]").value.trim();
      if (!domain && !service && !port) return;
      out.push({ domain: domain, service: service, port: Number.isInteger(Number(port)) && port ? Number(port) : port });
    });
    return out;
  }
  // { env, kept }: kept lists the variables whose stored value the row leaves unchanged (empty, masked).
  function envRows(form) {
    var env = {}, kept = [];
    form.querySelectorAll('[data-rows="env"] [data-row="env"]').forEach(function (row) {
      var key = row.querySelector("[data-env-key]").value.trim();
      var input = row.querySelector("[data-env-value]");
      if (!key) return;
      if (input.dataset.envKept !== undefined && input.value === "") kept.push(key);
      env[key] = input.value;
    });
    return { env: env, kept: kept };
  }

  // The stored values of unchanged masked variables, from GET /api/stacks/{id}?reveal=true (administrators only):
  // PUT replaces every variable, so an edit of one must send the others as they are.
  async function revealed(form) {
    var data = await Rivetr.api("GET", "/api/stacks/" + encodeURIComponent(form.dataset.stackId) + "?reveal=true");
    return data.env || {};
  }

  async function body(form) {
    var put = form.dataset.stackForm.indexOf("PUT ") === 0;
    var out = {};
    if (!put) {
      out.name = form.elements.name.value.trim();
      if (form.elements.project_id.value) out.project_id = form.elements.project_id.value;
    }
    if (source(form) === "inline") out.compose = form.elements.compose.value;
    else {
      out.repo_url = form.elements.repo_url.value.trim();
      out.branch = form.elements.branch.value.trim() || "main";
      out.compose_path = form.elements.compose_path.value.trim() || null;
      // Credentials: the key and user name as shown; the token and webhook secret only when typed (a settings
      // form shows neither: empty keeps the stored one) or removed by their checkbox.
      out.ssh_key_id = form.elements.ssh_key_id.value || null;
      out.git_token_user = form.elements.git_token_user.value.trim() || null;
      ["git_token", "webhook_secret"].forEach(function (name) {
        var value = form.elements[name].value;
        var clear = form.querySelector('[data-clear="' + name + '"]');
        if (clear && clear.checked) out[name] = null;
        else if (value) out[name] = value;
      });
    }
    out.profiles = profiles(form);
    if (form.elements.previews) out.previews = form.elements.previews.checked;
    out.domains = domains(form);
    var rows = envRows(form);
    if (!put || form.dataset.envChanged === "true") {
      if (rows.kept.length) {
        var stored = await revealed(form);
        rows.kept.forEach(function (k) { rows.env[k] = stored[k]; });
      }
      out.env = rows.env;
    }
    return out;
  }

  // ------------------------------------------------------------------------------- errors and problems
  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
    var box = form.querySelector("[data-form-error]");
    if (box) box.hidden = true;
    show(form.querySelector("#stack-problems"), false);
    show(form.querySelector("#stack-validated"), false);
  }
  function where(d) {
    var at = [];
    if (d.line != null) at.push("line " + d.line + (d.column != null ? ":" + d.column : ""));
    if (d.service) at.push("service " + d.service);
    return at.join(", ");
  }
  // A compose problem (invalid_compose: line, column, service) goes to the problems list; a field's error
  // (name, repo_url, domains[0].port ...) next to its field; the rest to the form's alert.
  function showErrors(form, err) {
    var details = Array.isArray(err.details) ? err.details : [];
    var list = form.querySelector("[data-problem-list]");
    list.textContent = "";
    var problems = 0, general = [];
    details.forEach(function (d) {
      var field = String(d.field || "");
      var name = field.split(/[.[]/)[0];
      var compose = err.code === "invalid_compose" || d.line != null;
      var slot = !compose && name && form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (slot) {
        slot.textContent = (slot.textContent ? slot.textContent + "; " : "") + (field !== name ? field + ": " : "") + d.message;
        var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
        return;
      }
      if (compose) {
        var li = document.createElement("li");
        var at = where(d);
        if (at) { var code = document.createElement("code"); code.textContent = at; li.appendChild(code); li.appendChild(document.createTextNode(" ")); }
        li.appendChild(document.createTextNode((field && field !== "compose" ? field + ": " : "") + d.message));
        li.dataset.line = d.line != null ? d.line : "";
        li.dataset.column = d.column != null ? d.column : "";
        list.appendChild(li);
        problems++;
      } else general.push(field ? field + ": " + d.message : d.message);
    });
    show(form.querySelector("#stack-problems"), problems > 0);
    if (!problems || general.length) {
      if (!details.length || general.length) {
        var box = form.querySelector("[data-form-error]");
        box.textContent = general.length ? general.join("; ") : err.message;
        box.hidden = false;
      }
    }
  }

  async function validate(form) {
    clearErrors(form);
    var result = form.querySelector("#stack-validated");
    if (source(form) !== "inline") {
      result.textContent = "A repository's file is read and checked at each deployment.";
      show(result, true);
      return;
    }
    var rows = envRows(form);
    var button = form.querySelector("[data-validate-stack]");
    button.setAttribute("aria-busy", "true");
    try {
      if (rows.kept.length && form.dataset.stackId) {
        var stored = await revealed(form).catch(function () { return {}; });
        rows.kept.forEach(function (k) { rows.env[k] = stored[k] || ""; });
      }
      var data = await Rivetr.api("POST", "/api/compose/validate", { compose: form.elements.compose.value, env: rows.env, profiles: profiles(form) });
      var text = "Valid: " + data.services.length + " service" + (data.services.length === 1 ? "" : "s") + " (" + data.services.join(", ") + ")";
      if (data.start_order.length > 1) text += "; start order " + data.start_order.map(function (l) { return l.join(" + "); }).join(" → ");
      if (data.disabled_services.length) text += "; left out by profiles: " + data.disabled_services.join(", ");
      if (data.variables.length) text += "; variables: " + data.variables.join(", ");
      if (data.warnings.length) text += ". Warnings: " + data.warnings.join("; ");
      result.textContent = text + ".";
      show(result, true);
    } catch (err) {
      if (err instanceof Rivetr.ApiError) showErrors(form, err); else throw err;
    } finally { button.removeAttribute("aria-busy"); }
  }

  async function submit(form, thenDeploy) {
    clearErrors(form);
    var spec = form.dataset.stackForm.split(" ");
    var button = form.querySelector("[type=submit]");
    button.setAttribute("aria-busy", "true");
    try {
      var result = await Rivetr.api(spec[0], spec[1], await body(form));
      if (spec[0] === "POST") { window.location.href = "/stacks/" + encodeURIComponent(result.id); return; }
      form.dataset.envChanged = "";
      // Stored now: the typed token or secret leaves the page (a later save keeps it by sending nothing).
      [["git_token", result.has_git_token], ["webhook_secret", result.has_webhook_secret]].forEach(function (pair) {
        var input = form.elements[pair[0]];
        if (!input) return;
        input.value = "";
        if (pair[1]) input.placeholder = "stored, leave empty to keep it";
      });
      if (thenDeploy) {
        var dep = await Rivetr.api("POST", "/api/stacks/" + encodeURIComponent(result.id) + "/deploy");
        document.dispatchEvent(new CustomEvent("api:success", { detail: dep }));
        Rivetr.toast("Saved; deployment " + dep.id.slice(0, 8) + " started.", "ok");
      } else Rivetr.toast("Saved: the changes apply at the next deployment.", "ok");
      Rivetr.afterSuccess("refresh:#stack-header|refresh:#stack-deployments", result, form);
    } catch (err) {
      if (err instanceof Rivetr.ApiError) showErrors(form, err); else throw err;
    } finally { button.removeAttribute("aria-busy"); }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.stackForm) { ev.preventDefault(); submit(form, false); }
  });
  document.addEventListener("click", function (ev) {
    var v = ev.target.closest("[data-validate-stack]");
    if (v) { ev.preventDefault(); validate(v.form); return; }
    var sd = ev.target.closest("[data-save-deploy]");
    if (sd) { ev.preventDefault(); submit(sd.form, true); return; }
    var rv = ev.target.closest("[data-reveal-stack]");
    if (rv) { ev.preventDefault(); revealValues(rv); }
  });

  async function revealValues(button) {
    var form = button.closest("form");
    try {
      var env = await revealed(form);
      form.querySelectorAll('[data-rows="env"] [data-row="env"]').forEach(function (row) {
        var key = row.querySelector("[data-env-key]").value.trim();
        var input = row.querySelector("[data-env-value]");
        if (input.dataset.envKept !== undefined && input.value === "" && key in env) {
          input.value = env[key];
          delete input.dataset.envKept;
          input.placeholder = "value";
        }
      });
      button.setAttribute("aria-pressed", "true");
      button.disabled = true;
    } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
  }

  // ------------------------------------------------------------------------------- delete
  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.deleteStack) return;
    ev.preventDefault();
    var box = form.querySelector("[data-form-error]");
    box.hidden = true;
    var volumes = form.elements.volumes.checked, name = form.dataset.stackName;
    var message = volumes
      ? "Delete " + name + " and the data in its named volumes? This cannot be undone."
      : "Delete " + name + "? Its named volumes (the data) are kept in the container engine.";
    if (!(await Rivetr.confirm(message, "Delete stack", true))) return;
    try {
      await Rivetr.api("DELETE", form.dataset.deleteStack + "?volumes=" + volumes);
      window.location.href = "/stacks";
    } catch (err) {
      box.textContent = err.message || String(err);
      box.hidden = false;
    }
  });

  var root = document.getElementById("stack-root");
  if (!root) return;
  var stackId = root.dataset.stackId;

  // ------------------------------------------------------------------------------- build log
  var buildLog = document.getElementById("build-log");
  var buildState = document.getElementById("build-log-state");
  var buildWs = null;
  var ACTIVE = ["queued", "cloning", "building", "starting", "health_checking", "switching"], RETRY_MS = 500;
  function label(status) { return String(status).replace(/_/g, " "); }
  function showLog(deploymentId) {
    if (!deploymentId) return;
    if (buildWs) { buildWs.onclose = null; buildWs.close(); }
    buildLog.textContent = "";
    document.getElementById("build-log-which").textContent = "· " + deploymentId.slice(0, 8);
    buildLog.dataset.deployment = deploymentId;
    setBadge(buildState, "connecting", "active");
    var ws = buildWs = new WebSocket(wsUrl("/api/deployments/" + encodeURIComponent(deploymentId) + "/logs/stream"), Rivetr.wsProtocols());
    ws.onopen = function () { setBadge(buildState, "live", "active"); };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.event === "end") {
        // A queued deployment whose run has not begun has no live log yet, so the stream ends at once: look
        // again shortly, unless another log was picked meanwhile.
        if (ACTIVE.indexOf(msg.status) >= 0) {
          setBadge(buildState, label(msg.status), "active");
          setTimeout(function () { if (ws === buildWs) showLog(deploymentId); }, RETRY_MS);
          return;
        }
        setBadge(buildState, label(msg.status), msg.status);
        if (msg.error) appendLine(buildLog, "✕ " + msg.error, "err");
        // The deployment is over: the header, services and list show its outcome.
        Rivetr.afterSuccess("refresh:#stack-header|refresh:#stack-deployments|refresh:#stack-services", null, null);
      } else if (msg.event === "status") appendLine(buildLog, "==> " + label(msg.status), "step");
      else if (typeof msg.line === "string") appendLine(buildLog, msg.line);
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
  // Deploy / rollback answer with the new deployment: follow its log at once.
  document.addEventListener("api:success", function (ev) {
    var d = ev.detail;
    if (d && d.id && d.stack_id === stackId) showLog(d.id);
  });
  var first = document.querySelector("#stack-timeline [data-deployment]");
  if (first) showLog(first.dataset.deployment);

  // ------------------------------------------------------------------------------- service logs
  var log = document.getElementById("service-log");
  var state = document.getElementById("service-log-state");
  var stop = document.getElementById("service-log-stop");
  var logWs = null;
  function stopLogs(text) {
    if (logWs) { logWs.onclose = null; logWs.close(); logWs = null; }
    show(stop, false);
    setBadge(state, text || "paused", "");
  }
  function followService(service) {
    stopLogs("connecting");
    log.textContent = "";
    log.dataset.service = service;
    document.getElementById("service-log-which").textContent = "· " + service;
    setBadge(state, "connecting", "active");
    var path = "/api/stacks/" + encodeURIComponent(stackId) + "/services/" + encodeURIComponent(service) + "/logs/stream";
    var sock = logWs = new WebSocket(wsUrl(path, { tail: root.dataset.logTail }), Rivetr.wsProtocols());
    show(stop, true);
    sock.onopen = function () { setBadge(state, "live", "running"); };
    sock.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.event === "end") { appendLine(log, "— container output ended —", "err"); return; }
      if (typeof msg.line === "string") appendLine(log, msg.line, msg.stream === "stderr" ? "err" : "");
    };
    sock.onclose = function (ev) {
      if (sock !== logWs) return;
      logWs = null;
      show(stop, false);
      setBadge(state, ev.reason || "disconnected", "warn");
    };
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-service-logs]");
    if (!b) return;
    followService(b.dataset.serviceLogs);
    document.getElementById("service-logs-panel").scrollIntoView({ block: "start" });
  });
  stop.addEventListener("click", function () { stopLogs("paused"); });
  document.getElementById("service-log-clear").addEventListener("click", function () { log.textContent = ""; });
})();
