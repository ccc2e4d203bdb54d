// daqflow web live view: receives the newest frame over a WebSocket, colormaps it with
// WebGL2, acknowledges each painted frame (the server's credit flow control).
'use strict';

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' +
  (token ? '?token=' + encodeURIComponent(token) : '');

// ---- colormaps (same tables as daqflow-display, sampled at 256 entries) ----
const CMAP_STOPS = {
  viridis: [[68,1,84],[72,35,116],[64,67,135],[52,94,141],[41,120,142],[32,144,140],[34,167,132],[68,190,112],[121,209,81],[189,222,38],[253,231,37]],
  magma: [[0,0,4],[20,14,54],[59,15,112],[100,26,128],[140,41,129],[183,55,121],[222,73,104],[247,112,92],[254,159,109],[254,207,146],[252,253,191]],
  inferno: [[0,0,4],[22,11,57],[66,10,104],[106,23,110],[147,38,103],[188,55,84],[221,81,58],[243,120,25],[252,165,10],[246,215,70],[252,255,164]],
};
let serverLuts = null; // exact tables from the server (hello), when given

function lutFor(name) {
  if (serverLuts && serverLuts[name]) return serverLuts[name];
  const out = new Uint8Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    let r = i, g = i, b = i;
    const stops = CMAP_STOPS[name];
    if (stops) {
      const t = i / 255 * (stops.length - 1), k = Math.min(Math.floor(t), stops.length - 2), f = t - k;
      [r, g, b] = [0, 1, 2].map((c) => Math.round(stops[k][c] * (1 - f) + stops[k + 1][c] * f));
    }
    out.set([r, g, b, 255], i * 4);
  }
  return out;
}

// ---- WebGL2 ----
const canvas = $('image');
const gl = canvas.getContext('webgl2', { preserveDrawingBuffer: true, antialias: false, alpha: false });
const VS = `#version 300 es
in vec2 p; void main() { gl_Position = vec4(p, 0.0, 1.0); }`;
const FS = (sampler, fetch) => `#version 300 es
precision highp float; precision highp int; precision highp usampler2D; precision highp sampler2D;
uniform ${sampler} img; uniform sampler2D lut;
uniform float low; uniform float gain; uniform float logNorm; uniform int logScale; uniform int rev;
out vec4 color;
void main() {
  ivec2 sz = textureSize(img, 0);
  ivec2 t = ivec2(int(gl_FragCoord.x), sz.y - 1 - int(gl_FragCoord.y));
  float v = ${fetch};
  float idx;
  if (isnan(v)) idx = 0.0;
  else if (logScale == 0) idx = clamp((v - low) * gain, 0.0, 255.0);
  else { float s = clamp((v - low) * gain, 0.0, 1.0); idx = clamp(log(1.0 + 1000.0 * s) * logNorm, 0.0, 255.0); }
  int i = int(idx);
  if (rev == 1) i = 255 - i;
  color = texelFetch(lut, ivec2(i, 0), 0);
}`;
function program(fs) {
  const p = gl.createProgram();
  for (const [type, src] of [[gl.VERTEX_SHADER, VS], [gl.FRAGMENT_SHADER, fs]]) {
    const s = gl.createShader(type);
    gl.shaderSource(s, src); gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
    gl.attachShader(p, s);
  }
  gl.bindAttribLocation(p, 0, 'p');
  gl.linkProgram(p);
  if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
  return p;
}
const programs = {
  uint: program(FS('usampler2D', 'float(texelFetch(img, t, 0).r)')),
  float: program(FS('sampler2D', 'texelFetch(img, t, 0).r')),
  jpeg: program(FS('sampler2D', 'floor(texelFetch(img, t, 0).r * 255.0 + 0.5)')),
};
const quad = gl.createBuffer();
gl.bindBuffer(gl.ARRAY_BUFFER, quad);
gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
gl.enableVertexAttribArray(0);
gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
const imgTex = gl.createTexture(), lutTex = gl.createTexture();
for (const t of [imgTex, lutTex]) {
  gl.bindTexture(gl.TEXTURE_2D, t);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
}

// ---- state ----
const ui = { colormap: 'gray', reversed: false, scale: 'linear', quality: 'auto', contrast: 'auto',
             manual: null, paused: false, region: null };
let current = null;   // { header, values (typed array) | bitmap, kind }
let ws = null, stopped = false, refused = null;
const paintTimes = [];
// For tests and curious users: what is on screen.
window.daqflow = { painted: 0, last: null, errors: 0 };

function mappingParams(low, high, integer, log) {
  // Exactly daqflow-display's Mapping::params (f32 arithmetic).
  const f = Math.fround;
  let range = f(high - low + (integer ? 1 : 0));
  if (!(isFinite(range) && range > 0)) range = Math.max(Math.abs(f(low)) * 1e-6, 1e-6);
  const gain = log ? f(1 / range) : f(256 / range);
  return { low: f(low), gain, logNorm: log ? f(256 / f(Math.log(1001))) : 0 };
}

function contrastWindow(h) {
  if (ui.contrast === 'manual' && ui.manual) return ui.manual;
  return [h.summary.p_low, h.summary.p_high];
}

function draw() {
  if (!current) return;
  const h = current.header;
  const jpeg = h.codec === 'jpeg';
  const prog = jpeg ? programs.jpeg : (h.wire === 'f32' ? programs.float : programs.uint);
  gl.useProgram(prog);
  let m;
  if (jpeg) m = { low: 0, gain: 1, logNorm: 0 };       // the server applied the window
  else m = mappingParams(...contrastWindow(h), h.wire !== 'f32', ui.scale === 'log');
  gl.uniform1f(gl.getUniformLocation(prog, 'low'), m.low);
  gl.uniform1f(gl.getUniformLocation(prog, 'gain'), m.gain);
  gl.uniform1f(gl.getUniformLocation(prog, 'logNorm'), m.logNorm);
  gl.uniform1i(gl.getUniformLocation(prog, 'logScale'), !jpeg && ui.scale === 'log' ? 1 : 0);
  gl.uniform1i(gl.getUniformLocation(prog, 'rev'), ui.reversed ? 1 : 0);
  gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, imgTex);
  gl.uniform1i(gl.getUniformLocation(prog, 'img'), 0);
  gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, lutTex);
  gl.uniform1i(gl.getUniformLocation(prog, 'lut'), 1);
  gl.viewport(0, 0, canvas.width, canvas.height);
  gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  drawHistogram();
}

function uploadLut() {
  gl.activeTexture(gl.TEXTURE1); gl.bindTexture(gl.TEXTURE_2D, lutTex);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, lutFor(ui.colormap));
}

function upload(frame) {
  const h = frame.header;
  gl.activeTexture(gl.TEXTURE0); gl.bindTexture(gl.TEXTURE_2D, imgTex);
  if (frame.bitmap) {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, frame.bitmap);
  } else if (h.wire === 'u16') {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R16UI, h.w, h.h, 0, gl.RED_INTEGER, gl.UNSIGNED_SHORT, frame.values);
  } else if (h.wire === 'u32') {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32UI, h.w, h.h, 0, gl.RED_INTEGER, gl.UNSIGNED_INT, frame.values);
  } else {
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, h.w, h.h, 0, gl.RED, gl.FLOAT, frame.values);
  }
  if (canvas.width !== h.w || canvas.height !== h.h) { canvas.width = h.w; canvas.height = h.h; }
  layout();
}

// The canvas keeps the sent image's size; CSS scales it to fit the view (aspect kept).
function layout() {
  if (!current) return;
  const v = $('view').getBoundingClientRect(), r = current.header.region;
  const s = Math.min(v.width / r[2], v.height / r[3]);
  const w = r[2] * s, hgt = r[3] * s;
  Object.assign(canvas.style, { width: w + 'px', height: hgt + 'px', left: (v.width - w) / 2 + 'px', top: (v.height - hgt) / 2 + 'px' });
}

async function decode(buf) {
  const dv = new DataView(buf);
  const hlen = dv.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, hlen)));
  const payload = new Uint8Array(buf, 4 + hlen);
  if (header.codec === 'jpeg') {
    const bitmap = await createImageBitmap(new Blob([payload], { type: 'image/jpeg' }));
    return { header, bitmap };
  }
  if (header.codec === 'raw') {              // the values as they are, little-endian
    const copy = payload.slice();            // aligned for the typed array
    const values = header.wire === 'u16' ? new Uint16Array(copy.buffer) : header.wire === 'u32' ? new Uint32Array(copy.buffer) : new Float32Array(copy.buffer);
    return { header, values };
  }
  const stream = new Blob([payload]).stream().pipeThrough(new DecompressionStream('deflate'));
  const planes = new Uint8Array(await new Response(stream).arrayBuffer());
  const n = header.w * header.h, size = header.wire === 'u16' ? 2 : 4;
  const bytes = new Uint8Array(n * size);
  for (let b = 0; b < size; b++) {          // undo the byte shuffle (little-endian)
    const plane = planes.subarray(b * n, (b + 1) * n);
    for (let i = 0; i < n; i++) bytes[i * size + b] = plane[i];
  }
  const values = size === 2 ? new Uint16Array(bytes.buffer) : header.wire === 'u32' ? new Uint32Array(bytes.buffer) : new Float32Array(bytes.buffer);
  return { header, values };
}

let chain = Promise.resolve();
function onFrame(buf) {
  const received = performance.now();
  // Frames are decoded and painted in order; the server never sends more than its credit.
  chain = chain.then(() => decode(buf)).then((frame) => new Promise((resolve) => {
    requestAnimationFrame(() => {
      if (current && current.bitmap) current.bitmap.close();
      current = frame;
      upload(frame);
      draw();
      window.daqflow.painted++;
      window.daqflow.last = frame.header;
      send({ type: 'ack', seq: frame.header.seq, busy_ms: performance.now() - received });
      paintTimes.push(performance.now());
      while (paintTimes.length && paintTimes[0] < performance.now() - 2000) paintTimes.shift();
      showStats(frame.header);
      resolve();
    });
  })).catch((e) => { window.daqflow.errors++; console.error(e); });
}

function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

function sendView() {
  const v = $('view').getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  send({ type: 'view', canvas: [Math.max(1, Math.round(v.width * dpr)), Math.max(1, Math.round(v.height * dpr))],
         region: ui.region, quality: ui.quality, scale: ui.scale, paused: ui.paused,
         manual: ui.contrast === 'manual' && ui.manual ? ui.manual : null });
}

// ---- connection ----
function overlay(text) { const o = $('overlay'); o.textContent = text || ''; o.classList.toggle('show', !!text); }

function connect() {
  ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => { stopped = false; refused = null; overlay(''); $('status').textContent = 'connected'; sendView(); };
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') { onFrame(ev.data); return; }
    const msg = JSON.parse(ev.data);
    if (msg.type === 'hello') hello(msg);
    else if (msg.type === 'stopped') { stopped = true; overlay('pipeline stopped — reconnecting when it runs again…'); }
    else if (msg.type === 'refused') { refused = msg.reason; overlay(msg.reason); }
  };
  ws.onclose = () => {
    $('status').textContent = stopped ? 'pipeline stopped' : 'disconnected';
    if (!refused) overlay(stopped ? 'pipeline stopped — reconnecting when it runs again…' : 'connection lost — reconnecting…');
    setTimeout(connect, refused ? 5000 : 1000);
  };
}

function hello(msg) {
  document.title = msg.title; $('title').textContent = msg.title;
  if (msg.luts) serverLuts = Object.fromEntries(Object.entries(msg.luts).map(([k, v]) => [k, Uint8Array.from(atob(v), (c) => c.charCodeAt(0))]));
  if (!window.daqflow.configured) {
    ui.colormap = msg.colormap; ui.reversed = msg.reversed; ui.scale = msg.scale;
    $('colormap').value = ui.colormap; $('reversed').checked = ui.reversed; $('scale').value = ui.scale;
    window.daqflow.configured = true;
  }
  uploadLut();
}

// ---- panel ----
function fmt(v) { return Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-2) ? v.toExponential(3) : (+v.toFixed(3)).toString(); }
function showStats(h) {
  const s = h.stats, fps = paintTimes.length > 1 ? (paintTimes.length - 1) / ((paintTimes[paintTimes.length - 1] - paintTimes[0]) / 1000) : 0;
  const b = $('badge');
  b.textContent = h.codec === 'jpeg' ? 'lossy (JPEG)' : 'lossless';
  b.className = 'badge ' + (h.codec === 'jpeg' ? 'lossy' : 'lossless');
  const rows = [
    ['frame', h.frame], ['size', `${h.width}×${h.height} ${h.dtype}`],
    ['sent', `${h.w}×${h.h}` + (h.bin > 1 ? ` (bin ${h.bin})` : '')],
    ['frame age', s.age_ms.toFixed(0) + ' ms'], ['displayed', fps.toFixed(1) + ' fps'],
    ['acquisition', s.acq_fps.toFixed(1) + ' fps'], ['dropped for display', s.dropped],
    ['goodput', (s.goodput_bps / 1e6).toFixed(1) + ' Mbit/s'], ['viewers', s.clients],
  ];
  $('stats').innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('');
  $('meta').innerHTML = Object.entries(h.meta).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === 'number' ? fmt(v) : String(v))}</td></tr>`).join('');
  if (ui.contrast === 'auto' && ![$('low'), $('high')].includes(document.activeElement)) { $('low').value = fmt(h.summary.p_low); $('high').value = fmt(h.summary.p_high); }
}
function esc(s) { return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]); }

function drawHistogram() {
  const c = $('hist'), g = c.getContext('2d'), h = current.header.summary.hist;
  g.fillStyle = '#111'; g.fillRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...h.counts.map((v) => Math.log1p(v)));
  const bw = c.width / h.counts.length;
  g.fillStyle = '#7d8b99';
  h.counts.forEach((v, i) => { const y = Math.log1p(v) / max * c.height; g.fillRect(i * bw, c.height - y, Math.ceil(bw), y); });
  const [lo, hi] = contrastWindow(current.header);
  g.strokeStyle = '#5fb3f9';
  for (const v of [lo, hi]) { const x = (v - h.lo) / (h.hi - h.lo || 1) * c.width; g.beginPath(); g.moveTo(x, 0); g.lineTo(x, c.height); g.stroke(); }
}

// ---- pixel readout, zoom and pan ----
const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
function texelAt(ev) {
  if (!current) return null;
  const r = canvas.getBoundingClientRect(), h = current.header;
  const tx = Math.floor((ev.clientX - r.left) / r.width * h.w), ty = Math.floor((ev.clientY - r.top) / r.height * h.h);
  if (tx < 0 || ty < 0 || tx >= h.w || ty >= h.h) return null;
  return { tx, ty, x: h.region[0] + tx * h.bin, y: h.region[1] + ty * h.bin };
}
$('view').addEventListener('mousemove', (ev) => {
  const t = texelAt(ev);
  if (drag) { pan(ev); return; }
  if (!t) { $('readout').textContent = ''; return; }
  const h = current.header;
  let value;
  if (current.values) value = fmt(current.values[t.ty * h.w + t.tx]) + (h.bin > 1 ? ` (mean of ${h.bin}×${h.bin})` : '');
  else {
    probe.canvas.width = probe.canvas.height = 1;
    probe.drawImage(current.bitmap, t.tx, t.ty, 1, 1, 0, 0, 1, 1);
    const k = probe.getImageData(0, 0, 1, 1).data[0];
    value = '≈' + fmt(h.window[0] + (h.window[1] - h.window[0]) * (k + 0.5) / 256) + ' (lossy)';
  }
  $('readout').textContent = `x ${t.x}  y ${t.y}  value ${value}  frame ${h.frame}`;
});
$('view').addEventListener('wheel', (ev) => {
  ev.preventDefault();
  const t = texelAt(ev); if (!t) return;
  const h = current.header, r = ui.region || [0, 0, h.width, h.height];
  const f = ev.deltaY < 0 ? 0.8 : 1.25;
  const w = Math.min(h.width, Math.max(8, Math.round(r[2] * f))), hh = Math.min(h.height, Math.max(8, Math.round(r[3] * f)));
  const fx = (t.x - r[0]) / r[2], fy = (t.y - r[1]) / r[3];
  const x = Math.min(Math.max(0, Math.round(t.x - fx * w)), h.width - w), y = Math.min(Math.max(0, Math.round(t.y - fy * hh)), h.height - hh);
  ui.region = (w === h.width && hh === h.height) ? null : [x, y, w, hh];
  sendView();
}, { passive: false });
let drag = null;
$('view').addEventListener('mousedown', (ev) => { if (ui.region) drag = { x: ev.clientX, y: ev.clientY, r: ui.region.slice() }; });
window.addEventListener('mouseup', () => { drag = null; });
function pan(ev) {
  const h = current.header, c = canvas.getBoundingClientRect();
  const dx = Math.round((ev.clientX - drag.x) / c.width * drag.r[2]), dy = Math.round((ev.clientY - drag.y) / c.height * drag.r[3]);
  const x = Math.min(Math.max(0, drag.r[0] - dx), h.width - drag.r[2]), y = Math.min(Math.max(0, drag.r[1] - dy), h.height - drag.r[3]);
  if (x !== ui.region[0] || y !== ui.region[1]) { ui.region = [x, y, drag.r[2], drag.r[3]]; sendView(); }
}
$('view').addEventListener('dblclick', () => { ui.region = null; sendView(); });
$('reset').onclick = () => { ui.region = null; sendView(); };

// ---- controls ----
$('colormap').onchange = (e) => { ui.colormap = e.target.value; uploadLut(); draw(); };
$('reversed').onchange = (e) => { ui.reversed = e.target.checked; draw(); };
$('scale').onchange = (e) => { ui.scale = e.target.value; sendView(); draw(); };
$('quality').onchange = (e) => { ui.quality = e.target.value; sendView(); };
$('pause').onclick = (e) => { ui.paused = !ui.paused; e.target.classList.toggle('on', ui.paused); e.target.textContent = ui.paused ? 'Resume' : 'Pause'; sendView(); };
for (const r of document.querySelectorAll('input[name=contrast]')) {
  r.onchange = () => { ui.contrast = r.value; readManual(); };
}
function readManual() {
  const lo = parseFloat($('low').value), hi = parseFloat($('high').value);
  ui.manual = isFinite(lo) && isFinite(hi) ? [lo, hi] : null;
  sendView(); draw();
}
$('low').onchange = $('high').onchange = () => { document.querySelector('input[value=manual]').checked = true; ui.contrast = 'manual'; readManual(); };
window.addEventListener('resize', () => { layout(); sendView(); });

// Test hook: the canvas pixels (RGBA, top row first) as base64.
window.daqflowPixels = () => {
  const w = canvas.width, h = canvas.height, px = new Uint8Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) out.set(px.subarray((h - 1 - y) * w * 4, (h - y) * w * 4), y * w * 4);
  let s = ''; for (let i = 0; i < out.length; i += 0x8000) s += String.fromCharCode.apply(null, out.subarray(i, i + 0x8000));
  return { w, h, rgba: btoa(s) };
};

uploadLut();
connect();
