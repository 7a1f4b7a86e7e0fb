// "Export project.toml" and "Apply configuration" on a project's page (partials/project_config.html): the pasted file is sent as a dry run
// and its plan shown as a diff (+ create, ~ update, - delete, ? not in the file, ! a secret the server lacks);
// Confirm applies exactly the text that was planned. Editing the text hides Confirm until the plan is shown again.
(function () {
  "use strict";
  // Export: the API wants the session's CSRF header (a plain link cannot send it), so fetch the file and hand
  // it to the browser as a download.
  var exportBtn = document.getElementById("project-export");
  if (exportBtn) {
    exportBtn.addEventListener("click", async function () {
      try {
        var text = await Rivetr.api("GET", exportBtn.dataset.export);
        var url = URL.createObjectURL(new Blob([text], { type: "application/toml" }));
        var link = document.createElement("a");
        link.href = url;
        link.download = exportBtn.dataset.filename;
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      } catch (err) { Rivetr.toast(err.message, "error"); }
    });
  }
  var form = document.getElementById("project-apply");
  if (!form) return;
  var marks = { create: "+", update: "~", "delete": "-", not_in_file: "?", unchanged: "=" };
  var area = form.elements.toml, prune = form.elements.prune;
  var result = document.getElementById("project-apply-result");
  var diff = document.getElementById("project-apply-diff");
  var message = document.getElementById("project-apply-message");
  var confirmBtn = document.getElementById("project-apply-confirm");
  var errorBox = form.querySelector("[data-form-error]");
  var fieldError = form.querySelector('[data-error-for="toml"]');
  var planned = null;

  function line(text, action) {
    var el = document.createElement("div");
    el.setAttribute("role", "listitem");
    el.dataset.action = action;
    el.textContent = text;  // never HTML: the file is the user's text
    diff.appendChild(el);
    return el;
  }
  function value(v) { return v === "(secret)" ? v : JSON.stringify(v); }

  function show(plan) {
    diff.replaceChildren();
    plan.changes.forEach(function (c) {
      if (c.action === "unchanged") return;
      var note = c.action === "not_in_file" ? " (not in the file: left alone)" : "";
      line(marks[c.action] + " " + c.resource + note, c.action).dataset.resource = c.resource;
      Object.keys(c.fields).forEach(function (name) {
        var f = c.fields[name];
        line("    " + name + (c.action === "create" ? " = " + value(f["new"]) : ": " + value(f.old) + " -> " + value(f["new"])), c.action);
      });
    });
    plan.missing_secrets.forEach(function (s) {
      line(s.kind === "basic_auth"
        ? "! basic auth user " + s.name + " of " + s.route + " (app " + s.app + ") has no password on the server"
        : "! secret " + s.name + " of app " + s.app + " is not set on the server", "missing");
    });
    message.textContent = plan.message;
    result.hidden = false;
  }
  function clear() {
    errorBox.hidden = true; errorBox.textContent = ""; fieldError.textContent = "";
  }
  function failed(err) {
    var details = Array.isArray(err.details) ? err.details : [];
    var where = details.filter(function (d) { return d.line; }).map(function (d) {
      return "line " + d.line + ", column " + d.column + ": " + (d.field ? d.field + ": " : "") + d.message;
    });
    fieldError.textContent = where.join("\n");
    errorBox.textContent = err.message;
    errorBox.hidden = false;
  }
  function body(dryRun) { return { toml: area.value, dry_run: dryRun, prune: prune.checked }; }
  function stale() { planned = null; confirmBtn.hidden = true; result.hidden = true; }

  area.addEventListener("input", stale);
  prune.addEventListener("change", stale);
  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    clear();
    stale();
    try {
      var asked = body(true);
      var plan = await Rivetr.api("POST", form.dataset.apply, asked);
      show(plan);
      if (plan.changed) { planned = asked; confirmBtn.hidden = false; confirmBtn.focus(); }
    } catch (err) { failed(err); }
  });
  confirmBtn.addEventListener("click", async function () {
    if (!planned) return;
    confirmBtn.setAttribute("aria-busy", "true");
    clear();
    try {
      var done = await Rivetr.api("POST", form.dataset.apply, Object.assign({}, planned, { dry_run: false }));
      show(done);
      planned = null;
      confirmBtn.hidden = true;
      Rivetr.toast(done.message, "ok");
    } catch (err) { failed(err); } finally { confirmBtn.removeAttribute("aria-busy"); }
  });
})();
