// The Server page's host graphs: CPU %, memory, disk % and network (received/sent per second, from the counters'
// differences) over the chosen window, from GET /api/system/metrics?range=<window> (the recorded history; the
// page never asks the engine or the host itself). The window buttons are a toggle group; the graphs are read
// again every 30 s while the page is visible, or at once on a "metrics-refresh" event. The plots and formats are
// window.RivetrCharts (metrics_charts.js).
(function () {
  "use strict";
  var panel = document.querySelector("[data-host-metrics]");
  if (!panel || !window.RivetrCharts) return;
  var C = window.RivetrCharts;
  var url = panel.dataset.hostMetrics;
  var buttons = panel.querySelectorAll("[data-window]");
  var charts = panel.querySelector("#host-charts"), empty = panel.querySelector("#host-empty");
  var nowEl = panel.querySelector("#host-now");
  var specs = {
    cpu: { el: "#host-cpu", series: [{ label: "CPU %", color: "#2f6fed" }], fmt: C.pct, floor: 5 },
    mem: { el: "#host-mem", series: [{ label: "Used", color: "#1a9a55" }], fmt: C.mib, floor: 1048576 },
    disk: { el: "#host-disk", series: [{ label: "Used %", color: "#b7791f" }], fmt: C.pct, floor: 5 },
    net: { el: "#host-net", series: [{ label: "In /s", color: "#2f6fed" }, { label: "Out /s", color: "#c2410c" }], fmt: C.bytes, floor: 1024 }
  };
  var plots = {}, current = (panel.querySelector("[data-window][aria-pressed='true']") || buttons[0]).dataset.window;
  var seq = 0;

  function setWindow(value) {
    current = value;
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.window === value ? "true" : "false"); });
    load();
  }
  function showNow(latest) {
    if (!latest) { nowEl.textContent = "No sample yet."; return; }
    nowEl.textContent = "Now: " + C.pct(latest.cpu_percent) + " CPU · " + C.mib(latest.memory_used_bytes) + " of " +
      C.mib(latest.memory_total_bytes) + " memory · " + C.pct(latest.disk_used_percent) + " disk" +
      (latest.load1 != null ? " · load " + latest.load1.toFixed(2) : "");
  }
  function draw(points, span) {
    if (!points.length) { charts.hidden = true; empty.hidden = false; return; }
    empty.hidden = true; charts.hidden = false;  // visible before plotting: uPlot sizes from the element
    var t = points.map(function (p) { return Date.parse(p.ts) / 1000; });
    var data = {
      cpu: [points.map(function (p) { return p.cpu_percent; })],
      mem: [points.map(function (p) { return p.memory_used; })],
      disk: [points.map(function (p) { return p.disk_percent; })],
      // Samples taken before network counters were recorded hold 0: no rate from them.
      net: [C.rates(t, points.map(function (p) { return p.net_rx || null; })),
            C.rates(t, points.map(function (p) { return p.net_tx || null; }))]
    };
    var last = t[t.length - 1];
    var x = { min: Math.min(t[0], last - span), max: last + 5 };
    Object.keys(specs).forEach(function (key) {
      var spec = specs[key];
      if (!plots[key]) plots[key] = C.plot(panel.querySelector(spec.el), spec.series, spec.fmt, spec.floor);
      if (!plots[key]) return;
      plots[key].setData([t].concat(data[key]));
      plots[key].setScale("x", x);
    });
    charts.dataset.points = String(points.length);  // what the browser test waits for
  }
  var SPANS = { m: 60, h: 3600, d: 86400 };
  // Buckets per window: 10 s over an hour, 4 min over a day, 28 min over a week (averaged by the API).
  var POINTS = 360;
  async function load() {
    var mine = ++seq, wanted = current;
    try {
      var data = await Rivetr.api("GET", url + "?range=" + encodeURIComponent(wanted) + "&points=" + POINTS);
      if (mine !== seq) return;  // a newer window was chosen meanwhile
      var span = parseInt(wanted, 10) * SPANS[wanted.slice(-1)];
      draw(data.points || [], Math.min(span, 300));
      showNow(data.latest);
      charts.dataset.window = wanted;
    } catch (e) { if (mine === seq) nowEl.textContent = "Could not read the metrics: " + ((e && e.message) || e); }
  }
  buttons.forEach(function (b) { b.addEventListener("click", function () { setWindow(b.dataset.window); }); });
  load();
  panel.addEventListener("metrics-refresh", load);  // read again at once (as the app page's panel does)
  setInterval(function () { if (!document.hidden) load(); }, 30000);
  window.addEventListener("resize", function () {
    Object.keys(plots).forEach(function (key) {
      var el = panel.querySelector(specs[key].el);
      if (plots[key]) plots[key].setSize({ width: el.clientWidth, height: 180 });
    });
  });
})();
