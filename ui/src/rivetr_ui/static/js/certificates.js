// Certificates page: "Or read it from a file" fills the PEM text areas (the upload itself is the shared data-api
// form: POST /api/certificates, errors next to their field), and "Renew now" asks the API for an ACME renewal.
// A renewal is accepted at once (202) and runs in the background, so the row is re-read until its issue time or
// its last error changes; a refusal (409 acme_disabled, custom_certificate) is shown in the row as the API says it.
(function () {
  "use strict";
  var list = document.getElementById("certificate-list");
  // How long a requested renewal is watched before the list is simply refreshed (ACME orders take seconds).
  var WATCH_MS = 90000, EVERY_MS = 1500;

  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input.dataset || !input.dataset.pemInto || !input.files || !input.files[0]) return;
    var target = document.getElementById(input.dataset.pemInto);
    input.files[0].text().then(function (text) {
      target.value = text;
      target.dispatchEvent(new Event("input", { bubbles: true }));
      input.value = "";  // the text area holds it now; choosing the same file again reads it again
    }, function (err) {
      Rivetr.toast("Could not read " + input.files[0].name + ": " + err.message, "error");
    });
  });

  function refresh() { if (list && window.htmx) htmx.trigger(list, "refresh"); }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  async function watch(domain, issued, errorAt) {
    var path = "/api/certificates/" + encodeURIComponent(domain);
    var deadline = Date.now() + WATCH_MS;
    while (Date.now() < deadline) {
      await sleep(EVERY_MS);
      var cert;
      try { cert = await Rivetr.api("GET", path); } catch (err) { break; }  // deleted meanwhile: show the list
      if ((cert.issued_at || "") !== issued) {
        Rivetr.toast("Renewed the certificate of " + domain + ".", "ok");
        break;
      }
      if ((cert.last_error_at || "") !== errorAt) {
        Rivetr.toast("Renewing " + domain + " failed: " + cert.last_error, "error");
        break;
      }
    }
    refresh();
  }

  async function renew(button) {
    var domain = button.dataset.renew;
    var row = button.closest("tr");
    var result = row && row.querySelector("[data-renew-result]");
    if (result) result.textContent = "";
    button.setAttribute("aria-busy", "true");
    button.disabled = true;
    try {
      await Rivetr.api("POST", "/api/certificates/" + encodeURIComponent(domain) + "/renew");
    } catch (err) {
      button.removeAttribute("aria-busy");
      button.disabled = false;
      if (result) result.textContent = err.message; else Rivetr.toast(err.message, "error");
      return;
    }
    Rivetr.toast("Renewal of " + domain + " requested: the list updates when the CA has answered.", "info");
    await watch(domain, button.dataset.issued || "", button.dataset.errorAt || "");
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-renew]");
    if (!button) return;
    ev.preventDefault();
    renew(button);
  });
})();
