// Server → Cleanup settings (partials/cleanup_settings.html): the form is a data-api form (app.js sends it and
// places the API's field errors). A field that follows the config file carries data-skip so Save does not copy the
// file's value into the database; editing it lifts that. After a save or a "Use config file", a toast says what
// happened (the panel itself is re-read by data-api-success).
(function () {
  "use strict";
  function unskip(ev) {
    var form = ev.target.form;
    if (form && form.hasAttribute("data-cleanup-settings")) ev.target.removeAttribute("data-skip");
  }
  document.addEventListener("input", unskip);
  document.addEventListener("change", unskip);
  document.addEventListener("api:success", function (ev) {
    var el = ev.target;
    if (!el.closest || !el.closest("[data-cleanup-settings]")) return;
    var message = el.hasAttribute("data-cleanup-reset") ? "Cleanup settings: back to the config file." : "Cleanup settings saved.";
    Rivetr.toast(message, "ok");
  });
})();
