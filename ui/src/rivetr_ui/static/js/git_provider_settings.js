// Settings → Git providers → OAuth apps (partials/git_provider_settings.html): one form per provider that can
// connect accounts, from GET /api/git-providers/{name}/settings; Save is PUT (stored in the database, secret
// encrypted, overriding [oauth.<name>] of the config file field by field), "Use config file" is DELETE. The secret
// is write-only: the form shows whether one is set, never its value.
(function () {
  "use strict";
  var box = document.getElementById("git-oauth-settings");
  if (!box) return;
  var canEdit = box.dataset.canEdit === "1";
  var FIELDS = [
    ["client_id", "Client id", "text", ""],
    ["client_secret", "Client secret", "password", ""],
    ["base_url", "Server URL", "url", "https://gitlab.example.com (self-managed GitLab, GitHub Enterprise, Gitea)"],
    ["api_url", "API URL", "url", "derived from the server URL"],
    ["redirect_uri", "Callback URL override", "url", "default: <external_url>/oauth/<provider>/callback"],
  ];

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function sourceText(s, field) {
    var where = s.sources[field];
    return where === "database" ? "saved here" : where === "config" ? "from the config file" : "";
  }

  function providerForm(s) {
    var name = s.provider;
    var form = el("form", { class: "stack panel", "data-oauth-provider": name, novalidate: "" });
    var head = el("div", { class: "row" });
    head.appendChild(el("strong", {}, name));
    head.appendChild(el("span", { class: "badge " + (s.configured ? "ok" : "") }, s.configured ? "OAuth configured" : "not configured"));
    if (s.stored) head.appendChild(el("span", { class: "badge info" }, "overrides the config file"));
    form.appendChild(head);
    var callback = el("p", { class: "small" }, "Callback URL to register: ");
    callback.appendChild(el("code", { "data-callback": "" }, s.callback_url || "set [server] external_url (or a callback URL override) first"));
    form.appendChild(callback);
    form.appendChild(el("p", { class: "alert error", "data-form-error": "", hidden: "", role: "alert" }));
    var grid = el("div", { class: "inline" });
    FIELDS.forEach(function (f) {
      var id = "oauth-" + name + "-" + f[0];
      var field = el("div", { class: "field" });
      field.appendChild(el("label", { for: id }, f[1]));
      var input = el("input", { id: id, name: f[0], type: f[2], autocomplete: f[2] === "password" ? "new-password" : "off", spellcheck: "false" });
      if (f[0] === "client_secret") input.placeholder = s.client_secret_set ? "set (" + sourceText(s, "client_secret") + "): leave empty to keep it" : "not set";
      else { input.value = s[f[0]] || ""; input.placeholder = f[3]; }
      if (!canEdit) input.disabled = true;
      field.appendChild(input);
      var source = sourceText(s, f[0]);
      if (source && f[0] !== "client_secret") field.appendChild(el("span", { class: "hint" }, source));
      field.appendChild(el("span", { class: "field-error", "data-error-for": f[0], role: "alert" }));
      grid.appendChild(field);
    });
    form.appendChild(grid);
    if (canEdit) {
      var actions = el("div", { class: "row" });
      actions.appendChild(el("button", { class: "btn primary small", type: "submit" }, "Save " + name));
      if (s.stored) actions.appendChild(el("button", { class: "btn small", type: "button", "data-oauth-reset": name }, "Use config file"));
      form.appendChild(actions);
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); save(form, s); });
    return form;
  }

  function refreshProviders() {
    // settings.js reloads the providers list (Connect buttons) on api:success from a data-git-refresh element.
    box.setAttribute("data-git-refresh", "");
    box.dispatchEvent(new CustomEvent("api:success", { bubbles: true }));
  }

  async function save(form, s) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    var alertBox = form.querySelector("[data-form-error]");
    alertBox.hidden = true;
    var body = {};
    FIELDS.forEach(function (f) {
      var value = form.elements[f[0]].value.trim();
      if (f[0] === "client_secret") { if (value) body.client_secret = value; return; }
      // Unchanged values that come from the config file are not copied into the database.
      if (value === (s[f[0]] || "") && s.sources[f[0]] !== "database") return;
      body[f[0]] = value;
    });
    try {
      await Rivetr.api("PUT", "/api/git-providers/" + encodeURIComponent(s.provider) + "/settings", body);
      Rivetr.toast("OAuth settings of " + s.provider + " saved.", "ok");
      await load();
      refreshProviders();
    } catch (err) {
      var placed = false;
      (Array.isArray(err.details) ? err.details : []).forEach(function (d) {
        var slot = form.querySelector('[data-error-for="' + CSS.escape(d.field || "") + '"]');
        if (slot) { slot.textContent = d.message; placed = true; }
      });
      if (!placed) { alertBox.textContent = err.message; alertBox.hidden = false; }
    }
  }

  box.addEventListener("click", async function (ev) {
    var button = ev.target.closest("[data-oauth-reset]");
    if (!button) return;
    var name = button.dataset.oauthReset;
    var sure = await Rivetr.confirm("Forget the OAuth settings of " + name + " saved here? The config file's [oauth." + name + "] applies again (if any).", "Use config file", true);
    if (!sure) return;
    try {
      await Rivetr.api("DELETE", "/api/git-providers/" + encodeURIComponent(name) + "/settings");
      await load();
      refreshProviders();
    } catch (err) { Rivetr.toast(err.message, "error"); }
  });

  async function load() {
    var settings;
    try {
      var providers = await Rivetr.listAll("/api/git-providers/available");
      settings = await Promise.all(providers.map(function (p) {
        return Rivetr.api("GET", "/api/git-providers/" + encodeURIComponent(p.provider) + "/settings");
      }));
    } catch (err) { box.textContent = "OAuth settings are unavailable: " + err.message; return; }
    box.textContent = "";
    settings = settings.filter(function (s) { return s.oauth_supported; });
    if (!settings.length) { box.appendChild(el("p", { class: "muted" }, "No installed git provider can connect accounts.")); return; }
    settings.forEach(function (s) { box.appendChild(providerForm(s)); });
  }
  load();
})();
