// The history page: trends per delivery metric and per skill, and the list of past interviews.
const LABELS = { overall: "Overall score", delivery: "Delivery score", presence: "Presence score",
  wpm: "Pace (words per minute)", fillers_per_min: "Filler words per minute", eye_contact: "Eye contact (share of answer)" };
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function lineChart(title, points, fmt) {
  // A small line chart (inline SVG, no library): one point per interview, oldest on the left.
  const fig = document.createElement("figure"); fig.className = "trend";
  const cap = document.createElement("figcaption"); cap.textContent = title; fig.append(cap);
  const w = 300, h = 110, pad = 24;
  const values = points.map((p) => p.value);
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const x = (i) => pad + (points.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v) => h - pad - ((v - lo) / span) * (h - 2 * pad);
  const svg = el("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", class: "trend-chart",
    "aria-label": `${title}: ${points.map((p) => fmt(p.value)).join(", ")}` });
  if (points.length > 1) svg.append(el("polyline", { points: points.map((p, i) => `${x(i)},${y(p.value)}`).join(" "), fill: "none", stroke: "#3b5b92", "stroke-width": 2 }));
  points.forEach((p, i) => {
    const a = el("a", { href: `/interviews/${encodeURIComponent(p.session_id)}/report` });
    const dot = el("circle", { cx: x(i), cy: y(p.value), r: 4, fill: "#3b5b92" });
    dot.append(el("title", {}, `${p.date.replace("T", " ")}: ${fmt(p.value)}`));
    a.append(dot); svg.append(a);
  });
  svg.append(el("text", { x: 2, y: 12, "font-size": 11, fill: "#5b6475" }, fmt(hi)));
  svg.append(el("text", { x: 2, y: h - 4, "font-size": 11, fill: "#5b6475" }, fmt(lo)));
  fig.append(svg);
  return fig;
}

const fmtFor = (metric) => (v) => (metric === "eye_contact" ? `${Math.round(v * 100)}%` : metric === "fillers_per_min" ? v.toFixed(1) : `${Math.round(v)}`);

async function load() {
  const status = document.getElementById("history-status");
  let data;
  try {
    const res = await fetch("/api/history");
    if (!res.ok) throw new Error(`The history could not be loaded (${res.status}).`);
    data = await res.json();
  } catch (e) { status.textContent = e.message; return; }
  if (!data.interviews.length) { status.textContent = "No finished interviews yet. Your trends appear here after your first one."; return; }
  status.textContent = `${data.interviews.length} finished interview(s).`;
  const metrics = document.getElementById("metric-charts");
  for (const [m, points] of Object.entries(data.metrics)) metrics.append(lineChart(LABELS[m] || m, points, fmtFor(m)));
  const skills = document.getElementById("skill-charts");
  for (const [skill, points] of Object.entries(data.skills)) skills.append(lineChart(skill, points, (v) => `${Math.round(v)}`));
  const body = document.querySelector("#past-table tbody");
  const show = (v, f) => (v === null || v === undefined ? "not measured" : f(v));
  for (const r of [...data.interviews].reverse()) {
    const tr = document.createElement("tr");
    const link = document.createElement("a"); link.href = `/interviews/${encodeURIComponent(r.session_id)}/report`; link.textContent = `${r.role} (${r.flow_title})`;
    const cells = [r.date.replace("T", " "), link, `${Math.round(r.overall)} ${r.band}`, show(r.wpm, Math.round), show(r.fillers_per_min, (v) => v.toFixed(1)), show(r.eye_contact, (v) => `${Math.round(v * 100)}%`)];
    for (const c of cells) { const td = document.createElement("td"); td.append(c); tr.append(td); }
    body.append(tr);
  }
  document.getElementById("trends").hidden = false; document.getElementById("past").hidden = false;
}
load();
