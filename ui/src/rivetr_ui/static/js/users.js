// /users: a link just made (an invitation, a password reset) is shown once, with a copy button; a server admin
// changes a user's server role with the select in its row (the API's refusal is shown beside it).
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
  document.addEventListener("change", async function (ev) {
    var el = ev.target;
    if (!el.matches("select[data-server-role-url]")) return;
    var row = el.closest("[data-error-scope]");
    var error = row.querySelector("[data-inline-error]"), status = row.querySelector("[data-inline-status]");
    error.textContent = ""; status.textContent = "";
    el.disabled = true;
    try {
      var user = await Rivetr.api("PUT", el.dataset.serverRoleUrl, { role: el.value });
      el.dataset.current = user.server_role || "member";
      el.value = el.dataset.current;
      status.textContent = "Saved";
    } catch (err) {
      el.value = el.dataset.current;  // the role the server still has
      error.textContent = (err && err.message) || String(err);
    } finally {
      el.disabled = false;
    }
  });
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("#new-link-copy")) Rivetr.copy(document.getElementById("new-link-value").textContent, "Link");
  });
})();
