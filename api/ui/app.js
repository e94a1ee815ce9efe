// The operators' page: reads only the service's REST API (same origin), draws with plain SVG.
// State is in the URL's hash (#asset=7&hours=24), so a view can be linked and reloaded.
"use strict";

const API = "/api/v1";
const THRESHOLD_FALLBACK = 0.7;
const PAGE = 1000; // the scores endpoint's largest page
const MAX_PAGES = 20; // at most 20,000 points drawn per asset and range
const W = 960, H = 200, SCORE_H = 60, PAD = { left: 56, right: 10, top: 8, bottom: 18 };

const $ = (sel) => document.querySelector(sel);
const svgNS = "http://www.w3.org/2000/svg";

function params() {
  const p = new URLSearchParams(location.hash.slice(1));
  return { asset: p.get("asset"), hours: p.get("hours") || $("#hours").value };
}

function setParams(update) {
  const p = new URLSearchParams(location.hash.slice(1));
  for (const [k, v] of Object.entries(update)) v == null ? p.delete(k) : p.set(k, v);
  location.hash = p.toString();
}

async function api(path) {
  const headers = {};
  const key = sessionStorage.getItem("apiKey");
  if (key) headers["X-API-Key"] = key;
  const answer = await fetch(API + path, { headers });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    const why = body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : answer.statusText;
    throw new Error(`${answer.status} ${why}`);
  }
  return body;
}

function el(tag, attrs = {}, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(svgNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

function fmt(v, digits = 3) {
  return v == null ? "–" : Number(v).toPrecision(digits);
}

async function showHealth() {
  const badge = $("#health");
  try {
    const health = await fetch(API + "/health").then((r) => r.json());
    badge.textContent = health.status;
    badge.className = "health " + health.status;
    badge.title = (health.details.reasons.concat(health.details.warnings)).join("\n") || "all dependencies answer";
  } catch (e) {
    badge.textContent = "unreachable";
    badge.className = "health unhealthy";
  }
}

async function showAssets() {
  const { asset, hours } = params();
  const body = $("#assets tbody");
  body.replaceChildren();
  try {
    const list = await api(`/assets?hours=${hours}`);
    $("#assets-note").textContent = list.assets.length ? "" : `No asset was scored in the last ${hours} h.`;
    for (const a of list.assets) {
      const row = el("tr", { "data-asset": a.assetId });
      if (String(a.assetId) === asset) row.classList.add("selected");
      row.append(
        el("td", {}, a.assetId),
        el("td", {}, a.points),
        el("td", {}, a.anomalies),
        el("td", {}, (100 * a.anomalyRate).toFixed(2) + " %"),
        el("td", { class: "incidents" + (a.openIncidents ? " open" : "") }, a.openIncidents),
        el("td", {}, new Date(a.lastSeen).toLocaleString()),
      );
      row.addEventListener("click", () => setParams({ asset: a.assetId }));
      body.append(row);
    }
  } catch (e) {
    $("#assets-note").textContent = "Could not list the assets: " + e.message;
  }
}

async function showHealthList() {
  const { asset, hours } = params();
  const body = $("#healths tbody");
  body.replaceChildren();
  try {
    const list = await api(`/assets/health?hours=${hours}`);
    $("#health-note").textContent = list.assets.length ? "" : "No asset to assess.";
    for (const h of list.assets) {
      const row = el("tr", { "data-health-asset": h.assetId });
      if (String(h.assetId) === asset) row.classList.add("selected");
      row.append(
        el("td", {}, h.assetId),
        el("td", {}, h.score),
        el("td", { class: "status " + h.status }, h.status),
        el("td", { class: "why" }, h.reasons.map((r) => `${r.text} (-${+r.points.toFixed(1)})`).join("; ") || "nothing against it"),
      );
      row.addEventListener("click", () => setParams({ asset: h.assetId }));
      body.append(row);
    }
  } catch (e) {
    $("#health-note").textContent = "Could not assess the assets: " + e.message;
  }
}

async function showWindows() {
  const body = $("#windows tbody");
  body.replaceChildren();
  try {
    const list = await api("/maintenance");
    $("#windows-note").textContent = list.windows.length ? "" : "No maintenance window active or to come.";
    for (const w of list.windows) {
      const row = el("tr", { "data-window": w.id });
      row.append(
        el("td", {}, w.assetId ?? "every asset"),
        el("td", {}, w.metricPattern ?? "every metric"),
        el("td", {}, new Date(w.startsAt).toLocaleString()),
        el("td", {}, new Date(w.endsAt).toLocaleString()),
        el("td", { class: "status " + w.status }, w.status),
        el("td", { class: "why" }, w.reason),
      );
      body.append(row);
    }
  } catch (e) {
    $("#windows-note").textContent = "Could not list the maintenance windows: " + e.message;
  }
}

// A forecast a quarter of the range ahead (at least an hour); null for a series too young or
// one the API has no forecaster for
async function forecastOf(asset, metric, hours) {
  const horizon = Math.max(1, hours / 4);
  try {
    return await api(`/forecast/${asset}?metric=${encodeURIComponent(metric)}&horizon=${horizon}`);
  } catch (e) {
    return null;
  }
}

// The asset's incidents, newest first, each anomaly or security incident with its top root-cause
// hints (GET /incidents/{id}); predictions say when their metric reaches its limit
async function showIncidents(incidents) {
  const body = $("#incidents tbody");
  body.replaceChildren();
  const details = await Promise.all(
    incidents.map((i) => (i.kind === "prediction" ? null : api(`/incidents/${i.id}`).catch(() => null))),
  );
  incidents.forEach((inc, k) => {
    const hints = details[k] ? details[k].hints.slice(0, 3).map((h) => h.reason) : [];
    const crossing = inc.crossings ? Object.entries(inc.crossings).map(([m, c]) => `${m} reaches ${c.limit} ${inWords(c.hours_to_crossing)}`) : [];
    const row = el("tr", { "data-incident": inc.id });
    row.append(
      el("td", {}, inc.kind),
      el("td", {}, inc.status),
      el("td", { class: "severity " + inc.severity }, inc.severity),
      el("td", {}, inc.priority || "–"),
      el("td", {}, new Date(inc.startedAt).toLocaleString()),
      el("td", {}, inc.metrics.join(", ")),
      el("td", { class: "why" }, hints.concat(crossing).join("; ") || "–"),
    );
    body.append(row);
  });
  if (!incidents.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "note" }, "No incident in this range.")));
}

async function scoresOf(asset, hours) {
  const items = [];
  for (let page = 0; page < MAX_PAGES; page++) {
    const got = await api(`/anomaly/scores/${asset}?hours=${hours}&limit=${PAGE}&offset=${page * PAGE}`);
    items.push(...got.items);
    if (items.length >= got.total || got.items.length === 0) break;
  }
  return items.reverse(); // the API answers newest first
}

async function showAsset() {
  const { asset, hours } = params();
  const panel = $("#asset-panel");
  if (!asset) { panel.hidden = true; return; }
  panel.hidden = false;
  $("#asset-title").textContent = `Asset ${asset}, last ${hours} h`;
  const charts = $("#charts");
  charts.replaceChildren(el("p", { class: "note" }, "loading…"));
  try {
    const [items, incidents] = await Promise.all([
      scoresOf(asset, hours),
      api(`/assets/${asset}/incidents?hours=${hours}`).then((r) => r.incidents),
    ]);
    charts.replaceChildren();
    await showIncidents(incidents);
    const byMetric = new Map();
    for (const p of items) {
      if (!byMetric.has(p.metric)) byMetric.set(p.metric, []);
      byMetric.get(p.metric).push(p);
    }
    const end = Date.now(), start = end - hours * 3600e3;
    const metrics = [...byMetric].sort();
    const forecasts = await Promise.all(metrics.map(([metric]) => forecastOf(asset, metric, hours)));
    metrics.forEach(([metric, points], i) => {
      const own = incidents.filter((inc) => inc.metrics.includes(metric));
      charts.append(chart(metric, points, own, start, end, forecasts[i]));
    });
    if (!byMetric.size) charts.append(el("p", { class: "note" }, "No scores in this range."));
  } catch (e) {
    charts.replaceChildren(el("p", { class: "note" }, "Could not read the asset: " + e.message));
  }
}

// as stream.predictions.in_words says it
function inWords(hours) {
  if (hours === 0) return "now";
  if (hours < 1) return `in ${Math.round(hours * 60)} minutes`;
  return hours < 48 ? `in ${hours.toFixed(1)} hours` : `in ${(hours / 24).toFixed(1)} days`;
}

function outlookText(o) {
  if (o.hoursToCrossing == null) return `below its limit ${fmt(o.limit)} for 30 days`;
  if (o.hoursToCrossing === 0) return `at its limit ${fmt(o.limit)} now`;
  return `reaches ${fmt(o.limit)} ${inWords(o.hoursToCrossing)} (p ${fmt(o.probability, 2)} within ${o.horizonHours} h)`;
}

function chart(metric, points, incidents, start, now, forecast) {
  const box = el("div", { class: "chart", "data-metric": metric });
  const anomalies = points.filter((p) => p.isAnomaly).length;
  const title = el("h3", {}, `${metric}: ${points.length} points, ${anomalies} anomalies`);
  const found = forecast && forecast.capacity;
  const predicted = incidents.find((i) => i.kind === "prediction" && i.status === "open");
  // a bounded metric's limit is shown when it is in sight: predicted, or likelier than not
  const outlook = found && (predicted || found.probability >= 0.5) ? found : null;
  if (outlook) title.append(el("span", { class: "outlook", "data-outlook": metric }, outlookText(outlook)));
  box.append(title);
  const ahead = forecast ? forecast.points : [];
  const end = ahead.length ? Math.max(now, new Date(ahead[ahead.length - 1].timestamp).getTime()) : now;
  const svg = el("svg:svg", { width: W, height: H + SCORE_H, viewBox: `0 0 ${W} ${H + SCORE_H}` });
  const t = (p) => new Date(p.timestamp).getTime();
  const ys = points.flatMap((p) => [p.value, p.lowerBound, p.upperBound])
    .concat(ahead.flatMap((p) => [p.lower95, p.upper95]))
    .filter((v) => v != null && isFinite(v));
  if (outlook) ys.push(outlook.limit);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (!(hi > lo)) { lo -= 1; hi += 1; }
  const x = (ms) => PAD.left + (W - PAD.left - PAD.right) * (ms - start) / (end - start);
  const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (hi - Math.min(hi, Math.max(lo, v))) / (hi - lo);
  const sy = (s) => H + 4 + (SCORE_H - 12) * (1 - s);

  for (const inc of incidents.filter((i) => i.kind !== "prediction")) { // spans, behind everything
    const a = Math.max(start, new Date(inc.startedAt).getTime());
    const b = Math.min(end, new Date(inc.resolvedAt || inc.lastAnomalyAt).getTime() + 60e3);
    const span = el("svg:rect", { class: "incident", x: x(a), y: PAD.top, width: Math.max(2, x(b) - x(a)), height: H + SCORE_H - PAD.top - 4 });
    span.append(el("svg:title", {}, `incident ${inc.status}, ${inc.severity}: ${inc.anomalies} anomalies, peak ${fmt(inc.peakScore)} on ${inc.peakMetric}`));
    svg.append(span);
  }
  const banded = points.filter((p) => p.lowerBound != null && p.upperBound != null);
  if (banded.length) {
    const upper = banded.map((p) => `${x(t(p))},${y(p.upperBound)}`);
    const lower = banded.slice().reverse().map((p) => `${x(t(p))},${y(p.lowerBound)}`);
    svg.append(el("svg:polygon", { class: "band", points: upper.concat(lower).join(" ") }));
    svg.append(el("svg:polyline", { class: "expected", points: banded.map((p) => `${x(t(p))},${y(p.expected)}`).join(" ") }));
  }
  if (ahead.length) { // the forecast, right of now: 95% and 80% intervals and the point forecast
    for (const [cls, lower, upper] of [["forecast95", "lower95", "upper95"], ["forecast80", "lower80", "upper80"]]) {
      const top = ahead.map((p) => `${x(t(p))},${y(p[upper])}`);
      const bottom = ahead.slice().reverse().map((p) => `${x(t(p))},${y(p[lower])}`);
      svg.append(el("svg:polygon", { class: cls, points: top.concat(bottom).join(" ") }));
    }
    svg.append(el("svg:polyline", { class: "forecast", points: ahead.map((p) => `${x(t(p))},${y(p.value)}`).join(" ") }));
    svg.append(el("svg:line", { class: "now", x1: x(now), x2: x(now), y1: PAD.top, y2: H - PAD.bottom }));
  }
  if (outlook) { // the capacity limit, and where the forecast reaches it
    const line = el("svg:line", { class: "limit", x1: PAD.left, x2: W - PAD.right, y1: y(outlook.limit), y2: y(outlook.limit) });
    line.append(el("svg:title", {}, `limit ${fmt(outlook.limit)} of capacity ${fmt(outlook.capacity)}`));
    svg.append(line);
    if (outlook.crossingAt && new Date(outlook.crossingAt).getTime() <= end) {
      const mark = el("svg:circle", { class: "crossing", cx: x(new Date(outlook.crossingAt).getTime()), cy: y(outlook.limit), r: 5 });
      mark.append(el("svg:title", {}, `${metric} ${outlookText(outlook)}`));
      svg.append(mark);
    }
  }
  svg.append(el("svg:polyline", { class: "values", points: points.map((p) => `${x(t(p))},${y(p.value)}`).join(" ") }));
  svg.append(el("svg:line", { class: "threshold", x1: PAD.left, x2: W - PAD.right, y1: sy(THRESHOLD_FALLBACK), y2: sy(THRESHOLD_FALLBACK) }));
  svg.append(el("svg:polyline", { class: "score", points: points.map((p) => `${x(t(p))},${sy(p.score)}`).join(" ") }));
  for (const p of points.filter((p) => p.isAnomaly)) {
    const mark = el("svg:circle", { class: "anomaly", cx: x(t(p)), cy: y(p.value), r: 4, "data-timestamp": p.timestamp });
    mark.append(el("svg:title", {}, explain(p)));
    svg.append(mark);
  }
  for (const [v, label] of [[hi, fmt(hi)], [lo, fmt(lo)]]) {
    svg.append(el("svg:text", { class: "axis", x: 2, y: y(v) + 4 }, label));
  }
  svg.append(el("svg:text", { class: "axis", x: 2, y: sy(THRESHOLD_FALLBACK) + 4 }, "score"));
  const cursor = el("svg:line", { class: "cursor", y1: 0, y2: H + SCORE_H, visibility: "hidden" });
  svg.append(cursor);
  svg.addEventListener("mousemove", (ev) => hover(ev, svg, points, x, t, cursor));
  svg.addEventListener("mouseleave", () => { $("#tooltip").hidden = true; cursor.setAttribute("visibility", "hidden"); });
  box.append(svg);
  return box;
}

function explain(p) {
  const detectors = Object.entries(p.detectorScores || {})
    .sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(", ");
  return [
    `${new Date(p.timestamp).toLocaleString()}  ${p.metric}`,
    `value ${fmt(p.value, 4)}, expected ${fmt(p.expected, 4)} (band ${fmt(p.lowerBound, 4)} to ${fmt(p.upperBound, 4)})`,
    `score ${fmt(p.score)}${p.isAnomaly ? " ANOMALY" : ""}${p.direction ? ", " + p.direction : ""}`,
    `driver ${p.driver || "–"}; ${detectors}`,
  ].join("\n");
}

function hover(ev, svg, points, x, t, cursor) {
  if (!points.length) return;
  const box = svg.getBoundingClientRect();
  const mx = (ev.clientX - box.left) * (W / box.width);
  let best = points[0];
  for (const p of points) if (Math.abs(x(t(p)) - mx) < Math.abs(x(t(best)) - mx)) best = p;
  cursor.setAttribute("x1", x(t(best))); cursor.setAttribute("x2", x(t(best)));
  cursor.setAttribute("visibility", "visible");
  const tip = $("#tooltip");
  tip.textContent = explain(best);
  tip.style.left = ev.clientX + 14 + "px";
  tip.style.top = ev.clientY + 14 + "px";
  tip.hidden = false;
}

async function refresh() {
  document.body.removeAttribute("data-ready");
  $("#hours").value = params().hours;
  await Promise.all([showHealth(), showAssets(), showHealthList(), showWindows(), showAsset()]);
  document.body.setAttribute("data-ready", "true"); // for tests and screenshots: all drawn
}

$("#hours").addEventListener("change", () => setParams({ hours: $("#hours").value }));
$("#apikey").value = sessionStorage.getItem("apiKey") || "";
$("#apikey").addEventListener("change", () => { sessionStorage.setItem("apiKey", $("#apikey").value); refresh(); });
window.addEventListener("hashchange", refresh);
refresh();
