// The candidate page: set-up form, then a live spoken interview over the local WebSocket, or in a
// LiveKit room when the server is configured for one (livekit-client from npm, served locally).
const MIC_RATE = 16000;

class InterviewClient {
  constructor() { this.setupDOM(); this.setupEventListeners(); this.loadFlows(); }

  setupDOM() {
    const $ = (id) => document.getElementById(id);
    this.el = { form: $("setup-form"), setup: $("setup"), room: $("room"), done: $("done"),
      status: $("status"), captions: $("captions"), transcript: $("transcript"),
      end: $("end"), error: $("setup-error"), flow: $("flow"), report: $("report-link"),
      indicators: $("indicators") };
    this.live = {};
  }

  setupEventListeners() {
    this.el.form.addEventListener("submit", (e) => { e.preventDefault(); this.start(); });
    for (const input of document.querySelectorAll("input[type=file][data-target]")) {
      input.addEventListener("change", () => this.upload(input));
    }
    this.el.end.addEventListener("click", () => this.send({ type: "end" }));
    document.getElementById("mic-check").addEventListener("click", () => this.micCheck());
    document.getElementById("echo-check").addEventListener("click", () => this.echoCheck());
    this.muted = false; this.paused = false;
    const mute = document.getElementById("mute"), pause = document.getElementById("pause");
    mute.addEventListener("click", () => {
      this.muted = !this.muted; mute.setAttribute("aria-pressed", String(this.muted));
      if (this.room) this.room.localParticipant.setMicrophoneEnabled(!this.muted && !this.paused);
      mute.textContent = this.muted ? "Unmute microphone" : "Mute microphone";
    });
    pause.addEventListener("click", () => {
      // A break: the microphone is off and the interviewer waits without prompting.
      this.paused = !this.paused; pause.setAttribute("aria-pressed", String(this.paused));
      pause.textContent = this.paused ? "Resume" : "Take a break";
      this.send({ type: this.paused ? "pause" : "resume" });
      if (this.room) this.room.localParticipant.setMicrophoneEnabled(!this.muted && !this.paused);
      this.el.status.textContent = this.paused ? "Paused. Take your time; press Resume when you're ready." : "Listening: take your time.";
    });
  }

  async openCheck(echoCancellation) {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation, noiseSuppression: echoCancellation, autoGainControl: false } });
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser(); analyser.fftSize = 2048;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const close = () => { for (const t of stream.getTracks()) t.stop(); ctx.close(); };
    return { ctx, analyser, close };
  }

  async micCheck() {
    // Five seconds of level metering; "heard" when speech-like levels show up.
    const status = document.getElementById("check-status"), meter = document.getElementById("mic-level");
    let check;
    try { check = await this.openCheck(true); } catch (e) { status.textContent = "Microphone access was refused or no microphone was found."; return; }
    status.textContent = "Say a few words…";
    const buf = new Float32Array(check.analyser.fftSize);
    let loud = 0;
    const until = performance.now() + 5000;
    while (performance.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      check.analyser.getFloatTimeDomainData(buf);
      const rms = Math.sqrt(buf.reduce((a, x) => a + x * x, 0) / buf.length);
      meter.value = Math.min(1, rms * 8);
      if (rms > 0.02) loud += 1;
    }
    check.close(); meter.value = 0;
    status.textContent = loud >= 3 ? "We can hear you. Your microphone works." : "We could not hear you: check that the right microphone is selected and not muted.";
  }

  async echoCheck() {
    // Play a 1 kHz tone without echo cancellation and see whether the microphone picks it up.
    const status = document.getElementById("check-status");
    let check;
    try { check = await this.openCheck(false); } catch (e) { status.textContent = "Microphone access was refused or no microphone was found."; return; }
    const bin = Math.round(1000 / (check.ctx.sampleRate / check.analyser.fftSize));
    const spectrum = new Float32Array(check.analyser.frequencyBinCount);
    // dB of the tone's bin over its neighbours; digital silence reads -Infinity, so floor it.
    const db = (x) => (Number.isFinite(x) ? Math.max(-140, x) : -140);
    const level = () => { check.analyser.getFloatFrequencyData(spectrum); return db(spectrum[bin]) - (db(spectrum[bin + 12]) + db(spectrum[bin - 12])) / 2; };
    status.textContent = "Playing a short tone…";
    await new Promise((r) => setTimeout(r, 300));
    const before = level();
    const osc = check.ctx.createOscillator(), gain = check.ctx.createGain();
    osc.frequency.value = 1000; gain.gain.value = 0.2; osc.connect(gain).connect(check.ctx.destination); osc.start();
    const during = [];
    for (let i = 0; i < 8; i++) { await new Promise((r) => setTimeout(r, 100)); during.push(level()); }
    osc.stop(); check.close();
    const peak = Math.max(...during);
    status.textContent = peak - before > 20
      ? "Your microphone picks up your speakers. Headphones are recommended so the interviewer does not hear itself."
      : "No echo detected. You're good to go (headphones still help in noisy rooms).";
  }

  async upload(input) {
    // The file is read on the server in memory and only its text comes back into the form.
    const status = document.getElementById("upload-status");
    const file = input.files && input.files[0];
    if (!file) return;
    status.className = "small"; status.textContent = `Reading ${file.name}…`;
    try {
      const res = await fetch(`/api/documents?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file,
        headers: { "content-type": "application/octet-stream" } });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.detail || data.error || `Could not read ${file.name}.`);
      document.getElementById(input.dataset.target).value = data.text;
      status.textContent = `Read ${data.words} words from ${data.name}. You can edit the text before starting.`;
    } catch (e) {
      status.className = "small error"; status.textContent = e.message; input.value = "";
    }
  }

  async loadFlows() {
    try {
      const flows = await (await fetch("/api/flows")).json();
      for (const f of flows) {
        const o = document.createElement("option"); o.value = f.id;
        o.textContent = `${f.title} (${f.minutes} min)${f.source === "coach" ? " · coach flow" : ""}`;
        this.el.flow.append(o);
      }
      // A coach's share link (/?flow=id) preselects their flow.
      const shared = new URLSearchParams(location.search).get("flow");
      if (shared && flows.some((f) => f.id === shared)) this.el.flow.value = shared;
    } catch (e) { /* the default option still works */ }
  }

  async start() {
    this.el.error.textContent = "";
    const v = (id) => document.getElementById(id).value;
    const body = { role: v("role"), flow: v("flow") || null, seniority: v("seniority"), skills: v("skills"),
      name: v("name"), resume_text: v("resume"), jd_text: v("jd"), consent: document.getElementById("consent").checked,
      camera: document.getElementById("camera").checked, score_face: document.getElementById("score-face").checked,
      stutter_aware: document.getElementById("stutter").checked, non_native_pace: document.getElementById("non-native").checked,
      record_audio: document.getElementById("record-audio").checked };
    const res = await fetch("/api/interviews", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json();
    if (!res.ok) { this.el.error.textContent = data.detail || data.error || "Could not start the interview."; return; }
    this.sessionId = data.session_id;
    this.cameraOn = Boolean(data.camera);
    this.transport = data.transport;
    history.replaceState(null, "", `/?session=${this.sessionId}`);
    await this.connect();
  }

  async connect() {
    this.el.setup.hidden = true; this.el.room.hidden = false;
    document.getElementById("room-h").focus(); // keyboard and screen-reader users land in the room
    if (this.transport === "livekit") {
      try { await this.connectLiveKit(); return; } catch (e) {
        // The room could not be joined: nothing is lost, the same interview continues here.
        if (this.room) { this.room.disconnect(); this.room = null; }
        document.getElementById("notice").textContent = `Could not join the LiveKit room (${e.message || e}). Continuing on this computer instead.`;
      }
    }
    await this.connectLocal();
  }

  async connectLiveKit() {
    this.el.status.textContent = "Joining the interview room…";
    const res = await fetch(`/api/interviews/${encodeURIComponent(this.sessionId)}/livekit-token`, { method: "POST" });
    const grant = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(grant.detail || grant.error || "no room token");
    const LK = await import("/static/vendor/livekit-client.mjs");
    const room = new LK.Room({ audioCaptureDefaults: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    this.room = room;
    room.on(LK.RoomEvent.DataReceived, (payload, _who, _kind, topic) => {
      if (topic === "interview") { try { this.onEvent(JSON.parse(new TextDecoder().decode(payload))); } catch (e) { /* not ours */ } }
    });
    room.on(LK.RoomEvent.TrackSubscribed, (track) => {
      if (track.kind === "audio") { const el = track.attach(); el.hidden = true; document.body.append(el); }
    });
    room.on(LK.RoomEvent.Reconnecting, () => { this.el.status.textContent = "Connection lost. Reconnecting… your interview is paused."; });
    room.on(LK.RoomEvent.Reconnected, () => { document.getElementById("notice").textContent = "Reconnected: continuing where you left off."; });
    room.on(LK.RoomEvent.Disconnected, () => { if (!this.finished) this.el.status.textContent = "Left the interview room. Reload the page to continue the same interview."; });
    await room.connect(grant.url, grant.token);
    await room.localParticipant.setMicrophoneEnabled(true);
    // Camera only with opt-in; the room token cannot publish video otherwise.
    if (this.cameraOn) await room.localParticipant.setCameraEnabled(true).catch(() => { this.el.indicators.textContent = "Camera unavailable: continuing with voice only."; });
    this.el.status.textContent = "Connected. The interviewer will start speaking.";
    this.startClock();
  }

  async connectLocal() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 } });
    } catch (e) { this.el.status.textContent = "Microphone access is needed for a spoken interview."; return; }
    this.ctx = new AudioContext({ sampleRate: MIC_RATE });
    await this.ctx.audioWorklet.addModule("/static/mic-worklet.js");
    const src = this.ctx.createMediaStreamSource(this.stream);
    this.mic = new AudioWorkletNode(this.ctx, "mic-capture");
    src.connect(this.mic);
    this.playCtx = new AudioContext();
    this.playAt = 0; this.sources = new Set();
    this.openSocket();
    if (this.cameraOn) this.startCamera();
  }

  async startCamera() {
    // Only after the candidate opted in: frames go to the local server, are analysed in memory
    // and discarded. A failure here leaves the interview voice-only.
    try {
      this.cam = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, frameRate: 15 } });
    } catch (e) { this.el.indicators.textContent = "Camera unavailable: continuing with voice only."; return; }
    const video = document.getElementById("self-view");
    video.srcObject = this.cam; video.hidden = false; await video.play().catch(() => {});
    const canvas = document.createElement("canvas"); canvas.width = 640; canvas.height = 480;
    const g = canvas.getContext("2d");
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const open = () => {
      this.vws = new WebSocket(`${proto}://${location.host}/ws/interviews/${this.sessionId}/video`);
      this.vws.onclose = () => { if (!this.finished && this.cam) setTimeout(open, 1000); };
    };
    open();
    let busy = false;
    this.camTimer = setInterval(() => {
      if (busy || !this.vws || this.vws.readyState !== 1 || video.readyState < 2) return;
      busy = true;
      g.drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((b) => { busy = false; if (b && this.vws.readyState === 1) this.vws.send(b); }, "image/jpeg", 0.7);
    }, 125);
  }

  stopCamera() {
    clearInterval(this.camTimer);
    if (this.cam) { for (const t of this.cam.getTracks()) t.stop(); this.cam = null; }
    if (this.vws) { this.vws.onclose = null; this.vws.close(); }
  }

  openSocket() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    this.ws = new WebSocket(`${proto}://${location.host}/ws/interviews/${this.sessionId}`);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => { this.el.status.textContent = "Connected. The interviewer will start speaking."; this.retries = 0; };
    this.mic.port.onmessage = (e) => { if (this.ws && this.ws.readyState === 1 && !this.muted && !this.paused) this.ws.send(e.data); };
    this.ws.onmessage = (e) => (typeof e.data === "string" ? this.onEvent(JSON.parse(e.data)) : this.play(e.data));
    this.ws.onclose = (ev) => {
      if (this.finished) return;
      // 4409 open elsewhere, 4404 unknown, 1013 server at capacity: the error event says why;
      // reconnecting would only hide that message.
      if (ev.code === 4409 || ev.code === 4404 || ev.code === 1013) { this.stopCamera(); return; }
      this.el.status.textContent = "Connection lost. Reconnecting… your interview is paused.";
      this.retries = (this.retries || 0) + 1;
      setTimeout(() => this.openSocket(), Math.min(5000, 500 * this.retries));
    };
  }

  send(msg) {
    if (this.room) { this.room.localParticipant.publishData(new TextEncoder().encode(JSON.stringify(msg)), { reliable: true, topic: "control" }); return; }
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }

  play(buf) {
    const pcm = new Int16Array(buf);
    const audio = this.playCtx.createBuffer(1, pcm.length, this.speakerRate || 24000);
    const ch = audio.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) ch[i] = pcm[i] / 32768;
    const node = this.playCtx.createBufferSource();
    node.buffer = audio; node.connect(this.playCtx.destination);
    const t = Math.max(this.playCtx.currentTime + 0.03, this.playAt);
    node.start(t); this.playAt = t + audio.duration;
    this.sources.add(node); node.onended = () => this.sources.delete(node);
  }

  stopPlayback() { for (const s of this.sources) { try { s.stop(); } catch (e) {} } this.sources.clear(); this.playAt = 0; }

  showHearing(text, final) {
    // The candidate's words as they are recognised; replaced by the final line when the turn ends.
    if (!this.hearing) { this.hearing = document.createElement("li"); this.hearing.className = "you hearing"; }
    if (!text) { this.hearing.remove(); this.heard = ""; return; }
    const shown = this.heard ? `${this.heard} ${text}` : text;
    if (final) this.heard = shown;
    this.hearing.textContent = `You (speaking): ${shown}`;
    if (!this.hearing.isConnected) this.el.transcript.append(this.hearing);
    this.hearing.scrollIntoView({ block: "nearest" });
  }

  addLine(who, text) {
    const li = document.createElement("li"); li.className = who; li.textContent = `${who === "you" ? "You" : "Interviewer"}: ${text}`;
    this.el.transcript.append(li); li.scrollIntoView({ block: "nearest" });
  }

  onEvent(ev) {
    switch (ev.type) {
      case "hello": this.startClock(); this.speakerRate = ev.speaker_rate; document.getElementById("recording-note").hidden = !ev.recording; if (ev.resumed) document.getElementById("notice").textContent = "Reconnected: continuing where you left off."; break;
      case "agent_said": this.el.captions.textContent = ev.text; this.addLine("interviewer", ev.text); break;
      case "hearing": this.showHearing(ev.text, ev.final); break;
      case "user_said": this.showHearing(null); if (ev.text) this.addLine("you", ev.text); break;
      case "agent_state": this.el.status.textContent = { speaking: "Interviewer is speaking…", listening: "Listening: take your time.", thinking: "Thinking…" }[ev.state] || this.el.status.textContent; break;
      case "clear": this.stopPlayback(); break;
      case "question": if (ev.of) document.getElementById("progress").textContent = `Question ${ev.number} of ${ev.of}${ev.kind === "follow_up" ? " (follow-up)" : ""}`; break;
      case "report_ready": this.finish(ev.url); break;
      case "delivery": this.showDelivery(ev); break;
      case "presence": this.showPresence(ev); break;
      case "perception": if (ev.status === "failed" || ev.status === "behind") this.el.indicators.textContent = ev.status === "failed" ? "Camera analysis stopped: continuing with voice only." : "Camera analysis is running behind; voice is unaffected."; break;
      case "finished": if (!ev.overall_score && ev.overall_score !== 0) this.finish(`/interviews/${this.sessionId}/report`); break;
      case "error": this.el.status.textContent = ev.message; break;
    }
  }

  showDelivery(ev) {
    if (typeof ev.wpm === "number") this.live.pace = `${Math.round(ev.wpm)} words/min${ev.pace && ev.pace !== "ok" ? ` (${ev.pace})` : ""}`;
    if (typeof ev.fillers_per_min === "number") this.live.fillers = `${ev.fillers_per_min.toFixed(1)} fillers/min`;
    this.renderIndicators();
  }

  showPresence(ev) {
    this.live.eyes = ev.face === "no_face" ? "no face in view" : ev.face === "several_faces" ? "several faces in view"
      : ev.face === "too_dark" ? "too dark to see you" : ev.calibrating ? "calibrating eye contact" : ev.eye_contact ? "eye contact" : "looking away";
    this.renderIndicators();
  }

  renderIndicators() {
    this.el.indicators.textContent = ["pace", "fillers", "eyes"].map((k) => this.live[k]).filter(Boolean).join(" · ");
  }

  startClock() {
    // Elapsed time survives a reload of the same interview (kept in this tab's session storage).
    const key = `started-${this.sessionId}`;
    const started = Number(sessionStorage.getItem(key)) || Date.now();
    sessionStorage.setItem(key, String(started));
    clearInterval(this.clock);
    const show = () => { const s = Math.floor((Date.now() - started) / 1000); document.getElementById("elapsed").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
    show(); this.clock = setInterval(show, 1000);
  }

  finish(url) {
    clearInterval(this.clock);
    this.finished = true;
    this.stopCamera();
    if (this.room) { const room = this.room; this.room = null; setTimeout(() => room.disconnect(), 3000); }
    this.el.report.href = url; this.el.done.hidden = false;
    document.getElementById("done-h").focus();
    this.el.status.textContent = "The interview is over. Your report is ready.";
  }
}

const client = new InterviewClient();
const resume = new URLSearchParams(location.search).get("session");
if (resume) {
  client.sessionId = resume;
  // Reopening an interview: camera analysis resumes only if the candidate opted in at the start.
  fetch(`/api/interviews/${encodeURIComponent(resume)}`).then((r) => (r.ok ? r.json() : {}))
    .catch(() => ({})).then((s) => { client.cameraOn = Boolean(s.camera); client.transport = s.transport; client.connect(); });
}
window.interviewClient = client;
