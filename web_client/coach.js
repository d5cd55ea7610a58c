// The coach's flow editor: live validation with line numbers, a preview, save and share, dry-run.
const $ = (id) => document.getElementById(id);
let timer = null;

async function loadBases() {
  const flows = await (await fetch("/api/flows")).json();
  for (const f of flows) {
    const o = document.createElement("option"); o.value = f.id; o.textContent = `${f.title}${f.source === "coach" ? " (yours)" : ""}`;
    $("base").append(o);
  }
  const wanted = new URLSearchParams(location.search).get("flow");
  if (wanted) { $("base").value = wanted; await loadBase(); }
}

async function loadBase() {
  if (!$("base").value) return;
  const res = await fetch(`/api/flows/${encodeURIComponent($("base").value)}/yaml`);
  if (res.ok) { $("yaml").value = (await res.json()).yaml; check(); }
}

function text(tag, value, cls) { const n = document.createElement(tag); n.textContent = value; if (cls) n.className = cls; return n; }

async function check() {
  const res = await fetch("/api/flows/check", { method: "POST", body: $("yaml").value, headers: { "content-type": "text/plain" } });
  const data = await res.json().catch(() => ({ ok: false, issues: [{ line: 1, message: "could not check the flow" }] }));
  const list = $("issues"); list.replaceChildren();
  if (!res.ok) { list.append(text("li", data.detail || "could not check the flow", "error")); return; }
  if (data.ok) list.append(text("li", "No errors.", "ok"));
  for (const i of data.issues) list.append(text("li", `Line ${i.line}: ${i.message}`, "error"));
  $("save").disabled = !data.ok; $("dry-run").disabled = !data.ok;
  const pv = $("preview"); pv.replaceChildren();
  if (!data.preview) { pv.append(text("p", "The preview appears when the flow is valid.", "small")); return; }
  const p = data.preview;
  pv.append(text("p", `${p.title} — ${p.role}, about ${p.minutes} min, up to ${p.max_questions} main questions, asked by ${p.interviewer} (${p.persona}).`));
  for (const s of p.sections) {
    pv.append(text("h3", `${s.title} (${s.kind}): ${s.pick} of ${s.questions.length}`));
    const ol = document.createElement("ol");
    for (const q of s.questions) ol.append(text("li", `${q.text} [${q.type}, ${q.key_points} key point(s)]`));
    pv.append(ol);
  }
}

async function save() {
  const res = await fetch("/api/flows", { method: "PUT", body: $("yaml").value, headers: { "content-type": "text/plain" } });
  const data = await res.json().catch(() => ({}));
  const status = $("save-status"); status.replaceChildren();
  if (!res.ok) { status.className = "error"; status.textContent = data.detail || "Could not save the flow."; return; }
  status.className = "";
  const link = document.createElement("a"); link.href = data.share_url; link.textContent = `${location.origin}${data.share_url}`; link.id = "share-link";
  status.append(`Saved "${data.title}". Share this link to start an interview with it: `, link);
}

async function dryRun() {
  const out = $("dry-run-result"); out.replaceChildren(text("p", "Running scripted candidates through your flow…"));
  const res = await fetch("/api/flows/dry-run", { method: "POST", body: $("yaml").value, headers: { "content-type": "text/plain" } });
  const data = await res.json().catch(() => ({}));
  out.replaceChildren();
  if (!res.ok) { out.append(text("p", data.detail || "The dry run failed.", "error")); return; }
  out.append(text("h2", "Dry run"));
  out.append(text("p", `${data.cases} scripted candidates, ${data.violations} problem(s).`, data.violations ? "error" : "ok"));
  const scores = Object.values(data.scores)[0] || {};
  const ul = document.createElement("ul");
  for (const [persona, score] of Object.entries(scores)) ul.append(text("li", `${persona}: ${score === null ? "no report" : Math.round(score)}`));
  out.append(ul);
  for (const f of data.failures) out.append(text("p", `${f.case} · ${f.invariant}: ${f.line}`, "error"));
}

$("yaml").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(check, 400); });
$("base").addEventListener("change", loadBase);
$("save").addEventListener("click", save);
$("dry-run").addEventListener("click", dryRun);
loadBases();
