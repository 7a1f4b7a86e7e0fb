// A stack's "Volumes and backups" panel: "Back up now" (every volume, or the one chosen) and Restore of a run into
// the stack chosen in its row. Both are REST calls (Rivetr.api: session + CSRF), so errors are the API's own.
(function () {
  "use strict";
  if (window.RivetrStackBackups) return; // the partial may be swapped in again: bind once
  window.RivetrStackBackups = true;

  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.stackBackup) return;
    ev.preventDefault();
    var box = form.querySelector("[data-form-error]");
    box.hidden = true;
    var body = { destination_id: form.elements.destination_id.value };
    var volume = form.elements.volume.value;
    if (volume) body.volumes = [volume];
    try {
      await Rivetr.api("POST", form.dataset.stackBackup, body);
      Rivetr.toast("Backup started: the services using " + (volume || "the volumes") + " pause for the copy.", "ok");
      Rivetr.afterSuccess("refresh:#stack-backup-runs", null, form);
    } catch (err) {
      box.textContent = err.message || String(err);
      box.hidden = false;
    }
  });

  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.restoreStack) return;
    ev.preventDefault();
    var select = form.elements.stack_id;
    var target = select.options[select.selectedIndex].textContent;
    var yes = await Rivetr.confirm(
      "Restore " + form.dataset.volumes + " from the backup of " + form.dataset.started + " into " + target +
        "? The services using them stop briefly while the data is swapped; the data they have now is replaced.",
      "Restore", true);
    if (!yes) return;
    try {
      await Rivetr.api("POST", form.dataset.restoreStack, { stack_id: select.value });
      Rivetr.toast("Restore started into " + target + ".", "ok");
      Rivetr.afterSuccess("refresh:#stack-backup-runs", null, form);
    } catch (err) { Rivetr.toast(err.message || String(err), "error"); }
  });
})();
