// /teams/<id>: role changes, the two-factor requirement, removing members, revoking tokens and deleting the team,
// all REST calls with the session's CSRF header (Rivetr.api). The API's refusal (an owner changed by an admin, the
// last owner, a team that still owns projects…) is shown next to the control that caused it, never only a toast.
(function () {
  "use strict";
  function scope(el) { return el.closest("[data-error-scope]") || el.parentElement; }
  function showError(el, err) {
    var slot = scope(el).querySelector("[data-inline-error]");
    var msg = (err && err.message) || String(err);
    if (err && err.code === "team_not_empty" && err.details && Array.isArray(err.details.projects)) {
      msg = "This team still owns projects (" + err.details.projects.join(", ") + "): move them to another team or delete them first.";
    }
    if (slot) { slot.textContent = msg; slot.hidden = false; } else Rivetr.toast(msg, "error");
  }
  function clear(el) {
    var s = scope(el);
    var slot = s.querySelector("[data-inline-error]");
    if (slot) { slot.textContent = ""; if (slot.tagName === "P") slot.hidden = true; }
    var status = s.querySelector("[data-inline-status]");
    if (status) status.textContent = "";
  }
  function saved(el, text) {
    var status = scope(el).querySelector("[data-inline-status]");
    if (status) status.textContent = text;
  }

  document.addEventListener("change", async function (ev) {
    var el = ev.target;
    if (el.matches("select[data-member-role]")) {
      clear(el);
      el.setAttribute("aria-busy", "true");
      try {
        var member = await Rivetr.api("PUT", el.dataset.memberRole, { role: el.value });
        el.dataset.current = member.role;
        saved(el, "Saved");
      } catch (err) {
        el.value = el.dataset.current;  // the role the server still has
        showError(el, err);
      } finally {
        el.removeAttribute("aria-busy");
      }
    } else if (el.matches("input[data-team-url]")) {
      clear(el);
      el.disabled = true;
      try {
        var team = await Rivetr.api("PUT", el.dataset.teamUrl, { require_2fa: el.checked });
        el.checked = team.require_2fa;
        saved(el, team.require_2fa ? "Saved: two-factor login is required." : "Saved: two-factor login is optional.");
      } catch (err) {
        el.checked = !el.checked;
        showError(el, err);
      } finally {
        el.disabled = false;
      }
    }
  });

  document.addEventListener("click", async function (ev) {
    var button = ev.target.closest("[data-inline-action]");
    if (!button) return;
    ev.preventDefault();
    clear(button);
    if (button.dataset.confirm) {
      var yes = await Rivetr.confirm(button.dataset.confirm, button.dataset.confirmLabel || button.textContent.trim(), true);
      if (!yes) return;
    }
    var spec = button.dataset.inlineAction.split(" ");
    button.setAttribute("aria-busy", "true");
    try {
      var result = await Rivetr.api(spec[0], spec[1]);
      Rivetr.afterSuccess(button.dataset.apiSuccess, result, button);
    } catch (err) {
      showError(button, err);
    } finally {
      button.removeAttribute("aria-busy");
    }
  });
})();
