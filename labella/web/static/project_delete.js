// The settings page's "Delete this project": enabled only once the exact name is typed;
// the server checks the name again (DELETE /api/projects/{id}?confirm=name).
import { api } from "/static/api.js";

const box = document.getElementById("delete-project");
const form = document.getElementById("delete-form");
const button = document.getElementById("delete-button");
const status = document.getElementById("delete-status");
const name = box.dataset.name;
const projectId = document.getElementById("settings").dataset.projectId;

form.elements.confirm.addEventListener("input", () => {
  button.disabled = form.elements.confirm.value !== name;
});
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (form.elements.confirm.value !== name) return;
  button.disabled = true;
  status.textContent = "deleting…";
  try {
    const r = await api(`/api/projects/${projectId}?confirm=${encodeURIComponent(name)}`, { method: "DELETE" });
    status.textContent = `Deleted ${r.name}: ${r.items} items.`;
    location.href = "/";
  } catch (err) {
    status.classList.add("error");
    status.textContent = `Could not delete: ${err.detail || err.message}`;
    button.disabled = false;
  }
});
