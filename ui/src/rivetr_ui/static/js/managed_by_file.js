// Settings the repository's rivetr.toml manages (partials/managed_by_file.html): their fields are disabled, so
// the form does not submit them (the API would refuse the whole request with 409 managed_by_file), and each
// says where it is set, linking to the deployments that applied the file.
(function () {
  "use strict";
  var note = document.getElementById("managed-by-file");
  if (!note) return;
  var names = (note.dataset.managedFields || "").split(" ").filter(Boolean);
  function managed(name) {
    // "port", or a field of a managed object: "health_check.kind", "source.image", "health_check.*".
    return names.some(function (key) { return name === key || name.indexOf(key + ".") === 0; });
  }
  function mark(el) {
    el.disabled = true;
    el.dataset.managed = "";
    var field = el.closest(".field") || el.closest("label") || el.parentNode;
    if (!field || field.querySelector("[data-managed-note]")) return;
    var hint = document.createElement("a");
    hint.className = "hint managed-hint";
    hint.dataset.managedNote = "";
    hint.href = note.dataset.managedHref;
    hint.textContent = note.dataset.managedLabel;
    field.appendChild(hint);
  }
  var form = document.getElementById("app-settings");
  if (form) {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && managed(el.name)) mark(el);
    });
  }
  // The Auto-deploy form: the file's git_settings keys, and the branch when the file sets it.
  var git = (note.dataset.managedGit || "").split(" ").filter(Boolean);
  var deploys = document.getElementById("auto-deploy-form");
  if (deploys) {
    Array.prototype.forEach.call(deploys.elements, function (el) {
      if (el.name && (git.indexOf(el.name) >= 0 || managed(el.name))) mark(el);
    });
  }
})();
