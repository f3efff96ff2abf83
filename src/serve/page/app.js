// The live page of `fer-rt serve`: a server-side source (annotated MJPEG plus its results
// WebSocket) or the browser's own camera sent frame by frame to /v1/session. Plain JS, no
// library, no network fetch beyond this server. Colours match the server's overlay.
"use strict";

const PALETTE = [[0, 200, 255], [255, 170, 0], [120, 255, 80], [255, 80, 160], [180, 120, 255], [255, 255, 80]];
const CLASS_COLOURS = {
  neutral: "#9aa0a6", happy: "#f6c343", happiness: "#f6c343", sad: "#4a78d0", sadness: "#4a78d0",
  surprise: "#e37cf0", fear: "#8e5bd6", disgust: "#5fae57", anger: "#e0483e", angry: "#e0483e", contempt: "#b07b4f",
};
const STRIP_S = 30, TRAIL_S = 5, MAX_SEND_FPS = 30;

const params = new URLSearchParams(location.search);
const token = params.get("token");
const $ = (id) => document.getElementById(id);
const frameCanvas = $("frame"), ctx = frameCanvas.getContext("2d");
const video = $("camera");
const statusEl = $("status");

// what a test (or a curious user) can read from the console
const stats = (window.ferStats = { frames: 0, faces: 0, dropped: 0, errors: [], last: null, mode: null, paused: false });

// pause: the picture, its boxes and the panels stay on the last frame drawn
$("pause").onclick = () => {
  stats.paused = !stats.paused;
  $("pause").textContent = stats.paused ? "resume" : "pause";
  if (!stats.paused) resumeCurrent();
};
let resumeCurrent = () => {};

const trackColour = (id) => PALETTE[(id ?? 0) % PALETTE.length];
const rgb = (c, a = 1) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;
const classColour = (name, i) => CLASS_COLOURS[name] || `hsl(${(i * 47) % 360},60%,55%)`;

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}
function wsUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + withToken(path);
}
function setStatus(text, error = false) {
  statusEl.textContent = text;
  statusEl.className = error ? "error" : "";
  if (error) stats.errors.push(text);
}

// ---- per-track history: trajectories for the V/A plane, labels for the strip chart ----
const history = new Map(); // track id -> [{t, v, a, vs, as, label}]
let classes = [];
let fpsTimes = [];

function record(result, nowS) {
  if (result.filter !== undefined && classes.length === 0) {
    const f = result.faces.find((f) => f.expression);
    if (f) classes = Object.keys(f.expression);
  }
  for (const face of result.faces) {
    if (face.track_id == null) continue;
    const use = $("filtered").checked && face.filtered ? face.filtered : face;
    const h = history.get(face.track_id) || [];
    h.push({ t: nowS, v: use.valence, a: use.arousal, vs: use.valence_std, as: use.arousal_std, label: use.label });
    while (h.length && nowS - h[0].t > STRIP_S) h.shift();
    history.set(face.track_id, h);
  }
  for (const [id, h] of history) {
    while (h.length && nowS - h[0].t > STRIP_S) h.shift();
    if (!h.length) history.delete(id);
  }
}

// ---- drawing ----
function drawFaces(result, sx, sy) {
  const filtered = $("filtered").checked;
  ctx.lineWidth = 2;
  ctx.font = "13px system-ui, sans-serif";
  for (const face of result.faces) {
    const c = trackColour(face.track_id);
    const [x0, y0, x1, y1] = face.box;
    ctx.strokeStyle = rgb(c);
    ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    ctx.fillStyle = rgb(c);
    for (const [lx, ly] of face.landmarks) {
      ctx.beginPath();
      ctx.arc(lx * sx, ly * sy, 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    const use = filtered && face.filtered ? face.filtered : face;
    const p = filtered && face.filtered ? face.filtered.confidence : face.label_prob;
    const text = `#${face.track_id ?? "–"} ${use.label ?? "?"}${p != null ? " " + Math.round(p * 100) + "%" : ""}`;
    const w = ctx.measureText(text).width + 8;
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(x0 * sx, y0 * sy - 18, w, 18);
    ctx.fillStyle = rgb(c);
    ctx.fillText(text, x0 * sx + 4, y0 * sy - 5);
  }
}

function drawBars(result) {
  const filtered = $("filtered").checked;
  const box = $("bars");
  box.textContent = "";
  for (const face of result.faces) {
    const probs = filtered && face.filtered ? face.filtered.expression : face.expression;
    if (!probs) continue;
    const div = document.createElement("div");
    div.className = "track";
    const name = document.createElement("div");
    name.className = "name";
    name.style.color = rgb(trackColour(face.track_id));
    name.textContent = `track ${face.track_id ?? "–"}`;
    div.appendChild(name);
    Object.entries(probs).forEach(([k, v], i) => {
      const row = document.createElement("div");
      row.className = "bar";
      const label = document.createElement("span");
      label.textContent = k;
      const bar = document.createElement("div");
      bar.style.width = `${Math.round(v * 200)}px`;
      bar.style.background = classColour(k, i);
      const pct = document.createElement("small");
      pct.textContent = `${Math.round(v * 100)}%`;
      row.append(label, bar, pct);
      div.appendChild(row);
    });
    box.appendChild(div);
  }
}

function drawVA(nowS) {
  const c = $("va"), g = c.getContext("2d");
  const W = c.width, H = c.height, r = W / 2 - 14;
  const px = (v) => W / 2 + v * r, py = (a) => H / 2 - a * r;
  g.clearRect(0, 0, W, H);
  g.strokeStyle = "#444";
  g.beginPath();
  g.arc(W / 2, H / 2, r, 0, 2 * Math.PI);
  g.moveTo(W / 2 - r, H / 2); g.lineTo(W / 2 + r, H / 2);
  g.moveTo(W / 2, H / 2 - r); g.lineTo(W / 2, H / 2 + r);
  g.stroke();
  g.fillStyle = "#889";
  g.font = "11px system-ui";
  g.fillText("valence +", W - 62, H / 2 - 4);
  g.fillText("arousal +", W / 2 + 4, 12);
  for (const [id, h] of history) {
    const pts = h.filter((p) => nowS - p.t <= TRAIL_S && p.v != null && p.a != null);
    if (!pts.length) continue;
    const col = trackColour(id);
    g.strokeStyle = rgb(col, 0.8);
    g.lineWidth = 1.5;
    g.beginPath();
    pts.forEach((p, i) => (i ? g.lineTo(px(p.v), py(p.a)) : g.moveTo(px(p.v), py(p.a))));
    g.stroke();
    const last = pts[pts.length - 1];
    // ±σ as an ellipse around the current estimate
    g.fillStyle = rgb(col, 0.18);
    g.beginPath();
    g.ellipse(px(last.v), py(last.a), Math.max(2, (last.vs || 0) * r), Math.max(2, (last.as || 0) * r), 0, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = rgb(col);
    g.beginPath();
    g.arc(px(last.v), py(last.a), 4, 0, 2 * Math.PI);
    g.fill();
  }
}

function drawStrip(nowS) {
  const c = $("strip"), g = c.getContext("2d");
  const W = c.width, H = c.height;
  g.clearRect(0, 0, W, H);
  const ids = [...history.keys()].sort((a, b) => a - b);
  if (!ids.length) return;
  const rowH = Math.min(24, H / ids.length);
  ids.forEach((id, row) => {
    const h = history.get(id);
    const y = row * rowH;
    for (let i = 0; i < h.length; i++) {
      const t0 = h[i].t, t1 = i + 1 < h.length ? h[i + 1].t : nowS;
      if (t1 - t0 > 1) continue; // a gap: the track was not seen
      const x0 = W * (1 - (nowS - t0) / STRIP_S), x1 = W * (1 - (nowS - t1) / STRIP_S);
      g.fillStyle = classColour(h[i].label, Math.max(0, classes.indexOf(h[i].label)));
      g.fillRect(Math.floor(x0), y + 2, Math.max(1, Math.ceil(x1 - x0) + 1), rowH - 4);
    }
    g.fillStyle = rgb(trackColour(id));
    g.fillRect(0, y + 2, 4, rowH - 4);
  });
  const legend = $("legend");
  if (classes.length && !legend.childElementCount) {
    classes.forEach((k, i) => {
      const s = document.createElement("span");
      const sw = document.createElement("i");
      sw.style.background = classColour(k, i);
      s.append(sw, k);
      legend.appendChild(s);
    });
  }
}

function showResult(result, latencyMs, dropped) {
  const nowS = performance.now() / 1000;
  stats.frames += 1;
  stats.faces += result.faces.length;
  stats.last = result;
  stats.dropped = dropped;
  fpsTimes.push(nowS);
  while (fpsTimes.length && nowS - fpsTimes[0] > 2) fpsTimes.shift();
  record(result, nowS);
  drawBars(result);
  drawVA(nowS);
  drawStrip(nowS);
  const fps = fpsTimes.length > 1 ? (fpsTimes.length - 1) / (fpsTimes[fpsTimes.length - 1] - fpsTimes[0]) : 0;
  $("stats").textContent =
    `fps ${fps.toFixed(1)} · latency ${latencyMs != null ? latencyMs.toFixed(0) : "–"} ms · dropped ${dropped} · faces ${result.faces.length}`;
}

// ---- modes ----
let stopCurrent = () => {};

async function startWebcam() {
  stats.mode = "webcam";
  frameCanvas.hidden = false;
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (e) {
    setStatus(`camera: ${e.message}`, true);
    return;
  }
  video.srcObject = media;
  await video.play();
  const grab = document.createElement("canvas");
  const ws = new WebSocket(wsUrl("/v1/session"));
  ws.binaryType = "arraybuffer";
  let inFlight = null, stopped = false, lastSend = 0;
  const t0 = performance.now();

  const sendNext = () => {
    if (stopped || stats.paused || inFlight || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
    const now = performance.now();
    if (now - lastSend < 1000 / MAX_SEND_FPS) {
      setTimeout(sendNext, 1000 / MAX_SEND_FPS - (now - lastSend));
      return;
    }
    lastSend = now;
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    inFlight = { sent: now };
    grab.toBlob((blob) => {
      if (stopped || ws.readyState !== WebSocket.OPEN) return;
      inFlight.frame = grab.getContext("2d").getImageData(0, 0, grab.width, grab.height);
      ws.send(JSON.stringify({ pts_ms: now - t0 }));
      ws.send(blob);
    }, "image/jpeg", 0.85);
  };
  ws.onopen = () => { setStatus("my webcam"); sendNext(); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    const frame = inFlight && inFlight.frame;
    const sent = inFlight && inFlight.sent;
    inFlight = null;
    if (stats.paused) return; // sent before the pause: not drawn, so the picture stays
    if (msg.error) {
      setStatus(`session: ${msg.error}`, true);
    } else {
      const r = msg.result;
      if (frame) {
        frameCanvas.width = frame.width;
        frameCanvas.height = frame.height;
        ctx.putImageData(frame, 0, 0);
      }
      drawFaces(r, 1, 1);
      showResult(r, sent != null ? performance.now() - sent : null, msg.dropped);
    }
    sendNext();
  };
  ws.onerror = () => setStatus("session: connection error", true);
  ws.onclose = (ev) => { if (!stopped) setStatus(`session closed${ev.reason ? ": " + ev.reason : ""}`, ev.code !== 1000); };
  resumeCurrent = sendNext;
  stopCurrent = () => {
    stopped = true;
    ws.close(1000);
    media.getTracks().forEach((t) => t.stop());
  };
}

function startSource(name) {
  stats.mode = name;
  const img = new Image();
  img.src = withToken(`/v1/streams/${encodeURIComponent(name)}/video`);
  const ws = new WebSocket(wsUrl(`/v1/streams/${encodeURIComponent(name)}/results`));
  let stopped = false, raf = 0;
  const paint = () => {
    if (stopped) return;
    if (img.naturalWidth && !stats.paused) {
      if (frameCanvas.width !== img.naturalWidth) {
        frameCanvas.width = img.naturalWidth;
        frameCanvas.height = img.naturalHeight;
      }
      ctx.drawImage(img, 0, 0); // the server drew the boxes and labels
    }
    raf = requestAnimationFrame(paint);
  };
  paint();
  ws.onopen = () => setStatus(`source ${name}`);
  ws.onmessage = (ev) => {
    if (stats.paused) return;
    const r = JSON.parse(ev.data);
    showResult(r, r.timings_ms ? r.timings_ms.latency : null, r.dropped_frames);
  };
  ws.onerror = () => setStatus(`source ${name}: connection error`, true);
  ws.onclose = (ev) => { if (!stopped) setStatus(`source ${name} ended${ev.reason ? ": " + ev.reason : ""}`); };
  stopCurrent = () => {
    stopped = true;
    cancelAnimationFrame(raf);
    ws.close(1000);
    img.src = "";
  };
}

function start(choice) {
  stopCurrent();
  history.clear();
  choice === "webcam" ? startWebcam() : startSource(choice);
}

async function init() {
  const select = $("source");
  try {
    const res = await fetch(withToken("/v1/streams"));
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    for (const s of (await res.json()).streams) {
      const o = document.createElement("option");
      o.value = s.name;
      o.textContent = `${s.name} (${s.state})`;
      select.appendChild(o);
    }
  } catch (e) {
    setStatus(`streams: ${e.message}`, true);
  }
  const wanted = params.get("source");
  if (wanted && [...select.options].some((o) => o.value === wanted)) select.value = wanted;
  else if (!wanted && select.options.length > 1) select.value = select.options[1].value;
  select.onchange = () => start(select.value);
  start(select.value);
}

window.addEventListener("error", (e) => stats.errors.push(String(e.message)));
init();
