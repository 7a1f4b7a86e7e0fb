// The app's error pages (partials/app_maintenance.html): a chosen HTML file fills the page's text area, which
// the form then sends as {"html": ...} (the generic data-api form handling in app.js).
(function () {
  "use strict";
  document.querySelectorAll("[data-page-file]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      file.text().then(function (text) {
        input.closest("form").querySelector("textarea[name=html]").value = text;
      });
    });
  });
})();
