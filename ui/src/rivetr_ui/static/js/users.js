// /users: a link just made (an invitation, a password reset) is shown once, with a copy button.
(function () {
  "use strict";
  function show(title, url) {
    var box = document.getElementById("new-link");
    box.querySelector("[data-link-title]").textContent = title + ": copy it now";
    document.getElementById("new-link-value").textContent = url;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("api:success", function (ev) {
    var t = ev.target;
    if (!ev.detail || !ev.detail.url) return;
    if (t.id === "invite-form") show("Invitation to " + ev.detail.team_name + " as " + ev.detail.role, ev.detail.url);
    else if (t.dataset && t.dataset.linkResult) show(t.dataset.linkResult, ev.detail.url);
  });
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("#new-link-copy")) Rivetr.copy(document.getElementById("new-link-value").textContent, "Link");
  });
})();
