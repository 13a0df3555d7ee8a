// People (staff): create accounts with invitation links, renew a link, deactivate/reactivate.
import { api, el, toast } from "./api.js";

const $ = (s) => document.querySelector(s);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

function status(user) {
  if (!user.is_active) return "deactivated";
  if (user.has_password) return "active";
  const state = user.invitation?.state;
  return state === "open" ? "invited" : state ? `invitation ${state}` : "no password";
}

function showLink(username, invitation) {
  const box = $("#invite-link");
  box.hidden = false;
  box.querySelector("[data-for]").textContent = username;
  box.querySelector("[data-expires]").textContent = when(invitation.expires_at);
  box.querySelector("[data-emailed]").hidden = !invitation.emailed;
  $("#invite-url").value = invitation.url;
  $("#invite-url").select();
}

function row(user) {
  const actions = el("td", {});
  if (user.is_active && !user.has_password) {
    actions.append(el("button", { type: "button", class: "btn", "data-action": "invite", onclick: async () => {
      try { showLink(user.username, await api(`users/${user.id}/invitations/`, { method: "POST" })); refresh(); } catch (e) { toast(e.message, "error"); }
    }, text: "New link" }));
  }
  actions.append(el("button", { type: "button", class: `btn${user.is_active ? " danger" : ""}`, "data-action": user.is_active ? "deactivate" : "reactivate", onclick: async () => {
    if (user.is_active && !window.confirm(`Deactivate ${user.username}? They can no longer sign in; their answers stay.`)) return;
    try { await api(`users/${user.id}/active/`, { method: "POST", body: { is_active: !user.is_active } }); toast(user.is_active ? "Deactivated." : "Reactivated."); refresh(); } catch (e) { toast(e.message, "error"); }
  }, text: user.is_active ? "Deactivate" : "Reactivate" }));
  return el("tr", { "data-user": user.username },
    el("td", { text: user.username }), el("td", { text: user.email || "" }),
    el("td", { text: user.is_staff ? "staff" : "member" }), el("td", { "data-status": "", text: status(user) }),
    el("td", { text: when(user.last_login) }), actions);
}

async function refresh() {
  const users = await api("users/");
  $("#people").replaceChildren(...users.map(row));
}

$("#person-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { username: $("#person-username").value.trim(), email: $("#person-email").value.trim(), is_staff: $("#person-staff").checked };
  try {
    const created = await api("users/", { method: "POST", body });
    showLink(created.user.username, created.invitation);
    event.target.reset();
    refresh();
  } catch (e) { toast(e.details?.fields ? `${e.message}` : e.message, "error"); }
});

$("#copy-link").addEventListener("click", async () => {
  try { await navigator.clipboard.writeText($("#invite-url").value); toast("Link copied."); } catch { $("#invite-url").select(); toast("Select the link and copy it (Ctrl+C)."); }
});

refresh().catch((e) => toast(e.message, "error"));
