// The site admin's user list: create a user (with a one-time sign-in link), disable or
// enable one, make a new sign-in link. Everything goes through the REST API.
import { api, el } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const form = $("user-form");

function status(text, bad = false) {
  const p = $("users-status");
  p.textContent = text;
  p.classList.toggle("error", bad);
}

function showLink(path, username) {
  const input = $("login-link");
  input.value = location.origin + path;
  $("login-link-box").hidden = false;
  input.focus();
  input.select();
  status(`Sign-in link for ${username} ready.`);
}

function row(u) {
  const tr = el("tr", { "data-user-id": String(u.user_id), "data-username": u.username, "data-disabled": "false" },
    el("td", {}, u.username), el("td", {}, u.is_admin ? "yes" : ""), el("td", {}, "none yet"), el("td", {}, "0"),
    el("td", { class: "user-state" }, "active"),
    el("td", {}, el("button", { type: "button", class: "link user-toggle" }, "Disable"), " ",
      el("button", { type: "button", class: "link user-link" }, "Sign-in link")));
  wire(tr);
  return tr;
}

function wire(tr) {
  const id = tr.dataset.userId;
  const name = tr.dataset.username;
  const toggle = tr.querySelector(".user-toggle");
  const link = tr.querySelector(".user-link");
  toggle?.addEventListener("click", async () => {
    const disable = tr.dataset.disabled !== "true";
    try {
      await api(`/api/users/${id}`, { method: "PATCH", json: { disabled: disable } });
      tr.dataset.disabled = String(disable);
      tr.querySelector(".user-state").textContent = disable ? "disabled" : "active";
      toggle.textContent = disable ? "Enable" : "Disable";
      if (link) link.hidden = disable;
      status(`${name} is ${disable ? "disabled: their sign-ins and tokens stop working" : "enabled again"}.`);
    } catch (err) {
      status(`Could not change ${name}: ${err.detail || err.message}`, true);
    }
  });
  link?.addEventListener("click", async () => {
    try {
      const r = await api(`/api/admin/users/${id}/login-link`, { method: "POST" });
      showLink(r.path, name);
    } catch (err) {
      status(`Could not make a link for ${name}: ${err.detail || err.message}`, true);
    }
  });
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = form.elements.username.value.trim();
  if (!username) { status("Type a username.", true); return; }
  const isAdmin = form.elements.is_admin.checked;
  try {
    const r = await api("/api/admin/users", { method: "POST", json: { username, is_admin: isAdmin } });
    $("user-table").querySelector("tbody").append(row({ ...r, is_admin: isAdmin }));
    form.reset();
    showLink(r.path, r.username);
  } catch (err) {
    status(`Could not create ${username}: ${err.detail || err.message}`, true);
  }
});
for (const tr of document.querySelectorAll("#user-table tbody tr")) wire(tr);
