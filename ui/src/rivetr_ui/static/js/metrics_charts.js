// Time-series graphs (uPlot). window.RivetrCharts: the plot, formatting and rate helpers every graph shares (the
// Server page's host graphs use them too, js/server.js). Below it, the CPU and memory graphs of one container
// owner, shared by the app page and the service page: the panel (partials/metrics_panel.html) names its sources
// in data attributes.
//   data-metrics-history: the recorded history (GET /api/apps|services/{id}/metrics?range=1h), read once;
//   data-metrics-live (optional): a fresh sample ({now, error}) polled every 5 s (the app page's stats.json).
// Without a live source the history itself is read again every poll and its `latest` is the "now" line:
// a service's container is sampled by the metrics sampler only, like the history. A "metrics-refresh" event on
// the panel polls at once.
window.RivetrCharts = (function () {
  "use strict";
  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  // series: [{label, color}]; fmt formats a y value; floor: the least top of the y axis (an idle series would
  // otherwise fill the whole height with noise).
  function plot(el, series, fmt, floor) {
    if (!window.uPlot) return null;
    var opts = {
      width: Math.max(el.clientWidth, 200), height: 180,
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max((max || 0) * 1.2, floor || 1)]; } } },
      axes: [{ stroke: css("--muted"), grid: { stroke: css("--border") } },
             { stroke: css("--muted"), grid: { stroke: css("--border") }, values: function (u, v) { return v.map(fmt); }, size: 72 }],
      series: [{}].concat(series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 2, fill: series.length === 1 ? s.color + "22" : undefined,
                 value: function (u, v) { return v == null ? "—" : fmt(v); } };
      })),
      legend: { show: true }
    };
    return new uPlot(opts, [[]].concat(series.map(function () { return []; })), el);
  }
  function bytes(v) {
    if (v >= 1073741824) return (v / 1073741824).toFixed(1) + " GiB";
    if (v >= 1048576) return (v / 1048576).toFixed(v < 10485760 ? 1 : 0) + " MiB";
    if (v >= 1024) return (v / 1024).toFixed(v < 10240 ? 1 : 0) + " KiB";
    return Math.round(v) + " B";
  }
  function mib(v) {
    if (v >= 1073741824) return (v / 1073741824).toFixed(1) + " GiB";
    return (v / 1048576).toFixed(v < 10485760 ? 1 : 0) + " MiB";
  }
  function pct(v) { return v.toFixed(1) + "%"; }
  // Per-second rates from counters (bytes since a start) at times t (seconds): null for the first point and
  // across a reset (a restarted container's counter starts again at 0).
  function rates(t, counters) {
    return counters.map(function (c, i) {
      if (i === 0 || c == null || counters[i - 1] == null) return null;
      var dt = t[i] - t[i - 1], d = c - counters[i - 1];
      return dt > 0 && d >= 0 ? d / dt : null;
    });
  }
  return { plot: plot, bytes: bytes, mib: mib, pct: pct, rates: rates };
})();

(function () {
  "use strict";
  var panel = document.querySelector("[data-metrics-history]");
  if (!panel) return;
  var C = window.RivetrCharts;
  var historyUrl = panel.dataset.metricsHistory, liveUrl = panel.dataset.metricsLive || "";
  var cpuEl = panel.querySelector("#cpu-chart"), memEl = panel.querySelector("#mem-chart"), netEl = panel.querySelector("#net-chart");
  var nowEl = panel.querySelector("#metrics-now");
  var series, seen, cpuPlot = null, memPlot = null, netPlot = null, historyLoaded = false;
  // rx/tx: the engine's byte counters since the container started; the graph shows their per-second rates.
  function reset() { series = { t: [], cpu: [], mem: [], rx: [], tx: [] }; seen = {}; }
  reset();

  var mib = C.mib, pct = C.pct;
  function makePlot(el, label, color, fmt) { return C.plot(el, [{ label: label, color: color }], fmt, label === "CPU %" ? 5 : 1); }
  function add(sample) {
    var t = Date.parse(sample.ts) / 1000;
    if (!t || seen[t]) return;
    seen[t] = true;
    var i = series.t.length;
    while (i > 0 && series.t[i - 1] > t) i--;  // keep time order (history and live samples interleave)
    series.t.splice(i, 0, t); series.cpu.splice(i, 0, sample.cpu_percent || 0); series.mem.splice(i, 0, sample.memory_used || 0);
    series.rx.splice(i, 0, sample.net_rx == null ? null : sample.net_rx);
    series.tx.splice(i, 0, sample.net_tx == null ? null : sample.net_tx);
    if (series.t.length > 720) { delete seen[series.t.shift()]; series.cpu.shift(); series.mem.shift(); series.rx.shift(); series.tx.shift(); }
  }
  function showNow(now, error) {
    if (now) nowEl.textContent = "now: " + pct(now.cpu_percent) + " CPU · " + mib(now.memory_used) + (now.memory_limit ? " of " + mib(now.memory_limit) : "");
    else nowEl.textContent = error || "";
  }
  function draw() {
    if (!series.t.length) return;
    panel.querySelector("#metrics-empty").hidden = true;
    panel.querySelector("#charts").hidden = false;
    if (!cpuPlot) {
      cpuPlot = makePlot(cpuEl, "CPU %", "#2f6fed", pct); memPlot = makePlot(memEl, "Memory", "#1a9a55", mib);
      if (netEl) netPlot = C.plot(netEl, [{ label: "In /s", color: "#2f6fed" }, { label: "Out /s", color: "#c2571a" }], C.bytes, 1);
    }
    if (!cpuPlot) return;
    cpuPlot.setData([series.t, series.cpu]);
    memPlot.setData([series.t, series.mem]);
    if (netPlot) netPlot.setData([series.t, C.rates(series.t, series.rx), C.rates(series.t, series.tx)]);
    // At least a five-minute window: a lone first sample would otherwise stretch the axis over years.
    var last = series.t[series.t.length - 1];
    var x = { min: Math.min(series.t[0], last - 300), max: last + 5 };
    cpuPlot.setScale("x", x);
    memPlot.setScale("x", x);
    if (netPlot) netPlot.setScale("x", x);
  }
  async function pollLive() {
    var res = await fetch(liveUrl, { credentials: "same-origin" });
    if (!res.ok) return;
    var data = await res.json();
    if (!historyLoaded) {
      historyLoaded = true;
      try { ((await Rivetr.api("GET", historyUrl)).points || []).forEach(add); }
      catch (e) { /* no history yet: live samples still draw */ }
    }
    if (data.now) add(data.now);
    showNow(data.now, data.error);
  }
  async function pollHistory() {
    var hist = await Rivetr.api("GET", historyUrl);
    reset();  // the last bucket's average moves while it fills: take the whole answer again
    (hist.points || []).forEach(add);
    showNow(hist.latest, hist.latest ? "" : "no running container");
  }
  async function poll() {
    try {
      await (liveUrl ? pollLive() : pollHistory());
      draw();
    } catch (e) { /* offline for a moment: the next poll retries */ }
  }
  poll();
  panel.addEventListener("metrics-refresh", poll);  // e.g. the app page when a new container starts running
  setInterval(function () { if (!document.hidden) poll(); }, liveUrl ? 5000 : 10000);
  window.addEventListener("resize", function () {
    if (cpuPlot) { cpuPlot.setSize({ width: cpuEl.clientWidth, height: 180 }); memPlot.setSize({ width: memEl.clientWidth, height: 180 }); }
    if (netPlot) netPlot.setSize({ width: netEl.clientWidth, height: 180 });
  });
})();
