// Applies the remembered theme before first paint (loaded synchronously in <head>; no inline script: CSP).
(function () {
  var theme = "system";
  try { theme = localStorage.getItem("rivetr-theme") || "system"; } catch (e) { /* storage disabled */ }
  if (["light", "dark", "system"].indexOf(theme) < 0) theme = "system";
  document.documentElement.setAttribute("data-theme", theme);
})();
