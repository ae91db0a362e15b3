// The observer's pages: one script, a view per path. Everything a client
// or a script controls (names, entries, PIDs) is put in the page as text
// (textContent), never as HTML.
"use strict";

const views = { "/": "overview", "/processes": "processes", "/connections": "connections", "/crashes": "crashes", "/groups": "groups", "/names": "names" };
const tracing = location.pathname.startsWith("/connections/") ? decodeURIComponent(location.pathname.slice("/connections/".length)) : "";
const detail = location.pathname.startsWith("/processes/") ? decodeURIComponent(location.pathname.slice("/processes/".length)) : "";
const view = tracing ? "trace" : detail ? "process" : (views[location.pathname] || "overview");
const main = document.getElementById("main");
const status = document.getElementById("status");
const history = {}; // chart series: name -> last 300 values
const prevCounters = {};
const params = new URLSearchParams(location.search);
let query = { node: params.get("node") || "", q: "", sort: "pid", desc: false, offset: 0, limit: 100 };
if (tracing) { query.pid = tracing; query.since = 0; query.payloads = params.get("payloads") === "1"; }
if (detail) query.pid = detail;
let ws;
let config = { actions: false };
fetch("/api/config").then(r => r.json()).then(c => { config = c; });

// act asks the observer to do something to a process, and shows the
// outcome in the status line.
async function act(action) {
  if (query.node) action.node = query.node;
  const r = await fetch("/api/act", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(action) });
  status.textContent = r.ok ? action.do + " " + action.pid + ": done" : action.do + " " + action.pid + ": " + (await r.text());
}

function actions(r) {
  const span = el("span");
  const button = (label, f) => { const b = el("button", label); b.onclick = f; span.append(b); };
  button("cancel", () => act({ do: "cancel", pid: r.pid }));
  button("kill", () => { if (confirm("Kill " + r.pid + "?")) act({ do: "kill", pid: r.pid }); });
  if (r.kind === "connection") {
    button("close", () => {
      const code = parseInt(prompt("Close code", "1000"), 10);
      if (!isNaN(code)) act({ do: "close", pid: r.pid, code, reason: prompt("Reason", "") || "" });
    });
  }
  button("send", () => {
    const topic = prompt("Topic");
    if (!topic) return;
    let payload = null;
    const text = prompt("Payload (JSON)", "null");
    try { payload = JSON.parse(text); } catch (e) { status.textContent = "not JSON: " + e.message; return; }
    act({ do: "send", pid: r.pid, topic, payload });
  });
  return span;
}

for (const a of document.querySelectorAll("header nav a")) {
  if (a.dataset.view === view || (tracing && a.dataset.view === "connections") || (detail && a.dataset.view === "processes")) a.classList.add("current");
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KiB";
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + " MiB";
  return (n / (1 << 30)).toFixed(2) + " GiB";
}

function push(name, v) {
  const h = history[name] || (history[name] = []);
  h.push(v);
  if (h.length > 300) h.shift();
  return h;
}

function chart(values) {
  const c = el("canvas");
  c.width = 300; c.height = 60;
  const g = c.getContext("2d");
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  g.strokeStyle = "#3b7ddd"; g.lineWidth = 1.5; g.beginPath();
  values.forEach((v, i) => {
    // The newest point is at the right edge; the window fills leftwards.
    const x = ((300 - values.length + i) / 299) * c.width, y = c.height - 4 - ((v - lo) / span) * (c.height - 8);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  return c;
}

function card(title, value, series) {
  const d = el("div", null, "card");
  d.append(el("h3", title), el("div", value, "big"));
  if (series) d.append(chart(series));
  return d;
}

function nodeCards(o) {
  const cards = el("div", null, "cards");
  const k = o.node + ":";
  cards.append(card("Processes", o.processes, push(k + "processes", o.processes)));
  cards.append(card("Goroutines", o.goroutines, push(k + "goroutines", o.goroutines)));
  cards.append(card("Heap", bytes(o.heap_bytes), push(k + "heap", o.heap_bytes)));
  cards.append(card("Memory from the OS", bytes(o.total_bytes), push(k + "total", o.total_bytes)));
  cards.append(card("GC cycles", o.gc_cycles));
  cards.append(card("Uptime", Math.round(o.uptime_s) + " s"));
  for (const [name, v] of Object.entries(o.counters || {})) {
    const prev = prevCounters[k + name];
    prevCounters[k + name] = v;
    if (name === "connections_open") {
      cards.append(card("connections open", v, push(k + name, v)));
      continue;
    }
    const rate = prev === undefined ? 0 : Math.max(0, v - prev);
    cards.append(card(name.replaceAll("_", " ") + " /s", rate, push(k + "c:" + name, rate)));
  }
  return cards;
}

function renderOverview(c) {
  const out = [];
  for (const n of c.nodes || []) {
    const section = el("section", null, "node");
    const title = el("h2", n.name + (n.self ? " (this node)" : ""));
    const state = el("span", n.up ? "up" : "down", n.up ? "up" : "down");
    const q = "?node=" + encodeURIComponent(n.name);
    title.append(" ", state, " ", link("processes", "/processes" + q), " ", link("connections", "/connections" + q), " ", link("crashes", "/crashes" + q));
    section.append(title);
    if (n.overview) {
      section.append(nodeCards(n.overview));
      const hosts = table(["host", "live", "spawned", "dropped", "messages in", "messages out"], (n.overview.hosts || []).map(h => [h.name, h.live, h.spawned, h.dropped, h.messages_in, h.messages_out]));
      section.append(hosts);
    } else {
      section.append(el("p", n.up ? "No answer: " + (n.error || "") : "Down" + (n.last_seen ? ", last heard " + new Date(n.last_seen).toLocaleTimeString() : "") + "."));
    }
    out.push(section);
  }
  main.replaceChildren(...out);
}

function table(head, rows, onSort) {
  const t = el("table");
  const tr = el("tr");
  for (const h of head) {
    const th = el("th", h);
    if (onSort) th.onclick = () => onSort(h);
    tr.append(th);
  }
  t.append(tr);
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) {
      if (c instanceof Node) { const td = el("td"); td.append(c); row.append(td); }
      else row.append(el("td", c));
    }
    t.append(row);
  }
  return t;
}

let controls;
function processControls() {
  if (controls) return controls;
  controls = el("div", null, "controls");
  const search = el("input");
  search.type = "search";
  search.placeholder = view === "connections" ? "filter: PID, address, origin, path or target" : "filter: PID, entry or name";
  search.oninput = () => { query.q = search.value; query.offset = 0; subscribe(); };
  const prev = el("button", "◀ previous"), next = el("button", "next ▶"), info = el("span");
  info.id = "range";
  prev.onclick = () => { query.offset = Math.max(0, query.offset - query.limit); subscribe(); };
  next.onclick = () => { query.offset += query.limit; subscribe(); };
  const where = el("span", query.node ? "node " + query.node : "this node");
  controls.append(where, search, prev, next, info);
  controls.info = info;
  controls.rows = el("div");
  // The controls stay in the page while the rows change under them, so
  // the filter keeps its focus as updates come.
  main.replaceChildren(controls, controls.rows);
  return controls;
}

const sortKeys = { pid: "pid", host: "host", entry: "entry", age: "age", mailbox: "mailbox", "mailbox bytes": "mailbox_bytes", in: "messages_in", out: "messages_out" };
function renderProcesses(p) {
  const c = processControls();
  if (p.error) {
    c.info.textContent = p.error;
    c.rows.replaceChildren();
    return;
  }
  c.info.textContent = `${p.total ? p.offset + 1 : 0}–${p.offset + (p.rows || []).length} of ${p.total}`;
  const rows = (p.rows || []).map(r => {
    const row = [link(r.pid, "/processes/" + encodeURIComponent(r.pid) + (query.node ? "?node=" + encodeURIComponent(query.node) : "")), (r.names || []).join(", ") + (r.names_total ? " … (" + r.names_total + ")" : ""), r.entry || "", r.host, r.kind,
      Math.round(r.age_s) + " s", r.mailbox, bytes(r.mailbox_bytes), r.messages_in, r.messages_out, r.links, r.monitors, r.watchers,
      r.lua ? bytes(r.lua.memory) + " / " + bytes(r.lua.memory_limit) : "", r.lua ? r.lua.steps : ""];
    if (config.actions) row.push(actions(r));
    return row;
  });
  const head = ["pid", "names", "entry", "host", "kind", "age", "mailbox", "mailbox bytes", "in", "out", "links", "monitors", "watchers", "Lua memory", "Lua steps"];
  if (config.actions) head.push("actions");
  const t = table(head, rows, h => {
    const k = sortKeys[h];
    if (!k) return;
    query.desc = query.sort === k ? !query.desc : k !== "pid";
    query.sort = k;
    subscribe();
  });
  c.rows.replaceChildren(t);
}

function renderGroups(gs) {
  const rows = gs.map(g => [g.scope, g.group, g.total, el("span", (g.members || []).join("  ") + (g.total > (g.members || []).length ? " …" : ""))]);
  main.replaceChildren(gs.length ? table(["scope", "group", "members", "PIDs"], rows) : el("p", "No process groups have members."));
}

function link(text, href) {
  const a = el("a", text);
  a.href = href;
  return a;
}

function renderConnections(p) {
  const c = processControls();
  if (p.error) { c.info.textContent = p.error; c.rows.replaceChildren(); return; }
  c.info.textContent = `${p.total ? p.offset + 1 : 0}–${p.offset + (p.rows || []).length} of ${p.total}`;
  const nodeQ = query.node ? "?node=" + encodeURIComponent(query.node) : "";
  const rows = (p.rows || []).map(r => {
    const row = [link(r.pid, "/connections/" + encodeURIComponent(r.pid) + nodeQ), r.state, r.remote, r.origin || "", r.path,
      r.target + (r.target_name ? " (" + r.target_name + ")" : ""), Math.round(r.age_s) + " s", r.idle_s ? Math.round(r.idle_s) + " s" : "",
      r.frames_in, r.frames_out, bytes(r.bytes_in || 0), bytes(r.bytes_out || 0)];
    if (config.actions) row.push(actions({ pid: r.pid, kind: "connection" }));
    return row;
  });
  const head = ["pid", "state", "remote", "origin", "path", "target", "age", "idle", "frames in", "frames out", "bytes in", "bytes out"];
  if (config.actions) head.push("actions");
  c.rows.replaceChildren(table(head, rows, h => {
    const k = { pid: "pid", age: "age", idle: "idle", "frames in": "frames_in", "frames out": "frames_out" }[h];
    if (!k) return;
    query.desc = query.sort === k ? !query.desc : k !== "pid";
    query.sort = k;
    subscribe();
  }));
}

let traceList;
function renderTrace(t) {
  if (!traceList) {
    traceList = el("table", null, "trace");
    const head = el("tr");
    for (const h of ["time", "event", "type", "size", "detail", "payload"]) head.append(el("th", h));
    traceList.append(head);
    const title = el("h2", "Live trace of " + tracing + (query.node ? " on " + query.node : ""));
    const note = el("p", "", "note");
    note.id = "trace-note";
    main.replaceChildren(title, note, traceList);
  }
  const note = document.getElementById("trace-note");
  const parts = [];
  if (t.error) parts.push(t.error);
  if (t.dropped) parts.push(t.dropped + " events not kept (the trace keeps the latest and limits its rate)");
  if (t.ended) parts.push("the connection has ended");
  note.textContent = parts.join("; ");
  let last = query.since;
  for (const e of t.events || []) {
    if (e.seq <= query.since) continue;
    const row = el("tr");
    for (const c of [new Date(e.time).toLocaleTimeString(), e.kind, e.type || "", e.size ?? "", e.detail || "", e.payload || ""]) row.append(el("td", c));
    traceList.append(row);
    last = Math.max(last, e.seq);
  }
  while (traceList.rows.length > 1001) traceList.deleteRow(1);
  if (last !== query.since) {
    query.since = last;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ view, query, quiet: true }));
  }
}

function renderProcess(d) {
  const out = [el("h2", "Process " + d.pid + (query.node ? " on " + query.node : ""))];
  if (d.error) out.push(el("p", d.error));
  const r = d.live;
  if (r) {
    const rows = [["names", (r.names || []).join(", ")], ["entry", r.entry || ""], ["host", r.host], ["kind", r.kind],
      ["age", Math.round(r.age_s) + " s"], ["mailbox", r.mailbox + " messages, " + bytes(r.mailbox_bytes)],
      ["messages", r.messages_in + " in, " + r.messages_out + " out"], ["links", r.links], ["monitors", r.monitors], ["watchers", r.watchers]];
    if (r.lua) rows.push(["Lua memory", bytes(r.lua.memory) + " of " + bytes(r.lua.memory_limit)], ["Lua steps", r.lua.steps]);
    out.push(table(["", ""], rows));
    if (config.actions) out.push(actions(r));
  } else {
    out.push(el("p", "Not running" + (d.crash ? ": it ended with the error below." : ".")));
  }
  if (d.crash) {
    const c = el("div", null, "card crash");
    c.append(el("h3", "Crashed " + new Date(d.crash.time).toLocaleTimeString() + (d.crash.entry ? "  " + d.crash.entry : "")), el("pre", d.crash.error));
    out.push(c);
  }
  main.replaceChildren(...out);
}

function renderCrashes(ends) {
  if (ends.error) { main.replaceChildren(el("p", ends.error)); return; }
  if (!ends.length) { main.replaceChildren(el("p", "No process has ended abnormally" + (query.node ? " on " + query.node : "") + ".")); return; }
  main.replaceChildren(...ends.map(e => {
    const d = el("div", null, "card crash");
    const h = el("h3", new Date(e.time).toLocaleTimeString() + "  ");
    h.append(link(e.pid, "/processes/" + encodeURIComponent(e.pid) + (query.node ? "?node=" + encodeURIComponent(query.node) : "")), e.entry ? "  " + e.entry : "");
    d.append(h, el("pre", e.error));
    return d;
  }));
}

function renderNames(nodes) {
  const rows = [];
  for (const n of nodes) {
    if (n.error) rows.push(["(" + n.error + ")", "", n.node]);
    for (const x of n.names || []) rows.push([x.name, x.pid, n.node]);
    if (n.total > (n.names || []).length) rows.push(["(the first " + (n.names || []).length + " of " + n.total + ")", "", n.node]);
  }
  main.replaceChildren(table(["name", "pid", "node"], rows));
}

function subscribe() {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ view, query }));
}

function connect() {
  ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
  ws.onopen = () => { status.textContent = "live"; status.classList.remove("down"); subscribe(); };
  ws.onclose = e => {
    status.textContent = "disconnected (" + e.code + (e.reason ? ": " + e.reason : "") + "), retrying…";
    status.classList.add("down");
    setTimeout(connect, 2000);
  };
  ws.onmessage = e => {
    const m = JSON.parse(e.data);
    if (m.view !== view) return;
    const began = performance.now();
    ({ overview: renderOverview, processes: renderProcesses, process: renderProcess, connections: renderConnections, trace: renderTrace, crashes: renderCrashes, groups: renderGroups, names: renderNames })[view](m.data);
    // How long the last update took to render, for the measurements of
    // docs/performance.md.
    document.body.dataset.renderMs = (performance.now() - began).toFixed(2);
  };
}
connect();
