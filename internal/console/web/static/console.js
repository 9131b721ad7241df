// The console's pages: each reads its part of /api/ and fills the page's
// tables, every few seconds. No framework, no build step.
"use strict";

const page = document.body.dataset.page;
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

async function api(path, init) {
  const resp = await fetch(path, init);
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function status(text, bad) {
  const s = $("#status");
  s.textContent = text;
  s.className = bad ? "bad" : "";
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

const fmt = {
  num: (n) => Number(n).toLocaleString("en"),
  bytes: (n) => n < 1024 ? n + " B" : n < 1 << 20 ? (n / 1024).toFixed(1) + " KiB" : (n / (1 << 20)).toFixed(1) + " MiB",
  secs: (s) => s < 60 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min",
  pos: (s) => `${s.topic}/${s.partition}/${s.offset}`,
  time: (t) => t && !t.startsWith("0001") ? new Date(t).toLocaleTimeString() : "",
};

let last = null; // the previous overview, for rates

async function overview() {
  const o = await api("/api/overview");
  const rate = (k) => {
    if (!last) return "…";
    const dt = (new Date(o.at) - new Date(last.at)) / 1000;
    return dt > 0 ? ((o.stats[k] - last.stats[k]) / dt).toFixed(1) : "…";
  };
  const out = (s) => s.succeeded + s.failed;
  let outRate = "…";
  if (last) {
    const dt = (new Date(o.at) - new Date(last.at)) / 1000;
    if (dt > 0) outRate = ((out(o.stats) - out(last.stats)) / dt).toFixed(1);
  }
  const card = (k, v, id) => el("div", { class: "card", id }, el("div", { class: "v" }, v), el("div", { class: "k" }, k));
  $("#cards").replaceChildren(
    card("events in /s", rate("consumed"), "events-rate"),
    card("results out /s", outRate, "results-rate"),
    card("events consumed", fmt.num(o.stats.consumed), "consumed"),
    card("results published", fmt.num(out(o.stats)), "published"),
    card("failures", fmt.num(o.stats.failed), "failed"),
    card("jobs in flight", fmt.num(o.stats.inFlight), "inflight"),
    card("jobs run", fmt.num(o.stats.jobs), "jobs"),
    card("pending events", fmt.num(o.pendingEvents), "pending"),
    card("buffered CSV", fmt.bytes(o.bufferedBytes), "buffered"),
    card("in flight (memory budget)", fmt.bytes(o.inFlightBytes), "inflightbytes"),
    card("org API requests used (24 h)", o.apiRequestsMax ? `${fmt.num(o.apiRequestsUsed)} of ${fmt.num(o.apiRequestsMax)} (${(o.apiRequestsUsed / o.apiRequestsMax * 100).toFixed(1)} %)` : "not known yet", "apiusage"),
    o.records24h !== undefined
      ? card("records submitted in the last 24 h, of the org's allocation", `${fmt.num(o.records24h)} of ${fmt.num(o.recordLimit)}`, "rows")
      : card("rows submitted since start, of the records allocation (24 h)", `${fmt.num(o.rowsSubmitted)} of ${fmt.num(o.recordLimit)}`, "rows"),
  );
  $("#paused").replaceChildren(...Object.entries(o.paused).sort().map(([r, v]) =>
    el("span", { class: v > 0 ? "pill on" : "pill" }, `${r}: ${v > 0 ? "paused" : "no"}`)));
  fill($("#lag tbody"), (o.lag || []).map((l) =>
    el("tr", {}, el("td", {}, l.topic), el("td", { class: "num" }, l.partition), el("td", { class: "num" }, fmt.num(l.lag)))));
  last = o;
}

function jobLink(page, id) {
  if (!page) return document.createTextNode(id);
  return el("a", { href: page.replace("{id}", encodeURIComponent(id)), target: "_blank", rel: "noopener" }, id);
}

async function jobs() {
  const j = await api("/api/jobs");
  fill($("#inflight tbody"), j.inFlight.map((x) => el("tr", {},
    el("td", {}, jobLink(j.jobPage, x.id)), el("td", {}, x.object), el("td", {}, x.operation),
    el("td", { class: "num" }, fmt.num(x.rows)), el("td", { class: "num" }, x.attempt), el("td", {}, x.state),
    el("td", { class: "num" }, fmt.secs(x.seconds)))));
  fill($("#recent tbody"), j.recent.map((x) => el("tr", {},
    el("td", {}, jobLink(j.jobPage, x.id)), el("td", {}, x.object), el("td", {}, x.operation),
    el("td", { class: "num" }, fmt.num(x.rows)), el("td", { class: "num" }, x.attempt),
    el("td", { class: x.state === "JobComplete" ? "ok" : "bad", title: x.error || "" }, x.state),
    el("td", { class: "num" }, fmt.secs(x.seconds)), el("td", { class: x.failed ? "num bad" : "num" }, fmt.num(x.failed)),
    el("td", {}, fmt.time(x.ended)))));
}

// spark draws counts as a line of block characters, the highest full.
function spark(counts) {
  const blocks = "▁▂▃▄▅▆▇█";
  const top = Math.max(...counts, 1);
  return counts.map((n) => n === 0 ? " " : blocks[Math.min(blocks.length - 1, Math.floor(n / top * (blocks.length - 1)))]).join("");
}

async function failures() {
  const f = await api("/api/failures");
  if (!f.failures.length) {
    $("#failures").replaceChildren(el("p", { class: "note" }, "No failure since the start."));
    return;
  }
  $("#failures").replaceChildren(...f.failures.map((c) => el("div", { class: "failure", "data-code": c.code },
    el("h2", {}, `${c.code || "(no code)"} · ${fmt.num(c.count)}`),
    el("div", { class: "note" }, "latest " + fmt.time(c.last) + " · last hour, by minute: ",
      el("span", { class: "spark", title: c.perMinute.join(" ") }, spark(c.perMinute))),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "source"), el("th", {}, "key"), el("th", {}, "object"), el("th", {}, "job"), el("th", {}, "message"))),
      el("tbody", {}, ...c.examples.map((e) => el("tr", {}, el("td", {}, fmt.pos(e.source)), el("td", {}, e.key),
        el("td", {}, `${e.operation} ${e.object}`), el("td", {}, e.jobId), el("td", {}, e.error))))))));
}

function filterOf() {
  const data = new FormData($("#filter"));
  const f = {};
  for (const [k, v] of data) if (v) f[k] = v;
  return f;
}

async function deadLetters() {
  const f = filterOf();
  const q = new URLSearchParams();
  const names = { errorCode: "error-code", object: "object", sourceTopic: "source-topic", since: "since", until: "until" };
  for (const [k, v] of Object.entries(f)) q.set(names[k], v);
  const b = await api("/api/dead-letters?" + q);
  const passed = Object.entries(b.passedOver || {}).map(([w, n]) => `${n} by ${w}`).join(", ");
  $("#summary").textContent = `${b.kept} records a replay would send from ${b.topic} (group ${b.group})` +
    (passed ? `; passed over: ${passed}` : "") + (b.kept > b.records.length ? `; the first ${b.records.length} shown` : "");
  fill($("#letters tbody"), b.records.map((r) => el("tr", {},
    el("td", {}, fmt.pos(r.position)), el("td", {}, fmt.pos(r.original)),
    el("td", { title: r.error }, r.errorCode + (r.truncated ? " (truncated copy: not replayed)" : "")),
    el("td", {}, r.object ? `${r.operation} ${r.object}` : "?"), el("td", {}, r.key), el("td", {}, fmt.time(r.timestamp)),
    el("td", {}, el("details", {}, el("summary", {}, "record"),
      el("pre", {}, r.value), el("pre", {}, r.headers.map((h) => `${h.key}: ${h.value}`).join("\n")))))));
}

async function replay(dryRun) {
  const body = { ...filterOf(), dryRun };
  const limit = Number($("#limit").value);
  if (limit > 0) body.limit = limit;
  const s = $("#replaystatus");
  s.textContent = dryRun ? "counting…" : "replaying…";
  try {
    const a = await api("/api/replay", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + $("#token").value }, body: JSON.stringify(body) });
    if (dryRun) {
      s.textContent = `${a.kept} records would be replayed`;
      $("#run").disabled = a.kept === 0;
    } else {
      s.textContent = `replayed ${a.replay.succeeded + a.replay.failed} of ${a.replay.read} read: ${a.replay.succeeded} succeeded, ${a.replay.failed} failed`;
      $("#run").disabled = true;
      deadLetters().catch((e) => status(e.message, true));
    }
  } catch (e) {
    s.textContent = e.message;
  }
}

const refresh = { overview, jobs, failures, routes: null, "dead-letters": null }[page];

async function tick() {
  try {
    await refresh();
    status("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    status(e.message, true);
  }
}

if (refresh) {
  tick();
  setInterval(tick, 2000);
} else if (page === "routes") {
  api("/api/routes").then((c) => { $("#config").textContent = JSON.stringify(c, null, 2); }).catch((e) => status(e.message, true));
} else if (page === "dead-letters") {
  $("#filter").addEventListener("submit", (ev) => { ev.preventDefault(); $("#run").disabled = true; deadLetters().catch((e) => status(e.message, true)); });
  $("#filter").addEventListener("input", () => { $("#run").disabled = true; });
  $("#dryrun").addEventListener("click", () => replay(true));
  $("#run").addEventListener("click", () => replay(false));
  deadLetters().catch((e) => status(e.message, true));
}
