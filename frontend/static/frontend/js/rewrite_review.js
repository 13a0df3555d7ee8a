// Review of a rewriting: one turn at a time, original against rewrite as a word-level diff,
// the guards' flags, and a person's accept / reject / edit (which overrides the LLM's).
import { api, el, toast } from "./api.js";

const root = document.getElementById("rewrite-review");
const base = `datasets/${root.dataset.dataset}/rewrites/${root.dataset.rewrite}/`;
const panel = document.getElementById("turn");
const position = document.getElementById("position");
const acceptance = document.getElementById("acceptance");
let turns = [];
let index = 0;
let editing = false;

// Word-level diff by longest common subsequence (texts are short: one turn each).
export function wordDiff(a, b) {
  const x = a.split(/\s+/).filter(Boolean);
  const y = b.split(/\s+/).filter(Boolean);
  const n = x.length;
  const m = y.length;
  const table = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      table[i][j] = x[i] === y[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (x[i] === y[j]) { out.push(["same", x[i]]); i += 1; j += 1; }
    else if (table[i + 1][j] >= table[i][j + 1]) { out.push(["del", x[i]]); i += 1; }
    else { out.push(["add", y[j]]); j += 1; }
  }
  while (i < n) { out.push(["del", x[i]]); i += 1; }
  while (j < m) { out.push(["add", y[j]]); j += 1; }
  return out;
}

function diffNode(original, rewrite) {
  const tags = { same: "span", del: "del", add: "ins" };
  return el("p", { class: "diff" }, ...wordDiff(original, rewrite).flatMap(([kind, word]) => [el(tags[kind], { text: word }), " "]));
}

function guardList(guards) {
  return el("ul", { class: "guards" }, ...guards.map((g) => el("li", { class: g.passed ? "ok" : "flag" },
    `${g.passed ? "✓" : "✗"} ${g.name}`, g.passed ? "" : ` ${JSON.stringify(g.details)}`)));
}

function render() {
  panel.replaceChildren();
  editing = false;
  if (!turns.length) { panel.append(el("p", { text: "No turns match." })); position.textContent = ""; return; }
  const t = turns[index];
  const decision = t.decision || `LLM: ${t.kept} (${t.reason})`;
  panel.append(
    el("h2", { text: `Item ${t.item}, turn ${t.turn + 1}, ${t.field}` }),
    el("p", { class: "muted", text: `Decision: ${decision}` }),
    el("h3", { text: "Changes (struck: original only; underlined: rewrite only)" }),
    diffNode(t.original, t.rewrite),
    el("h3", { text: "Guards" }),
    guardList(t.guards),
    el("p", { class: "muted", text: `NLL original ${t.nll_original ?? "–"}, rewrite ${t.nll_rewrite ?? "–"}; review ${JSON.stringify(t.review)}` }),
    el("h3", { text: "In the new version" }),
    el("p", { text: t.final_text }),
  );
  position.textContent = `${index + 1} of ${turns.length}`;
}

async function decide(decision, text) {
  const t = turns[index];
  if (!t) return;
  try {
    turns[index] = await api(`${base}turns/${t.id}/decision/`, { method: "POST", body: { decision, text } });
    toast(decision ? `Saved: ${decision}` : "Undone");
    // an undo stays on its turn (to decide it again); a decision moves on to the next one
    if (decision && index < turns.length - 1) index += 1;
    render();
    refreshFigures();
  } catch (err) { toast(err.message, "error"); }
}

// The acceptance rate is the server's (every decision recomputes it): read it back, not counted here.
async function refreshFigures() {
  try {
    const run = await api(base);
    const f = run.figures || {};
    const rate = f.human_acceptance_rate;
    acceptance.textContent = `${rate === null || rate === undefined ? "–" : rate} (${f.human_decided || 0} decided)`;
  } catch (err) { toast(`Figures unavailable: ${err.message}`, "error"); }
}

function edit() {
  const t = turns[index];
  if (!t || editing) return;
  editing = true;
  const area = el("textarea", { rows: 6, cols: 80, "aria-label": "Edited text" });
  area.value = t.final_text;
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); decide("edit", area.value); }
    if (event.key === "Escape") render();
  });
  panel.append(area);
  area.focus();
}

async function load(form) {
  const params = new URLSearchParams({ page_size: "500" });
  if (form.flagged.checked) params.set("flagged", "true");
  if (form.undecided.checked) params.set("decided", "false");
  if (form.sample.value) { params.set("sample", form.sample.value); params.set("seed", String(Date.now() % 100000)); }
  try {
    const page = await api(`${base}turns/?${params}`);
    turns = page.results;
    index = 0;
    render();
  } catch (err) { toast(err.message, "error"); }
}

const form = document.getElementById("rewrite-filters");
form.addEventListener("submit", (event) => { event.preventDefault(); load(form); });
document.addEventListener("keydown", (event) => {
  // Ctrl+R, Ctrl+A and the like stay the browser's
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (editing || event.target.closest("input, textarea, select")) return;
  const actions = {
    a: () => decide("accept"),
    r: () => decide("reject"),
    u: () => decide(""),
    e: () => edit(),
    j: () => { index = Math.min(index + 1, turns.length - 1); render(); },
    k: () => { index = Math.max(index - 1, 0); render(); },
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
});
load(form);
