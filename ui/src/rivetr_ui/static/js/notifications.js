// Notifications page: the channel form builds the notifier URL from a few fields of the chosen service (or takes a
// raw one), switches between adding and editing a channel (an edit with empty URL fields keeps the stored URL,
// which the page never has), and each channel's "Send test" shows the notifier's answer in its row.
(function () {
  "use strict";
  var form = document.getElementById("channel-form");
  var list = document.getElementById("channel-list");
  var FAILURE_EVENTS = ["deployment_failed", "post_deploy_failed", "container_crashed", "certificate_failed", "disk_warning", "backup_failed", "restore_failed", "task_failed"];
  // The last "Send test" result per channel id: put back into its row after each refresh of the list.
  var testResults = {};
  var editing = null;

  function PartError(part, message) { this.part = part; this.message = message; }
  function enc(v) { return encodeURIComponent(v); }
  function httpUrl(value, part, label) {
    var u;
    try { u = new URL(value); } catch (e) { throw new PartError(part, label + " must be a full URL such as https://host/path"); }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new PartError(part, label + " must start with http:// or https://");
    return u;
  }
  function need(f, part, label) {
    if (!f[part]) throw new PartError(part, label + " is required");
    return f[part];
  }

  // Per service: fields → [URL, the same URL with its secrets masked]. The server checks the result again (422).
  var builders = {
    webhook: function (f) {
      var u = httpUrl(need(f, "url", "The endpoint URL"), "url", "The endpoint URL");
      var auth = u.username ? u.username + (u.password ? ":" + u.password : "") + "@" : "";
      var scheme = u.protocol === "https:" ? "jsons://" : "json://";
      // apprise reads its own options from the query: the endpoint's parameters go through as "-name=value".
      var query = [];
      u.searchParams.forEach(function (v, k) { query.push(enc("-" + k) + "=" + enc(v)); });
      var search = query.length ? "?" + query.join("&") : "";
      return [scheme + auth + u.host + u.pathname + search, scheme + (auth ? "***@" : "") + u.host + u.pathname + (search ? "?***" : "")];
    },
    slack: function (f) {
      var hook = need(f, "webhook", "The webhook URL");
      var m = hook.match(/^https:\/\/hooks\.slack\.com\/services\/([A-Za-z0-9]+)\/([A-Za-z0-9]+)\/([A-Za-z0-9]+)\/?$/);
      if (!m) throw new PartError("webhook", "a Slack webhook URL looks like https://hooks.slack.com/services/T…/B…/…");
      var channel = (f.channel || "").replace(/^#/, "");
      if (channel && !/^[\w.-]+$/.test(channel)) throw new PartError("channel", "a channel name has letters, digits, - _ and . only");
      var tail = channel ? "/#" + channel : "";
      return ["slack://" + m[1] + "/" + m[2] + "/" + m[3] + tail, "slack://***/***/***" + tail];
    },
    discord: function (f) {
      var hook = need(f, "webhook", "The webhook URL");
      var m = hook.match(/^https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/(\d+)\/([\w-]+)\/?$/);
      if (!m) throw new PartError("webhook", "a Discord webhook URL looks like https://discord.com/api/webhooks/123…/abc…");
      return ["discord://" + m[1] + "/" + m[2], "discord://" + m[1] + "/***"];
    },
    telegram: function (f) {
      var token = need(f, "token", "The bot token");
      if (!/^\d+:[\w-]+$/.test(token)) throw new PartError("token", "a bot token looks like 123456789:AA… (from @BotFather)");
      var chat = need(f, "chat", "The chat id");
      if (!/^(-?\d+|@\w+)$/.test(chat)) throw new PartError("chat", "a chat id is a number (-100…) or @channelname");
      return ["tgram://" + token + "/" + enc(chat), "tgram://***/" + enc(chat)];
    },
    email: function (f) {
      var host = need(f, "host", "The SMTP server");
      if (!/^[A-Za-z0-9.-]+$/.test(host)) throw new PartError("host", "a host name such as smtp.example.com");
      if (f.port && !/^\d{1,5}$/.test(f.port)) throw new PartError("port", "a port number");
      var from = need(f, "from", "The sender");
      if (from.indexOf("@") < 1) throw new PartError("from", "an e-mail address");
      var to = need(f, "to", "The recipients").split(/[\s,;]+/).filter(Boolean);
      if (!to.length || to.some(function (a) { return a.indexOf("@") < 1; })) throw new PartError("to", "one or more e-mail addresses, separated by commas");
      var scheme = f.security === "none" ? "mailto://" : "mailtos://";
      var user = f.user ? enc(f.user) + (f.password ? ":" + enc(f.password) : "") + "@" : "";
      var shownUser = f.user ? enc(f.user) + (f.password ? ":***" : "") + "@" : "";
      var query = "?from=" + enc(from) + "&to=" + to.map(enc).join(",") + (f.security === "none" ? "" : "&mode=" + f.security);
      var where = host + (f.port ? ":" + f.port : "");
      return [scheme + user + where + query, scheme + shownUser + where + query];
    },
    ntfy: function (f) {
      var u = httpUrl(f.server || "https://ntfy.sh", "server", "The server");
      var topic = need(f, "topic", "The topic");
      if (!/^[\w-]{1,64}$/.test(topic)) throw new PartError("topic", "a topic has letters, digits, - and _ only");
      var scheme = u.protocol === "https:" ? "ntfys://" : "ntfy://";
      var base = scheme + u.host + u.pathname.replace(/\/$/, "") + "/" + topic;
      return f.token ? [base + "?token=" + enc(f.token), base + "?token=***"] : [base, base];
    },
    gotify: function (f) {
      var u = httpUrl(need(f, "server", "The server"), "server", "The server");
      var token = need(f, "token", "The application token");
      if (!/^[\w.-]+$/.test(token)) throw new PartError("token", "an application token has letters, digits, - _ and . only");
      var base = (u.protocol === "https:" ? "gotifys://" : "gotify://") + u.host + u.pathname.replace(/\/$/, "") + "/";
      return [base + token, base + "***"];
    },
    other: function (f) {
      var url = need(f, "url", "The URL");
      var m = url.match(/^([A-Za-z][A-Za-z0-9+.-]*):\/\/\S+$/);
      if (!m) throw new PartError("url", "a notifier URL looks like scheme://…");
      return [url, m[1] + "://***"];
    }
  };

  function fieldset(key) { return form.querySelector('[data-helper-for="' + key + '"]'); }
  function service() { return form.querySelector("[data-channel-service]").value; }
  function parts(key) {
    var f = {}, filled = false;
    fieldset(key).querySelectorAll("[data-part]").forEach(function (el) {
      var v = el.value.trim();
      f[el.dataset.part] = v;
      // A field still at its default (ntfy's server) or a select does not mean the user started a new URL.
      if (v && el.tagName !== "SELECT" && v !== (el.dataset.default || "")) filled = true;
    });
    return { values: f, filled: filled };
  }
  function clearPartErrors() {
    form.querySelectorAll("[data-part-error]").forEach(function (e) { e.textContent = ""; });
    form.querySelectorAll("[data-part][aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
  }

  // Fill the hidden url field from the helper; null when there is nothing to send (an edit keeping its URL).
  function buildUrl() {
    var key = service(), p = parts(key);
    var preview = document.getElementById("ch-url-preview-line");
    if (!p.filled && editing) { preview.hidden = true; return null; }
    var built = builders[key](p.values);
    document.getElementById("ch-url-preview").textContent = built[1];
    preview.hidden = false;
    return built[0];
  }

  function showService() {
    var key = service();
    form.querySelectorAll("[data-helper-for]").forEach(function (box) { box.hidden = box.dataset.helperFor !== key; });
    clearPartErrors();
    try { buildUrl(); } catch (e) { document.getElementById("ch-url-preview-line").hidden = true; }
  }

  function setMode(channel) {
    editing = channel;
    form.dataset.api = channel ? "PUT /api/notification-channels/" + channel.id : "POST /api/notification-channels";
    document.getElementById("channel-form-title").textContent = channel ? "Edit " + channel.name : "Add a channel";
    document.getElementById("channel-submit").textContent = channel ? "Save changes" : "Add channel";
    document.getElementById("channel-cancel").hidden = !channel;
    var stored = document.getElementById("ch-stored-url");
    stored.hidden = !channel;
    if (channel) stored.querySelector("[data-stored-url]").textContent = channel.url;
  }

  function startEdit(button) {
    form.reset();
    var d = button.dataset;
    setMode({ id: button.dataset.channelEdit, name: d.name, url: d.url });
    form.querySelector("#ch-name").value = d.name;
    form.querySelector("#ch-notifier").value = d.notifier;
    form.querySelector("[data-channel-service]").value = d.helper;
    var events = d.events ? d.events.split(" ") : [];
    form.querySelectorAll('input[name="events"]').forEach(function (box) { box.checked = events.indexOf(box.value) >= 0; });
    form.querySelector("#ch-enabled").checked = d.enabled === "true";
    form.querySelector("#ch-routed-only").checked = d.routedOnly === "true";
    showService();
    form.scrollIntoView({ block: "start" });
    form.querySelector("#ch-name").focus();
  }

  function stopEdit() {
    form.reset();
    setMode(null);
    setTimeout(showService, 0);
  }

  function applyTestResults() {
    Object.keys(testResults).forEach(function (id) {
      var slot = list.querySelector('[data-test-result="' + CSS.escape(id) + '"]');
      if (!slot) return;
      slot.className = "small alert " + (testResults[id].ok ? "ok" : "error");
      slot.textContent = testResults[id].text;
      slot.hidden = false;
    });
  }

  async function sendTest(button) {
    var id = button.dataset.channelTest;
    button.setAttribute("aria-busy", "true");
    try {
      await Rivetr.api("POST", "/api/notification-channels/" + encodeURIComponent(id) + "/test");
      testResults[id] = { ok: true, text: "Test sent: the service accepted it." };
    } catch (err) {
      testResults[id] = { ok: false, text: "Test failed: " + (err.message || String(err)).replace(/^test notification failed: /, "") };
    } finally {
      button.removeAttribute("aria-busy");
    }
    applyTestResults();
    if (window.htmx) htmx.trigger(list, "refresh");  // the new delivery and the channel's state
  }

  if (list) {
    list.addEventListener("htmx:afterSwap", applyTestResults);
    list.addEventListener("click", function (ev) {
      var t = ev.target.closest("[data-channel-test],[data-channel-edit]");
      if (!t) return;
      ev.preventDefault();
      if (t.dataset.channelTest) sendTest(t); else startEdit(t);
    });
  }

  // The scheme lists: filter rows by service name or scheme as one types.
  document.addEventListener("input", function (ev) {
    var t = ev.target;
    if (t.matches("[data-scheme-filter]")) {
      var q = t.value.trim().toLowerCase();
      t.closest("details").querySelectorAll("[data-service-row]").forEach(function (row) {
        row.hidden = q !== "" && row.dataset.serviceRow.indexOf(q) < 0;
      });
    } else if (form && form.contains(t) && t.matches("[data-part]")) {
      clearPartErrors();
      try { buildUrl(); } catch (e) { document.getElementById("ch-url-preview-line").hidden = true; }
    }
  });

  if (!form) return;
  form.querySelector("[data-channel-service]").addEventListener("change", showService);
  document.getElementById("channel-cancel").addEventListener("click", stopEdit);
  form.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-events-all],[data-events-none],[data-events-failures]");
    if (!t) return;
    form.querySelectorAll('input[name="events"]').forEach(function (box) {
      box.checked = t.hasAttribute("data-events-all") || (t.hasAttribute("data-events-failures") && FAILURE_EVENTS.indexOf(box.value) >= 0);
    });
  });

  // Capture phase: runs before app.js's submit handler (bubble phase) sends the form, so the hidden url field
  // holds the built URL; a field the builder refuses stops the submit with its message next to it.
  document.addEventListener("submit", function (ev) {
    if (ev.target !== form) return;
    clearPartErrors();
    var hidden = document.getElementById("ch-url");
    try {
      hidden.value = buildUrl() || "";
      // app.js reads the form synchronously in its own submit handler: afterwards the built URL (it may hold a
      // token) need not stay in the page, where a hidden input's value is an attribute.
      setTimeout(function () { hidden.value = ""; }, 0);
    } catch (err) {
      if (!(err instanceof PartError)) throw err;
      ev.preventDefault();
      ev.stopPropagation();
      var box = fieldset(service());
      var slot = box.querySelector('[data-part-error="' + err.part + '"]');
      var input = box.querySelector('[data-part="' + err.part + '"]');
      if (slot) slot.textContent = err.message;
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
    }
  }, true);

  form.addEventListener("api:success", function (ev) {
    var result = ev.detail || {};
    Rivetr.toast(editing ? "Saved " + result.name + "." : "Added " + result.name + ": press Send test to try it.", "ok");
    stopEdit();
  });
  form.addEventListener("reset", function () { setTimeout(showService, 0); });
  showService();
})();
