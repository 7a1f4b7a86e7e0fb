// New-app form: "Source: Git repository | Image". The fields of the other kind are hidden and disabled, so the
// body the form sends has either git_url (and its branch, Dockerfile, credentials) or source.image, never both.
(function () {
  "use strict";
  var radios = document.querySelectorAll("[data-source-kind]");
  if (!radios.length) return;

  function apply() {
    var checked = document.querySelector("[data-source-kind]:checked");
    var kind = checked ? checked.value : "git";
    document.querySelectorAll("[data-source-for]").forEach(function (box) {
      var on = box.dataset.sourceFor === kind;
      box.hidden = !on;
      box.querySelectorAll("input, select, textarea").forEach(function (el) {
        // The repository picker's own controls are never sent (data-skip); keep them usable with git.
        el.disabled = !on;
      });
    });
  }

  radios.forEach(function (r) { r.addEventListener("change", apply); });
  apply();
})();
