// The labelling view: a prefetched queue of items, label-and-advance on one key press, and an
// outbox of answers kept in localStorage until the server acknowledges each one.
//
// A key press records the answer, puts the next queued item on screen in the same event
// handler and only then hands the answer to the sender. The sender posts the outbox in order
// with a client request id per answer (the server treats a repeated id as a no-op), retrying
// with backoff on network errors and 5xx; the outbox survives a reload and is sent on the next.
// window.labellaTimings holds, per key press that shows another item, the ms from the keydown
// handler's start to the next animation frame after the new item was put in the DOM (with its
// style and layout done); labellaPaintTimings to the first task after that frame, and
// labellaInputDelays the time each key event waited before its handler ran.
import { api, ApiError, el } from "./api.js";
import { keyMap, labelFor, setupFilter, sizeImage } from "./label_find.js";

const cfg = JSON.parse(document.getElementById("label-config").textContent);
const P = cfg.project_id;
const MULTI = cfg.multi_label;
const LABELS = cfg.labels;
const BY_KEY = keyMap(cfg.keys);  // a key -> its label (own hotkeys and number keys)
const READY = 3;          // items to hold ready besides the one on screen
const FETCH_MORE = 6;     // how many more than we hold to ask for when topping up
const EMPTY_POLL_MS = 15000;
const MODEL_POLL_MS = 1500;
const QUIET_POLLS = 4;    // polls without a new model version before "updating…" gives up
const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
const HISTORY = 200;      // answers that U can walk back through

const $ = (id) => document.getElementById(id);
const view = $("label-view");
const itemEl = $("item");
const textBox = el("div", { id: "item-text", class: "item-text" });
const imageBox = el("div", { id: "item-image", class: "item-image" });
const captionBox = el("div", { class: "item-caption" });
const ui = {
  empty: $("empty"), suggestion: $("suggestion"), previous: $("previous"), why: $("why"),
  status: $("status"), notice: $("notice"), labels: $("progress-labels"), bar: $("progress-bar"),
  version: $("model-version"), updating: $("model-updating"), shortcuts: $("shortcuts"),
  toggle: $("shortcuts-toggle"), choices: $("choices"),
};
const itemOnly = [ui.choices, $("skip"), $("submit")].filter(Boolean);  // hidden with no item
const buttons = [...document.querySelectorAll("#choices button[data-label]")];

window.labellaTimings = [];       // keydown -> next frame with the new item laid out (ms)
window.labellaPaintTimings = [];  // keydown -> first task after that frame (ms)
window.labellaInputDelays = [];   // the key event's timestamp -> its handler (ms)
window.labellaQueueMisses = 0;    // presses that found no item ready (their timing waits for one)

const state = {
  current: null,        // the item on screen
  queue: [],            // items ready to show, best first
  back: [],             // items an undo took off screen: shown again first, newest last
  history: [],          // answers on this page, newest last: { item, kind, labels, requestId }
  answered: new Set(),  // ids answered here (or waiting in the outbox) and not undone
  selected: new Set(),  // multi-label: labels switched on for the item on screen
  preselected: null,    // single-label: what Enter accepts
  pendingT0: null,      // a key press waiting for an item to arrive
  fetching: false, fetchAgain: false, fetchFailed: false, exhausted: false, emptyTimer: null,
  nLabeled: cfg.n_labeled, modelVersion: cfg.model_version,
  staleAt: null, quietPolls: 0, modelTimer: null,
};

// -- outbox: one localStorage entry per answer, so that tabs never overwrite each other ----

const PREFIX = `labella:outbox:${cfg.user}:${P}:`;
let counter = 0;

const outbox = {
  entries: [],
  load() {
    const found = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(PREFIX)) continue;
      try { found.push(JSON.parse(localStorage.getItem(key))); } catch (_) { localStorage.removeItem(key); }
    }
    this.entries = found.sort((a, b) => a.t - b.t || a.n - b.n);
  },
  add(fields) {
    const e = { ...fields, request_id: uuid(), t: Date.now(), n: counter++, tried: false };
    this.entries.push(e);
    this.save(e);
    return e;
  },
  save(e) {
    try { localStorage.setItem(PREFIX + e.request_id, JSON.stringify(e)); } catch (_) {
      notice("This browser could not store the answer; keep the page open until it is saved.");
    }
  },
  remove(requestId) {
    this.entries = this.entries.filter((e) => e.request_id !== requestId);
    localStorage.removeItem(PREFIX + requestId);
  },
  find(requestId) { return this.entries.find((e) => e.request_id === requestId); },
};

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();  // secure contexts only
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// -- the sender -------------------------------------------------------------------------

const sender = { busy: false, offline: false, failures: 0, wake: null, acked: false };

function retryable(err) {
  if (!(err instanceof ApiError)) return true;  // the network: fetch threw
  return err.status >= 500 || err.status === 401 || err.status === 408 || err.status === 429;
}

function pause(ms) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    sender.wake = () => { clearTimeout(t); resolve(); };
  }).finally(() => { sender.wake = null; });
}

function post(e) {
  const body = { item_id: e.item_id, request_id: e.request_id };
  if (e.kind === "label") {
    return api(`/api/projects/${P}/annotations`, { method: "POST", json: { ...body, labels: e.labels } });
  }
  return api(`/api/projects/${P}/${e.kind}`, { method: "POST", json: body });  // skip, undo
}

async function drain() {
  if (sender.busy) return;
  sender.busy = true;
  try {
    while (outbox.entries.length) {
      const e = outbox.entries[0];
      if (!e.tried) { e.tried = true; outbox.save(e); }  // from now on it may have arrived
      try {
        const ack = await post(e);
        outbox.remove(e.request_id);
        sender.failures = 0;
        sender.offline = false;
        onAck(ack, e);
      } catch (err) {
        if (!retryable(err)) {
          outbox.remove(e.request_id);
          notice(`The server refused an answer (item ${e.item_id}): ${err.detail}`);
        } else {
          sender.offline = true;
          sender.failures += 1;
          showStatus();
          await pause(BACKOFF_MS[Math.min(sender.failures, BACKOFF_MS.length) - 1]);
        }
      }
      showStatus();
    }
  } finally {
    sender.busy = false;
    showStatus();
  }
}

function onAck(ack, e) {
  sender.acked = true;
  state.nLabeled = ack.n_labeled;
  noteVersion(ack.model_version, e.kind !== "skip" && !ack.duplicate);
}

// -- the model version and "updating…" ---------------------------------------------------

function noteVersion(version, labelsChanged) {
  if (version > state.modelVersion) { state.modelVersion = version; state.quietPolls = 0; }
  if (labelsChanged) state.staleAt = Math.max(state.staleAt ?? -1, version);  // not in it yet
  if (state.staleAt !== null && state.modelVersion > state.staleAt) state.staleAt = null;
  showProgress();
  watchModel();
}

function watchModel() {
  if (state.staleAt === null || state.modelTimer !== null) return;
  state.modelTimer = setTimeout(async () => {
    state.modelTimer = null;
    if (state.staleAt === null) return;
    try {
      const before = state.modelVersion;
      const p = await api(`/api/projects/${P}`);
      noteVersion(p.model_version, false);
      if (state.staleAt !== null && p.model_version <= before && outbox.entries.length === 0) {
        // no new version although nothing is waiting: the refit had nothing to fit (yet)
        state.quietPolls += 1;
        if (state.quietPolls >= QUIET_POLLS) { state.staleAt = null; state.quietPolls = 0; }
      }
    } catch (_) { /* the next poll tries again */ }
    showProgress();
    watchModel();
  }, MODEL_POLL_MS);
}

// -- the queue -----------------------------------------------------------------------------

function prepare(raw) {
  const it = { ...raw };
  if (it.image_url) {
    const img = new Image();
    img.alt = it.image_name || `image ${it.id}`;
    img.decoding = "async";
    img.src = it.image_url;
    img.decode().catch(() => { /* shown as its alt text */ });
    it.img = img;
  }
  return it;
}

const ready = () => state.queue.length + state.back.length;

function takeNext() {
  while (state.back.length) {
    const it = state.back.pop();
    if (!state.answered.has(it.id)) return it;
  }
  while (state.queue.length) {
    const it = state.queue.shift();
    if (!state.answered.has(it.id)) return it;
  }
  return null;
}

function merge(items) {
  // The server's newest ranking (with the newest suggestions) replaces the queue; items we
  // hold keep their prefetched image; what we answered or show now never comes back.
  const held = new Map(state.queue.map((it) => [it.id, it]));
  const onHold = new Set(state.back.map((it) => it.id));
  const fresh = [];
  for (const raw of items) {
    if (state.answered.has(raw.id) || raw.id === state.current?.id || onHold.has(raw.id)) continue;
    const old = held.get(raw.id);
    if (old) {
      old.suggestion = raw.suggestion; old.confidence = raw.confidence; old.reason = raw.reason;
      fresh.push(old);
    } else {
      fresh.push(prepare(raw));
    }
    noteVersion(raw.model_version || raw.reason.model_version, false);
  }
  state.queue = fresh;
}

async function topUp() {
  if (state.fetching) { state.fetchAgain = true; return; }
  state.fetching = true;
  clearTimeout(state.emptyTimer);
  state.emptyTimer = null;
  try {
    do {
      state.fetchAgain = false;
      const held = ready() + (state.current ? 1 : 0);
      const items = await api(`/api/projects/${P}/next?n=${Math.min(100, held + FETCH_MORE)}`);
      state.fetchFailed = false;
      merge(items);
      state.exhausted = !state.current && !ready();
    } while (state.fetchAgain && ready() < READY);
  } catch (err) {
    if (err instanceof ApiError && !retryable(err)) notice(`Could not fetch items: ${err.detail}`);
    state.fetchFailed = true;
    state.emptyTimer = setTimeout(topUp, 3000);
  } finally {
    state.fetching = false;
  }
  showStatus();
  if (!state.current) show(takeNext());
  if (!state.current && !ready() && state.emptyTimer === null) {
    state.emptyTimer = setTimeout(topUp, EMPTY_POLL_MS);
  }
  view.dataset.ready = String(ready());
}

// -- rendering -----------------------------------------------------------------------------

function measure(t0) {
  requestAnimationFrame(() => {
    itemEl.getBoundingClientRect();  // style and layout of the new item, if not done yet
    window.labellaTimings.push(performance.now() - t0);
    const ch = new MessageChannel();
    ch.port1.onmessage = () => window.labellaPaintTimings.push(performance.now() - t0);
    ch.port2.postMessage(0);
  });
}

const pct = (c) => `${Math.round(c * 100)} %`;
const names = (labels) => (labels.length ? labels.join(", ") : "no label");

function show(item, previous = null, t0 = null) {
  ui.notice.textContent = "";
  state.current = item;
  view.dataset.ready = String(ready());
  if (!item) {
    itemEl.removeAttribute("data-item-id");
    for (const x of itemOnly) x.hidden = true;
    if (t0 !== null) { state.pendingT0 = t0; window.labellaQueueMisses += 1; }
    const waiting = state.fetching || state.fetchFailed || !state.exhausted;
    itemEl.hidden = !waiting;
    ui.empty.hidden = waiting;
    itemEl.replaceChildren(el("p", { class: "muted placeholder" }, "Loading…"));
    ui.suggestion.textContent = ui.why.textContent = "";
    ui.previous.hidden = true;
    return;
  }
  itemEl.hidden = false;
  ui.empty.hidden = true;
  for (const x of itemOnly) x.hidden = false;
  itemEl.classList.remove("loading");
  itemEl.removeAttribute("aria-busy");
  itemEl.dataset.itemId = String(item.id);
  const parts = [];
  if (item.img) {
    imageBox.replaceChildren(item.img);
    sizeImage(item.img, imageBox);
    parts.push(imageBox);
  }
  if (item.text !== null && item.text !== undefined) {
    const box = item.img ? captionBox : textBox;
    box.textContent = item.text;
    parts.push(box);
  }
  itemEl.replaceChildren(...parts);

  const sugg = item.suggestion;
  if (sugg) {
    ui.suggestion.replaceChildren(el("span", { class: "k" }, "Suggestion"), " ",
      el("strong", {}, names(sugg)), ` · ${pct(item.confidence)}`,
      item.preselect ? "" : el("span", { class: "muted" }, " · not pre-selected (not sure enough)"));
  } else {
    ui.suggestion.replaceChildren(el("span", { class: "k" }, "Suggestion"),
      item.reason.model_version ? " none yet (the model needs a few more labels)" : " none yet (cold start)");
  }
  // the server words it for people ("the model is torn between cat (48 %) and dog (46 %)")
  ui.why.replaceChildren(el("span", { class: "k" }, "Why this item"), ` ${item.explanation || item.reason.strategy}`);

  if (previous) {
    ui.previous.textContent = previous.kind === "skip" ? "You skipped this item before."
      : `Your earlier answer: ${names(previous.labels)}`;
    ui.previous.hidden = false;
  } else {
    ui.previous.hidden = true;
  }
  const earlier = previous?.kind === "label" ? previous.labels : null;
  // the suggestion starts selected only when the server says it is sure enough (calibrated)
  const offered = item.preselect ? sugg : null;
  const pre = new Set(earlier ?? offered ?? []);
  state.selected = MULTI ? pre : new Set();
  state.preselected = MULTI ? null : (earlier?.[0] ?? offered?.[0] ?? null);
  for (const b of buttons) {
    const name = b.dataset.label;
    b.classList.toggle("suggested", !!sugg && sugg.includes(name));
    b.classList.toggle("earlier", !!earlier && earlier.includes(name));
    if (MULTI) b.setAttribute("aria-pressed", String(pre.has(name)));
    else b.classList.toggle("preselected", name === state.preselected);
  }
  const start = t0 ?? state.pendingT0;
  state.pendingT0 = null;
  if (start !== null) measure(start);
}

function showStatus() {
  const n = outbox.entries.length;
  let text = "saved";
  let st = "saved";
  if (sender.offline || state.fetchFailed) {
    text = n ? `offline — retrying · ${n} waiting` : "offline — retrying";
    st = "offline";
  } else if (n) {
    text = `${n} waiting`;
    st = "waiting";
  }
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.state = st;
  view.dataset.outbox = String(n);
}

function showProgress() {
  ui.labels.textContent = String(state.nLabeled);
  ui.bar.value = state.nLabeled;
  ui.version.textContent = state.modelVersion ? `v${state.modelVersion}` : "none yet";
  ui.updating.hidden = state.staleAt === null;
}

function notice(text) { ui.notice.textContent = text; }

// -- answers -------------------------------------------------------------------------------

// Network work starts in a task of its own, so that the key's handler only paints.
const later = (fn) => setTimeout(fn, 0);

function advance(t0) {
  show(takeNext(), null, t0);
  if (ready() < READY) later(topUp);
}

function record(kind, labels, t0) {
  const item = state.current;
  const e = outbox.add(kind === "label" ? { kind, item_id: item.id, labels } : { kind, item_id: item.id });
  state.history.push({ item, kind, labels, requestId: e.request_id });
  if (state.history.length > HISTORY) state.history.shift();
  state.answered.add(item.id);
  advance(t0);
  showStatus();
  later(drain);
}

function choose(name, t0) {
  if (!state.current) return;
  if (!MULTI) { record("label", [name], t0); return; }
  if (state.selected.has(name)) state.selected.delete(name); else state.selected.add(name);
  const b = buttons.find((x) => x.dataset.label === name);
  b.setAttribute("aria-pressed", String(state.selected.has(name)));
}

function submit(t0) {
  if (!state.current) return;
  if (MULTI) { record("label", LABELS.filter((l) => state.selected.has(l)), t0); return; }
  if (state.preselected !== null) record("label", [state.preselected], t0);
  else notice("No suggestion to accept yet: press the number of a label.");
}

function skip(t0) {
  if (state.current) record("skip", null, t0);
}

function undo(t0) {
  const last = state.history.pop();
  if (!last) { notice("Nothing to undo on this page."); return; }
  const e = outbox.find(last.requestId);
  if (e && !e.tried) outbox.remove(e.request_id);  // never left this browser
  else outbox.add({ kind: "undo", item_id: last.item.id });
  state.answered.delete(last.item.id);
  if (state.current) state.back.push(state.current);
  show(last.item, last, t0);
  showStatus();
  later(drain);
}

// -- keys, buttons, the shortcuts overlay ----------------------------------------------------

let returnFocus = null;

function toggleShortcuts(open = ui.shortcuts.hidden) {
  ui.shortcuts.hidden = !open;
  ui.toggle.setAttribute("aria-expanded", String(open));
  if (open) { returnFocus = document.activeElement; $("shortcuts-close").focus(); }
  else if (returnFocus && returnFocus.focus) { returnFocus.focus(); returnFocus = null; }
}

function typing(target) {
  return target instanceof Element &&
    (target.isContentEditable || !!target.closest("input, textarea, select"));
}

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.isComposing || typing(ev.target)) return;
  const t0 = performance.now();
  if (ev.timeStamp > 0 && ev.timeStamp <= t0) window.labellaInputDelays.push(t0 - ev.timeStamp);
  const k = ev.key;
  if (k === "?") { ev.preventDefault(); toggleShortcuts(); return; }
  if (!ui.shortcuts.hidden) {
    if (k === "Escape") { ev.preventDefault(); toggleShortcuts(false); }
    return;
  }
  if (ev.repeat) return;
  if (k === "/") { ev.preventDefault(); finder.focus(); return; }
  const byKey = labelFor(BY_KEY, k);
  if (byKey !== null) { ev.preventDefault(); choose(byKey, t0); return; }
  switch (k) {
    case "Enter":
      // on Skip, Undo, Submit or a link Enter does what it says; anywhere else (a label
      // button included, which a click leaves focused) it submits
      if (ev.target instanceof Element && ev.target.closest("a, button:not([data-label])")) break;
      ev.preventDefault();  // also stops a focused label button's click
      submit(t0);
      break;
    case "s": case "S": ev.preventDefault(); skip(t0); break;
    case "u": case "U": case "Backspace": ev.preventDefault(); undo(t0); break;
    default: break;
  }
}

const finder = setupFilter({
  input: $("label-filter"), count: $("label-filter-count"), buttons, labels: LABELS, multi: MULTI,
  choose, submit,
});
document.addEventListener("keydown", onKey);
$("choices").addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-label]");
  if (b) choose(b.dataset.label, performance.now());
});
$("skip").addEventListener("click", () => skip(performance.now()));
$("undo").addEventListener("click", () => undo(performance.now()));
$("submit")?.addEventListener("click", () => submit(performance.now()));
ui.toggle.addEventListener("click", () => toggleShortcuts());
$("shortcuts-close").addEventListener("click", () => toggleShortcuts(false));
ui.shortcuts.addEventListener("click", (ev) => { if (ev.target === ui.shortcuts) toggleShortcuts(false); });
window.addEventListener("online", () => { sender.wake?.(); drain(); if (!state.current) topUp(); });

// -- start: what the last visit left in the outbox is sent first ----------------------------

outbox.load();
for (const e of outbox.entries) {
  if (e.kind === "undo") state.answered.delete(e.item_id); else state.answered.add(e.item_id);
}
showStatus();
showProgress();
topUp();
drain();
// the page's counts are the database's ("ever labelled"); the loop's live ones replace them
api(`/api/projects/${P}/metrics`).then((m) => {
  if (!sender.acked) { state.nLabeled = m.n_labeled; noteVersion(m.model_version, false); }
}).catch(() => { /* the acks bring the counts */ });
