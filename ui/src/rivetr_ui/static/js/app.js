// Rivetr dashboard behaviour shared by every page: API calls with the session's CSRF token, JSON forms with
// field errors, confirmation dialogs, the theme switch. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function ApiError(status, body) {
    var err = (body && body.error) || {};
    this.status = status;
    this.code = err.code || "error";
    this.message = err.message || ("Request failed with status " + status);  // the API's own text when it sent one
    this.details = err.details;
  }

  // fetch() against /api/* with the session cookie + CSRF header; resolves to parsed JSON (or null).
  async function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    var res = await fetch(path, opts);
    var text = await res.text();
    var data = null;
    if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
    if (res.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // Every item of a paginated list ({items, next}): follow next at the largest page size.
  async function listAll(path) {
    var items = [], cursor = null, sep = path.indexOf("?") < 0 ? "?" : "&";
    do {
      var page = await api("GET", path + sep + "limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
      items = items.concat(page.items);
      cursor = page.next;
    } while (cursor);
    return items;
  }

  // Build the JSON body from a form: data-type="int|float|bool|list|json|shell" on inputs; empty optional →
  // omitted. A name "obj.key" sets body.obj.key; "obj.*" (data-type="json") merges an object into body.obj.
  function formBody(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf_token" || el.dataset.skip !== undefined) return;
      var type = el.dataset.type || "";
      var value;
      // Checkboxes with data-type="list" sharing a name collect their checked values; a <select multiple>
      // its selected ones (none: omitted).
      if (el.type === "checkbox" && type === "list") {
        body[el.name] = body[el.name] || [];
        if (el.checked) body[el.name].push(el.value);
        return;
      }
      if (el.multiple) {
        var chosen = Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; });
        if (chosen.length) body[el.name] = chosen;
        return;
      }
      if (el.type === "checkbox") value = el.checked;
      else if (el.type === "radio") { if (!el.checked) return; value = el.value; }
      else value = el.value;
      if (typeof value === "string") {
        if (value.trim() === "" && el.dataset.keepEmpty === undefined) { if (el.dataset.null !== undefined) body[el.name] = null; return; }
        if (type === "int") value = Number.isInteger(Number(value)) ? Number(value) : value;
        else if (type === "float") value = isNaN(Number(value)) ? value : Number(value);
        else if (type === "list") value = value.split(/[\s,]+/).filter(Boolean);
        else if (type === "lines") value = value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
        else if (type === "pairs") value = pairs(el.name, value);
        else if (type === "shell") value = ["sh", "-c", value];
        else if (type === "json") {
          try { value = JSON.parse(value); } catch (e) {
            var field = el.name.split(".")[0];
            throw new ApiError(422, { error: { code: "validation_error", message: field + ": not valid JSON", details: [{ field: field, message: "not valid JSON: " + e.message }] } });
          }
        }
      }
      var dot = el.name.indexOf(".");
      if (dot < 0) { body[el.name] = value; return; }
      var outer = el.name.slice(0, dot), key = el.name.slice(dot + 1);
      var target = body[outer] = body[outer] || {};
      if (key !== "*") { target[key] = value; return; }
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        throw new ApiError(422, { error: { code: "validation_error", message: outer + ": options must be a JSON object", details: [{ field: outer, message: "options must be a JSON object, e.g. {\"file\": \"/tmp/ready\"}" }] } });
      }
      Object.keys(value).forEach(function (k) { if (!(k in target)) target[k] = value[k]; });
    });
    return body;
  }

  // "KEY=VALUE" lines (data-type="pairs") -> {KEY: VALUE}; a line without "=" is the field's error.
  function pairs(name, text) {
    var out = {};
    text.split("\n").map(function (s) { return s.trim(); }).filter(Boolean).forEach(function (line) {
      var at = line.indexOf("=");
      if (at < 1) {
        var why = JSON.stringify(line) + " is not KEY=VALUE";
        throw new ApiError(422, { error: { code: "validation_error", message: name + ": " + why, details: [{ field: name, message: why }] } });
      }
      out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    form.querySelectorAll(".field.invalid").forEach(function (e) { e.classList.remove("invalid"); });
    form.querySelectorAll("[aria-invalid]").forEach(function (e) { e.removeAttribute("aria-invalid"); });
  }

  // Put each error next to its field (details[].field from the API); the rest goes to the form's alert.
  function showErrors(form, err) {
    var general = [];
    var details = Array.isArray(err.details) ? err.details : [];
    var placed = false;
    details.forEach(function (d) {
      var name = (d.field || "").split(/[.[]/)[0];  // "tags[2]", "domains[0].port": the form's field
      var slot = name && form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (slot) {
        slot.textContent = d.message;
        var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
        if (input) { input.setAttribute("aria-invalid", "true"); input.closest(".field") && input.closest(".field").classList.add("invalid"); if (!placed) input.focus(); }
        placed = true;
      } else general.push(d.field ? d.field + ": " + d.message : d.message);
    });
    if (!placed || general.length) {
      var box = form.querySelector("[data-form-error]");
      var msg = general.length ? general.join("; ") : err.message;
      if (box) { box.textContent = msg; box.hidden = false; } else alert(msg);
    }
  }

  async function submitApiForm(form) {
    var spec = form.dataset.api.split(" ");
    var method = spec[0], path = spec[1];
    var button = form.querySelector("[type=submit]");
    clearErrors(form);
    var box = form.querySelector("[data-form-error]");
    if (box) box.hidden = true;
    if (button) button.setAttribute("aria-busy", "true");
    try {
      var result = await api(method, path, formBody(form));
      form.dispatchEvent(new CustomEvent("api:success", { detail: result, bubbles: true }));
      afterSuccess(form.dataset.apiSuccess, result, form);
    } catch (err) {
      if (err instanceof ApiError) showErrors(form, err); else throw err;
    } finally {
      if (button) button.removeAttribute("aria-busy");
    }
  }

  // data-api-success: "reload" | "redirect:/apps/{id}" | "refresh:#selector" (htmx re-fetch) | "reset".
  function afterSuccess(action, result, el) {
    if (!action) return;
    action.split("|").forEach(function (a) {
      if (a === "reload") window.location.reload();
      else if (a === "reset" && el && el.reset) el.reset();
      else if (a.indexOf("redirect:") === 0) {
        window.location.href = a.slice(9).replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent(result && result[k]); });
      } else if (a.indexOf("refresh:") === 0) {
        document.querySelectorAll(a.slice(8)).forEach(function (t) { if (window.htmx) htmx.trigger(t, "refresh"); });
      }
    });
  }

  // A confirmation dialog (a real <dialog>: focus-trapped, Escape cancels). Resolves true when confirmed.
  function confirmDialog(message, confirmLabel, danger) {
    return new Promise(function (resolve) {
      var dlg = document.getElementById("confirm-dialog");
      dlg.querySelector("[data-message]").textContent = message;
      var ok = dlg.querySelector("[data-ok]");
      ok.textContent = confirmLabel || "Confirm";
      ok.className = "btn " + (danger ? "danger" : "primary");
      // The dialog's <form method="dialog"> sets returnValue to the pressed button's value ("ok"/"cancel").
      dlg.addEventListener("close", function () { resolve(dlg.returnValue === "ok"); }, { once: true });
      dlg.returnValue = "";
      dlg.showModal();
      dlg.querySelector("[data-cancel]").focus();
    });
  }

  // <button data-action="POST /api/..." data-confirm="..." data-api-success="..."> : one-click API calls.
  async function runAction(button) {
    if (button.dataset.confirm) {
      var yes = await confirmDialog(button.dataset.confirm, button.dataset.confirmLabel || button.textContent.trim(), button.classList.contains("danger"));
      if (!yes) return;
    }
    var spec = button.dataset.action.split(" ");
    button.setAttribute("aria-busy", "true");
    try {
      var result = await api(spec[0], spec[1], button.dataset.body ? JSON.parse(button.dataset.body) : undefined);
      button.dispatchEvent(new CustomEvent("api:success", { detail: result, bubbles: true }));
      afterSuccess(button.dataset.apiSuccess, result, button);
    } catch (err) {
      toast(err.message || String(err), "error");
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  function toast(message, kind) {
    var region = document.getElementById("toasts");
    if (!region) { alert(message); return; }
    var p = document.createElement("p");
    p.className = "alert " + (kind || "info");
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.textContent = message;
    region.appendChild(p);
    setTimeout(function () { p.remove(); }, kind === "error" ? 10000 : 4000);
  }

  // ------------------------------------------------------------------------------------------ theme
  function setTheme(theme) {
    try { localStorage.setItem("rivetr-theme", theme); } catch (e) { /* storage disabled */ }
    document.documentElement.setAttribute("data-theme", theme);
    syncThemeButtons();
  }
  function syncThemeButtons() {
    var current = document.documentElement.getAttribute("data-theme");
    document.querySelectorAll("[data-theme-choice]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.themeChoice === current));
    });
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.dataset && form.dataset.api) { ev.preventDefault(); submitApiForm(form); }
  });
  document.addEventListener("click", function (ev) {
    var t = ev.target.closest("[data-theme-choice],[data-action],[data-reveal],[data-copy-from]");
    if (!t) return;
    if (t.dataset.themeChoice) setTheme(t.dataset.themeChoice);
    else if (t.dataset.action) { ev.preventDefault(); runAction(t); }
    else if (t.dataset.reveal) { ev.preventDefault(); reveal(t); }
    // <button data-copy-from="#id" data-copy-what="Token">: copy that element's text (a value shown once).
    else if (t.dataset.copyFrom) { ev.preventDefault(); copy(document.querySelector(t.dataset.copyFrom).textContent.trim(), t.dataset.copyWhat); }
  });

  // Secret reveal: fetch the plain value on demand (never rendered into the page up front).
  async function reveal(button) {
    var target = document.getElementById(button.dataset.target);
    if (button.getAttribute("aria-pressed") === "true") {
      target.textContent = "••••••••"; button.setAttribute("aria-pressed", "false"); button.textContent = "Reveal"; return;
    }
    try {
      var data = await api("GET", button.dataset.reveal);
      target.textContent = data.value;
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Hide";
    } catch (err) { toast(err.message, "error"); }
  }

  // The top bar's New menu is a <details>: it opens and closes on its summary only, so a click elsewhere or
  // Escape closes it here (Escape hands focus back to the summary, where the keyboard user was).
  var newMenu = document.getElementById("new-menu");
  if (newMenu) {
    document.addEventListener("click", function (ev) {
      if (newMenu.open && !newMenu.contains(ev.target)) newMenu.open = false;
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape" || !newMenu.open) return;
      newMenu.open = false;
      newMenu.querySelector("summary").focus();
    });
  }

  syncThemeButtons();
  // WebSockets carry the CSRF token as a subprotocol (never in the URL, which gets logged); the server echoes
  // "rivetr.v1" and checks the session cookie, this token and the Origin.
  function wsProtocols() { return ["rivetr.v1", "rivetr.csrf." + csrf]; }
  // Copy to the clipboard. navigator.clipboard exists only in secure contexts (https, localhost); a dashboard on
  // http://server-ip falls back to the older copy command on a temporary, off-screen text area.
  async function copy(text, what) {
    var done = false;
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); done = true; } catch (e) { done = false; }
    }
    if (!done) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      area.remove();
    }
    if (done) toast((what || "Text") + " copied to the clipboard.", "ok");
    else toast("The browser refused the clipboard: select the text and copy it by hand.", "error");
  }

  window.Rivetr = { api: api, listAll: listAll, csrf: csrf, wsProtocols: wsProtocols, toast: toast, confirm: confirmDialog, ApiError: ApiError, afterSuccess: afterSuccess, copy: copy };
})();
