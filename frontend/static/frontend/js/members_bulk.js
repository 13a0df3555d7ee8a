// Project editor: add many members at once. The engine adds all or nobody and names each line
// to fix; the lines stay in the box so they can be corrected and sent again.
import { api, el, toast } from "./api.js";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const form = document.getElementById("members-bulk-form");

if (form) {
  const select = document.getElementById("bulk-role");
  select.replaceChildren(...config.roles.map(([value, label]) => el("option", { value, text: label, selected: value === "annotator" })));
  const errors = document.getElementById("bulk-errors");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.hidden = true;
    errors.replaceChildren();
    const people = document.getElementById("bulk-people").value;
    try {
      const members = await api(`projects/${config.project_id}/members/bulk/`, { method: "POST", body: { people, role: select.value } });
      document.getElementById("bulk-people").value = "";
      toast(`Added. The project has ${members.length} member${members.length === 1 ? "" : "s"}.`);
      // The members table belongs to the editor module: reload the page section by reloading.
      window.location.reload();
    } catch (error) {
      const lines = error.details?.lines || [];
      for (const line of lines) errors.append(el("li", { "data-line": line.line }, el("b", { text: `Line ${line.line} (${line.value}): ` }), line.message));
      errors.hidden = !lines.length;
      toast(lines.length ? "Nobody was added: fix the listed lines." : error.message, "error");
    }
  });
}
