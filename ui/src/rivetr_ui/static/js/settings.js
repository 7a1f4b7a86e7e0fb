// Settings page: show a newly created API token once (the API returns it only in the creation response), and
// the git-provider section (connected accounts, providers with connect links) from the REST API.
(function () {
  "use strict";
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var form = document.getElementById("token-form");
  if (form) {
    form.addEventListener("api:success", function (ev) {
      var box = document.getElementById("new-token");
      document.getElementById("new-token-value").textContent = ev.detail.token;
      box.hidden = false;
      box.setAttribute("tabindex", "-1");
      box.focus();
    });
  }

  var accountsBox = document.getElementById("git-accounts");
  var availableBox = document.getElementById("git-available");
  async function loadGit() {
    if (!accountsBox) return;
    var accounts = [], available = [];
    try {
      var results = await Promise.all([Rivetr.listAll("/api/git-providers"), Rivetr.listAll("/api/git-providers/available")]);
      accounts = results[0]; available = results[1];
    } catch (err) {
      accountsBox.textContent = "Git providers are unavailable: " + err.message;
      availableBox.textContent = "";
      return;
    }
    accountsBox.textContent = "";
    if (!accounts.length) accountsBox.appendChild(el("p", { class: "muted" }, "No connected accounts."));
    else {
      var ul = el("ul", { class: "events" });
      accounts.forEach(function (a) {
        var li = el("li", { "data-git-account": a.id });
        li.appendChild(el("span", { class: "badge" }, a.provider));
        li.appendChild(el("strong", {}, a.login));
        if (a.name) li.appendChild(el("span", { class: "muted small" }, a.name));
        li.appendChild(el("span", { class: "muted small" }, a.expires_at ? "token expires " + a.expires_at.slice(0, 10) : "token does not expire"));
        li.appendChild(el("button", { class: "btn small danger", "data-action": "DELETE /api/git-providers/" + encodeURIComponent(a.id),
          "data-confirm": "Disconnect " + a.login + " (" + a.provider + ")? Its tokens are deleted and linked apps unlinked.",
          "data-confirm-label": "Disconnect", "data-git-refresh": "" }, "Disconnect"));
        ul.appendChild(li);
      });
      accountsBox.appendChild(ul);
    }
    availableBox.textContent = "";
    if (!available.length) { availableBox.appendChild(el("p", { class: "muted" }, "No git provider plugins are installed.")); return; }
    var list = el("ul", { class: "events" });
    available.forEach(function (p) {
      var li = el("li", { "data-provider": p.provider });
      li.appendChild(el("strong", {}, p.provider));
      li.appendChild(el("span", { class: "badge " + (p.webhook_secret_configured ? "ok" : "") }, p.webhook_secret_configured ? "webhook secret set" : "no webhook secret"));
      if (p.connect_url) {
        li.appendChild(el("a", { class: "btn small primary", href: p.connect_url + "?return_to=" + encodeURIComponent("/settings") + "&csrf_token=" + encodeURIComponent(Rivetr.csrf) }, "Connect account"));
      } else li.appendChild(el("span", { class: "muted small" }, "OAuth not configured ([oauth." + p.provider + "])"));
      var hook = el("span", { class: "small muted" }, "Webhook URL: ");
      hook.appendChild(el("code", {}, p.webhook_url));
      li.appendChild(hook);
      list.appendChild(li);
    });
    availableBox.appendChild(list);
  }
  document.addEventListener("api:success", function (ev) { if (ev.target.hasAttribute && ev.target.hasAttribute("data-git-refresh")) loadGit(); });
  loadGit();

  // Recent webhook deliveries: outcome, the first 12 hex digits of the body's SHA-256 (the replay key) and,
  // for rejected attempts, only what is kept of them (sender address and reason).
  var eventsBox = document.getElementById("webhook-events");
  var GOOD = { deployed: "ok", pong: "ok" }, BAD = { rejected: "bad", error: "bad" };
  async function loadWebhookEvents() {
    if (!eventsBox) return;
    var body;
    try { body = await Rivetr.api("GET", "/api/webhook-events?limit=20"); }
    catch (err) { eventsBox.textContent = "Webhook deliveries are unavailable: " + err.message; return; }
    eventsBox.textContent = "";
    if (!body.items.length) { eventsBox.appendChild(el("p", { class: "muted" }, "No webhook deliveries yet.")); return; }
    var wrap = el("div", { class: "table-wrap" }), table = el("table"), head = el("tr");
    ["Received", "Provider", "Event", "Outcome", "Delivery", "SHA-256", "From", "Reason"].forEach(function (h) {
      head.appendChild(el("th", { scope: "col" }, h));
    });
    table.appendChild(el("thead")).appendChild(head);
    var tbody = table.appendChild(el("tbody"));
    body.items.forEach(function (e) {
      var tr = el("tr", { "data-webhook-event": e.id, "data-outcome": e.outcome });
      tr.appendChild(el("td", { class: "small" }, (e.received_at || "").slice(0, 19).replace("T", " ")));
      tr.appendChild(el("td", {}, e.provider));
      tr.appendChild(el("td", { class: "small" }, e.event || "—"));
      var outcome = el("td");
      outcome.appendChild(el("span", { class: "badge " + (GOOD[e.outcome] || BAD[e.outcome] || "") }, e.outcome + " " + e.status_code));
      tr.appendChild(outcome);
      tr.appendChild(el("td", { class: "small mono" }, e.delivery_id ? e.delivery_id.slice(0, 36) : "—"));
      var digest = el("td");
      if (e.body_sha256) digest.appendChild(el("code", { title: e.body_sha256 }, e.body_sha256.slice(0, 12)));
      else digest.textContent = "—";
      tr.appendChild(digest);
      tr.appendChild(el("td", { class: "small" }, e.remote_addr || "—"));
      tr.appendChild(el("td", { class: "small" }, e.reason || ""));
      tbody.appendChild(tr);
    });
    wrap.appendChild(table);
    eventsBox.appendChild(wrap);
  }
  loadWebhookEvents();
  if (new URLSearchParams(location.search).get("git_connected")) Rivetr.toast("Git account connected.", "ok");
})();
