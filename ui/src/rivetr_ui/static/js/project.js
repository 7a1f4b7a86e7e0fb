// A project's page: "Move an app into this project" sends PUT /api/apps/<the chosen app> {"project_id"}; the form's
// target follows the select (app.js submits data-api forms).
(function () {
  "use strict";
  var form = document.getElementById("project-move-app");
  if (!form) return;
  var select = form.querySelector("#move-app");
  function aim() { form.dataset.api = select.dataset.pathTemplate.replace("{id}", encodeURIComponent(select.value)); }
  select.addEventListener("change", aim);
  aim();
})();
