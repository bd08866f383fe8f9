// The hub dashboard: polls dashboard/data every second and draws it. Plain DOM and SVG, no
// library. Every number shown comes from the JSON (rates over its window, totals since start).
"use strict";

const POLL_MS = 1000;
const SPAN = 120; // seconds of the hub's clock the charts show
const TICK = 30; // seconds between the time axis' labels
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { green: "#2fb86b", yellow: "#e8c232", red: "#e5484d" };
const PALETTE = [
  "#8aa0b3", "#3aa6d8", "#b07cd8", "#e07b39", "#d85c9a",
  "#6cc4a4", "#c9b458", "#9bb0ff", "#ff9f80", "#7fd1e8",
];
const REASON_COLOURS = {};
const STATUS_COLOURS = {
  requests: "#8aa0b3", "401": "#e07b39", "403": "#b07cd8", "429": "#e8c232",
  other_4xx: "#3aa6d8", "5xx": "#e5484d",
};
const STATUS_NAMES = {
  requests: "请求 requests", "401": "401", "403": "403", "429": "429",
  other_4xx: "其他 other 4xx", "5xx": "5xx",
};
const STATUSES = ["401", "403", "429", "other_4xx", "5xx"];
const FILTERS = {
  all: () => true,
  keys: (e) => e.action.startsWith("key."),
  refusals: (e) => e.outcome !== "ok",
  "keys-refusals": (e) => e.action.startsWith("key.") || e.outcome !== "ok",
};
const ACTIONS = {
  "key.add": "新增密钥 key added",
  "key.revoke": "吊销密钥 key revoked",
  "status": "状态推送 status push",
};

const points = [];
let tiles = null;
let reasons = null;
let filter = "all";
let last = null; // the last answer, drawn again when the filter changes

function $(id) { return document.getElementById(id); }

function text(id, value) {
  const el = $(id);
  if (el.textContent !== value) el.textContent = value;
}

function num(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  if (digits === undefined) digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ms(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const v = seconds * 1000;
  return (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3)) + " ms";
}

function pct(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + "%"; }

function pct2(x) { return x === null || x === undefined ? "—" : (x * 100).toFixed(2) + "%"; }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.abs(seconds);
  const out = s < 120 ? s.toFixed(0) + " s" : s < 7200 ? (s / 60).toFixed(0) + " min" : (s / 3600).toFixed(1) + " h";
  return seconds < 0 ? "-" + out : out;
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function pill(id, ok, label) {
  const node = $(id);
  node.className = "pill " + (ok ? "ok" : "bad");
  node.textContent = label;
}

// ---------------------------------------------------------------- the tile map

function buildTiles(issuers) {
  const svg = $("tiles");
  const size = 96, gap = 4;
  tiles = {};
  for (const t of issuers) {
    const g = el("g", { class: "tile", "data-iss": t.iss }, svg);
    const x = t.x * (size + gap) + 2, y = t.y * (size + gap) + 2;
    const rect = el("rect", { x, y, width: size, height: size, rx: 6, fill: "#1f3a4d" }, g);
    const zh = el("text", { x: x + size / 2, y: y + 34, class: "zh" + (t.zh.length > 4 ? " long" : "") }, g);
    zh.textContent = t.zh;
    const code = el("text", { x: x + size / 2, y: y + 52, class: "code" }, g);
    code.textContent = t.en;
    const rate = el("text", { x: x + size / 2, y: y + 76, class: "rate" }, g);
    const badge = el("circle", { cx: x + size - 12, cy: y + 12, r: 9, class: "badge", visibility: "hidden" }, g);
    const mark = el("text", { x: x + size - 12, y: y + 17, class: "rate", visibility: "hidden" }, g);
    mark.textContent = "!";
    const title = el("title", {}, g);
    tiles[t.iss] = { g, rect, rate, badge, mark, title };
  }
}

function shade(share) {
  // dark blue at no traffic to bright teal at the busiest tile
  const a = [31, 58, 77], b = [58, 200, 216];
  return "rgb(" + a.map((v, i) => Math.round(v + (b[i] - v) * share)).join(",") + ")";
}

function drawTiles(issuers) {
  if (!tiles) buildTiles(issuers);
  const top = Math.max(1, ...issuers.map((t) => t.rate || 0));
  for (const t of issuers) {
    const view = tiles[t.iss];
    const share = t.rate ? Math.log1p(t.rate) / Math.log1p(top) : 0;
    view.g.setAttribute("class", "tile" + (t.enrolled ? "" : " off") + (t.red_spike ? " spike" : ""));
    if (t.enrolled) view.rect.setAttribute("fill", shade(share));
    view.rate.textContent = t.enrolled ? num(t.rate) + "/s" : "未接入 off";
    const shown = t.red_spike ? "visible" : "hidden";
    view.badge.setAttribute("visibility", shown);
    view.mark.setAttribute("visibility", shown);
    view.title.textContent =
      `${t.zh} ${t.en} (${t.iss})\n` +
      `核验 verifications/s: ${num(t.rate)}  累计 total: ${num(t.total, 0)}\n` +
      `红码占比 red share: ${pct(t.red_share)} (usual ${pct(t.red_share_baseline)})` +
      (t.red_spike ? "\n红码激增 red share spiking" : "");
  }
}

// ---------------------------------------------------------------- charts
// Each chart is an SVG of lines over the last two minutes of polls, with HTML labels
// beside it (an SVG stretched to its box would stretch its text): the time axis below, the
// value axis on the left. Rates are drawn on a log scale, so 1 % of the traffic is a line a
// decade or two under the rest, not a hair on top of a stack; the red share has its own chart.

const W = 600, H = 160;
const LOG_FLOOR = 0.1; // per second: zero and anything under it sit on the bottom line

function chart(id) {
  const box = $(id);
  if (!box.svg) {
    box.svg = el("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" }, box);
    box.yaxis = document.createElement("div");
    box.yaxis.className = "yaxis";
    box.xaxis = document.createElement("div");
    box.xaxis.className = "xaxis";
    box.append(box.yaxis, box.xaxis);
  }
  return box;
}

function label(parent, text, style) {
  const span = document.createElement("span");
  span.textContent = text;
  Object.assign(span.style, style);
  parent.appendChild(span);
}

function clock(at) {
  return new Date(at * 1000).toLocaleTimeString("zh-CN", { hour12: false });
}

function drawChart(id, series, scale) {
  const box = chart(id), svg = box.svg;
  svg.replaceChildren();
  box.yaxis.replaceChildren();
  box.xaxis.replaceChildren();
  const now = points.length ? points[points.length - 1].at : 0;
  const x = (at) => ((at - (now - SPAN)) / SPAN) * W;
  const values = series.flatMap((s) => points.map(s.value)).filter((v) => v !== null && v !== undefined);
  const top = Math.max(0, ...values);
  let y, ticks;
  if (scale === "log") {
    const hi = Math.max(1, Math.ceil(Math.log10(Math.max(top, 1) * 1.2)));
    const lo = Math.log10(LOG_FLOOR);
    y = (v) => H - ((Math.log10(Math.max(v, LOG_FLOOR)) - lo) / (hi - lo)) * H;
    ticks = [];
    for (let e = lo; e <= hi; e++) ticks.push([10 ** e, e < 0 ? (10 ** e).toFixed(-e) : num(10 ** e, 0)]);
  } else { // a share: 0 to a little over the highest seen, at least 1 %
    const hi = Math.max(0.01, top * 1.25);
    y = (v) => H - (v / hi) * H;
    ticks = [0, hi / 2, hi].map((v) => [v, (v * 100).toFixed(hi < 0.04 ? 2 : 1) + "%"]);
  }
  for (const [v, text] of ticks) {
    el("line", { x1: 0, x2: W, y1: y(v), y2: y(v), class: "grid" }, svg);
    label(box.yaxis, text, { top: (y(v) / H) * 100 + "%" });
  }
  for (let at = Math.ceil((now - SPAN) / TICK) * TICK; points.length && at <= now; at += TICK) {
    el("line", { x1: x(at), x2: x(at), y1: 0, y2: H, class: "grid" }, svg);
    label(box.xaxis, clock(at), { left: (x(at) / W) * 100 + "%" });
  }
  for (const s of series) {
    let d = "";
    points.forEach((p) => {
      const v = s.value(p);
      if (v === null || v === undefined) return;
      d += (d ? "L" : "M") + x(p.at).toFixed(1) + "," + y(v).toFixed(1);
    });
    if (d) {
      el("path", { d, fill: "none", stroke: s.colour, "stroke-width": s.width || 2,
        "vector-effect": "non-scaling-stroke", "data-key": s.key }, svg);
    }
  }
}

function buildLegend(legendId, keys, colours, names) {
  const legend = $(legendId);
  for (const k of keys) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = colours[k];
    const value = document.createElement("span");
    value.id = legendId.replace("legend", "") + k;
    value.textContent = (names[k] || k) + " —";
    item.append(swatch, value);
    legend.appendChild(item);
  }
}

// ---------------------------------------------------------------- the rest

function drawEvents(events, names) {
  const body = $("events");
  const rows = events.filter(FILTERS[filter]).slice(0, 12).map((e) => {
    const tr = document.createElement("tr");
    if (e.action === "key.revoke") tr.className = "revoke";
    const details = [];
    if (e.seq !== undefined) details.push("seq " + e.seq);
    if (e.events !== undefined) details.push(e.events + " events");
    if (e.applied !== undefined) details.push(e.applied + " applied");
    const cells = [
      clock(e.at),
      names[e.iss] ? `${names[e.iss]} ${e.iss}` : e.iss,
      ACTIONS[e.action] || e.action,
      e.outcome === "ok" ? "成功 ok" : "拒绝 " + e.outcome,
      e.kid || "",
      details.join(" · "),
    ];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      if (i === 3) td.className = e.outcome === "ok" ? "ok" : "refused";
      tr.appendChild(td);
    });
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 6;
    td.textContent = "暂无 none yet";
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function chooseFilter(event) {
  const button = event.target.closest("button[data-filter]");
  if (!button) return;
  filter = button.dataset.filter;
  for (const b of $("event-filter").querySelectorAll("button")) b.classList.toggle("on", b === button);
  if (last) drawEvents(last.events, Object.fromEntries(last.issuers.map((t) => [t.iss, t.zh])));
}

function sum(values) {
  return values.some((x) => x === null) ? null : values.reduce((s, x) => s + x, 0);
}

function render(d) {
  last = d;
  const v = d.verifications;
  const invalid = Object.values(v.by_reason).reduce((s, r) => s + (r.rate || 0), 0);
  const refused = Object.values(d.requests.rejected).reduce((s, r) => s + (r.rate || 0), 0);
  const errors = sum(STATUSES.map((k) => d.requests.errors[k].rate));
  text("rate-total", num(v.rate));
  for (const c of ["green", "yellow", "red"]) text("rate-" + c, num(v.by_colour[c].rate));
  text("rate-invalid", v.rate === null ? "—" : num(invalid));
  text("rate-requests", num(d.requests.rate));
  text("rate-errors", num(errors));
  text("rate-rejected", v.rate === null ? "—" : num(refused));
  text("inflight", num(d.requests.inflight, 0));
  text("total", num(v.total, 0));
  text("red-share", pct2(v.red_share));

  if (!reasons) {
    reasons = Object.keys(v.by_reason);
    reasons.forEach((r, i) => { REASON_COLOURS[r] = PALETTE[i % PALETTE.length]; });
    buildLegend("reason-legend", reasons, REASON_COLOURS, {});
    buildLegend("errors-legend", ["requests", ...STATUSES], STATUS_COLOURS, STATUS_NAMES);
    buildLegend("colour-legend", ["green", "yellow", "red"], COLOURS, {});
  }
  for (const r of reasons) text("reason-" + r, r + " " + num(v.by_reason[r].rate));
  text("errors-requests", STATUS_NAMES.requests + " " + num(d.requests.rate));
  for (const k of STATUSES) text("errors-" + k, STATUS_NAMES[k] + " " + num(d.requests.errors[k].rate));
  for (const c of ["green", "yellow", "red"]) text("colour-" + c, c + " " + num(v.by_colour[c].rate));
  if (v.rate !== null) {
    // When the page got it: a hub in a test keeps its clock still, and polls are what is drawn.
    const at = Date.now() / 1000;
    const p = { at, reasons: {}, errors: {}, requests: d.requests.rate, red_share: v.red_share };
    for (const c of ["green", "yellow", "red"]) p[c] = v.by_colour[c].rate;
    for (const r of reasons) p.reasons[r] = v.by_reason[r].rate;
    for (const k of STATUSES) p.errors[k] = d.requests.errors[k].rate;
    points.push(p);
    while (points.length && points[0].at < at - SPAN) points.shift();
  }
  drawChart("chart-errors", [
    { key: "requests", colour: STATUS_COLOURS.requests, value: (p) => p.requests, width: 1.5 },
    ...STATUSES.map((k) => ({ key: k, colour: STATUS_COLOURS[k], value: (p) => p.errors[k] })),
  ], "log");
  drawChart("chart-red", [{ key: "red", colour: COLOURS.red, value: (p) => p.red_share }], "share");
  drawChart("chart-colour", ["green", "yellow", "red"].map(
    (c) => ({ key: c, colour: COLOURS[c], value: (p) => p[c] })), "log");
  drawChart("chart-reason", reasons.map(
    (r) => ({ key: r, colour: REASON_COLOURS[r], value: (p) => p.reasons[r] })), "log");
  drawTiles(d.issuers);

  for (const layer of ["local", "redis"]) {
    const c = d.cache[layer];
    const ratio = c.window_hit_ratio !== null ? c.window_hit_ratio : c.hit_ratio;
    text("hit-" + layer, pct(ratio));
    $("bar-" + layer).style.width = ratio === null ? "0" : (ratio * 100).toFixed(1) + "%";
  }
  text("local-entries", num(d.cache.local_entries, 0));
  text("redis-keys", num(d.redis.keys, 0));
  const lat = { single: d.latency["/v1/verify"], batch: d.latency["/v1/verify/batch"], redis: d.redis.lookup };
  for (const [row, p] of Object.entries(lat)) {
    for (const q of ["p50", "p90", "p99"]) text(`lat-${row}-${q}`, ms(p[q]));
  }

  const t = d.trust;
  text("trust-version", t.version === null ? "—" : "v" + num(t.version, 0));
  text("trust-age", t.issued_at === null ? "—" : duration(d.at - t.issued_at) + " / " + duration(t.expires_at - d.at));
  text("trust-keys", `${num(t.keys.active, 0)} · ${num(t.keys.revoked, 0)} · ${num(t.keys.expired, 0)}`);
  text("trust-expiring", num(t.expiring, 0));
  text("status-rate", num(d.status.rate));
  text("status-lag", duration(d.status.lag.p50) + " · " + duration(d.status.lag.p99));
  text("redis-errors", num(d.redis.errors, 0));
  drawEvents(d.events, Object.fromEntries(d.issuers.map((t) => [t.iss, t.zh])));

  pill("pill-redis", d.redis.up, d.redis.up ? `Redis 正常 up · ${ms(d.redis.ping_seconds)}` : "Redis 故障 DOWN");
  pill("pill-trust", t.version !== null, "信任列表 trust list " + (t.version === null ? "—" : "v" + num(t.version, 0)));
  text("pill-clock", new Date(d.at * 1000).toLocaleString("zh-CN", { hour12: false }));
  text("footer-worker", `worker pid ${d.pid} · window ${d.window === null ? "—" : d.window.toFixed(1) + " s"}`);
}

async function poll() {
  try {
    const answer = await fetch("dashboard/data", { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    render(await answer.json());
    pill("pill-conn", true, "实时 live");
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (err) {
    pill("pill-conn", false, "连接中断 disconnected (" + err.message + ")");
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

$("event-filter").addEventListener("click", chooseFilter);
poll();
