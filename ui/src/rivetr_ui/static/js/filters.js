// Apps list: keep the environment filter buttons and the table's polling URL in sync after htmx swaps the
// table (and on back/forward).
(function () {
  "use strict";
  function sync() {
    var env = new URLSearchParams(location.search).get("environment") || "";
    document.querySelectorAll(".filters a").forEach(function (a) {
      var mine = new URL(a.href).searchParams.get("environment") || "";
      var on = mine === env;
      a.classList.toggle("primary", on);
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    // The table refreshes itself every few seconds: keep polling the filter now shown.
    var list = document.getElementById("apps-list");
    if (list && window.htmx) { list.setAttribute("hx-get", location.pathname + location.search); htmx.process(list); }
  }
  document.body.addEventListener("htmx:pushedIntoHistory", sync);
  window.addEventListener("popstate", function () { setTimeout(sync, 0); });
})();
