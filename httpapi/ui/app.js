// Strata dashboard: plain JavaScript over the node's HTTP API, with the
// browser's credentials for this origin. Every value from the API (client
// ids, topics, payloads) is inserted as text, never as HTML.
"use strict";

const views = ["cluster", "rates", "clients", "topics", "history"];
let timer = null; // the active view's polling

// el builds an element: el("td", {class: "num"}, "text", child, ...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function showError(msg) {
  const p = document.getElementById("error");
  p.textContent = msg || "";
  p.hidden = !msg;
}

async function api(path, opts) {
  const resp = await fetch(path, opts);
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { msg += ": " + (await resp.json()).error; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return resp;
}

async function getJSON(path) {
  return (await api(path)).json();
}

// allPages follows a list route's "next" tokens (at most max items).
async function allPages(path, key, max) {
  const sep = path.includes("?") ? "&" : "?";
  let items = [], next = "";
  do {
    const page = await getJSON(path + sep + "limit=500" + (next ? "&after=" + encodeURIComponent(next) : ""));
    items = items.concat(page[key]);
    next = page.next || "";
  } while (next && items.length < max);
  return items;
}

// ---- cluster

async function showCluster() {
  const c = await getJSON("/v1/cluster/nodes");
  document.getElementById("cluster-summary").textContent =
    "Leader: " + (c.leader_id || "none") + " · answered by " + c.node + " · " + c.nodes.length + " members";
  fill(document.querySelector("#cluster-nodes tbody"), c.nodes.map(n => {
    const s = n.status || {};
    return el("tr", {"data-node": n.id},
      el("td", {}, n.id + (n.leader ? " ★" : "")), el("td", {}, n.address),
      el("td", {}, s.state || "?"), el("td", {}, n.voter ? "yes" : "no"),
      el("td", {class: "num"}, s.commit_index ?? ""), el("td", {class: "num"}, s.applied_index ?? ""),
      el("td", {class: "num"}, s.next_offset ?? ""), el("td", {class: "num"}, n.lag ?? ""),
      el("td", {class: n.error || s.degraded ? "error" : ""}, n.error || s.degraded || ""));
  }));
}

// ---- rates

const counters = ["publish_received", "publish_sent", "bytes_received", "bytes_sent",
  "connects_total", "dropped_qos0", "dropped_too_large", "expired", "next_offset"];
const gauges = ["connections", "sessions", "sessions_online", "retained", "first_offset", "next_offset"];
let lastStats = null, spark = [];

async function showRates() {
  const s = await getJSON("/v1/stats");
  s.at = performance.now();
  const prev = lastStats;
  lastStats = s;
  const rate = k => prev && s.at > prev.at ? ((s[k] - prev[k]) * 1000 / (s.at - prev.at)) : null;
  fill(document.querySelector("#rates-table tbody"), counters.map(k => el("tr", {"data-counter": k},
    el("td", {}, k === "next_offset" ? "log records (next_offset)" : k), el("td", {class: "num"}, s[k] ?? ""),
    el("td", {class: "num"}, rate(k) === null ? "…" : rate(k).toFixed(1)))));
  fill(document.querySelector("#rates-gauges tbody"), gauges.map(k => el("tr", {},
    el("td", {}, k), el("td", {class: "num"}, s[k] ?? ""))));
  const r = rate("publish_received");
  if (r !== null) spark = spark.concat([r]).slice(-60);
  drawSpark(document.getElementById("rates-spark"), spark);
}

function drawSpark(box, values) {
  const ns = "http://www.w3.org/2000/svg", w = 600, h = 80;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const top = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i * w / 59).toFixed(1)},${(h - 4 - v * (h - 8) / top).toFixed(1)}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(line);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "14");
  label.textContent = "max " + top.toFixed(1) + "/s";
  svg.append(label);
  box.replaceChildren(svg);
}

// ---- clients and sessions

function seconds(n) {
  if (n === null || n === undefined) return "never";
  return n + " s";
}

let actedAt = 0; // when a button's call last failed: its error stays a few seconds

async function act(method, path, what) {
  if (!window.confirm(what + "?")) return;
  try {
    await api(path, {method});
    showError("");
  } catch (e) {
    actedAt = Date.now();
    showError(what + ": " + e.message);
  }
  refresh();
}

async function showClients() {
  const [clients, sessions] = await Promise.all([
    allPages("/v1/clients", "clients", 5000), allPages("/v1/sessions", "sessions", 5000)]);
  fill(document.querySelector("#clients-table tbody"), clients.map(c => el("tr", {"data-client": c.client_id},
    el("td", {}, c.client_id), el("td", {}, c.node), el("td", {}, c.protocol_version),
    el("td", {}, c.connected_at), el("td", {class: "num"}, c.subscriptions),
    el("td", {}, c.remote || "—"), el("td", {}, c.keep_alive_seconds === undefined ? "—" : c.keep_alive_seconds + " s"),
    el("td", {}, el("button", {class: "danger", onclick: () =>
      act("DELETE", "/v1/clients/" + encodeURIComponent(c.client_id), "Disconnect " + c.client_id)}, "Disconnect")))));
  fill(document.querySelector("#sessions-table tbody"), sessions.map(s => el("tr", {"data-session": s.client_id},
    el("td", {}, s.client_id), el("td", {class: s.online ? "online" : "offline"}, s.online ? "online" : "offline"),
    el("td", {}, s.node || "—"), el("td", {}, seconds(s.expiry_seconds)),
    el("td", {}, s.subscriptions.map(x => x.filter + " (QoS " + x.qos + ")").join(", ") || "—"),
    el("td", {class: "num"}, s.cursor ?? "—"), el("td", {class: "num"}, s.inflight),
    el("td", {}, el("button", {class: "danger", onclick: () =>
      act("DELETE", "/v1/sessions/" + encodeURIComponent(s.client_id), "Delete the session of " + s.client_id)}, "Delete")))));
}

// ---- topic tree

async function showTopics() {
  const filter = document.querySelector("#topics-form [name=filter]").value || "#";
  const items = await allPages("/v1/retained?payload=auto&filter=" + encodeURIComponent(filter), "retained", 5000);
  const root = {children: new Map(), msg: null};
  for (const r of items) {
    let n = root;
    for (const seg of r.topic.split("/")) {
      if (!n.children.has(seg)) n.children.set(seg, {children: new Map(), msg: null});
      n = n.children.get(seg);
    }
    n.msg = r;
  }
  document.getElementById("topics-count").textContent = items.length + " retained messages matching " + filter;
  document.getElementById("topics-tree").replaceChildren(treeList(root, ""));
}

function treeList(node, prefix) {
  const ul = el("ul");
  for (const [seg, child] of [...node.children.entries()].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const topic = prefix ? prefix + "/" + seg : seg;
    const head = el("span", {class: "leaf"}, el("span", {class: "seg", title: topic}, seg === "" ? "(empty)" : seg));
    if (child.msg) head.append(retainedCells(child.msg));
    if (child.children.size === 0) {
      ul.append(el("li", {"data-topic": topic}, head));
      continue;
    }
    const d = el("details", {open: ""}, el("summary", {}, head), treeList(child, topic));
    ul.append(el("li", {"data-topic": topic}, d));
  }
  return ul;
}

function retainedCells(m) {
  const shown = m.payload_encoding === "base64" ? renderPayload(m.payload, "auto") : m.payload;
  return el("span", {},
    el("code", {class: "payload"}, shown.length > 200 ? shown.slice(0, 200) + "…" : shown), " ",
    el("span", {class: "muted"}, "offset " + m.offset + " · QoS " + m.qos + " · " + m.payload_size + " B · " + (m.time || "record removed")));
}

// ---- payloads: base64 from the API, shown as text, JSON or hex

function b64bytes(b64) {
  const s = atob(b64 || "");
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

function hex(bytes) {
  return Array.from(bytes, x => x.toString(16).padStart(2, "0")).join(" ");
}

function renderPayload(b64, mode) {
  const bytes = b64bytes(b64);
  let text = null;
  try { text = new TextDecoder("utf-8", {fatal: true}).decode(bytes); } catch (_) { /* binary */ }
  if (mode === "hex" || text === null) return hex(bytes);
  if (mode === "json" || mode === "auto") {
    try { return JSON.stringify(JSON.parse(text), null, mode === "json" ? 2 : 0); } catch (_) { /* not JSON */ }
  }
  return text;
}

// ---- history

let historyRows = [], tailFrom = null;

function historyParams() {
  const f = document.getElementById("history-form");
  return {filter: f.filter.value || "#", from: f.from.value.trim(), to: f.to.value.trim(),
    limit: f.limit.value.trim() || "100", payload: f.payload.value, tail: f.tail.checked};
}

async function readHistory(from, to, limit) {
  const p = historyParams();
  const q = new URLSearchParams({filter: p.filter, payload: "base64"});
  if (from !== "") q.set("from", from);
  if (to !== "") q.set("to", to);
  if (limit) q.set("limit", limit);
  const text = await (await api("/v1/messages?" + q)).text();
  const recs = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line);
    if (r.error) throw new Error(r.error);
    recs.push(r);
  }
  return recs;
}

async function loadHistory() {
  const p = historyParams();
  historyRows = await readHistory(p.from, p.to, p.limit);
  tailFrom = historyRows.length ? historyRows[historyRows.length - 1].offset + 1 : null;
  if (tailFrom === null) tailFrom = (await getJSON("/v1/stats")).next_offset;
  drawHistory();
}

async function tailHistory() {
  if (!historyParams().tail || tailFrom === null) return;
  const recs = await readHistory(String(tailFrom), "", "1000");
  if (recs.length === 0) return;
  tailFrom = recs[recs.length - 1].offset + 1;
  historyRows = historyRows.concat(recs).slice(-1000);
  drawHistory();
}

function drawHistory() {
  const mode = historyParams().payload;
  document.getElementById("history-count").textContent = historyRows.length + " messages" +
    (historyParams().tail ? " · tailing from offset " + tailFrom : "");
  fill(document.querySelector("#history-table tbody"), historyRows.map(r => el("tr", {"data-offset": r.offset},
    el("td", {class: "num"}, r.offset), el("td", {}, r.time), el("td", {}, r.topic),
    el("td", {}, r.qos), el("td", {}, r.retain ? "yes" : ""),
    el("td", {}, el("pre", {}, renderPayload(r.payload, mode))))));
}

// ---- routing: #view or #view?k=v presets the view's form

const loaders = {cluster: showCluster, rates: showRates, clients: showClients, topics: showTopics, history: tailHistory};
const periods = {cluster: 2000, rates: 1000, clients: 3000, topics: 0, history: 1000};

function current() {
  const [name, query] = location.hash.slice(1).split("?");
  return {name: views.includes(name) ? name : "cluster", query: new URLSearchParams(query || "")};
}

async function refresh() {
  const v = current(), section = document.getElementById("view-" + v.name);
  try {
    await loaders[v.name]();
    section.dataset.state = "ready";
    if (Date.now() - actedAt > 5000) showError("");
  } catch (e) {
    section.dataset.state = "error";
    showError(e.message);
  }
}

function preset(v) {
  const form = document.getElementById(v.name + "-form");
  if (!form) return;
  for (const [k, val] of v.query) {
    if (!form.elements[k]) continue;
    if (form.elements[k].type === "checkbox") form.elements[k].checked = val === "1" || val === "true";
    else form.elements[k].value = val;
  }
}

async function route() {
  const v = current();
  clearInterval(timer);
  for (const n of views) document.getElementById("view-" + n).hidden = n !== v.name;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === v.name);
  preset(v);
  if (v.name === "history") {
    try { await loadHistory(); document.getElementById("view-history").dataset.state = "ready"; }
    catch (e) { showError(e.message); }
  } else {
    await refresh();
  }
  if (periods[v.name]) timer = setInterval(refresh, periods[v.name]);
}

document.getElementById("topics-form").addEventListener("submit", e => { e.preventDefault(); refresh(); });
document.getElementById("history-form").addEventListener("submit", e => {
  e.preventDefault();
  loadHistory().then(() => showError(""), err => showError(err.message));
});
document.getElementById("history-form").payload.addEventListener("change", drawHistory);
window.addEventListener("hashchange", route);
getJSON("/v1/cluster/identity").then(id => {
  document.getElementById("whoami").textContent = "node " + id.id;
}, () => { /* the views report errors */ });
route();
