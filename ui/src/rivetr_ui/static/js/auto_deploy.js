// The app page's Auto-deploy panel (partials/auto_deploy.html): webhook URLs from GET /api/apps/{id}/webhook (built
// from [server] external_url, never the address this page was loaded from), the per-app secret (reveal for those
// with secrets.reveal, copy, regenerate) and the git settings form (PUT /api/apps/{id}/git-settings, the branch
// through PUT /api/apps/{id}). The secret is fetched on demand only, never rendered into the page.
(function () {
  "use strict";
  var panel = document.getElementById("auto-deploy-panel");
  if (!panel) return;
  var appId = panel.dataset.appId;
  var canWrite = panel.dataset.canWrite === "1", canReveal = panel.dataset.canReveal === "1";
  var base = "/api/apps/" + encodeURIComponent(appId);
  var MASK = "••••••••";
  var secretBox = document.getElementById("auto-deploy-secret");
  var urlBox = document.getElementById("auto-deploy-url");
  var form = document.getElementById("auto-deploy-form");
  var info = null, settings = null, shown = null;  // shown: the secret in the clear while it is displayed

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderUrls(selected) {
    urlBox.textContent = "";
    if (!info.base_url) {
      var warn = el("p", { class: "alert info", id: "auto-deploy-no-external-url", role: "status" }, info.hint);
      urlBox.appendChild(warn);
      return;
    }
    var provider = selected || info.provider || (info.urls[0] && info.urls[0].provider);
    var current = info.urls.filter(function (u) { return u.provider === provider; })[0] || info.urls[0];
    if (!current) { urlBox.appendChild(el("p", { class: "muted" }, "No git provider plugins are installed.")); return; }
    var row = el("div", { class: "row" });
    var label = el("label", { for: "auto-deploy-provider", class: "small" }, "Git host");
    var select = el("select", { id: "auto-deploy-provider" });
    info.urls.forEach(function (u) {
      var opt = el("option", { value: u.provider }, u.provider + (u.provider === info.provider ? " (this repository)" : ""));
      if (u.provider === current.provider) opt.selected = true;
      select.appendChild(opt);
    });
    select.addEventListener("change", function () { renderUrls(select.value); });
    row.appendChild(label); row.appendChild(select);
    row.appendChild(el("code", { id: "auto-deploy-url-value", class: "mono" }, current.url));
    var copy = el("button", { class: "btn small", type: "button", id: "auto-deploy-copy-url" }, "Copy URL");
    copy.addEventListener("click", function () { Rivetr.copy(current.url, "Webhook URL"); });
    row.appendChild(copy);
    urlBox.appendChild(row);
    if (current.signature) urlBox.appendChild(el("p", { class: "muted small" }, "Content type application/json; the host sends the secret as " + current.signature + "."));
  }

  function renderSecret() {
    var reveal = document.getElementById("auto-deploy-reveal");
    if (shown !== null) secretBox.textContent = shown;
    else secretBox.textContent = settings.has_webhook_secret ? MASK : "none: Regenerate creates one";
    if (reveal) {
      reveal.hidden = !settings.has_webhook_secret;
      reveal.textContent = shown !== null ? "Hide" : "Reveal";
      reveal.setAttribute("aria-pressed", String(shown !== null));
    }
    document.getElementById("auto-deploy-copy-secret").hidden = !settings.has_webhook_secret || (shown === null && !canReveal);
  }

  function fillForm() {
    form.elements.auto_deploy.checked = settings.auto_deploy;
    form.elements.follow_tags.checked = settings.follow_tags;
    form.elements.tag_pattern.value = settings.tag_pattern || "";
    form.elements.previews_enabled.checked = settings.previews_enabled;
    form.elements.preview_secrets.checked = settings.preview_secrets;
    if (!canWrite) Array.prototype.forEach.call(form.elements, function (e) { e.disabled = true; });
    var forks = { approve: "wait for approval before they are built (again for every new push)", never: "are never built", always: "are built at once, isolated" };
    document.getElementById("auto-deploy-forks").textContent = "Pull requests from forks " + (forks[info.preview_forks] || info.preview_forks) +
      ": the server-wide [previews] forks = \"" + info.preview_forks + "\" in the config file decides.";
  }

  async function secretValue() {
    if (shown !== null) return shown;
    var data = await Rivetr.api("GET", base + "/git-settings/webhook-secret");
    return data.value;
  }

  async function load() {
    try {
      var results = await Promise.all([Rivetr.api("GET", base + "/webhook"), Rivetr.api("GET", base + "/git-settings")]);
      info = results[0]; settings = results[1];
    } catch (err) {
      urlBox.textContent = "Auto-deploy settings are unavailable: " + err.message;
      return;
    }
    renderUrls();
    renderSecret();
    fillForm();
  }

  panel.addEventListener("click", async function (ev) {
    var button = ev.target.closest("button");
    if (!button || !settings) return;
    try {
      if (button.id === "auto-deploy-reveal") {
        shown = shown !== null ? null : await secretValue();
        renderSecret();
      } else if (button.id === "auto-deploy-copy-secret") {
        Rivetr.copy(await secretValue(), "Webhook secret");
      } else if (button.id === "auto-deploy-regenerate") {
        var sure = await Rivetr.confirm("Replace the webhook secret? The current one stops working at once: paste the new one into your git host's webhook.", "Regenerate", true);
        if (!sure) return;
        button.setAttribute("aria-busy", "true");
        var created = await Rivetr.api("POST", base + "/git-settings/webhook-secret");
        settings.has_webhook_secret = true;
        shown = created.value;  // shown once, now: copy it to the git host
        renderSecret();
        Rivetr.toast("New webhook secret created: update it at your git host.", "ok");
      }
    } catch (err) {
      Rivetr.toast(err.message || String(err), "error");
    } finally {
      button.removeAttribute("aria-busy");
    }
  });

  function showError(err) {
    var box = form.querySelector("[data-form-error]");
    var placed = false;
    (Array.isArray(err.details) ? err.details : []).forEach(function (d) {
      var slot = form.querySelector('[data-error-for="' + CSS.escape((d.field || "").split(".")[0]) + '"]');
      if (slot) { slot.textContent = d.message; placed = true; }
    });
    if (!placed) { box.textContent = err.message; box.hidden = false; }
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    if (!canWrite) return;
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    form.querySelector("[data-form-error]").hidden = true;
    var button = form.querySelector("[type=submit]");
    button.setAttribute("aria-busy", "true");
    try {
      var branch = form.elements.branch.value.trim();
      if (branch && branch !== form.elements.branch.defaultValue) {
        await Rivetr.api("PUT", base, { branch: branch });
        form.elements.branch.defaultValue = branch;
        var other = document.getElementById("set-branch");  // the Settings form shows the same branch
        if (other) other.value = branch;
      }
      var wanted = {
        auto_deploy: form.elements.auto_deploy.checked,
        follow_tags: form.elements.follow_tags.checked,
        tag_pattern: form.elements.tag_pattern.value.trim(),
        previews_enabled: form.elements.previews_enabled.checked,
        preview_secrets: form.elements.preview_secrets.checked,
      };
      // A setting the repository's rivetr.toml manages is disabled (managed_by_file.js) and not sent: the API
      // would refuse the whole request.
      Object.keys(wanted).forEach(function (k) { if (form.elements[k].disabled) delete wanted[k]; });
      settings = await Rivetr.api("PUT", base + "/git-settings", wanted);
      fillForm();
      Rivetr.toast("Auto-deploy settings saved.", "ok");
    } catch (err) {
      if (err instanceof Rivetr.ApiError) showError(err); else throw err;
    } finally {
      button.removeAttribute("aria-busy");
    }
  });

  load();
})();
