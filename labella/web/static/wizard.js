// The new-project wizard: steps, label names read from the data, then create + import + follow the jobs.
import { api, ApiError, el } from "/static/api.js";
import { eta as duration } from "/static/charts.js";

const STEPS = ["task", "data", "labels", "model", "loop"];
const POLL_MS = 700;
const PREVIEW_BYTES = 8 << 20; // a larger table is previewed from its first 8 MB
const form = document.getElementById("wizard");
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
let step = 0;
let project = null; // set once the project exists; a retry only starts another import
let autoFilled = false; // the label names came from the data (and follow it when it changes)

// -- small helpers -------------------------------------------------------------------

function taskType() {
  const [task, kind] = form.elements.task_type.value.split(":");
  return { task, multi: kind === "multi" };
}

function sourceKind() { return form.elements.source_kind.value; }

// Label names are separated by new lines and by commas alike ("a,b,c⏎d" is four labels);
// an exact repeat is dropped, a repeat in another case is reported by caseClashes.
export function parseLabels(text) {
  const seen = new Set();
  const out = [];
  for (const p of text.split(/[\r\n,]+/).map((s) => s.trim())) if (p && !seen.has(p)) { seen.add(p); out.push(p); }
  return out;
}

export function caseClashes(labels) {
  const first = new Map();
  const out = [];
  for (const l of labels) {
    const k = l.toLowerCase();
    if (first.has(k)) out.push([first.get(k), l]); else first.set(k, l);
  }
  return out;
}

const NAME_MAX = Number(form.elements.name.dataset.max || 200);

function fieldError(name, message) {
  const box = $(`[data-error-for="${name}"]`);
  if (box) box.textContent = message || "";
  const input = form.elements[name];
  if (input && input.setAttribute) {
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
  }
  return !message;
}

function formError(message) {
  const p = $("#form-error");
  p.textContent = message || "";
  p.hidden = !message;
}

// -- steps ---------------------------------------------------------------------------

function show(i) {
  step = Math.max(0, Math.min(STEPS.length - 1, i));
  for (const fs of $$("fieldset.step")) fs.hidden = fs.dataset.step !== STEPS[step];
  $$("#steps li").forEach((li, k) => {
    li.classList.toggle("current", k === step);
    li.classList.toggle("done", k < step);
    if (k === step) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  });
  $("#back").hidden = step === 0;
  $("#next").hidden = step === STEPS.length - 1;
  $("#create").hidden = step !== STEPS.length - 1;
  if (STEPS[step] === "labels" && !form.elements.labels.value.trim()) fillLabels(true);
  if (STEPS[step] === "loop") summary();
  const first = $(`fieldset[data-step="${STEPS[step]}"] input:not([type=hidden]):not([disabled]), ` +
                  `fieldset[data-step="${STEPS[step]}"] textarea`);
  if (first && STEPS[step] !== "task") first.focus({ preventScroll: true });
}

function validate(name) {
  formError("");
  if (name === "task") {
    const name = form.elements.name.value.trim();
    if (!name) return fieldError("name", "Give the project a name.");
    // no maxlength on the field: a pasted long name is refused here, never cut silently
    if (name.length > NAME_MAX) {
      return fieldError("name", `A project name has at most ${NAME_MAX} characters; this one has ${name.length.toLocaleString("en")}.`);
    }
    return fieldError("name", "");
  }
  if (name === "data") {
    const kind = sourceKind();
    if (kind === "upload" && !form.elements.file.files.length) return fieldError("source", "Choose a file to upload.");
    if (kind === "catalogue") {
      const picked = $("#catalogue input:checked");
      if (!picked || picked.disabled) return fieldError("source", "Pick a dataset of this task type.");
    }
    if (kind === "s3" && !/^s3:\/\/[^/]+/.test(form.elements.s3_uri.value.trim())) {
      return fieldError("source", "An S3 URI looks like s3://bucket/prefix/.");
    }
    return fieldError("source", "");
  }
  if (name === "labels") {
    const labels = parseLabels(form.elements.labels.value);
    const { multi } = taskType();
    if (labels.length < (multi ? 1 : 2)) {
      return fieldError("labels", multi ? "Name at least one label." : "Name at least two labels.");
    }
    if (multi && labels.some((l) => l.includes("|"))) return fieldError("labels", "Multi-label names cannot contain |.");
    const clash = caseClashes(labels)[0];
    if (clash) return fieldError("labels", `“${clash[0]}” and “${clash[1]}” differ only in case; keep one.`);
    return fieldError("labels", "");
  }
  if (name === "loop") {
    const b = Number(form.elements.batch_size.value);
    const e = Number(form.elements.exploration.value);
    const okB = fieldError("batch_size", Number.isInteger(b) && b >= 1 && b <= 1000 ? "" : "A whole number from 1 to 1000.");
    const okE = fieldError("exploration", form.elements.exploration.value !== "" && e >= 0 && e <= 1 ? "" : "A number from 0 to 1.");
    return okB && okE;
  }
  return true;
}

function next() {
  if (validate(STEPS[step])) show(step + 1);
}

// -- task type: what fits it ---------------------------------------------------------

function applyTaskType() {
  const { task, multi } = taskType();
  for (const opt of $$("#catalogue .option")) {
    const fits = opt.dataset.task === task && (opt.dataset.multi === "true") === multi;
    const input = $("input", opt);
    input.disabled = !fits;
    if (!fits) input.checked = false;
    opt.classList.toggle("disabled", !fits);
    opt.title = fits ? "" : "A dataset of another task type";
  }
  const strategy = form.elements.strategy;
  for (const opt of strategy.options) {
    const fits = opt.dataset[multi ? "multi" : "single"] === "true";
    opt.hidden = !fits;
    opt.disabled = !fits;
  }
  if (strategy.selectedOptions[0]?.disabled) strategy.value = [...strategy.options].find((o) => !o.disabled).value;
  const feat = form.elements.featuriser;
  let keep = feat.selectedOptions[0];
  for (const opt of feat.options) {
    opt.hidden = opt.dataset.modality !== task;
  }
  if (!keep || keep.hidden || keep.disabled) {
    const usable = [...feat.options].filter((o) => !o.hidden && !o.disabled);
    keep = usable.find((o) => o.dataset.default === "true") || usable[0];
    if (keep) feat.value = keep.value;
  }
  strategyChanged();
  explain("featuriser");
}

let headTouched = false;

function strategyChanged() {
  const opt = form.elements.strategy.selectedOptions[0];
  if (!headTouched && opt?.dataset.head) form.elements.head.value = opt.dataset.head;
  explain("strategy");
  explain("head");
}

function explain(name) {
  const opt = form.elements[name].selectedOptions[0];
  $(`[data-explains="${name}"]`).textContent = opt ? opt.dataset.description : "";
}

let importLabelsTouched = false;

function showSource() {
  const kind = sourceKind();
  for (const box of $$(".source")) box.hidden = box.dataset.source !== kind;
  fieldError("source", "");
  // a catalogue dataset comes fully labelled: by default, label its pool here from scratch
  if (!importLabelsTouched) form.elements.import_labels.value = kind === "catalogue" ? "evaluation" : "all";
}

// -- label names from the data ---------------------------------------------------------
// The server reads the file with the import's own reader (POST /api/imports/preview): the
// same columns, label names, split names and image folders as the import will use.

const WHOLE = /\.(zip|parquet)$/i; // read whole: their index is at the end of the file

async function wholeLines(file) {
  const bytes = new Uint8Array(await file.slice(0, PREVIEW_BYTES).arrayBuffer());
  const cut = bytes.lastIndexOf(10) + 1; // end at a line break: no row cut in half
  return new Blob([cut ? bytes.subarray(0, cut) : bytes]);
}

async function previewData(kind) {
  const { task, multi } = taskType();
  const data = new FormData();
  data.append("task", task);
  data.append("multi_label", String(multi));
  for (const k of ["text_column", "label_column"]) { const v = form.elements[k].value.trim(); if (v) data.append(k, v); }
  if (kind === "s3") data.append("source", form.elements.s3_uri.value.trim());
  else {
    const file = form.elements.file.files[0];
    const partial = file.size > PREVIEW_BYTES && !WHOLE.test(file.name);
    data.append("file", partial ? await wholeLines(file) : file, file.name);
    data.append("complete", String(!partial));
  }
  return api("/api/imports/preview", { method: "POST", body: data });
}

function plural(n, one, many) { return `${n.toLocaleString()} ${n === 1 ? one : many}`; }

async function labelsFromData() {
  const kind = sourceKind();
  if (kind === "catalogue") {
    const picked = $("#catalogue input:checked");
    if (!picked) return { note: "Pick a catalogue dataset first." };
    const names = JSON.parse(picked.closest(".option").dataset.labels || "[]");
    return { names, note: `${plural(names.length, "label", "labels")} of the catalogue dataset.` };
  }
  if (kind === "s3" && !/^s3:\/\/[^/]+/.test(form.elements.s3_uri.value.trim())) return { note: "Type an S3 URI first." };
  if (kind === "upload" && !form.elements.file.files[0]) return { note: "Choose a file first." };
  const found = await previewData(kind);
  const names = Object.keys(found.labels); // in natural order
  if (!names.length) return { note: "No label names found in the data; type them." };
  const bits = [plural(found.items, "item", "items")];
  if (found.splits.evaluation) bits.push(`${found.splits.evaluation.toLocaleString()} held out`);
  if (found.n_errors) bits.push(plural(found.n_errors, "bad row", "bad rows"));
  const partial = found.complete ? "" : ", from the first 8 MB";
  return { names, note: `${plural(names.length, "label", "labels")} found in ${found.label_source} (${bits.join(", ")}${partial}).` };
}

async function fillLabels(quiet = false) {
  const note = $("#labels-note");
  try {
    const { names, note: text } = await labelsFromData();
    if (names && names.length) { form.elements.labels.value = names.join("\n"); autoFilled = true; preview(); }
    note.textContent = quiet && !(names && names.length) ? "" : text;
  } catch (err) {
    const why = err instanceof ApiError ? String(err.detail) : String(err.message || err);
    note.textContent = `Could not read the labels from the data (${why}); type them.`;
  }
}

function preview() {
  const box = $("#labels-preview");
  box.replaceChildren(...parseLabels(form.elements.labels.value).map((name, i) =>
    el("span", { class: "chip" }, i < 9 ? el("kbd", {}, String(i + 1)) : null, " ", name)));
}

function summary() {
  const { task, multi } = taskType();
  const kind = sourceKind();
  const src = kind === "upload" ? (form.elements.file.files[0]?.name || "no file")
    : kind === "catalogue" ? `catalogue: ${$("#catalogue input:checked")?.value || "none"}`
      : form.elements.s3_uri.value.trim();
  const labels = parseLabels(form.elements.labels.value);
  const rows = [
    ["Project", form.elements.name.value.trim()],
    ["Task", `${task}, ${multi ? "several labels" : "one label"} per item`],
    ["Data", `${src} (labels in it: ${form.elements.import_labels.selectedOptions[0].textContent.split(":")[0]})`],
    ["Labels", labels.join(", ")],
    ["Strategy", form.elements.strategy.value],
    ["Head", form.elements.head.value],
    ["Featuriser", form.elements.featuriser.value],
  ];
  $("#summary").replaceChildren(el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}

// -- create, import, follow -------------------------------------------------------------

const STEP_OF_FIELD = { name: "task", labels: "labels", strategy: "model", head: "model", featuriser: "model",
  batch_size: "loop", exploration: "loop" };

function showApiError(err) {
  const msg = err instanceof ApiError ? String(err.detail) : String(err.message || err);
  const lower = msg.toLowerCase();
  const field = lower.includes("project named") || lower.includes("project name") ? "name"
    : lower.includes("label") ? "labels"
      : Object.keys(STEP_OF_FIELD).find((f) => lower.includes(f.replace("_", " ")) || lower.includes(f));
  if (field) {
    show(STEPS.indexOf(STEP_OF_FIELD[field]));
    fieldError(field, msg);
    form.elements[field]?.focus?.();
  } else formError(msg);
}

function jobBox(id) {
  const box = $(`#job-${id}`);
  box.hidden = false;
  return {
    set(status, fraction, message, eta) {
      $(".job-status", box).textContent = status;
      box.dataset.status = status;
      const bar = $("progress", box);
      if (fraction === null || fraction === undefined) bar.removeAttribute("value"); else bar.value = fraction;
      $(".job-message", box).textContent = message || "";
      $(".job-eta", box).textContent = eta || "";
    },
    fail(text) { const pre = $(".job-error", box); pre.hidden = false; pre.textContent = text; },
  };
}

function upload(file) {
  const box = jobBox("upload");
  const data = new FormData();
  data.append("file", file);
  for (const k of ["text_column", "label_column"]) { const v = form.elements[k].value.trim(); if (v) data.append(k, v); }
  data.append("labels", form.elements.import_labels.value);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/projects/${project.id}/imports`);
    xhr.setRequestHeader("X-Labella-CSRF", "1");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const s = (performance.now() - started) / 1000;
      const eta = e.loaded ? (s * (e.total - e.loaded)) / e.loaded : null;
      box.set("uploading", e.loaded / e.total, `${(e.loaded / 1e6).toFixed(1)} of ${(e.total / 1e6).toFixed(1)} MB`, duration(eta));
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 202) { box.set("uploaded", 1, file.name, ""); resolve(xhr.response); }
      else { box.set("failed", 0, "", ""); reject(new ApiError(xhr.status, xhr.response?.detail ?? xhr.statusText)); }
    });
    xhr.addEventListener("error", () => reject(new Error("the upload was interrupted")));
    xhr.send(data);
  });
}

async function follow(job, name) {
  const box = jobBox(name);
  for (;;) {
    const frac = job.progress ?? (job.total ? job.done / job.total : null);
    box.set(job.status, job.status === "succeeded" ? 1 : frac, job.message, job.status === "running" ? duration(job.eta_seconds) : "");
    if (job.status === "succeeded") return job;
    if (job.status === "failed" || job.status === "cancelled") {
      // what failed, in words: never a traceback (those stay in the server's log)
      const lines = (job.log_tail || []).filter((l) => !/^\s*(Traceback|File "|\^)/.test(l)).slice(-3);
      box.fail([job.error, ...lines].filter(Boolean).join("\n"));
      throw new Error(`${name} ${job.status}: ${job.error || ""}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
    job = await api(`/api/jobs/${job.id}`);
  }
}

function report(result) {
  $("#import-report").hidden = false;
  const n = (k, one, many) => `${k} ${k === 1 ? one : many}`;
  const bits = [`${n(result.added, "item", "items")} added`];
  const repeated = result.repeated_in_file || 0;
  const before = (result.duplicates || 0) - repeated;
  if (before) bits.push(`${before.toLocaleString("en")} already in the project`);
  if (repeated) bits.push(`${n(repeated, "row repeats", "rows repeat")} an earlier row of this file`);
  if (result.labeled) bits.push(`${result.labeled} came with labels`);
  if (result.evaluation) bits.push(`${result.evaluation} held out to measure the model`);
  bits.push(result.n_errors ? n(result.n_errors, "bad row", "bad rows") : "no bad rows");
  $("#report-counts").textContent = bits.join(" · ") + ".";
  if (!result.n_errors) return;
  $("#bad-rows").hidden = false;
  const shown = (result.errors || []).slice(0, 50);
  $("#bad-rows tbody").replaceChildren(...shown.map((e) =>
    el("tr", {}, el("td", {}, String(e.position)), el("td", {}, e.source), el("td", {}, e.message))));
  const more = result.n_errors - shown.length;
  $("#bad-rows-more").textContent = more > 0 ? `and ${more} more` : "";
}

async function startImport() {
  const kind = sourceKind();
  if (kind === "upload") return upload(form.elements.file.files[0]);
  const source = kind === "catalogue" ? `catalogue:${$("#catalogue input:checked").value}` : form.elements.s3_uri.value.trim();
  const body = { source, labels: form.elements.import_labels.value };
  for (const k of ["text_column", "label_column"]) { const v = form.elements[k].value.trim(); if (v) body[k] = v; }
  return api(`/api/projects/${project.id}/imports/source`, { method: "POST", json: body });
}

async function findFeaturise(after) {
  for (let i = 0; i < 20; i++) {
    const jobs = await api(`/api/projects/${project.id}/jobs?limit=20`);
    const f = jobs.filter((j) => j.kind === "featurise" && j.id > after).sort((a, b) => a.id - b.id)[0];
    if (f) return f;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  return null;
}

async function submit(ev) {
  ev.preventDefault();
  for (const name of STEPS) if (!validate(name)) { show(STEPS.indexOf(name)); return; }
  const create = $("#create");
  create.disabled = true;
  const { task, multi } = taskType();
  try {
    if (!project) {
      project = await api("/api/projects", { method: "POST", json: {
        name: form.elements.name.value.trim(), task, multi_label: multi,
        labels: parseLabels(form.elements.labels.value), description: form.elements.description.value.trim(),
        strategy: form.elements.strategy.value, head: form.elements.head.value,
        featuriser: form.elements.featuriser.value,
        settings: { batch_size: Number(form.elements.batch_size.value), exploration: Number(form.elements.exploration.value) },
      } });
    }
  } catch (err) {
    create.disabled = false;
    showApiError(err);
    return;
  }
  form.hidden = true;
  $("#steps").hidden = true;
  const panel = $("#progress");
  panel.hidden = false;
  $("#project-link").textContent = project.name;
  $("#project-link").href = `/projects/${project.id}`;
  $("#go-label").href = `/projects/${project.id}/label`;
  $("#go-dashboard").href = `/projects/${project.id}`;
  for (const id of ["job-upload", "job-import", "job-featurise", "import-report", "bad-rows", "progress-error", "retry-row"]) $(`#${id}`).hidden = true;
  try {
    const job = await startImport();
    const done = await follow(job, "import");
    report(done.result || {});
    if ((done.result || {}).added) {
      const feat = await findFeaturise(done.id);
      if (feat) await follow(feat, "featurise");
    }
    $("#done").hidden = false;
    $("#go-label").focus();
  } catch (err) {
    const p = $("#progress-error");
    p.hidden = false;
    p.textContent = err instanceof ApiError ? String(err.detail) : String(err.message || err);
    $("#retry-row").hidden = false;
  }
}

async function deleteProject() {
  // the import failed: the user may drop the project instead of retrying
  const b = $("#delete-created");
  b.disabled = true;
  try {
    await api(`/api/projects/${project.id}?confirm=${encodeURIComponent(project.name)}`, { method: "DELETE" });
    location.href = "/";
  } catch (err) {
    b.disabled = false;
    $("#progress-error").textContent = `Could not delete the project: ${err.detail || err.message}`;
  }
}

function retry() {
  // the project exists: only the data source can change now
  $("#progress").hidden = true;
  form.hidden = false;
  $("#steps").hidden = false;
  $("#create").disabled = false;
  for (const fs of $$("fieldset.step")) if (!["data", "loop"].includes(fs.dataset.step)) fs.disabled = true;
  formError(`Project “${project.name}” was created; choose another data source and import again.`);
  show(STEPS.indexOf("data"));
  $("#next").hidden = true;
  $("#create").hidden = false;
}

// -- wiring ------------------------------------------------------------------------------

$("#next").addEventListener("click", next);
$("#back").addEventListener("click", () => show(step - 1));
form.addEventListener("submit", submit);
$("#retry").addEventListener("click", retry);
$("#delete-created").addEventListener("click", deleteProject);
$$("#steps a").forEach((a, k) => a.addEventListener("click", (e) => {
  e.preventDefault();
  if (project) return;
  for (let i = step; i < k; i++) if (!validate(STEPS[i])) { show(i); return; }
  show(k);
}));
form.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && e.target.tagName === "INPUT" && e.target.type !== "file" && step < STEPS.length - 1) {
    e.preventDefault();
    next();
  }
});
for (const r of form.elements.task_type) r.addEventListener("change", applyTaskType);
for (const r of form.elements.source_kind) r.addEventListener("change", showSource);
form.elements.strategy.addEventListener("change", strategyChanged);
form.elements.head.addEventListener("change", () => { headTouched = true; explain("head"); });
form.elements.featuriser.addEventListener("change", () => explain("featuriser"));
form.elements.import_labels.addEventListener("change", () => { importLabelsTouched = true; });
form.elements.labels.addEventListener("input", () => { autoFilled = false; preview(); });
function dataChanged() {
  if (autoFilled) { form.elements.labels.value = ""; preview(); }
  fieldError("source", "");
}
form.elements.file.addEventListener("change", dataChanged);
$("#catalogue").addEventListener("change", dataChanged);
$("#labels-from-data").addEventListener("click", () => fillLabels(false));
applyTaskType();
showSource();
show(0);
form.elements.name.focus();
