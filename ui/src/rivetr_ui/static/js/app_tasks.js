// The app page's Tasks tab: the "Schedule a deployment" form, which sends either "at" (the date and time typed in
// the browser's time zone, as RFC 3339 with its offset) or "schedule" (a cron), through Rivetr.api (session +
// CSRF) so errors are the API's own, shown next to their field. The rest of the tab is data-api forms and
// data-action buttons handled by app.js.
(function () {
  "use strict";
  if (window.RivetrAppTasks) return;
  window.RivetrAppTasks = true;

  function showMode(form) {
    var mode = form.elements.mode.value;
    form.querySelectorAll("[data-sched-mode]").forEach(function (el) {
      var on = el.dataset.schedMode === mode;
      el.hidden = !on;
      el.querySelectorAll("input").forEach(function (i) { i.disabled = !on; });
    });
  }

  document.addEventListener("change", function (ev) {
    var form = ev.target.form;
    if (form && form.id === "sched-deploy-form" && ev.target.name === "mode") showMode(form);
  });

  document.addEventListener("submit", async function (ev) {
    var form = ev.target;
    if (form.id !== "sched-deploy-form") return;
    ev.preventDefault();
    var box = form.querySelector("[data-form-error]");
    box.hidden = true;
    form.querySelectorAll(".field-error").forEach(function (e) { e.textContent = ""; });
    var body = { no_cache: form.elements.no_cache.checked };
    if (form.elements.mode.value === "once") {
      var local = form.elements.at.value;
      if (local) {
        var when = new Date(local);
        body.at = isNaN(when.getTime()) ? local : when.toISOString();
      } else body.at = "";
    } else {
      body.schedule = form.elements.schedule.value;
      if (form.elements.timezone.value) body.timezone = form.elements.timezone.value;
    }
    try {
      await Rivetr.api("POST", form.dataset.url, body);
      form.reset();
      showMode(form);
      Rivetr.toast("Deployment scheduled.", "ok");
      Rivetr.afterSuccess("refresh:#app-tasks", null, form);
    } catch (err) {
      var details = (err.details && Array.isArray(err.details)) ? err.details : [];
      var placed = false;
      details.forEach(function (d) {
        var slot = d.field && form.querySelector('[data-error-for="' + d.field + '"]');
        if (slot) { slot.textContent = d.message; placed = true; }
      });
      if (!placed) { box.textContent = err.message || String(err); box.hidden = false; }
    }
  });

  document.querySelectorAll("#sched-deploy-form").forEach(showMode);
})();
