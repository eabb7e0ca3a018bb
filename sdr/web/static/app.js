// The live view of `wmbus listen --web`. Everything from the air (meter fields, layers text)
// reaches the page through textContent only, never as HTML.
"use strict";

const LOG_LIMIT = 300;         // telegrams kept in the list (the server keeps more)
const RECONNECT_MS = 1000;
const METER_LIMIT = 5000;      // the server's (sdr/web/state.py MAX_METERS): the least recent go
const METERS_REDRAW_MS = 1000; // the table is rebuilt at most this often
const COLUMNS = ["meter_id", "manufacturer", "device_type", "mode", "telegrams", "reading",
  "rssi_dbfs", "snr_db", "time_s"];
const NUMERIC = new Set(["telegrams", "rssi_dbfs", "snr_db", "time_s"]);

const meters = new Map();      // "M.meter_id" -> row as /api/meters gives it
const logEntries = new Map();  // seq -> telegram, for the ones in the list
let sortKey = "time_s", sortDescending = true;
let metersDirty = false, spectrumMeta = null, lastRow = null, drawPending = false;
let metersDrawnAt = 0, metersTimer = null;
const waterfall = document.createElement("canvas");

function $(selector) { return document.querySelector(selector); }

function cell(tr, text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  tr.appendChild(td);
}

function readingText(reading) {
  if (!reading) return "";
  return `${reading.value} ${reading.unit || ""}`.trim();
}

function sortValue(row, key) {
  if (key === "reading") return row.reading ? Number(row.reading.value) : -Infinity;
  const value = row[key];
  return value === null || value === undefined ? (NUMERIC.has(key) ? -Infinity : "") : value;
}

function compareRows(a, b) {
  const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
  const order = typeof x === "number" && typeof y === "number" ? x - y
    : String(x).localeCompare(String(y));
  return sortDescending ? -order : order;
}

function renderMeters() {
  const rows = Array.from(meters.values()).sort(compareRows);
  const body = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const key of COLUMNS) {
      let text = row[key];
      if (key === "reading") text = readingText(row.reading);
      else if (key === "time_s" && text !== null && text !== undefined) text = text.toFixed(1);
      cell(tr, text === null || text === undefined ? "" : String(text), NUMERIC.has(key));
    }
    body.appendChild(tr);
  }
  $("#meters tbody").replaceChildren(body);
  $("#meter-count").textContent = `(${rows.length})`;
  for (const th of document.querySelectorAll("#meters th")) {
    th.classList.toggle("sorted-asc", th.dataset.key === sortKey && !sortDescending);
    th.classList.toggle("sorted-desc", th.dataset.key === sortKey && sortDescending);
  }
}

function logLine(t) {
  const when = t.time_s === undefined ? "" : `t=${t.time_s.toFixed(3)} `;
  const radio = t.rssi_dbfs === undefined ? "" : ` ${t.rssi_dbfs} dBFS`;
  return `${when}${t.mode} ${t.manufacturer} ${t.meter_id} ${t.device_type} ${t.c_name}${radio}`;
}

function addTelegrams(list) {
  const log = $("#log");
  for (const t of list) {
    const li = document.createElement("li");
    li.textContent = logLine(t);
    li.dataset.seq = String(t.seq);
    logEntries.set(t.seq, t);
    log.prepend(li);
  }
  while (log.children.length > LOG_LIMIT) {
    logEntries.delete(Number(log.lastElementChild.dataset.seq));
    log.lastElementChild.remove();
  }
  if (list.length) log.dataset.lastSeq = String(list[list.length - 1].seq);
}

function showLayers(event) {
  const li = event.target.closest("li");
  if (!li) return;
  const t = logEntries.get(Number(li.dataset.seq));
  if (!t) return;
  for (const other of document.querySelectorAll("#log li.selected")) other.classList.remove("selected");
  li.classList.add("selected");
  $("#layers").textContent = t.layers;
}

// ---- spectrum and waterfall ------------------------------------------------------------

function colour(level) {  // 0..1 -> dark blue, cyan, yellow, white
  const v = Math.max(0, Math.min(1, level));
  return [Math.round(255 * Math.min(1, Math.max(0, 2 * v - 0.6))),
    Math.round(255 * Math.min(1, 1.6 * v)),
    Math.round(255 * Math.min(1, 0.35 + 1.2 * v - Math.max(0, 2.4 * v - 1.6)))];
}

function dbRange(row) {
  const sorted = Array.from(row.mean_dbfs).sort((a, b) => a - b);
  const floor = sorted[Math.floor(sorted.length * 0.1)];
  return [Math.floor((floor - 10) / 10) * 10, 0];
}

function addRows(rows) {
  const bins = spectrumMeta.bins;
  if (waterfall.width !== bins) { waterfall.width = bins; waterfall.height = $("#waterfall").height; }
  const ctx = waterfall.getContext("2d");
  for (const row of rows) {
    // The row's typical bin (noise, mostly) dark, 40 dB above it white.
    const sorted = Array.from(row.peak_dbfs).sort((x, y) => x - y);
    const lo = sorted[Math.floor(sorted.length / 2)] + 3, hi = lo + 40;
    ctx.drawImage(waterfall, 0, 0, bins, waterfall.height - 1, 0, 1, bins, waterfall.height - 1);
    const line = ctx.createImageData(bins, 1);
    row.peak_dbfs.forEach((db, i) => {
      const [r, g, b] = colour((db - lo) / (hi - lo));
      line.data.set([r, g, b, 255], 4 * i);
    });
    ctx.putImageData(line, 0, 0);
    lastRow = row;
  }
}

function frequencyX(freqHz, width) {
  const m = spectrumMeta;
  return ((freqHz - m.center_freq_hz) / m.sample_rate_hz + 0.5) * width;
}

// The band plan's channels: shaded with their names on the spectrum, edges on the waterfall.
function drawChannels(ctx, width, height, shaded) {
  ctx.font = "12px system-ui, sans-serif";
  for (const ch of spectrumMeta.channels) {
    const x0 = frequencyX(ch.freq_hz - ch.half_width_hz, width);
    const x1 = frequencyX(ch.freq_hz + ch.half_width_hz, width);
    if (shaded) {
      ctx.fillStyle = "rgba(255, 200, 60, 0.16)";
      ctx.fillRect(x0, 0, x1 - x0, height);
      ctx.fillStyle = "#ffc83c";
      ctx.fillText(`${ch.modes.join("/")} ${(ch.freq_hz / 1e6).toFixed(3)}`, x0 + 2, 13);
    } else {
      ctx.strokeStyle = "rgba(255, 200, 60, 0.7)";
      ctx.setLineDash([4, 4]);
      ctx.beginPath();
      ctx.moveTo(x0, 0); ctx.lineTo(x0, height); ctx.moveTo(x1, 0); ctx.lineTo(x1, height);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}

function drawTrace(ctx, values, lo, hi, width, height, style) {
  ctx.strokeStyle = style;
  ctx.beginPath();
  values.forEach((db, i) => {
    const x = (i + 0.5) / values.length * width;
    const y = height * (1 - (db - lo) / (hi - lo));
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function drawSpectrum() {
  drawPending = false;
  if (!spectrumMeta || !lastRow) return;
  const canvas = $("#spectrum"), ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const [lo, hi] = dbRange(lastRow);
  ctx.fillStyle = "#0d1620";
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = "#23364a";
  ctx.fillStyle = "#6f8599";
  ctx.font = "11px system-ui, sans-serif";
  for (let db = lo; db <= hi; db += 10) {
    const y = height * (1 - (db - lo) / (hi - lo));
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(width, y); ctx.stroke();
    ctx.fillText(`${db} dBFS`, width - 60, Math.max(10, y - 2));
  }
  drawChannels(ctx, width, height, true);
  drawTrace(ctx, lastRow.peak_dbfs, lo, hi, width, height, "#ffd166");
  drawTrace(ctx, lastRow.mean_dbfs, lo, hi, width, height, "#4cc9f0");
  const fall = $("#waterfall");
  const fctx = fall.getContext("2d");
  fctx.imageSmoothingEnabled = false;
  fctx.drawImage(waterfall, 0, 0, fall.width, fall.height);
  drawChannels(fctx, fall.width, fall.height, false);
}

// ---- health ------------------------------------------------------------------------------

function healthText(key, value) {
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.slice(-8).map((v) => Number(v).toFixed(0)).join(", ");
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k} ${Number(v).toFixed(1)}`).join(", ");
  }
  if (key.includes("share")) return `${(100 * value).toFixed(3)} %`;
  if (key === "sample_rate_hz") return `${(value / 1e6).toFixed(3)} Msps`;
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
}

function renderHealth(health) {
  const body = document.createDocumentFragment();
  for (const [key, value] of Object.entries(health)) {
    const tr = document.createElement("tr");
    if (key.startsWith("clipped_share") && value > 0.001) tr.className = "warn";
    cell(tr, key.replaceAll("_", " "));
    cell(tr, healthText(key, value));
    body.appendChild(tr);
  }
  $("#health tbody").replaceChildren(body);
}

// ---- updates -----------------------------------------------------------------------------

function apply(update) {
  if (update.telegrams) {
    addTelegrams(update.telegrams.telegrams);
    $("#counts").textContent = `${update.telegrams.last_seq} telegram(s)`;
  }
  if (update.meters && update.meters.length) {
    for (const row of update.meters) {
      const key = `${row.M}.${row.meter_id}`;
      meters.delete(key);  // re-inserted last: the Map's order is the order last heard
      meters.set(key, row);
    }
    for (const key of meters.keys()) {
      if (meters.size <= METER_LIMIT) break;
      meters.delete(key);
    }
    metersDirty = true;
  }
  if (update.spectrum) {
    const { rows, ...meta } = update.spectrum;
    spectrumMeta = meta;
    $("#tuned").textContent = `${(meta.center_freq_hz / 1e6).toFixed(3)} MHz, ` +
      `${(meta.sample_rate_hz / 1e6).toFixed(3)} Msps`;
    addRows(rows);
  }
  if (update.health) renderHealth(update.health);
  if (metersDirty && metersTimer === null) {
    // Thousands of rows rebuilt four times a second would take the page's time: at most once
    // per METERS_REDRAW_MS, and the last change is always drawn.
    const wait = Math.max(0, metersDrawnAt + METERS_REDRAW_MS - Date.now());
    metersTimer = setTimeout(() => {
      metersTimer = null; metersDirty = false; metersDrawnAt = Date.now(); renderMeters();
    }, wait);
  }
  if (update.spectrum && !drawPending) { drawPending = true; requestAnimationFrame(drawSpectrum); }
}

function connect() {
  const status = $("#status");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  ws.onopen = () => {
    status.textContent = "live"; status.className = "status live";
    // The server sends everything it holds on a new connection.
    meters.clear(); logEntries.clear(); $("#log").replaceChildren();
    waterfall.getContext("2d").clearRect(0, 0, waterfall.width, waterfall.height);
    lastRow = null;
  };
  ws.onmessage = (event) => apply(JSON.parse(event.data));
  ws.onclose = () => {
    status.textContent = "disconnected, retrying"; status.className = "status down";
    setTimeout(connect, RECONNECT_MS);
  };
}

function sortBy(event) {
  const key = event.target.closest("th")?.dataset.key;
  if (!key) return;
  sortDescending = key === sortKey ? !sortDescending : NUMERIC.has(key);
  sortKey = key;
  renderMeters();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#meters thead").addEventListener("click", sortBy);
  $("#log").addEventListener("click", showLayers);
  connect();
});
