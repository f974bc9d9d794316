// ZoomWidget front end: interaction, drawing, and the viewport sent to the kernel.
// The kernel renders; this module only places the images it sends (PNG in binary buffers) at the
// image region they cover, so an old render stays in place while a new one is on its way.
// The label says what is on screen ("overview (level 3)", "bicubic x3.20", "LIIF x3.20, reduced ·
// MODEL") and, while the frame for the current view is pending, how long ago the view changed and
// how long the LIIF render should take (the kernel's `estimate`). Under the image: the model menu
// (auto with its pick), the detail slider and the kernel's one-line advice.

const MODES = ["liif", "bicubic", "nearest", "compare"];
const LABELS = { liif: "LIIF", bicubic: "bicubic", nearest: "nearest", compare: "compare" };

// Same rule as liif_plugin/notebook/view.py:fit_viewport (kept in step by the widget tests).
function fit(v, ch, cw, H, W, maxZoom) {
  let s = Math.min(ch / (v[2] - v[0]), cw / (v[3] - v[1]));
  s = Math.min(Math.max(s, Math.min(ch / H, cw / W)), maxZoom);
  const vh = ch / s, vw = cw / s;
  let cy = (v[0] + v[2]) / 2, cx = (v[1] + v[3]) / 2;
  cy = vh >= H ? H / 2 : Math.min(Math.max(cy, vh / 2), H - vh / 2);
  cx = vw >= W ? W / 2 : Math.min(Math.max(cx, vw / 2), W - vw / 2);
  return [cy - vh / 2, cx - vw / 2, cy + vh / 2, cx + vw / 2];
}

function sameView(a, b) {
  if (!a || !b) return false;
  const tol = 1e-6 * Math.max(1, Math.abs(b[2] - b[0]), Math.abs(b[3] - b[1]));
  return a.every((x, i) => Math.abs(x - b[i]) <= tol);
}

// LIIF and compare show the same LIIF render: a frame of one serves the other.
function sameShow(a, b) {
  const liif = (m) => m === "liif" || m === "compare";
  return a === b || (liif(a) && liif(b));
}

// Whether a final frame shows the current state `s`: its view, what it shows, and the detail, image of
// the stack and model it was rendered with (a frame without these fields, from an older kernel: the view).
function current(msg, s) {
  return !!msg && sameView(msg.viewport, s.viewport) && sameShow(msg.mode, s.mode)
    && (typeof msg.detail !== "number" || Math.abs(msg.detail - s.detail) < 1e-9)
    && (!Array.isArray(msg.index) || msg.index.join(",") === (s.index || []).join(","))
    && (!msg.model || !s.model || msg.model === s.model);
}

function fmtScale(s) { return "x" + (s < 10 ? s.toFixed(2) : s.toFixed(1)); }

function fmtSeconds(s) { return s < 10 ? s.toFixed(1) + " s" : Math.round(s) + " s"; }

// What a frame the kernel sent is, in words. Fields a kernel may not send yet fall back to what the
// frame's own numbers say: `level` (overview level), `reduced`, `scale` (output pixels per input pixel).
function describe(m, modelName) {
  const own = m.region && m.shape ? m.shape[1] / Math.max(m.region[3] - m.region[1], 1e-9) : 1;
  const scale = typeof m.scale === "number" ? m.scale : own;
  if (m.layer === "liif") {
    // (a reduced frame carries the level it was rendered from: it is still LIIF, not an overview)
    const reduced = typeof m.reduced === "boolean" ? m.reduced : !m.final;
    const detail = typeof m.detail === "number" && m.detail < 1 ? ` · detail ${+m.detail.toFixed(2)}` : "";
    return `LIIF ${fmtScale(scale)}${reduced ? ", reduced" : ""}${modelName ? " · " + modelName : ""}${detail}`;
  }
  if (m.level !== undefined && m.level !== null) return `overview (level ${m.level})`;
  if (m.layer === "overview" || scale < 1 - 1e-6) return "overview"; // zoomed out: area-averaged levels
  if (m.layer === "bicubic" || m.layer === "nearest") return `${m.layer} ${fmtScale(scale)}`;
  return `${m.layer} ${fmtScale(scale)}`;
}

function el_(tag, cls, parent) {
  const e = document.createElement(tag);
  e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function render({ model, el }) {
  const wrap = el_("div", "liif-zoom-wrap", el);
  const root = el_("div", "liif-zoom", wrap);
  root.dataset.lmSuppressShortcuts = "true"; // keys here are ours, not JupyterLab's
  const canvas = el_("canvas", "liif-zoom-canvas", root);
  canvas.tabIndex = 0;
  const overlay = el_("div", "liif-zoom-overlay", root);
  const frameText = el_("span", "liif-zoom-frame", overlay); // what is on screen
  const zoomText = el_("span", "liif-zoom-factor", overlay); // the view's zoom, while its frame is pending
  const timeText = el_("span", "liif-zoom-time", overlay);
  const spinner = el_("span", "liif-zoom-spinner", overlay);
  const bar = el_("div", "liif-zoom-modes", root);
  const errorBox = el_("div", "liif-zoom-error", root);

  // Under the image: the model menu, the detail slider, the advice line.
  const footer = el_("div", "liif-zoom-footer", wrap);
  const controls = el_("div", "liif-zoom-controls", footer);
  const modelLabel = el_("label", "liif-zoom-control", controls);
  modelLabel.append("model ");
  const modelSelect = el_("select", "liif-zoom-model", modelLabel);
  modelSelect.title = "auto: the model that suits this image, chosen once when the widget opened";
  const detailLabel = el_("label", "liif-zoom-control", controls);
  detailLabel.append("detail ");
  const detailSlider = el_("input", "liif-zoom-detail", detailLabel);
  Object.assign(detailSlider, { type: "range", min: 0, max: 1, step: 0.05 });
  detailSlider.title = "how much of LIIF's difference from bicubic to keep: 1 is LIIF, 0 is bicubic";
  const detailValue = el_("span", "liif-zoom-detail-value", detailLabel);
  const adviceText = el_("div", "liif-zoom-advice", footer);

  function syncModels() {
    const choices = model.get("model_choices") || [];
    modelSelect.replaceChildren(...choices.map(([label, value]) => {
      const o = document.createElement("option");
      o.value = value; o.textContent = label;
      return o;
    }));
    modelSelect.value = model.get("model_name");
  }
  modelSelect.addEventListener("change", () => { model.set("model_name", modelSelect.value); model.save_changes(); });
  function syncDetail() {
    const d = model.get("detail");
    detailSlider.value = d;
    detailValue.textContent = (+d).toFixed(2);
  }
  detailSlider.addEventListener("input", () => { detailValue.textContent = (+detailSlider.value).toFixed(2); });
  detailSlider.addEventListener("change", () => { model.set("detail", +detailSlider.value); model.save_changes(); });
  function showAdvice() {
    adviceText.textContent = model.get("advice") || "";
    adviceText.classList.toggle("warn", !!model.get("warning"));
    root.dataset.advice = adviceText.textContent;
  }
  const buttons = {};
  for (const m of MODES) {
    const b = el_("button", "liif-zoom-mode", bar);
    b.textContent = LABELS[m];
    b.dataset.mode = m;
    b.addEventListener("click", () => { model.set("mode", m); model.save_changes(); });
    buttons[m] = b;
  }

  // A stack's leading axes (z, t, c, ...): one slider each, bound to the `index` trait.
  // Each with a readout, "plane 4 / 20" (1-based, as people count planes), so the slider says where it is.
  const readouts = [];
  const sliders = (model.get("lead_shape") || []).map((n, k) => {
    const s = el_("input", "liif-zoom-index", bar);
    Object.assign(s, { type: "range", min: 0, max: n - 1, step: 1, title: `axis ${k} of the stack` });
    s.value = (model.get("index") || [])[k] || 0;
    const r = el_("span", "liif-zoom-index-label", bar);
    readouts.push(r);
    s.addEventListener("input", () => {
      model.set("index", sliders.map((e) => +e.value));
      model.save_changes();
    });
    return s;
  });
  function showIndex() {
    const idx = model.get("index") || [], lead = model.get("lead_shape") || [];
    readouts.forEach((r, k) => { r.textContent = `${lead.length > 1 ? "axis " + k + ": " : ""}plane ${(idx[k] || 0) + 1} / ${lead[k]}`; });
  }
  showIndex();
  function syncIndex() {
    const idx = model.get("index") || [];
    sliders.forEach((s, k) => { s.value = idx[k]; });
    showIndex();
    for (const name of Object.keys(layers)) delete layers[name]; // pixels of another image
    root.dataset.index = idx.join(",");
  }

  const layers = {}; // name -> {bitmap, region, seq, msg}
  let seq = 0, images = 0, lastFinal = null, drag = null, errorAt = -Infinity;
  let changedAt = performance.now(), finalTook = null, ticker = null, shownMode = model.get("mode");

  function size() {
    root.style.height = model.get("height") + "px";
    const w = model.get("width");
    wrap.style.width = w > 0 ? w + "px" : "100%";
  }

  // The view (or what it shows) changed: its frame is pending from now.
  // An error stays long enough to be read: the kernel's answer to it (a plane put back, a new frame) follows
  // at once, and would otherwise hide it before it was drawn.
  function hideError() {
    if (performance.now() - errorAt > 3000) errorBox.style.display = "none";
  }

  function viewChanged() {
    hideError();
    changedAt = performance.now();
    finalTook = null;
    if (!ticker) ticker = setInterval(label, 200);
    draw();
  }

  function setView(v) {
    const s = model.get("image_shape");
    model.set("viewport", fit(v, canvas.height, canvas.width, s[0], s[1], model.get("max_zoom")));
    model.save_changes();
    viewChanged();
  }

  function zoomAt(px, py, f) { // px, py: CSS pixels from the canvas's top-left corner
    const v = model.get("viewport");
    const fy = py / canvas.clientHeight, fx = px / canvas.clientWidth;
    const ay = v[0] + fy * (v[2] - v[0]), ax = v[1] + fx * (v[3] - v[1]);
    const vh = (v[2] - v[0]) / f, vw = (v[3] - v[1]) / f;
    setView([ay - fy * vh, ax - fx * vw, ay + (1 - fy) * vh, ax + (1 - fx) * vw]);
  }

  function reset() {
    const s = model.get("image_shape");
    setView([0, 0, s[0], s[1]]);
  }

  function drawStack(ctx, names, v, sy, sx) {
    const ls = names.map((n) => layers[n]).filter(Boolean).sort((a, b) => a.seq - b.seq);
    for (const L of ls) {
      const r = L.region;
      ctx.drawImage(L.bitmap, (r[1] - v[1]) * sx, (r[0] - v[0]) * sy, (r[3] - r[1]) * sx, (r[2] - r[0]) * sy);
    }
  }

  function draw() {
    const W = canvas.width, H = canvas.height;
    if (W < 1 || H < 1) return;
    const ctx = canvas.getContext("2d");
    const v = model.get("viewport"), mode = model.get("mode");
    const sy = H / (v[2] - v[0]), sx = W / (v[3] - v[1]);
    ctx.clearRect(0, 0, W, H);
    ctx.imageSmoothingEnabled = mode !== "nearest";
    const main = mode === "nearest" ? ["overview", "nearest"]
      : mode === "bicubic" ? ["overview", "bicubic"] : ["overview", "bicubic", "liif"];
    if (mode === "compare") {
      const d = Math.round(model.get("divider") * W);
      ctx.save(); ctx.beginPath(); ctx.rect(0, 0, d, H); ctx.clip();
      drawStack(ctx, main, v, sy, sx); ctx.restore();
      ctx.save(); ctx.beginPath(); ctx.rect(d, 0, W - d, H); ctx.clip();
      drawStack(ctx, ["overview", "bicubic"], v, sy, sx); ctx.restore();
      const dpr = window.devicePixelRatio || 1;
      ctx.fillStyle = "rgba(255,255,255,0.9)";
      ctx.fillRect(d - dpr, 0, 2 * dpr, H);
      // Half way down: the label (bottom) and the mode buttons (top) keep the edges.
      ctx.font = `${12 * dpr}px sans-serif`;
      ctx.lineWidth = 3 * dpr;
      ctx.strokeStyle = "rgba(0,0,0,0.6)";
      ctx.textAlign = "right"; ctx.strokeText("LIIF", d - 6 * dpr, H / 2); ctx.fillText("LIIF", d - 6 * dpr, H / 2);
      ctx.textAlign = "left";
      ctx.strokeText("bicubic", d + 6 * dpr, H / 2); ctx.fillText("bicubic", d + 6 * dpr, H / 2);
    } else {
      drawStack(ctx, main, v, sy, sx);
    }
    const z = W / (v[3] - v[1]);
    root.dataset.zoom = z.toFixed(4);
    root.dataset.viewport = JSON.stringify(v);
    root.dataset.mode = mode;
    for (const m of MODES) buttons[m].classList.toggle("active", m === mode);
    label();
  }

  // The overlay: what is on screen, and while the current view's frame is pending, for how long.
  function state() {
    return {
      viewport: model.get("viewport"), mode: model.get("mode"), detail: model.get("detail"),
      index: model.get("index"), model: model.get("model_in_use"),
    };
  }

  function label() {
    const v = model.get("viewport"), mode = model.get("mode");
    const done = current(lastFinal, state());
    spinner.style.visibility = done ? "hidden" : "visible";
    const names = mode === "nearest" ? ["overview", "nearest"]
      : mode === "bicubic" ? ["overview", "bicubic"] : ["overview", "bicubic", "liif"];
    const top = names.map((n) => layers[n]).filter(Boolean).sort((a, b) => b.seq - a.seq)[0];
    frameText.textContent = top ? describe(top.msg, top.modelName) : "loading …";
    const z = canvas.width / (v[3] - v[1]);
    const shownScale = top && top.msg.viewport && sameView(top.msg.viewport, v);
    zoomText.textContent = done || shownScale ? "" : `view ${fmtScale(z)}`;
    if (done) {
      timeText.textContent = `took ${fmtSeconds(finalTook !== null ? finalTook : lastFinal.ms / 1000)}`;
      if (ticker) { clearInterval(ticker); ticker = null; }
    } else {
      const est = model.get("estimate");
      const ago = (performance.now() - changedAt) / 1000;
      timeText.textContent = `view changed ${fmtSeconds(ago)} ago` + (est && mode !== "bicubic" && mode !== "nearest"
        ? ` · LIIF ${est}` : "");
    }
    root.dataset.pending = String(!done);
    root.dataset.label = frameText.textContent;
    root.dataset.timeLabel = timeText.textContent;
  }

  function syncCanvas() {
    const dpr = window.devicePixelRatio || 1;
    const ch = Math.round(canvas.clientHeight * dpr), cw = Math.round(canvas.clientWidth * dpr);
    if (ch < 1 || cw < 1) return;
    if (canvas.height !== ch || canvas.width !== cw) { canvas.height = ch; canvas.width = cw; }
    const cs = model.get("canvas_shape");
    if (!cs || cs[0] !== ch || cs[1] !== cw) { model.set("canvas_shape", [ch, cw]); model.save_changes(); }
    draw();
  }

  async function onMessage(msg, buffers) {
    if (msg.type === "error") {
      errorBox.textContent = msg.text;
      errorBox.style.display = "block";
      errorAt = performance.now();
      return;
    }
    if (msg.type !== "image" || !buffers || !buffers.length) return;
    const mySeq = ++seq; // taken before decoding so a slow decode never covers a newer image
    const bitmap = await createImageBitmap(new Blob([buffers[0]], { type: "image/png" }));
    if (!layers[msg.layer] || layers[msg.layer].seq < mySeq) {
      layers[msg.layer] = { bitmap, region: msg.region, seq: mySeq, msg, modelName: model.get("model_in_use") };
    }
    images += 1;
    root.dataset.images = String(images);
    if (msg.final) {
      lastFinal = msg;
      hideError();
      if (current(msg, state())) {
        finalTook = (performance.now() - changedAt) / 1000;
      }
      // What the page shows, for whoever inspects it (the browser test reads these).
      root.dataset.finalId = String(msg.id);
      root.dataset.finalLayer = msg.layer;
      root.dataset.finalMode = msg.mode;
      root.dataset.finalViewport = JSON.stringify(msg.viewport);
      root.dataset.finalShape = JSON.stringify(msg.shape);
    }
    draw();
  }

  canvas.addEventListener("wheel", (e) => {
    e.preventDefault(); // the notebook must not scroll while zooming
    zoomAt(e.offsetX, e.offsetY, Math.exp(-e.deltaY * 0.002));
  }, { passive: false });

  canvas.addEventListener("pointerdown", (e) => {
    canvas.focus();
    canvas.setPointerCapture(e.pointerId);
    const d = model.get("divider") * canvas.clientWidth;
    if (model.get("mode") === "compare" && Math.abs(e.offsetX - d) < 10) drag = { divider: true };
    else {
      drag = { x: e.clientX, y: e.clientY, v: model.get("viewport") };
      canvas.style.cursor = "grabbing";
    }
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) {
      const d = model.get("divider") * canvas.clientWidth;
      canvas.style.cursor = model.get("mode") === "compare" && Math.abs(e.offsetX - d) < 10 ? "col-resize" : "grab";
      return;
    }
    if (drag.divider) {
      model.set("divider", Math.min(Math.max(e.offsetX / canvas.clientWidth, 0), 1));
      model.save_changes();
      draw();
      return;
    }
    const v = drag.v;
    const dy = (e.clientY - drag.y) / canvas.clientHeight * (v[2] - v[0]);
    const dx = (e.clientX - drag.x) / canvas.clientWidth * (v[3] - v[1]);
    setView([v[0] - dy, v[1] - dx, v[2] - dy, v[3] - dx]);
  });
  const endDrag = () => { drag = null; };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  canvas.addEventListener("dblclick", (e) => { e.preventDefault(); reset(); });
  canvas.addEventListener("keydown", (e) => {
    const f = { "+": 1.25, "=": 1.25, "-": 0.8, "_": 0.8 }[e.key];
    if (f) zoomAt(canvas.clientWidth / 2, canvas.clientHeight / 2, f);
    else if (e.key === "0") reset();
    else return;
    e.preventDefault();
    e.stopPropagation();
  });

  const redraw = () => draw();
  const changed = () => viewChanged();
  // What the kernel says: its traits, and what each does on the page.
  const hooks = [
    ["msg:custom", onMessage],
    ["change:viewport", changed],
    ["change:mode", () => { // LIIF <-> compare shows the same frame: nothing is pending
      const same = sameShow(shownMode, model.get("mode"));
      shownMode = model.get("mode");
      if (same) draw(); else viewChanged();
    }],
    ["change:detail", () => { syncDetail(); viewChanged(); }],
    ["change:divider", redraw],
    ["change:height", size],
    ["change:width", size],
    ["change:advice", showAdvice],
    ["change:warning", showAdvice],
    ["change:estimate", () => label()],
    ["change:model_choices", syncModels],
    ["change:model_name", syncModels],
    ["change:model_in_use", () => { delete layers.liif; viewChanged(); }], // no frame of the old model poses as new
    ["change:index", () => { syncIndex(); viewChanged(); }],
  ];
  for (const [name, fn] of hooks) model.on(name, fn);
  size();
  syncModels();
  syncDetail();
  showAdvice();
  ticker = setInterval(label, 200);
  const observer = new ResizeObserver(syncCanvas);
  observer.observe(canvas);
  syncCanvas();
  model.send({ type: "hello" }); // a new view has no pixels yet: ask for them

  return () => {
    observer.disconnect();
    if (ticker) clearInterval(ticker);
    for (const [name, fn] of hooks) model.off(name, fn);
  };
}

export { current, describe, fit };
export default { render };
