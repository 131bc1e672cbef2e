// Settings: save the strategy, head and loop settings (API errors shown at their fields),
// manage members, and download exports.
import { api, ApiError, el } from "/static/api.js";

const root = document.getElementById("settings");
const projectId = root.dataset.projectId;
const isAdmin = root.dataset.admin === "true";
const $ = (id) => document.getElementById(id);
const form = $("settings-form");
const FIELDS = ["strategy", "head", "batch_size", "exploration", "label_budget", "cold_start", "hotkeys"];

function explain(name) {
  const box = document.querySelector(`[data-explains="${name}"]`);
  const opt = form.elements[name].selectedOptions[0];
  if (box) box.textContent = opt ? opt.dataset.description || "" : "";
}

function clearErrors() {
  for (const f of FIELDS) {
    document.querySelector(`[data-error-for="${f}"]`).textContent = "";
    form.elements[f].removeAttribute("aria-invalid");
  }
}

/** The field an API error message is about: check_settings names the setting first. */
export function fieldOf(message) {
  const m = message.toLowerCase();
  for (const f of ["relabel", "batch_size", "exploration", "label_budget", "cold_start", "hotkeys",
                   "overlap_share", "labels_per_item", "consensus"]) if (m.includes(f)) return f;
  if (m.includes("head")) return "head";
  if (m.includes("strategy")) return "strategy";
  return null;
}

/** "positive=p, negative=n" as {positive: "p", negative: "n"}; empty: null (number keys only). */
export function parseHotkeys(text) {
  const out = {};
  for (const part of text.split(",").map((x) => x.trim()).filter(Boolean)) {
    const at = part.lastIndexOf("=");
    if (at <= 0) return `“${part}” is not label=key`;
    out[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return Object.keys(out).length ? out : null;
}

function number(value) {
  if (value.trim() === "") return null;
  const n = Number(value);
  return Number.isNaN(n) ? value : n;
}

async function saveSettings(ev) {
  ev.preventDefault();
  clearErrors();
  const status = $("settings-status");
  const e = form.elements;
  const body = {
    strategy: e.strategy.value, head: e.head.value,
    settings: {
      batch_size: number(e.batch_size.value), exploration: number(e.exploration.value),
      label_budget: number(e.label_budget.value), cold_start: e.cold_start.value || null,
      audit_share: number(e.audit_share.value),
      labels_per_item: number(e.labels_per_item.value), overlap_share: number(e.overlap_share.value),
      consensus: e.consensus.value, relabel: e.relabel.value,
      hotkeys: parseHotkeys(e.hotkeys.value),
    },
  };
  if (typeof body.settings.hotkeys === "string") {
    showFieldError("hotkeys", body.settings.hotkeys);
    return;
  }
  if (body.settings.batch_size === null) {
    showFieldError("batch_size", "A batch size is needed (1 to 1000).");
    return;
  }
  if (body.settings.exploration === null) body.settings.exploration = 0;
  status.textContent = "saving…";
  try {
    const p = await api(`/api/projects/${projectId}`, { method: "PATCH", json: body });
    status.textContent = `Saved: ${p.strategy} with ${p.head}, batch size ${p.settings.batch_size}.`
      + (p.refit_pending ? " The model is being refitted with them in the background; labelling goes on meanwhile." : "");
  } catch (err) {
    const msg = err instanceof ApiError ? String(err.detail) : String(err.message);
    const field = fieldOf(msg);
    status.textContent = field ? "Not saved; see the field marked below." : `Not saved: ${msg}`;
    if (field) showFieldError(field, msg);
  }
}

function showFieldError(field, message) {
  document.querySelector(`[data-error-for="${field}"]`).textContent = message;
  form.elements[field].setAttribute("aria-invalid", "true");
  form.elements[field].focus();
}

// -- members -------------------------------------------------------------------------------

function memberStatus(text, bad = false) {
  const p = $("members-status");
  p.textContent = text;
  p.classList.toggle("error", bad);
}

function roleName(role) {
  return role === "admin" ? "an admin" : role === "reviewer" ? "a reviewer" : "an annotator";
}

function memberRow(m) {
  const role = el("select", { class: "member-role", "aria-label": `Role of ${m.username}` },
    ...["admin", "reviewer", "annotator"].map((r) => el("option", { value: r, selected: r === m.role }, r)));
  const remove = el("button", { type: "button", class: "link member-remove" }, "Remove");
  const tr = el("tr", { "data-username": m.username }, el("td", {}, m.username), el("td", {}, role), el("td", {}, remove));
  wireRow(tr);
  return tr;
}

function wireRow(tr) {
  const username = tr.dataset.username;
  const role = tr.querySelector(".member-role");
  const remove = tr.querySelector(".member-remove");
  role?.addEventListener("change", () => setMember(username, role.value));
  remove?.addEventListener("click", async () => {
    if (remove.dataset.confirm !== "true") {
      remove.dataset.confirm = "true";
      remove.textContent = `Really remove ${username}?`;
      setTimeout(() => { remove.dataset.confirm = ""; remove.textContent = "Remove"; }, 4000);
      return;
    }
    try {
      await api(`/api/projects/${projectId}/members/${encodeURIComponent(username)}`, { method: "DELETE" });
      memberStatus(`${username} removed.`);
    } catch (err) {
      memberStatus(`Could not remove ${username}: ${err.detail || err.message}`, true);
    }
    reloadMembers();
  });
}

async function setMember(username, role) {
  try {
    await api(`/api/projects/${projectId}/members`, { method: "PUT", json: { username, role } });
    memberStatus(`${username} is now ${roleName(role)}.`);
    return true;
  } catch (err) {
    memberStatus(`Could not set ${username}'s role: ${err.detail || err.message}`, true);
    return false;
  } finally {
    reloadMembers();
  }
}

async function reloadMembers() {
  try {
    const members = await api(`/api/projects/${projectId}/members`);
    document.querySelector("#members tbody").replaceChildren(...members.map(memberRow));
  } catch (err) {
    memberStatus(`Could not load the members: ${err.detail || err.message}`, true);
  }
}

async function addMember(ev) {
  ev.preventDefault();
  const f = ev.target;
  const username = f.elements.username.value.trim();
  if (!username) { memberStatus("Type a username.", true); return; }
  // a user who has no account yet is created, with a one-time sign-in link to pass on
  const role = f.elements.role.value;
  try {
    const r = await api(`/api/projects/${projectId}/members/invite`, { method: "POST", json: { username, role } });
    f.reset();
    const what = `${r.member.username} is now ${roleName(role)}.`;
    memberStatus(r.login_path ? `${what} New user: pass on this one-time sign-in link (valid 24 hours): ${location.origin}${r.login_path}` : what);
  } catch (err) {
    memberStatus(`Could not add ${username}: ${err.detail || err.message}`, true);
  } finally {
    reloadMembers();
  }
}

// -- export ----------------------------------------------------------------------------------

function filename(response, fallback) {
  const cd = response.headers.get("content-disposition") || "";
  const star = /filename\*=(?:UTF-8'')?([^;]+)/i.exec(cd);
  if (star) return decodeURIComponent(star[1].replace(/"/g, ""));
  const plain = /filename="?([^";]+)"?/i.exec(cd);
  return plain ? plain[1] : fallback;
}

async function download(button) {
  const fmt = button.dataset.export;
  const status = $("export-status");
  const unlabeled = $("include-unlabeled").checked;
  const url = fmt === "model" ? `/api/projects/${projectId}/model`
    : `/api/projects/${projectId}/export?format=${encodeURIComponent(fmt)}&include_unlabeled=${unlabeled}`;
  button.disabled = true;
  status.classList.remove("error");
  status.textContent = `preparing the ${button.textContent} export…`;
  try {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail ?? detail; } catch (_) { /* not JSON */ }
      throw new Error(detail);
    }
    const blob = await r.blob();
    const name = filename(r, `project-${projectId}-${fmt}`);
    const href = URL.createObjectURL(blob);
    const a = el("a", { href, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60000);
    status.textContent = `Downloaded ${name} (${(blob.size / 1024).toFixed(1)} KB).`;
  } catch (err) {
    status.classList.add("error");
    status.textContent = `Could not export: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// -- wiring ------------------------------------------------------------------------------------

for (const name of ["strategy", "head", "cold_start"]) {
  form.elements[name].addEventListener("change", () => explain(name));
  explain(name);
}
if (isAdmin) {
  form.addEventListener("submit", saveSettings);
  $("member-form").addEventListener("submit", addMember);
  for (const tr of document.querySelectorAll("#members tbody tr")) wireRow(tr);
}
for (const b of document.querySelectorAll("[data-export]")) b.addEventListener("click", () => download(b));
