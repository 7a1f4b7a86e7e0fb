// Terminal page: xterm.js connected to the container's interactive shell over a WebSocket.
(function () {
  "use strict";
  var el = document.getElementById("terminal");
  var state = document.getElementById("term-state");
  if (!el || !window.Terminal) return;
  var term = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14, scrollback: 5000,
                            fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  function badge(text, cls) { state.textContent = text; state.className = "badge " + (cls || ""); }
  // url_for() renders WebSocket routes as absolute ws:// URLs: keep only the path and its query (a stack service's
  // ?replica=N), and match the page's scheme.
  var target = new URL(el.dataset.ws, location.href);
  var q = new URLSearchParams(target.search);
  q.set("rows", term.rows);
  q.set("cols", term.cols);
  var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + target.pathname + "?" + q, Rivetr.wsProtocols());
  window.rivetrTerminal = { term: term, ws: ws };
  ws.onopen = function () { badge("connected", "running"); term.focus(); };
  ws.onmessage = function (ev) { term.write(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data)); };
  ws.onclose = function (ev) {
    badge(ev.code === 1000 ? "session ended" : (ev.reason || "disconnected"), ev.code === 1000 ? "" : "failed");
    term.write("\r\n\x1b[2m[" + (ev.reason || "connection closed") + "]\x1b[0m\r\n");
  };
  term.onData(function (data) { if (ws.readyState === 1) ws.send(JSON.stringify({ type: "input", data: data })); });
  function resize() {
    fit.fit();
    if (ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", rows: term.rows, cols: term.cols }));
  }
  window.addEventListener("resize", resize);
})();
