// The project page's Notifications panel: the route form's target follows the chosen channel (PUT
// /api/projects/<id>/notification-routes/<channel>); app.js submits data-api forms. The panel is an htmx partial, so
// the form is found again after each swap.
(function () {
  "use strict";
  function aim(form) {
    var select = form.querySelector("#project-route-channel");
    form.dataset.api = form.dataset.pathTemplate.replace("{id}", encodeURIComponent(select.value));
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "project-route-channel") aim(event.target.form);
  });
  document.addEventListener("htmx:afterSwap", function () {
    var form = document.getElementById("project-route-form");
    if (form) aim(form);
  });
})();
