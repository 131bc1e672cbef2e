// The labelling view's helpers for many labels and tiny images.
//
// keyMap: each label's key (its own hotkey or a number key) as the server chose them.
// setupFilter: "/" focuses a box; typing hides the labels that do not match (by prefix of
// any word first, then anywhere in the name); Enter chooses (single-label) or toggles
// (multi-label) the first match and empties the box for the next one; Enter in the empty
// box submits (multi-label); Esc empties the box and leaves it.
// sizeImage: images of at most PIXELATED_MAX px a side are scaled up with sharp pixels
// (image-rendering: pixelated) instead of blurred, and every image shows its native size.

export const PIXELATED_MAX = 64;

export function keyMap(keys) {
  const byKey = new Map();
  for (const [label, key] of Object.entries(keys || {})) byKey.set(key.toLowerCase(), label);
  return byKey;
}

export function labelFor(byKey, key) {
  if (!key || key.length !== 1) return null;
  return byKey.get(key.toLowerCase()) ?? null;
}

function rank(name, query) {
  const n = name.toLowerCase();
  if (n.startsWith(query)) return 0;
  if (n.split(/[\s_\-/.:]+/).some((w) => w.startsWith(query))) return 1;
  return n.includes(query) ? 2 : -1;
}

export function matches(labels, text) {
  const q = text.trim().toLowerCase();
  if (!q) return [...labels];
  const scored = labels.map((l, i) => [rank(l, q), i, l]).filter(([r]) => r >= 0);
  scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return scored.map(([, , l]) => l);
}

export function setupFilter({ input, count, buttons, labels, multi, choose, submit }) {
  if (!input) return { focus() {}, active: () => false };
  const apply = () => {
    const found = matches(labels, input.value);
    const top = found[0] ?? null;
    const shown = new Set(found);
    for (const b of buttons) {
      b.hidden = !shown.has(b.dataset.label);
      b.classList.toggle("filter-top", input.value.trim() !== "" && b.dataset.label === top);
    }
    count.textContent = input.value.trim() ? `${found.length} of ${labels.length}` : "";
    return top;
  };
  const clear = () => { input.value = ""; apply(); };
  input.addEventListener("input", apply);
  input.addEventListener("keydown", (ev) => {
    if (ev.isComposing) return;
    if (ev.key === "Escape") { ev.preventDefault(); clear(); input.blur(); return; }
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    const t0 = performance.now();
    if (!input.value.trim()) { if (multi) submit(t0); return; }
    const top = apply();
    if (top === null) return;
    clear();
    choose(top, t0);
    if (!multi) input.blur();  // the next item: number keys work again
  });
  return {
    focus() { input.focus(); input.select(); },
    active: () => document.activeElement === input,
    clear,
  };
}

export function sizeImage(img, box) {
  const apply = () => {
    const w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) return;
    const tiny = Math.max(w, h) <= PIXELATED_MAX;
    img.classList.toggle("pixelated", tiny);
    box.dataset.native = `${w} × ${h} px${tiny ? " (shown enlarged)" : ""}`;
  };
  if (img.complete) apply(); else img.addEventListener("load", apply, { once: true });
}
