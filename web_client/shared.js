// Coaches: the candidates who share their reports, each with their finished interviews.
const status = document.getElementById("shared-status");
const list = document.getElementById("shared-list");

async function load() {
  const res = await fetch("/api/shared");
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { status.textContent = body.detail || "Could not load shared reports."; return; }
  if (!body.candidates.length) { status.textContent = "No candidate shares their reports with you yet."; return; }
  status.textContent = "";
  for (const c of body.candidates) {
    const section = document.createElement("section");
    const h = document.createElement("h2"); h.textContent = c.candidate; section.append(h);
    if (!c.interviews.length) {
      const p = document.createElement("p"); p.textContent = "No finished interviews yet."; section.append(p);
    }
    const ul = document.createElement("ul");
    for (const i of c.interviews) {
      const li = document.createElement("li");
      const a = document.createElement("a"); a.href = i.url;
      a.textContent = `${i.date.replace("T", " ")} · ${i.role || "interview"}${i.overall == null ? "" : ` · ${Math.round(i.overall)}/100`}`;
      li.append(a); ul.append(li);
    }
    section.append(ul); list.append(section);
  }
}
load();
