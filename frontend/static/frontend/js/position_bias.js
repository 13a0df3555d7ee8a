// Dashboard panel: does the candidate shown first win more often than chance? Candidates are
// shown in a random order per assignment, so a bias shows here instead of in the training data.
import { api, el, pct } from "./api.js";

const config = JSON.parse(document.getElementById("dash-config").textContent);
const body = document.getElementById("position-bias");

function row(q) {
  const share = typeof q.share === "number" ? pct(q.share) : "–";
  const interval = Array.isArray(q.interval) ? `${pct(q.interval[0])}–${pct(q.interval[1])}` : "–";
  const p = typeof q.p_value === "number" ? (q.p_value < 0.001 ? "< 0.001" : q.p_value.toFixed(3)) : "–";
  const verdict = !q.answers ? "No shuffled answers yet" : q.biased ? "Biased towards the first shown" : "No evidence of bias";
  return el("tr", { "data-key": q.key },
    el("td", { text: `${q.key} (${q.type})` }), el("td", { text: String(q.answers) }),
    el("td", { text: share }), el("td", { text: typeof q.expected === "number" ? pct(q.expected) : "–" }),
    el("td", { text: interval }), el("td", { text: p }),
    el("td", {}, el("span", { class: `badge${q.biased ? " warn" : ""}`, text: verdict })));
}

async function refresh() {
  let report;
  try { report = await api(`projects/${config.project_id}/agreement/`); } catch { return; }
  const rows = report?.position_bias || [];
  body.replaceChildren(...rows.map(row));
  if (!rows.length) body.append(el("tr", {}, el("td", { colspan: "7", class: "muted", text: "This rubric has no pairwise or ranking question." })));
}

if (body) {
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 30000);
}
