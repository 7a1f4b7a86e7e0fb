// Domain settings of an app (partials/domain_settings.html): each <form data-route-settings> loads its key's
// settings (GET /api/routes/settings/{key}) and, just before app.js submits it, turns the friendly fields
// (redirect lines, user rows) into the JSON the API takes, in hidden inputs of data-type="json".
// A basic auth the app's rivetr.toml declares (data-managed-auth: {realm, users}) stays on with the file's realm:
// only its users' passwords are set here, and with none of them yet the form sends no basic_auth at all.
(function () {
  "use strict";
  var R;  // window.Rivetr (app.js): loaded after the page's content, so read once the document is parsed

  function summary(s) {
    var parts = [];
    if (s.strip_prefix) parts.push("strips its path");
    if (s.compression === false) parts.push("not compressed");
    if (s.upstream_protocol === "h2c") parts.push("h2c upstream");
    if (s.redirect_www) parts.push("www " + s.redirect_www);
    if (s.redirects.length) parts.push(s.redirects.length + " redirect" + (s.redirects.length > 1 ? "s" : ""));
    if (s.basic_auth) parts.push("password (" + s.basic_auth.users.length + " user" + (s.basic_auth.users.length > 1 ? "s" : "") + ")");
    return parts.length ? "· " + parts.join(", ") : "";
  }

  function userRow(name) {
    var li = document.createElement("li");
    var label = document.createElement("label");
    label.className = "row small";
    var box = document.createElement("input");
    box.type = "checkbox";
    box.checked = true;
    box.dataset.skip = "";
    box.dataset.authUser = name;
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + name));
    li.appendChild(label);
    return li;
  }

  function fill(form, s) {
    var strip = form.querySelector("[name=strip_prefix]");
    if (strip) strip.checked = !!s.strip_prefix;
    form.querySelector("[name=compression]").checked = s.compression !== false;
    var proto = form.querySelector("[name=upstream_protocol]");
    if (proto) proto.value = s.upstream_protocol || "http1";
    var www = form.querySelector("[name=redirect_www]");
    if (www) www.value = s.redirect_www || "";
    form.querySelector("[data-redirects-text]").value = s.redirects.map(function (r) {
      return r.from + " " + r.to + " " + r.status;
    }).join("\n");
    var on = form.querySelector("[data-auth-on]");
    var declared = managedAuth(form);
    on.checked = !!s.basic_auth || !!declared;
    on.disabled = !!declared;
    form.querySelector("[data-auth-fields]").hidden = !on.checked;
    var realm = form.querySelector("[data-auth-realm]");
    realm.value = declared ? declared.realm || "Restricted" : s.basic_auth ? s.basic_auth.realm : "Restricted";
    realm.disabled = !!declared;
    var list = form.querySelector("[data-auth-users]");
    list.textContent = "";
    (s.basic_auth ? s.basic_auth.users : []).forEach(function (n) { list.appendChild(userRow(n)); });
    form.querySelector("[data-auth-new-name]").value = "";
    form.querySelector("[data-auth-new-password]").value = "";
    form.closest("details").querySelector("[data-route-summary]").textContent = summary(s);
  }

  function managedAuth(form) {
    var set = form.querySelector("[data-managed-auth]");
    return set ? JSON.parse(set.dataset.managedAuth) : null;
  }

  function invalid(field, message) {
    return new R.ApiError(422, { error: { code: "validation_error", message: field + ": " + message, details: [{ field: field, message: message }] } });
  }

  // Capture phase: runs before app.js's submit handler reads the form.
  function prepare(form) {
    var rules = [];
    form.querySelector("[data-redirects-text]").value.split("\n").forEach(function (line, i) {
      var parts = line.trim().split(/\s+/).filter(Boolean);
      if (!parts.length) return;
      if (parts.length < 2 || parts.length > 3) throw invalid("redirects", "line " + (i + 1) + ": FROM TO [STATUS]");
      rules.push({ from: parts[0], to: parts[1], status: parts[2] ? Number(parts[2]) : 301 });
    });
    form.querySelector("[name=redirects]").value = JSON.stringify(rules);
    var auth = null;
    if (form.querySelector("[data-auth-on]").checked) {
      var users = [];
      form.querySelectorAll("[data-auth-user]").forEach(function (box) {
        if (box.checked) users.push({ name: box.dataset.authUser });
      });
      var name = form.querySelector("[data-auth-new-name]").value.trim();
      var password = form.querySelector("[data-auth-new-password]").value;
      if (name) {
        users = users.filter(function (u) { return u.name !== name; });
        users.push({ name: name, password: password });
      }
      auth = { realm: form.querySelector("[data-auth-realm]").value.trim() || "Restricted", users: users };
    }
    var hidden = form.querySelector("[name=basic_auth]");
    hidden.disabled = !!managedAuth(form) && !(auth && auth.users.length);
    hidden.value = JSON.stringify(auth);
  }

  function init() {
    R = window.Rivetr;
    document.querySelectorAll("form[data-route-settings]").forEach(setup);
  }

  function setup(form) {
    var key = form.closest("[data-route-key]").dataset.routeKey;
    R.api("GET", "/api/routes/settings/" + key).then(function (s) { fill(form, s); form.dataset.loaded = ""; });
    form.querySelector("[data-auth-on]").addEventListener("change", function (ev) {
      form.querySelector("[data-auth-fields]").hidden = !ev.target.checked;
    });
    form.addEventListener("submit", function (ev) {
      try {
        prepare(form);
      } catch (err) {
        ev.stopPropagation();
        ev.preventDefault();
        var box = form.querySelector("[data-form-error]");
        var slot = form.querySelector('[data-error-for="' + err.details[0].field + '"]');
        (slot || box).textContent = err.details[0].message;
        if (!slot) box.hidden = false;
      }
    }, true);
    form.addEventListener("api:success", function (ev) {
      fill(form, ev.detail);
      form.querySelector("[data-route-saved]").textContent = "Saved.";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
