// Managed services: the catalogue (search, category filter, choosing a template fills the create form), the
// public-port warning, extra env lines, and the service page (reveal and copy of credentials, logs tail + live
// + Rivetr's events, rotate result, restore, delete with its options). Every call goes to /api/* through Rivetr.api.
(function () {
  "use strict";

  function show(el, on) { if (el) el.hidden = !on; }

  // ------------------------------------------------------------------------------------------ catalogue
  var catalogue = document.getElementById("catalogue");
  var search = document.getElementById("catalogue-search");
  var category = "";

  function filterCards() {
    var q = (search && search.value || "").trim().toLowerCase();
    var shown = 0;
    catalogue.querySelectorAll("[data-template]").forEach(function (card) {
      var on = (!category || card.dataset.category === category) && (!q || card.dataset.search.indexOf(q) >= 0);
      card.hidden = !on;
      if (on) shown++;
    });
    show(document.getElementById("catalogue-empty"), shown === 0);
  }

  function chooseTemplate(card) {
    catalogue.querySelectorAll("[data-template]").forEach(function (c) { c.setAttribute("aria-pressed", String(c === card)); });
    var form = document.getElementById("new-service-form");
    form.elements.type.value = card.dataset.template;
    document.getElementById("create-which").textContent = card.dataset.title;
    var select = document.getElementById("svc-version");
    select.textContent = "";
    JSON.parse(card.dataset.versions || "[]").forEach(function (v, i) {
      var opt = document.createElement("option");
      opt.value = v;
      opt.textContent = i === 0 ? v + " (default)" : v;
      select.appendChild(opt);
    });
    var name = form.elements.name;
    if (!name.value) name.value = card.dataset.template;
    show(document.getElementById("create-panel"), true);
    document.getElementById("create-panel").scrollIntoView({ block: "start" });
    name.focus();
    name.select();
  }

  if (catalogue) {
    catalogue.addEventListener("click", function (ev) {
      var card = ev.target.closest("[data-template]");
      if (card) chooseTemplate(card);
    });
    if (search) search.addEventListener("input", filterCards);
    document.getElementById("catalogue-categories").addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-category]");
      if (!b) return;
      category = b.dataset.category;
      this.querySelectorAll("[data-category]").forEach(function (x) {
        x.setAttribute("aria-pressed", String(x === b));
        x.classList.toggle("primary", x === b);
      });
      filterCards();
    });
    var preset = catalogue.querySelector("[data-template][aria-pressed=true]");
    if (preset) chooseTemplate(preset);
  }

  // ------------------------------------------------------------------------------- public port warning
  function syncPublicWarning(input) {
    var form = input.form;
    show(form && form.querySelector("[data-public-warning]"), input.value.trim() !== "");
  }
  document.addEventListener("input", function (ev) {
    if (ev.target.matches("[data-public-port]")) syncPublicWarning(ev.target);
    else if (ev.target.matches("[data-env-lines]")) syncEnv(ev.target);
  });

  // ------------------------------------------------------------------------------- extra environment
  // KEY=value lines become a JSON object in the hidden "environment.*" field the form submits; a line without
  // "=" is refused here, next to the field, before anything is sent.
  function parseEnv(text) {
    var env = {}, bad = [];
    text.split(/\r?\n/).forEach(function (line) {
      if (!line.trim() || line.trim().charAt(0) === "#") return;
      var eq = line.indexOf("=");
      if (eq <= 0) { bad.push(line.trim()); return; }
      env[line.slice(0, eq).trim()] = line.slice(eq + 1);
    });
    return { env: env, bad: bad };
  }
  function syncEnv(area) {
    var parsed = parseEnv(area.value);
    var hidden = document.getElementById(area.dataset.envLines);
    hidden.value = Object.keys(parsed.env).length ? JSON.stringify(parsed.env) : "";
    return parsed;
  }
  // Capture phase: runs before app.js's submit handler, which it stops when a line is not KEY=value.
  document.addEventListener("submit", function (ev) {
    var area = ev.target.querySelector && ev.target.querySelector("[data-env-lines]");
    if (!area) return;
    var parsed = syncEnv(area);
    var slot = ev.target.querySelector('[data-error-for="environment"]');
    slot.textContent = "";
    if (parsed.bad.length) {
      ev.preventDefault();
      ev.stopPropagation();
      slot.textContent = "not KEY=value: " + parsed.bad.join(", ");
      area.focus();
    }
  }, true);

  var copy = Rivetr.copy;  // app.js: clipboard with the fallback for plain-http dashboards

  // ------------------------------------------------------------------------------- service page
  var root = document.getElementById("service-root");
  var revealed = null;

  async function fetchRevealed(url) {
    if (!revealed) revealed = await Rivetr.api("GET", url);
    return revealed;
  }

  function setSecret(id, value) {
    var el = document.getElementById(id);
    if (el && value != null) el.textContent = value;
  }

  async function toggleReveal(button) {
    if (button.getAttribute("aria-pressed") === "true") {
      ["conn-password", "conn-url"].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) el.textContent = el.dataset.masked;
      });
      button.setAttribute("aria-pressed", "false");
      button.textContent = "Reveal";
      return;
    }
    try {
      var data = await fetchRevealed(button.dataset.revealService);
      setSecret("conn-password", data.credentials && data.credentials.password);
      setSecret("conn-url", data.connection_url);
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Hide";
    } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
  }

  document.addEventListener("click", async function (ev) {
    var t = ev.target.closest("[data-reveal-service],[data-copy-url],[data-copy-text],[data-copy-from]");
    if (!t) return;
    ev.preventDefault();
    if (t.dataset.revealService) return toggleReveal(t);
    if (t.dataset.copyText) return copy(t.dataset.copyText, "Address");
    if (t.dataset.copyFrom) return copy(document.getElementById(t.dataset.copyFrom).textContent.trim(), "Command");
    if (t.dataset.copyUrl) {
      if (t.dataset.canReveal !== "true") {
        return copy(document.getElementById("conn-url").textContent.trim(), "URL (password masked: ask an administrator)");
      }
      try {
        var data = await fetchRevealed(t.dataset.copyUrl);
        return copy(data.connection_url, "Connection URL");
      } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
    }
  });

  // The rotate button sends {"redeploy_apps"} as the checkbox says, and its confirmation says what follows.
  document.addEventListener("change", function (ev) {
    if (ev.target.id !== "rotate-redeploy") return;
    var button = document.getElementById("rotate-btn");
    var on = ev.target.checked;
    button.dataset.body = JSON.stringify({ redeploy_apps: on });
    button.dataset.confirm = on ? button.dataset.confirmRedeploy : button.dataset.confirmKeep;
  });

  function appList(items, describe) {
    var ul = document.createElement("ul");
    items.forEach(function (a) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/apps/" + encodeURIComponent(a.app_id) + "#deploy";
      link.textContent = a.app_name;
      li.appendChild(link);
      var more = describe(a);
      if (more) li.appendChild(document.createTextNode(more));
      ul.appendChild(li);
    });
    return ul;
  }

  function paragraph(box, text) {
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
  }

  // After a rotation the cached plain values are stale, and the page says which apps were redeployed (with
  // their deployments) and which were not, with why.
  document.addEventListener("api:success", function (ev) {
    var t = ev.target;
    if (t.id === "rotate-btn") {
      revealed = null;
      var box = document.getElementById("rotate-result");
      var done = (ev.detail && ev.detail.redeployed) || [];
      var left = (ev.detail && ev.detail.not_redeployed) || [];
      box.textContent = "";
      if (!done.length && !left.length) paragraph(box, "Credentials rotated. No app is linked, so none needs a redeploy.");
      else paragraph(box, "Credentials rotated.");
      if (done.length) {
        paragraph(box, "Redeployed with the new password:");
        var ul = appList(done, function (a) { return " (deployment " + a.deployment_id.slice(0, 8) + ")"; });
        ul.id = "rotate-redeployed";
        box.appendChild(ul);
      }
      if (left.length) {
        paragraph(box, "Not redeployed:");
        var rest = appList(left, function (a) { return ": " + a.reason; });
        rest.id = "rotate-not-redeployed";
        box.appendChild(rest);
      }
      box.hidden = false;
    } else if (t.id === "service-settings-form") {
      revealed = null;
      Rivetr.toast("Saved: the container is recreated on the same volumes.", "ok");
    } else if (t.id === "service-backup-now") {
      Rivetr.toast("Backup started.", "ok");
    } else if (t.id === "link-add") {
      Rivetr.toast("Linked: the app gets the variables at its next deployment.", "ok");
    } else if (t.dataset && t.dataset.action && /\/(start|stop|restart)$/.test(t.dataset.action)) {
      Rivetr.toast(t.textContent.trim() + " requested.", "ok");
    }
  });

  // Restore a backup into this service or another of the same type (chosen in the row's select).
  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.restoreService) return;
    ev.preventDefault();
    var select = form.elements.service_id;
    var target = select.options[select.selectedIndex].textContent;
    var yes = await Rivetr.confirm("Restore the backup of " + form.dataset.started + " into " + target + "? Its current data is replaced by the backup's.", "Restore", true);
    if (!yes) return;
    try {
      await Rivetr.api("POST", form.dataset.restoreService, { service_id: select.value });
      Rivetr.toast("Restore started into " + target + ".", "ok");
      Rivetr.afterSuccess("refresh:#service-backup-runs", null, form);
    } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
  });

  // Delete with the chosen options; a 409 (apps still linked) shows the API's message in the form.
  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.deleteService) return;
    ev.preventDefault();
    var box = form.querySelector("[data-form-error]");
    box.hidden = true;
    var keep = form.elements.keep_volumes.checked, force = form.elements.force.checked;
    var name = form.dataset.serviceName;
    var message = keep
      ? "Delete " + name + " but keep its volumes (the data stays in the container engine)?"
      : "Delete " + name + " and the data in its volumes? This cannot be undone.";
    if (!(await Rivetr.confirm(message, "Delete service", true))) return;
    var query = "?keep_volumes=" + keep + "&force=" + force;
    try {
      await Rivetr.api("DELETE", form.dataset.deleteService + query);
      window.location.href = "/services";
    } catch (err) {
      box.textContent = err.message || String(err);
      box.hidden = false;
    }
  });

  if (!root) return;
  var serviceId = root.dataset.serviceId;

  // ------------------------------------------------------------------------------- logs
  var log = document.getElementById("service-log");
  var state = document.getElementById("service-log-state");
  var toggle = document.getElementById("service-log-toggle");
  var ws = null, MAX_LINES = 5000;
  function badge(text, cls) { state.textContent = text; state.className = "badge " + (cls || ""); }
  function appendLine(text, cls) {
    var stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 30;
    var span = document.createElement("span");
    if (cls) span.className = cls;
    span.textContent = text + "\n";
    log.appendChild(span);
    while (log.childNodes.length > MAX_LINES) log.removeChild(log.firstChild);
    if (stick) log.scrollTop = log.scrollHeight;
  }
  // source "events": what Rivetr did to the service (pull progress, starts, readiness), not its output.
  async function loadTail(source) {
    try {
      var query = "/logs?tail=" + root.dataset.logTail + (source ? "&source=" + source : "");
      var data = await Rivetr.api("GET", "/api/services/" + encodeURIComponent(serviceId) + query);
      log.textContent = "";
      (data.items || []).forEach(function (i) { appendLine(i.line, i.stream === "stderr" ? "err" : ""); });
      badge(source || "tail", "");
    } catch (err) { badge(err.message || "no logs", "warn"); }
  }
  function stopLive() {
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    toggle.textContent = "Follow live";
    badge("paused", "");
  }
  function startLive() {
    stopLive();
    log.textContent = "";
    badge("connecting", "active");
    toggle.textContent = "Pause";
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var url = proto + location.host + "/api/services/" + encodeURIComponent(serviceId) + "/logs/stream?tail=" + root.dataset.logTail;
    var sock = ws = new WebSocket(url, Rivetr.wsProtocols());
    sock.onopen = function () { badge("live", "running"); };
    sock.onmessage = function (ev) {
      var msg = JSON.parse(ev.data);
      if (msg.event === "end") { appendLine("— container output ended —", "err"); return; }
      if (typeof msg.line === "string") appendLine(msg.line, msg.stream === "stderr" ? "err" : "");
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null;
      toggle.textContent = "Follow live";
      badge(ev.reason || "disconnected", "warn");
    };
  }
  // A new status (starting → running after a create, an upgrade or a rotation) may mean a new container with
  // another address: the connection panel (tunnel command) is fetched again then.
  var lastStatus = (document.getElementById("service-status") || {}).dataset;
  lastStatus = lastStatus && lastStatus.status;
  document.body.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target.id !== "service-header") return;
    var now = document.getElementById("service-status");
    if (now && now.dataset.status !== lastStatus) {
      lastStatus = now.dataset.status;
      Rivetr.afterSuccess("refresh:#service-connection", null, null);
    }
  });

  toggle.addEventListener("click", function () { if (ws) stopLive(); else startLive(); });
  document.getElementById("service-log-clear").addEventListener("click", function () { log.textContent = ""; });
  document.getElementById("service-log-events").addEventListener("click", function () {
    if (ws) stopLive();
    loadTail("events");
  });
  loadTail();
})();
