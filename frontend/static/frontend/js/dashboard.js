// Project dashboard: charts (Chart.js 2.9 from django-chartjs) over progress/ and agreement/,
// refreshed every 30 s. Shapes are read defensively so a new field never breaks the page.
import { api, el, pct, toast } from "./api.js";

const config = JSON.parse(document.getElementById("dash-config").textContent);
const base = `projects/${config.project_id}`;
const charts = {};
const BLUE = "#2f5fd0", GREEN = "#1f8a4c", AMBER = "#d69e2e";
/* global Chart */
Chart.defaults.global.defaultFontFamily = getComputedStyle(document.body).fontFamily;
Chart.defaults.global.maintainAspectRatio = false;
Chart.defaults.global.animation.duration = 250;

function chart(id, type, labels, datasets, options = {}, emptyText = "No data yet.") {
  // An empty chart says why it is empty instead of showing bare axes.
  const box = document.getElementById(id).parentElement;
  let note = box.querySelector(".chart-empty");
  const empty = !labels.length || datasets.every((d) => d.data.every((v) => v === null || v === undefined));
  if (empty && !note) { note = el("div", { class: "chart-empty" }); box.append(note); }
  if (note) { note.textContent = emptyText; note.hidden = !empty; }
  if (charts[id]) { charts[id].data.labels = labels; charts[id].data.datasets = datasets; charts[id].update(); return; }
  charts[id] = new Chart(document.getElementById(id), { type, data: { labels, datasets }, options: { legend: { display: datasets.length > 1 }, ...options } });
}
const countAxis = { yAxes: [{ ticks: { beginAtZero: true, precision: 0 } }] };
const entries = (x) => (Array.isArray(x) ? x : x && typeof x === "object" ? Object.entries(x).map(([key, v]) => (typeof v === "object" ? { key, ...v } : { key, value: v })) : []);

function stat(name, value) { const n = document.querySelector(`[data-stat="${name}"]`); if (n) n.textContent = value; }

async function refresh() {
  const [progress, agreement] = await Promise.all([api(`${base}/progress/`).catch(() => ({})), api(`${base}/agreement/`).catch(() => ({}))]);
  const totals = progress.totals || progress.summary || progress;
  const done = totals.done ?? totals.annotations ?? 0, total = totals.total ?? totals.needed ?? 0;
  stat("done", done); stat("total", total || "–");
  document.querySelector("[data-stat-bar]").style.width = total ? pct(done / total) : "0";
  const days = entries(progress.per_day || progress.days);
  chart("chart-days", "bar", days.map((d) => d.day || d.date || d.key),
    [{ label: "answers", data: days.map((d) => d.count ?? d.annotations ?? d.value ?? 0), backgroundColor: BLUE }], { scales: countAxis }, "No answers yet.");
  const people = entries(progress.per_annotator || progress.annotators);
  // active: people who answered, not everyone on the roster
  stat("annotators", progress.active_annotators ?? people.filter((p) => (p.annotations ?? 0) > 0).length);
  chart("chart-annotators", "bar", people.map((p) => p.username || p.user || p.key),
    [{ label: "answers", data: people.map((p) => p.count ?? p.annotations ?? p.done ?? p.value ?? 0), backgroundColor: BLUE }], { scales: countAxis });
  const gold = people.filter((p) => (p.gold_accuracy ?? p.accuracy) !== null && (p.gold_accuracy ?? p.accuracy) !== undefined);
  chart("chart-gold", "horizontalBar", gold.map((p) => `${p.username || p.user || p.key} (${p.gold_answered ?? p.gold ?? "?"})`),
    [{ label: "gold accuracy", data: gold.map((p) => p.gold_accuracy ?? p.accuracy), backgroundColor: gold.map((p) => ((p.gold_accuracy ?? p.accuracy) < 0.8 ? AMBER : GREEN)) }],
    { scales: { xAxes: [{ ticks: { min: 0, max: 1, callback: (v) => pct(v) } }] } }, "No gold items answered yet.");
  const answered = people.reduce((n, p) => n + (p.gold_answered || 0), 0);
  const correct = people.reduce((n, p) => n + (p.gold_accuracy || 0) * (p.gold_answered || 0), 0);
  const goldAll = progress.gold_accuracy ?? (answered ? correct / answered : null);
  stat("gold", typeof goldAll === "number" ? pct(goldAll) : "–");
  const questions = entries(agreement.per_question || agreement.questions);
  // Krippendorff's alpha per question (chance-corrected; below 0.4 is shown amber).
  const alphas = questions.map((q) => q.agreement ?? q.alpha ?? q.kappa ?? q.value ?? null);
  const low = Math.min(0, ...alphas.filter((a) => typeof a === "number"));
  chart("chart-agreement", "bar", questions.map((q) => `${q.key || q.question}${q.type ? ` (${q.type})` : ""}`),
    [{ label: "Krippendorff's alpha", data: alphas, backgroundColor: alphas.map((a) => (a === null || a < 0.4 ? AMBER : GREEN)) }],
    { legend: { display: true }, scales: { yAxes: [{ ticks: { min: Math.floor(low * 10) / 10, max: 1, callback: (v) => v.toFixed(1) } }] } },
    "Not enough items with two or more answers yet.");
  const valid = alphas.filter((a) => typeof a === "number");
  const overall = agreement.overall ?? (valid.length ? valid.reduce((x, y) => x + y, 0) / valid.length : null);
  stat("agreement", typeof overall === "number" ? `α ${overall.toFixed(2)}` : "–");
  // An undefined agreement says why (no overlapping answers yet, or no variation to measure).
  const undefinedQs = questions.filter((q) => q.alpha_undefined);
  const why = document.getElementById("agreement-why");
  why.hidden = typeof overall === "number" || !undefinedQs.length;
  why.textContent = why.hidden ? "" : `Undefined: ${undefinedQs[0].alpha_undefined}`;
  document.getElementById("agreement-undefined").replaceChildren(...undefinedQs.map((q) => el("li", {}, el("b", { text: `${q.key}: ` }), q.alpha_undefined)));
  const disputed = entries(agreement.most_disagreement || agreement.most_disputed || progress.most_disputed).slice(0, 10);
  const body = document.getElementById("disputed");
  body.replaceChildren(...disputed.map((d) => el("tr", { "data-item-id": String(d.item_id) },
    el("td", {}, itemLink(d)), el("td", { text: d.category || "–" }),
    el("td", {}, answersList(d.answers)), el("td", {}, el("div", { class: "progress", style: "max-width:160px" }, el("span", { style: `width:${pct(d.disagreement)};background:var(--warn)` })), ` ${pct(d.disagreement)}`))));
  if (!disputed.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "muted", text: "No disputed items yet." })));
  document.getElementById("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

// A disputed item opens on its own page (image, conversation, every annotation, scores).
function itemLink(d) {
  const label = String(d.external_id || d.item_id || d.key || "");
  return Number.isInteger(d.item_id) ? el("a", { href: `/items/${d.item_id}/`, "data-item-link": d.item_id, text: label }) : label;
}

function answerText(value) {
  // A short form of one answer: booleans as yes/no, rankings as tiers, texts cut short.
  if (value === true) return "yes";
  if (value === false) return "no";
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") {
    if (Array.isArray(value.ranking)) return value.ranking.map((tier) => tier.join("=")).join(" > ");
    if (value.choice) return value.choice;
    return Object.entries(value).map(([k, v]) => `${k} ${v?.verdict ? String(v.verdict).replaceAll("_", " ") : answerText(v)}`).join(", ");
  }
  const text = String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function answersList(answers) {
  // Every annotator's answers to the item, one line each (all as text: nothing is HTML).
  if (!Array.isArray(answers)) return String(answers ?? "");
  const list = el("ul", { class: "answers small" });
  for (const row of answers) {
    const parts = Object.entries(row.answers || {}).map(([key, value]) => `${key} ${answerText(value)}`);
    list.append(el("li", {}, el("b", { text: `${row.annotator}: ` }), parts.join(" · ")));
  }
  return list;
}

refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 30000);

// Items imported into the project's corpora later: added only when the owner asks.
const addMissing = document.querySelector('[data-action="add-missing-items"]');
if (addMissing) {
  addMissing.addEventListener("click", async () => {
    addMissing.disabled = true;
    try {
      const { added } = await api(`${base}/items/missing/`, { method: "POST" });
      document.getElementById("missing-items").hidden = true;
      toast(`${added} item${added === 1 ? "" : "s"} added to the project.`);
      refresh();
    } catch (error) {
      addMissing.disabled = false;
      toast(error.message || "Could not add the items.", "error");
    }
  });
}
