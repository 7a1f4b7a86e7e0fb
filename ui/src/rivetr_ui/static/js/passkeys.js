// Passkeys (WebAuthn): the browser's side of the two ceremonies. The server's options arrive as JSON with binary
// fields in base64url; navigator.credentials wants ArrayBuffers, and its answer goes back as JSON the same way.
//  * Profile page: "Add a passkey" → POST /api/auth/passkeys/register/options → navigator.credentials.create()
//    → POST /api/auth/passkeys. The first second factor answers recovery codes: handed to profile.js, which shows
//    them (the api:success event its TOTP enrolment uses too).
//  * Login page, second step: "Use a passkey" → POST /api/auth/login/2fa/passkey/options → navigator.credentials
//    .get() → POST /api/auth/login/2fa, which sets the session cookie; then on to the page asked for.
(function () {
  "use strict";

  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    b64 += "===".slice((b64.length + 3) % 4);
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBuffer(c.id) }); });
  }

  function credentialJson(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    }
    if (r.authenticatorData) {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      authenticatorAttachment: cred.authenticatorAttachment || undefined
    };
  }

  // What a person can act on, for the errors navigator.credentials throws.
  function ceremonyMessage(err) {
    if (err && err.name === "NotAllowedError") return "The passkey prompt was cancelled or timed out.";
    if (err && err.name === "InvalidStateError") return "This authenticator is already registered.";
    if (err && err.name === "SecurityError") return "Passkeys need HTTPS (or localhost) and the dashboard's own domain.";
    return (err && err.message) || String(err);
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  // --------------------------------------------------------------------------------------------- profile
  var addForm = document.getElementById("passkey-add");
  if (addForm) {
    if (!supported) {
      addForm.hidden = true;
      document.getElementById("passkey-unsupported").hidden = false;
    }
    addForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var box = document.getElementById("passkey-error");
      var button = document.getElementById("passkey-add-button");
      box.hidden = true;
      button.setAttribute("aria-busy", "true");
      try {
        var options = await Rivetr.api("POST", "/api/auth/passkeys/register/options");
        options.challenge = toBuffer(options.challenge);
        options.user = Object.assign({}, options.user, { id: toBuffer(options.user.id) });
        options.excludeCredentials = descriptors(options.excludeCredentials);
        var cred = await navigator.credentials.create({ publicKey: options });
        var name = document.getElementById("passkey-new-name").value.trim();
        var result = await Rivetr.api("POST", "/api/auth/passkeys", { credential: credentialJson(cred), name: name || null });
        addForm.reset();
        Rivetr.toast("Passkey " + result.passkey.name + " added.", "ok");
        if (result.recovery_codes) {
          addForm.dispatchEvent(new CustomEvent("api:success", { detail: { recovery_codes: result.recovery_codes }, bubbles: true }));
        }
        Rivetr.afterSuccess("refresh:#passkey-list|refresh:#two-factor-status");
      } catch (err) {
        box.textContent = err instanceof Rivetr.ApiError ? err.message : ceremonyMessage(err);
        box.hidden = false;
      } finally {
        button.removeAttribute("aria-busy");
      }
    });
  }

  // --------------------------------------------------------------------------------------------- login
  var step = document.getElementById("passkey-step");
  if (step) {
    var loginButton = document.getElementById("passkey-login");
    var loginError = document.getElementById("passkey-login-error");
    if (!supported) loginButton.disabled = true;

    // Not Rivetr.api: a wrong assertion is a 401 here, which must not send the page to /login again.
    async function post(path, body) {
      var res = await fetch(path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body)
      });
      var data = await res.json().catch(function () { return null; });
      if (!res.ok) {
        var error = (data && data.error) || { message: "HTTP " + res.status };
        var e = new Error(error.message);
        e.code = error.code;
        e.details = error.details;
        throw e;
      }
      return data;
    }

    loginButton.addEventListener("click", async function () {
      var challenge = step.dataset.challenge;
      loginError.hidden = true;
      loginButton.setAttribute("aria-busy", "true");
      try {
        var options = await post("/api/auth/login/2fa/passkey/options", { challenge: challenge });
        options.challenge = toBuffer(options.challenge);
        options.allowCredentials = descriptors(options.allowCredentials);
        var cred = await navigator.credentials.get({ publicKey: options });
        await post("/api/auth/login/2fa", { challenge: challenge, passkey: credentialJson(cred) });
        window.location.href = step.dataset.next || "/";
      } catch (err) {
        var dead = err.code === "invalid_challenge" || (err.details && err.details.attempts_left === 0);
        loginError.textContent = ceremonyMessage(err) + (dead ? " Log in again." : "");
        loginError.hidden = false;
        if (dead) loginButton.disabled = true;
      } finally {
        loginButton.removeAttribute("aria-busy");
      }
    });
  }
})();
