// Reviewer: the conflict queue, every annotator's answers side by side, the item's agreement,
// and the adjudicated answer entered with the same keys as in the workspace.
import { api, el, toast } from "./api.js";
import { renderChat } from "./chat.js";
import { RubricForm } from "./form.js";
import { Keymap } from "./keymap.js";
import { ImageViewer } from "./viewer.js";

const config = JSON.parse(document.getElementById("review-config").textContent);
const base = `projects/${config.project_id}`;
const $ = (s) => document.querySelector(s);
const keymap = new Keymap();
const viewer = new ImageViewer($(".ws-image"));
const form = new RubricForm($("#rubric-form"), { keymap, advanceToNext: true });
const state = { project: null, current: null, after: null, busy: false, alphas: {} };

export function formatAnswer(value) {
  if (value === undefined || value === null) return "–";
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  if (typeof value === "object") {
    if ("choice" in value) return `${value.choice} (A=${value.a}, B=${value.b})`;
    if ("ranking" in value) return value.ranking.map((tier) => tier.map((i) => String.fromCharCode(65 + i)).join("=")).join(" > ");
    // A per-turn answer: {turn index: value}, each turn shown on its own.
    if (Object.keys(value).length && Object.entries(value).every(([k, v]) => /^\d+$/.test(k) && (v === null || typeof v !== "object" || Array.isArray(v)))) {
      return Object.entries(value).map(([turn, v]) => `turn ${turn}: ${formatAnswer(v)}`).join("; ");
    }
    return Object.entries(value).map(([rule, v]) => `${rule}: ${(v?.verdict || "?").replaceAll("_", " ")}`).join("; ");
  }
  return String(value);
}

function majority(annotations, questions) {
  // Per question, the most frequent answer (compared as JSON); ties go to the first seen.
  const out = {};
  for (const q of questions) {
    const counts = new Map();
    for (const a of annotations) {
      const v = a.answers?.[q.key];
      if (v === undefined) continue;
      const k = JSON.stringify(v);
      counts.set(k, (counts.get(k) || 0) + 1);
    }
    let best = null, n = 0;
    for (const [k, c] of counts) if (c > n) { best = k; n = c; }
    if (best !== null) out[q.key] = JSON.parse(best);
  }
  return out;
}

function agreementOf(payload) {
  const a = payload.agreement;
  if (typeof a === "number") return a;
  if (a && typeof a === "object") return a.overall ?? (typeof a.disagreement === "number" ? 1 - a.disagreement : null);
  return typeof payload.disagreement === "number" ? 1 - payload.disagreement : null;
}

function render(payload) {
  state.current = payload;
  if (!payload) { $(".ws").hidden = true; $("#ws-empty").hidden = false; $("#status").textContent = ""; $("#check-again").focus(); return; }
  $(".ws").hidden = false; $("#ws-empty").hidden = true;
  const item = payload.item;
  const annotations = payload.annotations || [];
  const questions = payload.questions || state.project.rubric?.questions || [];
  viewer.show(item.image_url, `Image of item ${item.external_id}`);
  renderChat($("#chat"), item);
  const agreement = agreementOf(payload);
  $("#agreement").textContent = typeof agreement === "number" ? `agreement ${Math.round(agreement * 100)}%` : "agreement –";
  const table = $("#answers-table");
  const names = annotations.map((a, i) => a.username || a.user?.username || a.annotator || `annotator ${i + 1}`);
  const perQuestion = payload.agreement?.per_question || {};
  const fmt = (x) => (typeof x === "number" ? x.toFixed(2) : "–");
  table.replaceChildren(
    el("thead", {}, el("tr", {}, el("th", { text: "Question" }), names.map((n, i) => el("th", {}, el("kbd", { text: `Alt+${i + 1}` }), ` ${n}`)),
      el("th", { text: "Item agreement" }), el("th", { text: "Project α" }))),
    el("tbody", {}, questions.map((q) => {
      const values = annotations.map((a) => formatAnswer(a.answers?.[q.key]));
      const disagree = new Set(values).size > 1;
      const mine = perQuestion[q.key];
      const itemAgreement = mine && mine.answers > 1 ? 1 - mine.disagreement : null;
      return el("tr", { class: disagree ? "disagree" : "", "data-question": q.key }, el("th", { scope: "row", text: q.prompt || q.key, style: "text-transform:none;letter-spacing:0" }),
        values.map((v) => el("td", { text: v, style: disagree ? "background:var(--warn-soft)" : "" })),
        el("td", { "data-item-agreement": "", text: fmt(itemAgreement) }),
        alphaCell(q.key));
    })));
  form.render({ item, questions, rules: payload.rules || state.project.constitution?.rules || [], answers: payload.prefill ?? majority(annotations, questions) });
  $("#note").value = "";
  $("#status").replaceChildren(`Item #${item.external_id} · ${annotations.length} answers · `,
    el("a", { id: "review-item-link", href: `/items/${Number(item.id)}/`, target: "_blank", rel: "noopener", text: "item page" }));
  form.setActive(0);
}

async function next() {
  if (state.busy) return;
  state.busy = true;
  try {
    // "Next conflict" passes the current item as `after`, so the queue moves past it.
    render(await api(`${base}/review/next/${state.after ? `?after=${state.after}` : ""}`));
    state.after = null;
  } catch (e) { toast(e.message, "error"); } finally { state.busy = false; }
}

async function record() {
  if (!state.current || state.busy) return;
  if (form.flagMissing().length) { toast("Answer the highlighted questions first.", "error"); return; }
  state.busy = true;
  try {
    await api(`${base}/review/${state.current.item.id}/`, { method: "POST", body: { answers: form.payload(), note: $("#note").value } });
    toast("Adjudication recorded.");
  } catch (e) { toast(e.message, "error"); state.busy = false; return; }
  state.busy = false;
  next();
}

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.matches?.("textarea, input[type=text]")) {
    if (event.key === "Escape") { target.blur(); form.setActive(form.active); }
    else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); record(); }
    return;
  }
  if (target.closest?.("button, a") && !target.closest(".q") && ["Enter", " "].includes(event.key)) return;
  if (!state.current) { if (event.key === "Enter") { event.preventDefault(); next(); } return; }
  if (event.altKey && /^Digit[1-9]$/.test(event.code)) {
    const a = (state.current.annotations || [])[Number(event.code.slice(5)) - 1];
    if (a) { event.preventDefault(); form.render({ item: state.current.item, questions: state.current.questions || state.project.rubric.questions, rules: state.current.rules || state.project.constitution?.rules || [], answers: a.answers }); toast("Answers copied."); }
    return;
  }
  const action = keymap.action(event);
  if (form.handleKey(event, action)) { event.preventDefault(); return; }
  if (action === "submit") { event.preventDefault(); record(); }
  else if (event.key === "n") { event.preventDefault(); state.after = state.current.item.id; next(); }
  else if (event.key === "m") { event.preventDefault(); render(state.current); }
});
$("#btn-record").addEventListener("click", record);
$("#btn-next").addEventListener("click", () => { if (state.current) state.after = state.current.item.id; next(); });
$("#check-again").addEventListener("click", () => { state.after = null; next(); });

function alphaCell(key, cell = el("td", { "data-project-alpha": "" })) {
  const alpha = state.alphas[key];
  cell.textContent = !alpha ? "–" : alpha.value === null ? "undefined" : alpha.value.toFixed(2);
  cell.title = alpha?.why || "";
  return cell;
}

async function loadAlphas() {
  // The project's agreement per question, read once: beside each item's own, it tells a split
  // on a question everybody reads differently from one on this item.
  try {
    const report = await api(`${base}/agreement/`);
    for (const q of report.questions || []) state.alphas[q.key] = { value: q.alpha ?? null, why: q.alpha_undefined || "" };
  } catch { return; /* the table shows "–" */ }
  document.querySelectorAll("#answers-table tr[data-question]").forEach((row) => alphaCell(row.dataset.question, row.querySelector("[data-project-alpha]")));
}

loadAlphas(); // not awaited: the item shows at once, the project's figures follow
Promise.all([api(`${base}/`), keymap.load()]).then(([project]) => { state.project = project; next(); })
  .catch((e) => { $("#status").textContent = e.message; toast(e.message, "error"); });
