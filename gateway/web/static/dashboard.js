// The hub dashboard: polls dashboard/data every second and draws it. Plain DOM and SVG, no
// library. Every number shown comes from the JSON (rates over its window, totals since start).
"use strict";

const POLL_MS = 1000;
const KEEP = 120; // points kept for the charts: two minutes at one poll a second
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = { green: "#2fb86b", yellow: "#e8c232", red: "#e5484d" };
const PALETTE = [
  "#8aa0b3", "#3aa6d8", "#b07cd8", "#e07b39", "#d85c9a",
  "#6cc4a4", "#c9b458", "#9bb0ff", "#ff9f80", "#7fd1e8",
];
const REASON_COLOURS = {};
const ACTIONS = {
  "key.add": "新增密钥 key added",
  "key.revoke": "吊销密钥 key revoked",
  "status": "状态推送 status push",
};

const points = [];
let tiles = null;
let reasons = null;

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

function drawStacked(svgId, keys, colours, maxId) {
  const svg = $(svgId);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const w = 600, h = 180;
  const totals = points.map((p) => keys.reduce((s, k) => s + (p[k] || 0), 0));
  const top = Math.max(1, ...totals) * 1.1;
  const x = (i) => (KEEP - points.length + i) * (w / (KEEP - 1));
  const y = (v) => h - (v / top) * h;
  const base = points.map(() => 0);
  for (const k of keys) {
    const upper = points.map((p, i) => base[i] + (p[k] || 0));
    if (points.length > 1) {
      let d = "M" + x(0) + "," + y(upper[0]);
      for (let i = 1; i < points.length; i++) d += "L" + x(i) + "," + y(upper[i]);
      for (let i = points.length - 1; i >= 0; i--) d += "L" + x(i) + "," + y(base[i]);
      el("path", { d: d + "Z", fill: colours[k], "fill-opacity": 0.85, stroke: "none" }, svg);
    }
    upper.forEach((v, i) => { base[i] = v; });
  }
  if (maxId) text(maxId, "纵轴上限 axis top: " + num(top) + " /s");
}

function drawLines(svgId, keys, colours) {
  const svg = $(svgId);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const w = 600, h = 180;
  const top = Math.max(1, ...points.flatMap((p) => keys.map((k) => p.reasons[k] || 0))) * 1.1;
  const x = (i) => (KEEP - points.length + i) * (w / (KEEP - 1));
  const y = (v) => h - (v / top) * h;
  for (const k of keys) {
    if (points.length < 2) continue;
    let d = "";
    points.forEach((p, i) => { d += (i ? "L" : "M") + x(i) + "," + y(p.reasons[k] || 0); });
    el("path", { d, fill: "none", stroke: colours[k], "stroke-width": 2 }, svg);
  }
}

function buildLegend(keys, colours) {
  const legend = $("reason-legend");
  for (const k of keys) {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = colours[k];
    const label = document.createElement("span");
    label.id = "reason-" + k;
    label.textContent = k + " —";
    item.append(swatch, label);
    legend.appendChild(item);
  }
}

// ---------------------------------------------------------------- the rest

function drawEvents(events, names) {
  const body = $("events");
  const rows = events.slice(0, 12).map((e) => {
    const tr = document.createElement("tr");
    const when = new Date(e.at * 1000);
    const details = [];
    if (e.seq !== undefined) details.push("seq " + e.seq);
    if (e.events !== undefined) details.push(e.events + " events");
    if (e.applied !== undefined) details.push(e.applied + " applied");
    const cells = [
      when.toLocaleTimeString("zh-CN", { hour12: false }),
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

function render(d) {
  const v = d.verifications;
  const invalid = Object.values(v.by_reason).reduce((s, r) => s + (r.rate || 0), 0);
  const refused = Object.values(d.requests.rejected).reduce((s, r) => s + (r.rate || 0), 0);
  text("rate-total", num(v.rate));
  for (const c of ["green", "yellow", "red"]) text("rate-" + c, num(v.by_colour[c].rate));
  text("rate-invalid", v.rate === null ? "—" : num(invalid));
  text("rate-rejected", v.rate === null ? "—" : num(refused));
  text("inflight", num(d.requests.inflight, 0));
  text("total", num(v.total, 0));

  if (!reasons) {
    reasons = Object.keys(v.by_reason);
    reasons.forEach((r, i) => { REASON_COLOURS[r] = PALETTE[i % PALETTE.length]; });
    buildLegend(reasons, REASON_COLOURS);
  }
  for (const r of reasons) text("reason-" + r, r + " " + num(v.by_reason[r].rate));
  if (v.rate !== null) {
    const p = { reasons: {} };
    for (const c of ["green", "yellow", "red"]) p[c] = v.by_colour[c].rate;
    for (const r of reasons) p.reasons[r] = v.by_reason[r].rate;
    points.push(p);
    if (points.length > KEEP) points.shift();
  }
  drawStacked("chart-colour", ["green", "yellow", "red"], COLOURS, "chart-colour-max");
  drawLines("chart-reason", reasons, REASON_COLOURS);
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

poll();
