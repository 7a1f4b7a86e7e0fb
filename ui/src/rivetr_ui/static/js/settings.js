// Settings page: show a newly created API token once (the API returns it only in the creation response).
(function () {
  "use strict";
  var form = document.getElementById("token-form");
  if (!form) return;
  form.addEventListener("api:success", function (ev) {
    var box = document.getElementById("new-token");
    document.getElementById("new-token-value").textContent = ev.detail.token;
    box.hidden = false;
    box.focus && box.setAttribute("tabindex", "-1");
    box.focus();
  });
})();
