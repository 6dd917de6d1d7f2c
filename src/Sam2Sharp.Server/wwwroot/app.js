// The annotator page: a thin client of the JSON API (docs/api.md).
"use strict";
const $ = (id) => document.getElementById(id);
const PALETTE = [[230,25,75],[60,180,75],[0,130,200],[255,225,25],[245,130,48],[145,30,180],[70,240,240],[240,50,230],
  [210,245,60],[250,190,212],[0,128,128],[220,190,255],[170,110,40],[128,0,0],[170,255,195],[128,128,0],[255,215,180],[0,0,128]];
const colour = (i) => i < PALETTE.length ? PALETTE[i] : hsv((i * 137.508) % 360);
function hsv(h) { const f = (n) => { const k = (n + h / 60) % 6; return Math.round(242 * (1 - 0.85 * Math.max(0, Math.min(k, 4 - k, 1)))); }; return [f(5), f(3), f(1)]; }

const state = {
  session: null, frame: 0, objects: [], selected: null, nextId: 1,
  masks: new Map(),      // frame -> Map(objId -> {rle, mask})
  prompts: new Map(),    // `${frame}:${objId}` -> [{points:[[x,y,label]...], box}] history, last = current
  propagating: false, frameImage: null,
};

function setStatus(text, error = false) { const s = $("status"); s.textContent = text; s.classList.toggle("error", error); }
function busy(on) { $("busy").hidden = !on; }

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
  const r = await fetch(path, opts);
  if (!r.ok) {
    let msg = `${r.status}`;
    try { msg = (await r.json()).error || msg; } catch { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

// ---- opening ----
async function openWith(body, label) {
  busy(true);
  setStatus(`Opening ${label} and computing the first embedding…`);
  try {
    if (state.session) await api("DELETE", `/api/sessions/${state.session.id}`).catch(() => {});
    const s = await (await api("POST", "/api/sessions", body)).json();
    Object.assign(state, { session: s, frame: 0, objects: [], selected: null, nextId: 1, masks: new Map(), prompts: new Map() });
    $("video-controls").hidden = s.kind !== "video";
    $("amg-panel").hidden = s.kind !== "image";
    $("export-video").hidden = s.kind !== "video";
    $("scrubber").max = s.frames - 1;
    $("scrubber").value = 0;
    addObject();
    await showFrame(0);
    await waitReady(s);
    setStatus(`${s.kind} ${s.width}×${s.height}${s.kind === "video" ? `, ${s.frames} frames` : ""}` +
      (s.source_width !== s.width ? ` (shrunk from ${s.source_width}×${s.source_height})` : "") + ". Click on an object.");
  } catch (e) { setStatus(e.message, true); }
  finally { busy(false); $("busy").removeAttribute("value"); }
}
// The session opens before its first embedding is done: show the encoder's progress until it is.
async function waitReady(s) {
  const what = s.kind === "video" ? "the first frame" : "the image";
  for (;;) {
    const st = await (await api("GET", `/api/sessions/${s.id}/status`)).json();
    if (st.error) throw new Error(st.error);
    if (st.ready) return;
    $("busy").value = st.progress;
    setStatus(`Computing the embedding of ${what}… ${Math.round(st.progress * 100)}%`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
$("file").onchange = (e) => { const f = e.target.files[0]; if (!f) return; const d = new FormData(); d.append("file", f); openWith(d, f.name); e.target.value = ""; };
$("folder").onchange = (e) => {
  const files = [...e.target.files].filter((f) => /\.(jpe?g|png)$/i.test(f.name));
  if (!files.length) { setStatus("no JPEG or PNG frames in that folder", true); return; }
  const d = new FormData(); files.forEach((f) => d.append("file", f, f.name)); openWith(d, `${files.length} frames`); e.target.value = "";
};
$("open-path").onclick = () => openWith({ path: $("path").value }, $("path").value);
fetch("/api/health").then((r) => r.json()).then((h) => { $("pathbox").hidden = !h.data; }).catch(() => {});

// ---- objects ----
function addObject() {
  const o = { id: state.nextId++, name: "", visible: true, index: state.objects.length };
  state.objects.push(o);
  state.selected = o.id;
  renderObjects();
  return o;
}
function objectFor(id) {
  let o = state.objects.find((x) => x.id === id);
  if (!o) { o = { id, name: "", visible: true, index: state.objects.length }; state.objects.push(o); state.nextId = Math.max(state.nextId, id + 1); }
  return o;
}
function renderObjects() {
  const ul = $("objects"); ul.innerHTML = "";
  for (const o of state.objects) {
    const li = document.createElement("li");
    li.className = o.id === state.selected ? "selected" : "";
    li.dataset.obj = o.id;
    const [r, g, b] = colour(o.index);
    li.innerHTML = `<span class="swatch" style="background:rgb(${r},${g},${b})"></span>
      <input type="checkbox" title="show" ${o.visible ? "checked" : ""}>
      <input type="text" placeholder="object ${o.id}" value="${o.name.replace(/"/g, "&quot;")}">
      <button title="remove">✕</button>`;
    li.onclick = (e) => { if (e.target.tagName === "LI" || e.target.classList.contains("swatch")) { state.selected = o.id; renderObjects(); } };
    const [show, name, del] = li.querySelectorAll("input[type=checkbox], input[type=text], button");
    show.onchange = () => { o.visible = show.checked; drawOverlay(); };
    name.onfocus = () => { state.selected = o.id; [...ul.children].forEach((c) => c.classList.toggle("selected", c.dataset.obj == o.id)); };
    name.onchange = () => { o.name = name.value; api("PUT", `/api/sessions/${state.session.id}/objects/${o.id}`, { name: o.name }).catch((e) => setStatus(e.message, true)); };
    del.onclick = () => removeObject(o);
    ul.appendChild(li);
  }
  drawTimelines();
}
$("add-object").onclick = () => addObject();
async function removeObject(o) {
  try {
    const hasState = [...state.masks.values()].some((m) => m.has(o.id)) || [...state.prompts.keys()].some((k) => k.endsWith(`:${o.id}`));
    if (hasState && state.session) {
      const r = await (await api("DELETE", `/api/sessions/${state.session.id}/objects/${o.id}`)).json();
      for (const m of state.masks.values()) m.delete(o.id);
      r.frames.forEach(applyFrame);
    }
    for (const k of [...state.prompts.keys()]) if (k.endsWith(`:${o.id}`)) state.prompts.delete(k);
    state.objects = state.objects.filter((x) => x !== o);
    if (state.selected === o.id) state.selected = state.objects.length ? state.objects[0].id : null;
    renderObjects(); drawOverlay();
  } catch (e) { setStatus(e.message, true); }
}

// ---- frames and masks ----
function applyFrame(f) {
  const m = new Map();
  for (const x of f.masks) { objectFor(x.obj_id); m.set(x.obj_id, { rle: x.rle, score: x.score, mask: null }); }
  state.masks.set(f.frame, m);
}
async function showFrame(i) {
  if (!state.session) return;
  state.frame = i;
  $("scrubber").value = i;
  $("frame-label").textContent = `frame ${i} / ${state.session.frames - 1}`;
  const img = new Image();
  img.src = `/api/sessions/${state.session.id}/frames/${i}`;
  await img.decode();
  if (state.frame !== i) return;
  const c = $("frame"), o = $("overlay");
  c.width = o.width = state.session.width; c.height = o.height = state.session.height;
  c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
  fitCanvas();
  drawOverlay();
  drawTimelines();
}
// Small frames are shown enlarged, large ones shrunk: the frame fills the stage's width or 72% of the window's height.
function fitCanvas() {
  if (!state.session) return;
  const w = state.session.width, h = state.session.height;
  const scale = Math.min($("stage").clientWidth / w, (window.innerHeight * 0.72) / h);
  for (const id of ["frame", "overlay"]) { $(id).style.width = `${Math.floor(w * scale)}px`; $(id).style.height = `${Math.floor(h * scale)}px`; }
}
window.addEventListener("resize", fitCanvas);
$("scrubber").oninput = (e) => showFrame(+e.target.value);
$("prev").onclick = () => state.frame > 0 && showFrame(state.frame - 1);
$("next").onclick = () => state.session && state.frame < state.session.frames - 1 && showFrame(state.frame + 1);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type === "text") return;
  if (e.key === "ArrowLeft") $("prev").click();
  if (e.key === "ArrowRight") $("next").click();
  if ((e.ctrlKey || e.metaKey) && e.key === "z") { e.preventDefault(); undo(); }
});
$("opacity").oninput = () => drawOverlay();

function drawOverlay(drag) {
  const cv = $("overlay"), ctx = cv.getContext("2d");
  const w = cv.width, h = cv.height;
  ctx.clearRect(0, 0, w, h);
  if (!state.session) return;
  const alpha = Math.round(255 * +$("opacity").value);
  const img = ctx.createImageData(w, h), px = img.data;
  const masks = state.masks.get(state.frame) || new Map();
  for (const o of state.objects) {
    const m = masks.get(o.id);
    if (!m || !o.visible) continue;
    if (!m.mask) m.mask = Rle.decode(m.rle);
    const [r, g, b] = colour(o.index), a = m.mask;
    for (let y = 0, i = 0; y < h; y++) for (let x = 0; x < w; x++, i++) {
      if (!a[i]) continue;
      const edge = (x > 0 && !a[i - 1]) || (x < w - 1 && !a[i + 1]) || (y > 0 && !a[i - w]) || (y < h - 1 && !a[i + w]);
      const p = 4 * i; px[p] = r; px[p + 1] = g; px[p + 2] = b; px[p + 3] = edge ? 255 : alpha;
    }
  }
  ctx.putImageData(img, 0, 0);
  // The current object's prompts on this frame.
  const cur = current();
  if (cur) {
    if (cur.box) { ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.strokeRect(cur.box[0], cur.box[1], cur.box[2] - cur.box[0], cur.box[3] - cur.box[1]); }
    for (const [x, y, l] of cur.points) {
      ctx.beginPath(); ctx.arc(x, y, Math.max(3, w / 150), 0, 7);
      ctx.fillStyle = l ? "#22c55e" : "#ef4444"; ctx.fill(); ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5; ctx.stroke();
    }
  }
  if (drag) { ctx.strokeStyle = "#ffd500"; ctx.setLineDash([6, 4]); ctx.strokeRect(drag[0], drag[1], drag[2] - drag[0], drag[3] - drag[1]); ctx.setLineDash([]); }
}

function drawTimelines() {
  const box = $("timelines");
  if (!state.session || state.session.kind !== "video") return;
  box.innerHTML = "";
  const n = state.session.frames;
  for (const o of state.objects) {
    const c = document.createElement("canvas");
    c.width = Math.max(n, 200); c.height = 12; c.title = o.name || `object ${o.id}`;
    const ctx = c.getContext("2d"), fw = c.width / n, [r, g, b] = colour(o.index);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    for (const [f, m] of state.masks) if (m.has(o.id)) ctx.fillRect(f * fw, 3, Math.max(fw, 1), 6);
    ctx.fillStyle = "#fff";
    for (const [k, hist] of state.prompts) { const [f, id] = k.split(":").map(Number); if (id === o.id && hist.length) ctx.fillRect(f * fw, 0, Math.max(fw, 2), 12); }
    ctx.fillStyle = "#ffd500"; ctx.fillRect(state.frame * fw, 0, Math.max(fw, 1), 2);
    c.onclick = (e) => showFrame(Math.min(n - 1, Math.floor((e.offsetX / c.clientWidth) * n)));
    box.appendChild(c);
  }
}

// ---- prompts ----
const key = () => `${state.frame}:${state.selected}`;
function current() { const h = state.prompts.get(key()); return h && h.length ? h[h.length - 1] : null; }
function toPixels(e) {
  const cv = $("overlay"), r = cv.getBoundingClientRect();
  return [Math.round(((e.clientX - r.left) / r.width) * cv.width), Math.round(((e.clientY - r.top) / r.height) * cv.height)];
}
let dragStart = null;
$("overlay").addEventListener("mousedown", (e) => { if (e.button === 0) dragStart = toPixels(e); });
$("overlay").addEventListener("mousemove", (e) => {
  if (!dragStart) return;
  const [x, y] = toPixels(e);
  if (Math.abs(x - dragStart[0]) + Math.abs(y - dragStart[1]) > 6) drawOverlay(box(dragStart, [x, y]));
});
$("overlay").addEventListener("mouseup", (e) => {
  if (!dragStart) return;
  const end = toPixels(e), start = dragStart; dragStart = null;
  if (Math.abs(end[0] - start[0]) + Math.abs(end[1] - start[1]) > 6) addPrompt({ box: box(start, end) });
  else addPrompt({ point: [end[0], end[1], e.shiftKey || e.altKey || document.querySelector("input[name=label]:checked").value === "0" ? 0 : 1] });
});
$("overlay").addEventListener("contextmenu", (e) => e.preventDefault());
const box = (a, b) => [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];

async function addPrompt({ point, box: b }) {
  if (!state.session || state.propagating) return;
  if (state.selected === null) addObject();
  const prev = current() || { points: [], box: null };
  // A box starts the object's prompts on this frame afresh (the model takes the box before any click).
  const next = b ? { points: [], box: b } : { points: [...prev.points, point], box: prev.box };
  const hist = state.prompts.get(key()) || [];
  hist.push(next); state.prompts.set(key(), hist);
  await send(next);
}
async function send(p) {
  const body = { frame: state.frame, obj_id: state.selected, clear_old_points: true };
  if (p.points.length) { body.points = p.points.map(([x, y]) => [x, y]); body.labels = p.points.map((q) => q[2]); }
  if (p.box) body.box = p.box;
  busy(true);
  try {
    const t0 = performance.now();
    const f = await (await api("POST", `/api/sessions/${state.session.id}/prompts`, body)).json();
    applyFrame(f);
    const mine = f.masks.find((m) => m.obj_id === state.selected);
    const score = mine && mine.score != null
      ? `, ${state.session.kind === "image" ? "predicted IoU" : "object present"} ${mine.score.toFixed(2)}` : "";
    setStatus(`mask in ${Math.round(performance.now() - t0)} ms${score}`);
  } catch (e) { setStatus(e.message, true); }
  finally { busy(false); drawOverlay(); renderObjects(); }
}
async function undo() {
  const hist = state.prompts.get(key());
  if (!hist || !hist.length) return;
  hist.pop();
  if (hist.length) await send(hist[hist.length - 1]);
  else await clearFrame();
}
async function clearFrame() {
  if (!state.session || state.selected === null) return;
  state.prompts.delete(key());
  try { applyFrame(await (await api("POST", `/api/sessions/${state.session.id}/clear`, { frame: state.frame, obj_id: state.selected })).json()); }
  catch (e) { setStatus(e.message, true); }
  drawOverlay(); renderObjects();
}
$("undo").onclick = undo;
$("clear").onclick = clearFrame;

// ---- propagation (server-sent events over a POST) ----
let propAbort = null;
$("propagate").onclick = async () => {
  if (!state.session || state.propagating) return;
  state.propagating = true; $("propagate").disabled = true; $("cancel").disabled = false;
  propAbort = new AbortController();
  $("prop-progress").value = 0; $("prop-label").textContent = "starting…";
  try {
    const r = await fetch(`/api/sessions/${state.session.id}/propagate`, {
      method: "POST", headers: { "content-type": "application/json" }, signal: propAbort.signal,
      body: JSON.stringify({ start_frame: state.frame, direction: $("direction").value }),
    });
    if (!r.ok) throw new Error((await r.json()).error);
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block)?.[1], data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] || "{}");
        if (ev === "frame") {
          applyFrame(data);
          $("prop-progress").max = data.total; $("prop-progress").value = data.index;
          $("prop-label").textContent = `${data.index} / ${data.total}`;
          if (data.frame === state.frame) drawOverlay();
          if (data.index % 5 === 0 || data.index === data.total) drawTimelines();
        } else if (ev === "error") setStatus(data.error, true);
        else if (ev === "done") $("prop-label").textContent = `${data.frames} frames${data.cancelled ? " (cancelled)" : ""}`;
      }
    }
  } catch (e) { if (e.name !== "AbortError") setStatus(e.message, true); }
  finally {
    state.propagating = false; $("propagate").disabled = false; $("cancel").disabled = true;
    drawOverlay(); drawTimelines();
  }
};
$("cancel").onclick = () => { if (state.session) api("POST", `/api/sessions/${state.session.id}/cancel`).catch(() => propAbort?.abort()); };

// ---- segment everything (images) ----
$("amg").onclick = async () => {
  if (!state.session) return;
  busy(true); setStatus("Segmenting everything…");
  try {
    const f = await (await api("POST", `/api/sessions/${state.session.id}/amg`, {
      points_per_side: +$("amg-pps").value, pred_iou_thresh: +$("amg-iou").value,
      stability_score_thresh: +$("amg-stab").value, min_mask_region_area: +$("amg-area").value,
    })).json();
    applyFrame(f);
    setStatus(`${f.masks.length} masks`);
  } catch (e) { setStatus(e.message, true); }
  finally { busy(false); renderObjects(); drawOverlay(); }
};

// ---- export ----
document.querySelectorAll("[data-export]").forEach((b) => b.onclick = async () => {
  if (!state.session) return;
  busy(true);
  try {
    const r = await api("GET", `/api/sessions/${state.session.id}/export?format=${b.dataset.export}`);
    const name = /filename="([^"]+)"/.exec(r.headers.get("content-disposition") || "")?.[1] || `export-${b.dataset.export}`;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob()); a.download = name; document.body.appendChild(a); a.click(); a.remove();
    setStatus(`exported ${name}`);
  } catch (e) { setStatus(e.message, true); }
  finally { busy(false); }
});
