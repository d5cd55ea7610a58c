// The confidence coach chat: typed or spoken questions, replies with their sources and links to
// the candidate's own reports, STAR rewrites, one-question drills, read-aloud and "delete my data".
// Text from the server is only ever set as text (textContent), never parsed as HTML.
const $ = (id) => document.getElementById(id);
const el = {
  log: $("chat-log"), region: $("chat-region"), empty: $("chat-empty"), status: $("chat-status"), form: $("chat-form"),
  input: $("chat-input"), send: $("chat-send"), mic: $("chat-mic"), readAloud: $("read-aloud"),
  error: $("chat-error"), del: $("delete-data"), delStatus: $("delete-status"),
};
const MAX_SPEAK_CHARS = 3000;
const MAX_RECORD_MS = 110_000; // the server takes spoken questions up to 120 s
const MIN_RECORD_MS = 700; // anything shorter cannot hold a question
const HOLD_MS = 450; // a press held longer than this is "hold to speak"; shorter ones toggle
const DELETED = { sessions: ["interview", "interviews"], turns: ["answer", "answers"],
  scores: ["score", "scores"], reports: ["report", "reports"], chat_messages: ["chat message", "chat messages"] };

let conversationId = null;
let busy = false;
let micState = "idle"; // idle → starting → recording → stopping → idle
let recorder = null, stream = null, chunks = [], stopWanted = false, limitTimer = null;
let pressedAt = 0, pressStarted = false;

function node(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined && text !== null) n.textContent = text;
  if (cls) n.className = cls;
  return n;
}

const paragraphs = (text) => String(text || "").split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean);
// Only same-site paths become links (never javascript: or another site).
const safePath = (href) => (typeof href === "string" && href.startsWith("/") && !href.startsWith("//") ? href : null);

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  let res;
  try { res = await fetch(path, options); } catch { throw new ApiError("The coach could not be reached. Check that the app is still running.", 0); }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    let msg = data && (data.detail ?? data.error);
    if (Array.isArray(msg)) msg = msg.map((d) => d.msg || String(d)).join("; ");
    throw new ApiError(typeof msg === "string" && msg ? msg : `The request failed (${res.status}).`, res.status);
  }
  return data;
}

const json = (body) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

function setBusy(on) {
  busy = on;
  // aria-disabled rather than disabled, so a focused button keeps the keyboard focus
  el.region.setAttribute("aria-busy", String(on));
  for (const b of [el.send, el.mic, ...document.querySelectorAll("button.starter")]) {
    if (on) b.setAttribute("aria-disabled", "true"); else b.removeAttribute("aria-disabled");
  }
}

function showError(message) { el.error.textContent = message || ""; }

// A reply can take a while (the first question after the app starts loads the coach's notes).
function slowNotice() {
  const timer = setTimeout(() => {
    el.status.textContent = "Still working on it… the first question after the app starts takes longer while the coach loads its notes.";
  }, 5000);
  return () => clearTimeout(timer);
}

function adopt(cid) {
  if (!cid || cid === conversationId) return;
  conversationId = cid;
  const url = new URL(location.href);
  url.searchParams.set("c", cid);
  history.replaceState(null, "", url);
}

function forgetConversation() {
  conversationId = null;
  const url = new URL(location.href);
  url.searchParams.delete("c");
  history.replaceState(null, "", url);
}

function append(li) {
  el.empty.hidden = true;
  el.log.append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

function candidateMessage(text, spoken = false) {
  const li = node("li", null, "msg candidate");
  li.append(node("p", spoken ? "You (spoken)" : "You", "who"));
  for (const p of paragraphs(text)) li.append(node("p", p));
  return append(li);
}

function coachMessage(reply) {
  const li = node("li", null, `msg coach kind-${reply.kind || "advice"}`);
  li.dataset.kind = reply.kind || "";
  li.append(node("p", "Coach", "who"));
  let paras = paragraphs(reply.text);
  const rw = reply.rewrite;
  if (rw && rw.text) {
    // The reply text repeats the rewritten answer; show it once, quoted, after the introduction.
    const quoted = rw.text.trim();
    paras = paras.filter((p) => p !== quoted);
    li.append(node("p", paras.shift() || "Your answer, restructured:"));
    const quote = node("blockquote", null, "rewrite");
    quote.setAttribute("aria-label", "Your answer, rewritten in STAR form");
    for (const p of paragraphs(rw.text)) quote.append(node("p", p));
    li.append(quote);
  }
  // The candidate's own figures, as links to the report sections they come from. The offline
  // reply text repeats them in a paragraph of their own: that paragraph is replaced by the list
  // (its lead-in becomes the list's label); otherwise the list follows the text.
  const figures = (reply.figures || []).filter((f) => f && f.text);
  let figuresAt = -1, figuresLabel = "From your practice reports:";
  if (figures.length) {
    paras = paras.filter((p, i) => {
      let rest = p;
      for (const f of figures) rest = rest.replace(f.text, "");
      rest = rest.trim();
      if (figuresAt >= 0 || rest === p.trim() || rest.length > 60 || !rest.endsWith(":")) return true;
      figuresAt = i; figuresLabel = rest;
      return false;
    });
  }
  const figureList = () => {
    const ul = node("ul", null, "figures");
    ul.setAttribute("aria-label", figuresLabel.replace(/:$/, ""));
    for (const f of figures) {
      const item = node("li");
      const href = safePath(f.link);
      if (href) { const a = node("a", f.text); a.href = href; item.append(a); } else item.textContent = f.text;
      ul.append(item);
    }
    return [node("p", figuresLabel, "small label"), ul];
  };
  paras.forEach((p, i) => {
    if (i === figuresAt) li.append(...figureList());
    li.append(node("p", p));
  });
  if (figures.length && (figuresAt < 0 || figuresAt >= paras.length)) li.append(...figureList());
  if (reply.injection) li.append(node("p", "Your message contained instructions aimed at the coach; I ignored them.", "small muted"));
  if (reply.drill) li.append(drillBlock(reply.drill));
  const titles = (reply.citations || []).map((c) => c && c.title).filter(Boolean);
  if (titles.length) li.append(node("p", `${titles.length > 1 ? "Sources" : "Source"}: ${titles.join("; ")}`, "small sources"));
  return append(li);
}

function drillBlock(drill) {
  const box = node("div", null, "drill");
  const button = node("button", "Try this question again: start a one-question practice (practice only)");
  button.type = "button";
  const note = node("p", "Starting it means you agree this is self-practice coaching, not a hiring assessment.", "small");
  button.addEventListener("click", () => startDrill(drill, button));
  box.append(button, note);
  return box;
}

async function startDrill(drill, button) {
  if (button.getAttribute("aria-disabled") === "true") return;
  showError("");
  button.setAttribute("aria-disabled", "true");
  el.status.textContent = "Starting your one-question practice…";
  try {
    const data = await api("/api/drills", json({ flow_id: drill.flow_id, question_id: drill.question_id, consent: true }));
    const url = safePath(data.url);
    if (!url) throw new ApiError("The practice could not be opened.", 0);
    el.status.textContent = "Opening your practice…";
    location.assign(url);
  } catch (e) {
    el.status.textContent = "";
    showError(e.message);
    button.removeAttribute("aria-disabled");
  }
}

// ------------------------------------------------------------------ asking

async function ask(message) {
  const text = message.trim();
  if (busy) return;
  if (!text) { showError("Please type a question first."); el.input.focus(); return; }
  showError("");
  setBusy(true);
  const mine = candidateMessage(text);
  el.status.textContent = "The coach is thinking…";
  const done = slowNotice();
  try {
    const data = await api("/api/chat", json(conversationId ? { message: text, conversation_id: conversationId } : { message: text }));
    adopt(data.conversation_id);
    el.input.value = "";
    coachMessage(data.reply);
    el.status.textContent = "The coach replied.";
    readAloud(data.reply);
  } catch (e) {
    mine.remove(); // the question stays in the text box to send again
    if (!el.log.children.length) el.empty.hidden = false;
    el.status.textContent = "";
    showError(e.message);
  } finally {
    done();
    setBusy(false);
  }
}

el.form.addEventListener("submit", (e) => { e.preventDefault(); ask(el.input.value); });
el.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); el.form.requestSubmit(); }
});
for (const b of document.querySelectorAll("button.starter")) {
  b.addEventListener("click", () => { if (busy) return; el.input.value = b.textContent; ask(b.textContent); });
}

// ------------------------------------------------------------------ read aloud

// Long replies are read a few sentences at a time: the first part plays while the next one is
// being synthesised, so the voice starts within a second or two.
const SPEAK_CHUNK = 300;
let player = null;
let reading = 0; // bumped to cancel whatever is being read

function stopReading() {
  reading += 1;
  if (player) { player.pause(); player = null; }
}

function speechChunks(text) {
  const out = [];
  for (const para of paragraphs(text)) {
    const sentences = para.split(/(?<=[.!?]["”’)\]]*)\s+/);
    let cur = "";
    for (const sentence of sentences) {
      if (cur && cur.length + sentence.length > SPEAK_CHUNK) { out.push(cur.trim()); cur = ""; }
      cur += `${sentence} `;
    }
    if (cur.trim()) out.push(cur.trim());
  }
  return out.map((c) => c.slice(0, MAX_SPEAK_CHARS));
}

async function synthesise(text) {
  const res = await fetch("/api/chat/speak", json({ text }));
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    throw new Error((data && (data.detail || data.error)) || `error ${res.status}`);
  }
  return res.blob();
}

function play(blob) {
  // Resolves when the clip ends, fails or is stopped.
  return new Promise((resolve) => {
    const url = URL.createObjectURL(blob);
    const audio = new Audio(url);
    const done = () => { URL.revokeObjectURL(url); resolve(); };
    for (const ev of ["ended", "pause", "error"]) audio.addEventListener(ev, done);
    player = audio;
    audio.play().catch(done);
  });
}

async function readAloud(reply) {
  if (!el.readAloud.checked) return;
  stopReading();
  const mine = reading;
  const chunks = speechChunks(reply.text);
  let next = chunks.length ? synthesise(chunks[0]) : null;
  for (let i = 0; next; i++) {
    let blob;
    try { blob = await next; } catch (e) {
      if (mine === reading) el.status.textContent = `The answer could not be read aloud (${e.message}).`;
      return;
    }
    if (mine !== reading || !el.readAloud.checked) return;
    next = i + 1 < chunks.length ? synthesise(chunks[i + 1]) : null;
    if (next) next.catch(() => {}); // reported when its turn comes
    el.status.textContent = "Reading the answer aloud…";
    await play(blob);
    if (mine !== reading) return;
  }
  player = null;
  if (el.status.textContent.startsWith("Reading")) el.status.textContent = "Finished reading the answer aloud.";
}

el.readAloud.addEventListener("change", () => { if (!el.readAloud.checked) stopReading(); });

// ------------------------------------------------------------------ speaking a question


function micButton(recording) {
  el.mic.setAttribute("aria-pressed", String(recording));
  el.mic.textContent = recording ? "Stop and send" : "Speak a question";
}

function releaseMic() {
  if (stream) for (const t of stream.getTracks()) t.stop();
  stream = null; recorder = null; clearTimeout(limitTimer);
}

async function startRecording() {
  if (micState !== "idle" || busy) return;
  showError("");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
    showError("This browser cannot record audio here. Please type your question instead.");
    return;
  }
  stopReading(); // the microphone should not hear the coach
  micState = "starting"; stopWanted = false; micButton(true);
  el.status.textContent = "Waiting for the microphone…";
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
  } catch {
    micState = "idle"; micButton(false); releaseMic();
    el.status.textContent = "";
    showError("Microphone access was refused or no microphone was found. You can type your question instead.");
    return;
  }
  const type = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"].find((t) => MediaRecorder.isTypeSupported(t));
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  chunks = [];
  recorder.addEventListener("dataavailable", (e) => { if (e.data && e.data.size) chunks.push(e.data); });
  let startedAt = 0;
  recorder.addEventListener("stop", () => {
    const blob = new Blob(chunks, { type: (recorder && recorder.mimeType) || type || "audio/webm" });
    releaseMic();
    micState = "idle"; micButton(false);
    if (performance.now() - startedAt < MIN_RECORD_MS) {
      el.status.textContent = "";
      showError("That recording was too short. Hold the button while you speak, or press it once, speak, and press it again.");
      return;
    }
    sendVoice(blob);
  });
  recorder.start();
  startedAt = performance.now();
  micState = "recording";
  el.status.textContent = "Recording… speak your question, then press the button again (or let go) to send.";
  limitTimer = setTimeout(stopRecording, MAX_RECORD_MS);
  if (stopWanted) stopRecording();
}

function stopRecording() {
  if (micState === "starting") { stopWanted = true; return; }
  if (micState !== "recording") return;
  micState = "stopping";
  el.status.textContent = "Sending your question…";
  recorder.stop();
}

async function sendVoice(blob) {
  if (!blob.size) { el.status.textContent = ""; showError("Nothing was recorded. Please try again."); return; }
  setBusy(true);
  el.status.textContent = "Listening to your question…";
  const done = slowNotice();
  const q = conversationId ? `?conversation_id=${encodeURIComponent(conversationId)}` : "";
  try {
    const data = await api(`/api/chat/voice${q}`, { method: "POST", headers: { "content-type": blob.type || "application/octet-stream" }, body: blob });
    candidateMessage(data.heard, true);
    adopt(data.conversation_id);
    coachMessage(data.reply);
    el.status.textContent = "The coach replied.";
    readAloud(data.reply);
  } catch (e) {
    el.status.textContent = "";
    showError(e.message);
  } finally {
    done();
    setBusy(false);
  }
}

// Mouse and touch: press and hold to speak, or a short press to start and another to send.
el.mic.addEventListener("pointerdown", (e) => {
  if (e.button !== 0 || busy) return;
  pressedAt = performance.now();
  pressStarted = micState === "idle";
  if (pressStarted) startRecording(); else stopRecording();
});
const release = () => {
  if (pressStarted && performance.now() - pressedAt >= HOLD_MS) stopRecording();
  pressStarted = false;
};
el.mic.addEventListener("pointerup", release);
el.mic.addEventListener("pointercancel", release);
el.mic.addEventListener("contextmenu", (e) => e.preventDefault()); // long-press on phones
// Keyboard (Enter or Space) activates with a click of detail 0: a plain toggle.
el.mic.addEventListener("click", (e) => {
  if (e.detail !== 0) return;
  if (micState === "idle") startRecording(); else stopRecording();
});

// ------------------------------------------------------------------ your data

function describeDeleted(deleted) {
  const parts = [];
  for (const [key, count] of Object.entries(deleted || {})) {
    if (!count) continue;
    const [one, many] = DELETED[key] || [key.replace(/_/g, " "), key.replace(/_/g, " ")];
    parts.push(`${count} ${count === 1 ? one : many}`);
  }
  if (!parts.length) return "There was nothing stored to delete.";
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}` : parts[0];
  return `Deleted ${list}. Nothing about you is stored on this machine now.`;
}

el.del.addEventListener("click", async () => {
  if (el.del.getAttribute("aria-disabled") === "true") return;
  if (!confirm("Delete every practice interview, report, score and coach conversation stored on this machine? This cannot be undone.")) {
    el.delStatus.textContent = "Nothing was deleted.";
    return;
  }
  el.del.setAttribute("aria-disabled", "true");
  el.delStatus.textContent = "Deleting…";
  try {
    const data = await api("/api/my-data", { method: "DELETE" });
    stopReading();
    el.log.replaceChildren();
    el.empty.hidden = false;
    el.status.textContent = "";
    forgetConversation();
    el.delStatus.textContent = describeDeleted(data.deleted);
  } catch (e) {
    el.delStatus.textContent = `Your data could not be deleted: ${e.message}`;
  } finally {
    el.del.removeAttribute("aria-disabled");
  }
});

// ------------------------------------------------------------------ an earlier conversation

async function load() {
  const cid = new URLSearchParams(location.search).get("c");
  if (!cid) return;
  el.status.textContent = "Loading your conversation…";
  try {
    const data = await api(`/api/chat/${encodeURIComponent(cid)}`);
    conversationId = data.conversation_id;
    for (const m of data.messages) {
      if (m.role === "candidate") candidateMessage(m.text);
      else coachMessage(m);
    }
    el.status.textContent = `Showing your earlier conversation (${data.messages.length} messages).`;
  } catch (e) {
    forgetConversation();
    el.status.textContent = e.status === 404
      ? "That conversation was not found: it may have been deleted. You can start a new one below."
      : `Your conversation could not be loaded (${e.message}).`;
  }
}
load();
