// Command palette (Ctrl/Cmd-K): jump to a page, an app or a managed service, deploy, restart, open logs, open a
// terminal, create an app or a database / service. Apps and services are found by name or by one of their tags.
(function () {
  "use strict";
  var dlg = document.getElementById("palette");
  if (!dlg) return;
  var input = document.getElementById("palette-input");
  var list = document.getElementById("palette-list");
  var items = [], shown = [], selected = 0, appsLoaded = false, servicesLoaded = false;

  var pages = [
    { label: "Dashboard", kind: "page", run: go("/") },
    { label: "Projects", kind: "page", run: go("/projects") },
    { label: "Apps", kind: "page", run: go("/apps") },
    { label: "New app", kind: "action", run: go("/apps/new") },
    { label: "Services", kind: "page", run: go("/services") },
    { label: "New database / service", kind: "action", run: go("/services/new") },
    { label: "Stacks (compose)", kind: "page", run: go("/stacks") },
    { label: "New stack from a compose file", kind: "action", run: go("/stacks/new") },
    { label: "Backups", kind: "page", run: go("/backups") },
    { label: "Certificates", kind: "page", run: go("/certificates") },
    { label: "Notifications: channels, Send test, deliveries", kind: "page", run: go("/notifications") },
    { label: "Server: host metrics, engine and proxy, disk usage, cleanup, plugins", kind: "page", run: go("/server") },
    { label: "Teams", kind: "page", run: go("/teams") },
    { label: "Audit log: who did what, when", kind: "page", run: go("/audit") },
    { label: "Settings", kind: "page", run: go("/settings") },
    { label: "API tokens", kind: "page", run: go("/settings#tokens") },
    { label: "Profile: password, two-factor login, sessions", kind: "page", run: go("/profile") }
  ];
  function go(path) { return function () { window.location.href = path; }; }

  async function loadApps() {
    if (appsLoaded) return;
    appsLoaded = true;
    try {
      // Every app (the list is paginated; listAll follows next).
      var apps = await Rivetr.listAll("/api/apps");
      apps.forEach(function (a) {
        var page = "/apps/" + encodeURIComponent(a.id);
        items.push({ label: a.name, kind: "app · " + a.status + tagText(a.tags), tags: a.tags, run: go(page) });
        items.push({ label: "Deploy " + a.name, kind: "action", run: async function () {
          await Rivetr.api("POST", "/api/apps/" + encodeURIComponent(a.id) + "/deploy");
          window.location.href = page + "#deploy";
        } });
        if (a.current_deployment_id) {
          // A real restart of the running container (POST /restart), not a redeploy of the same image.
          items.push({ label: "Restart " + a.name, kind: "action", run: async function () {
            await Rivetr.api("POST", "/api/apps/" + encodeURIComponent(a.id) + "/restart");
            window.location.href = page;
          } });
          items.push({ label: "Open logs of " + a.name, kind: "action", run: go(page + "/logs") });
          items.push({ label: "Terminal in " + a.name, kind: "action", run: go(page + "/terminal") });
        }
      });
      render();
    } catch (err) { appsLoaded = false; }
  }

  async function loadServices() {
    if (servicesLoaded) return;
    servicesLoaded = true;
    try {
      // The dashboard's own list, not GET /api/services: it answers [] without loading the services feature
      // on a server that has none.
      var resp = await fetch("/services/palette.json", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      var data = await resp.json();
      (data.items || []).forEach(function (s) {
        items.push({ label: s.name, kind: "service · " + s.type + " · " + s.status + tagText(s.tags), tags: s.tags, run: go("/services/" + encodeURIComponent(s.id)) });
      });
      render();
    } catch (err) { servicesLoaded = false; }
  }

  function tagText(tags) { return tags && tags.length ? " · #" + tags.join(" #") : ""; }

  // An item's score: its label's, else a tag's (a tag typed whole or its start; "#prod" works too), ranked
  // below a label match so names come first.
  function itemScore(it, query) {
    var s = score(it.label, query);
    if (s > 0 || !it.tags) return s;
    var q = query.toLowerCase().trim().replace(/^#/, "");
    if (!q) return s;
    for (var i = 0; i < it.tags.length; i++) if (it.tags[i].indexOf(q) === 0) return 1;
    return 0;
  }

  function score(label, query) {
    // Subsequence match, earlier and contiguous matches first.
    label = label.toLowerCase(); query = query.toLowerCase().trim();
    if (!query) return 1;
    var at = label.indexOf(query);
    if (at >= 0) return 100 - at;
    var i = 0, s = 0;
    for (var j = 0; j < label.length && i < query.length; j++) if (label[j] === query[i]) { i++; s++; }
    return i === query.length ? s : 0;
  }

  function render() {
    var q = input.value;
    shown = items.map(function (it) { return { it: it, s: itemScore(it, q) }; })
      .filter(function (x) { return x.s > 0; })
      .sort(function (a, b) { return b.s - a.s; }).slice(0, 50).map(function (x) { return x.it; });
    if (selected >= shown.length) selected = 0;
    list.innerHTML = "";
    shown.forEach(function (it, i) {
      var li = document.createElement("li");
      li.id = "palette-item-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === selected));
      var name = document.createElement("span"); name.textContent = it.label;
      var kind = document.createElement("span"); kind.className = "kind"; kind.textContent = it.kind;
      li.appendChild(name); li.appendChild(kind);
      li.addEventListener("click", function () { run(i); });
      list.appendChild(li);
    });
    input.setAttribute("aria-activedescendant", shown.length ? "palette-item-" + selected : "");
    if (!shown.length) { var none = document.createElement("li"); none.textContent = "No match"; none.className = "muted"; list.appendChild(none); }
  }

  async function run(i) {
    var it = shown[i];
    if (!it) return;
    dlg.close();
    try { await it.run(); } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
  }

  function open() {
    items = pages.slice();
    appsLoaded = false;
    servicesLoaded = false;
    input.value = "";
    selected = 0;
    render();
    dlg.showModal();
    input.focus();
    loadApps();
    loadServices();
  }

  // Capture phase: widgets that eat keys (the xterm.js terminal sends ^K to the shell) must not hide the palette.
  document.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && (ev.key === "k" || ev.key === "K")) {
      ev.preventDefault();
      ev.stopPropagation();
      if (dlg.open) dlg.close(); else open();
    }
  }, true);
  var button = document.getElementById("palette-open");
  if (button) button.addEventListener("click", open);
  input.addEventListener("input", function () { selected = 0; render(); });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown") { ev.preventDefault(); selected = Math.min(selected + 1, shown.length - 1); render(); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); selected = Math.max(selected - 1, 0); render(); }
    else if (ev.key === "Enter") { ev.preventDefault(); run(selected); }
  });
  dlg.addEventListener("click", function (ev) { if (ev.target === dlg) dlg.close(); });
})();
