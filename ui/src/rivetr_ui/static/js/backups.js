// Backups page and an app's Backups panel: the destination form shows the fields of the chosen kind (the other
// kind's are disabled, so they stay out of the JSON body), a destination's Test button writes its result into
// its row, and the consistency form offers the command field only for the "command" mode.
(function () {
  "use strict";

  function toggleGroup(root, attr, active) {
    root.querySelectorAll("[" + attr + "]").forEach(function (group) {
      var on = group.getAttribute(attr) === active;
      group.hidden = !on;
      group.querySelectorAll("input,select,textarea").forEach(function (el) { el.disabled = !on; });
    });
  }

  function syncKind(select) {
    var form = select.form;
    if (form) toggleGroup(form, "data-dest-for", select.value);
  }

  function syncMode(select) {
    var box = select.form && select.form.querySelector("[data-consistency-command]");
    if (!box) return;
    var on = select.value === "command";
    box.hidden = !on;
    box.querySelectorAll("input").forEach(function (el) { el.disabled = !on; });
  }

  // A schedule names an app (volumes), a managed service (its dump) or nothing (Rivetr's state).
  function syncWhat(select) {
    if (!select.form) return;
    [["[data-schedule-app]", "volumes"], ["[data-schedule-service]", "service"]].forEach(function (pair) {
      var box = select.form.querySelector(pair[0]);
      if (!box) return;
      var on = select.value === pair[1];
      box.hidden = !on;
      box.querySelectorAll("select").forEach(function (el) { el.disabled = !on; });
    });
  }

  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.matches("[data-dest-kind]")) syncKind(t);
    else if (t.matches("[data-consistency-mode]")) syncMode(t);
    else if (t.matches("[data-schedule-what]")) syncWhat(t);
  });

  // A form's reset puts the kind back to "local": show its fields again.
  document.addEventListener("reset", function (ev) {
    var kind = ev.target.querySelector && ev.target.querySelector("[data-dest-kind]");
    if (kind) setTimeout(function () { syncKind(kind); }, 0);
  });

  document.addEventListener("api:success", function (ev) {
    var t = ev.target;
    if (t.id === "destination-add" && ev.detail) {
      var note = document.getElementById("destination-added");
      note.textContent = "Test write succeeded: " + ev.detail.name + " added.";
      note.hidden = false;
    } else if (t.id === "backup-consistency") {
      Rivetr.toast("Saved: the consistency setting applies at the next backup.", "ok");
    } else if (t.id === "backup-now" || t.id === "state-backup-now") {
      Rivetr.toast("Backup started.", "ok");
    } else if (t.dataset && t.dataset.action && t.dataset.action.indexOf("/restore") > 0) {
      Rivetr.toast("Restore started: the app stops briefly while its data is swapped.", "ok");
    }
  });

  document.addEventListener("click", async function (ev) {
    var button = ev.target.closest("[data-test-destination]");
    if (!button) return;
    ev.preventDefault();
    var cell = button.closest("tr").querySelector("[data-test-result]");
    cell.textContent = "Testing…";
    cell.className = "small";
    button.setAttribute("aria-busy", "true");
    try {
      await Rivetr.api("POST", button.dataset.testDestination);
      cell.textContent = "Test passed: written, read back, deleted";
      cell.className = "small ok";
    } catch (err) {
      var problem = err.details && err.details.problem ? " (" + err.details.problem + ")" : "";
      cell.textContent = "Test failed: " + (err.message || String(err)) + problem;
      cell.className = "small field-error";
    } finally {
      button.removeAttribute("aria-busy");
    }
  });

  // "Restore another app's backup into this app": the backup is chosen in the form, so the path is built here.
  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.restoreInto) return;
    ev.preventDefault();
    var box = form.querySelector("[data-form-error]");
    box.hidden = true;
    var name = form.dataset.appName;
    var yes = await Rivetr.confirm("Replace the data of " + name + "'s volumes with this backup? " + name + " stops briefly while its data is swapped, then starts again.", "Restore", true);
    if (!yes) return;
    var backup = form.elements.backup_id.value;
    try {
      await Rivetr.api("POST", "/api/backups/" + encodeURIComponent(backup) + "/restore", { app_id: form.dataset.restoreInto });
      Rivetr.toast("Restore started: " + name + " stops briefly while its data is swapped.", "ok");
      Rivetr.afterSuccess("refresh:#app-backups|refresh:#volumes", null, form);
    } catch (err) {
      box.textContent = err.message || String(err);
      box.hidden = false;
    }
  });

  document.querySelectorAll("[data-dest-kind]").forEach(syncKind);
  document.querySelectorAll("[data-schedule-what]").forEach(syncWhat);
  // Panels swapped in by htmx (the app's Backups panel, the schedule form) get their initial state too.
  document.body.addEventListener("htmx:afterSwap", function (ev) {
    ev.target.querySelectorAll("[data-schedule-what]").forEach(syncWhat);
    ev.target.querySelectorAll("[data-consistency-mode]").forEach(syncMode);
  });
})();
