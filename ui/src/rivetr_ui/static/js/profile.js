// Profile page: two-factor enrolment (the secret's QR code and key from POST /api/auth/2fa/setup, then the confirm
// form) and recovery codes, shown once after confirming or regenerating, with copy and download.
(function () {
  "use strict";
  var enrol = document.getElementById("two-factor-enrol");
  var box = document.getElementById("recovery-codes");
  if (!enrol || !box) return;
  var codesText = "";
  var downloadUrl = null;

  async function startSetup(button) {
    button.setAttribute("aria-busy", "true");
    try {
      var setup = await Rivetr.api("POST", "/api/auth/2fa/setup");
      document.getElementById("two-factor-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(setup.qr_svg);
      document.getElementById("two-factor-secret").textContent = setup.secret;
      box.hidden = true;
      enrol.hidden = false;
      document.getElementById("two-factor-code").focus();
    } catch (err) {
      Rivetr.toast(err.message, "error");
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  function showCodes(codes) {
    var list = document.getElementById("recovery-code-list");
    list.textContent = "";
    codes.forEach(function (code) {
      var li = document.createElement("li");
      li.textContent = code;
      list.appendChild(li);
    });
    codesText = codes.join("\n") + "\n";
    var download = document.getElementById("recovery-download");
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob(["Rivetr recovery codes: each works once instead of a code.\n\n" + codesText], { type: "text/plain" }));
    download.href = downloadUrl;
    box.hidden = false;
    box.focus();
  }

  document.addEventListener("click", function (ev) {
    var setup = ev.target.closest("#two-factor-setup");
    if (setup) startSetup(setup);
    if (ev.target.closest("#recovery-copy")) Rivetr.copy(codesText, "Recovery codes");
  });
  // Confirming (enrolment done) and regenerating both answer {recovery_codes}; the status partial refreshes itself.
  document.addEventListener("api:success", function (ev) {
    var codes = ev.detail && ev.detail.recovery_codes;
    if (!codes) return;
    enrol.hidden = true;
    document.getElementById("two-factor-confirm").reset();
    showCodes(codes);
  });
  // Turned off: codes shown earlier are worthless now.
  document.addEventListener("api:success", function (ev) {
    if (ev.target.id === "two-factor-disable") box.hidden = true;
  });
})();
