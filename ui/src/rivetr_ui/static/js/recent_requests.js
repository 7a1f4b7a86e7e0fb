// The app settings tab's "Recent requests" panel: the last 20 access-log lines of the chosen domain
// (GET /api/proxy/access-log?domain=&tail=20), newest first. Text only (textContent): log fields are the
// clients' own words. Included in the page's body, before app.js defines Rivetr: starts once the page is parsed.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var select = document.getElementById("recent-requests-domain");
  if (!select) return;
  var table = document.getElementById("recent-requests-table");
  var body = table.querySelector("tbody");
  var state = document.getElementById("recent-requests-state");

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
  }

  function show(answer) {
    body.textContent = "";
    var items = answer.items.slice().reverse();
    items.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.dataset.status = String(e.status);
      cell(tr, (e.time || "").replace("T", " ").replace("Z", ""), "mono");
      cell(tr, e.client || "-", "mono");
      cell(tr, (e.method || "") + " " + (e.path || ""), "mono");
      cell(tr, String(e.status), e.status >= 500 ? "error" : "");
      cell(tr, typeof e.duration_ms === "number" ? e.duration_ms.toFixed(1) + " ms" : "-");
      cell(tr, e.upstream || "proxy", "mono");
      body.appendChild(tr);
    });
    table.hidden = items.length === 0;
    if (!answer.enabled) state.textContent = "The access log is off: set [proxy] access_log = true and restart the proxy.";
    else if (answer.format !== "json") state.textContent = "Recent requests need access_log_format = \"json\".";
    else state.textContent = items.length ? items.length + " most recent" : "No requests logged for this domain yet.";
  }

  async function load() {
    state.textContent = "Loading…";
    try {
      show(await Rivetr.api("GET", "/api/proxy/access-log?tail=20&domain=" + encodeURIComponent(select.value)));
    } catch (err) {
      table.hidden = true;
      state.textContent = err.message || String(err);
    }
  }

  select.addEventListener("change", load);
  document.getElementById("recent-requests-refresh").addEventListener("click", load);
  load();
});
