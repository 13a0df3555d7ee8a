// Curation page: a policy form generated from the server's policy schema (json_script), the
// same policy as editable JSON kept in sync both ways, preview/commit through the API, and
// dataset exports. Every string from the corpus is set as text, never parsed as HTML.
/* global Chart */
import { api, el, toast } from "./api.js";
import { renderMarkdown } from "./md.js";
import { jobLine } from "./progress.js";

const page = document.getElementById("curation-page");
const projectId = page.dataset.project;
const schema = JSON.parse(document.getElementById("policy-schema").textContent);
const form = document.getElementById("curation-form");
const stepsList = document.getElementById("policy-steps");
const jsonBox = document.getElementById("policy-json");
const jsonError = document.getElementById("policy-json-error");
const status = document.getElementById("curation-status");
const PRESET = "preset";

const LABELS = {
  exclude_flags: "Exclude flagged items",
  threshold: "Score threshold",
  top_fraction: "Top fraction",
  top_k: "Top k",
  quota: "Per-category quotas",
  align2llava: "Align²LLaVA cascade",
  dedup: "Near-duplicate removal",
  diversity: "Diversity (k-center / MMR)",
  random: "Random sample (baseline)",
  [PRESET]: "Preset",
};
const HINTS = {
  flags: "comma-separated; empty means every flag",
  quotas: "items to keep per category",
};

// The policy being edited: a list of steps ({op, ...fields} or {preset}). The form and the JSON
// are two views of it; `jsonValid` is false while the JSON box holds text that does not parse.
let policy = [{ preset: "align2llava" }];
let jsonValid = true;

// --- schema-driven step editor -----------------------------------------------------------------

function fieldInput(step, name, spec, onChange) {
  const id = `step-${Math.random().toString(36).slice(2)}-${name}`;
  const value = step[name];
  const label = el("label", { for: id, text: spec.required ? `${name} *` : name });
  let input;
  if (spec.type === "boolean") {
    input = el("input", { id, type: "checkbox", checked: value === true });
    input.addEventListener("change", () => onChange(input.checked ? true : undefined));
    return el("div", { class: "policy-field checkbox" }, input, label);
  }
  if (spec.choices) {
    input = el("select", { id },
      el("option", { value: "", text: spec.default ? `default (${spec.default})` : "—" }),
      spec.choices.map((choice) => el("option", { value: choice, text: choice, selected: value === choice })));
    input.addEventListener("change", () => onChange(input.value || undefined));
  } else if (spec.type === "object") {
    return el("div", { class: "policy-field wide" }, el("span", { class: "label", text: `${name}${spec.required ? " *" : ""}` }),
      quotaEditor(value && typeof value === "object" ? value : {}, onChange),
      el("span", { class: "muted small", text: HINTS[name] || "" }));
  } else if (spec.type === "array") {
    input = el("input", { id, type: "text", value: Array.isArray(value) ? value.join(", ") : "", placeholder: HINTS[name] || "" });
    input.addEventListener("input", () => {
      const names = input.value.split(",").map((s) => s.trim()).filter(Boolean);
      onChange(names.length ? names : undefined);
    });
  } else if (spec.type === "number" || spec.type === "integer") {
    input = el("input", {
      id, type: "number", step: spec.type === "integer" ? "1" : "any",
      min: spec.minimum, max: spec.maximum, required: spec.required,
      value: typeof value === "number" ? String(value) : "",
      placeholder: spec.default === null || spec.default === undefined ? (spec.required ? "required" : "") : `default ${spec.default}`,
    });
    input.addEventListener("input", () => {
      if (input.value === "") onChange(undefined);
      else if (!Number.isNaN(input.valueAsNumber)) onChange(input.valueAsNumber);
    });
  } else {
    const scoreLike = name === "score" || name.endsWith("_score");
    input = el("input", {
      id, type: "text", value: typeof value === "string" ? value : "", required: spec.required,
      list: scoreLike ? "policy-scores" : undefined,
      placeholder: spec.default ? `default ${spec.default}` : (spec.required ? "required" : ""),
    });
    input.addEventListener("input", () => onChange(input.value.trim() || undefined));
  }
  return el("div", { class: "policy-field" }, label, input);
}

function quotaEditor(quotas, onChange) {
  // Rows of category -> count; the object is rebuilt from the rows on every edit.
  const rows = el("div", { class: "quota-rows" });
  const emit = () => {
    const out = {};
    rows.querySelectorAll(".quota-row").forEach((row) => {
      const [category, count] = row.querySelectorAll("input");
      if (category.value.trim() !== "" || count.value !== "") out[category.value.trim()] = count.value === "" ? 0 : Number(count.value);
    });
    onChange(Object.keys(out).length ? out : undefined);
  };
  const addRow = (category = "", count = "") => {
    const name = el("input", { type: "text", value: category, list: "policy-categories", placeholder: "category", "aria-label": "Category" });
    const number = el("input", { type: "number", min: "0", step: "1", value: String(count), "aria-label": "Items to keep" });
    const row = el("div", { class: "quota-row row" }, name, number,
      el("button", { type: "button", class: "btn", "aria-label": "Remove category", text: "×", onclick: () => { row.remove(); emit(); } }));
    name.addEventListener("input", emit);
    number.addEventListener("input", emit);
    rows.append(row);
  };
  Object.entries(quotas).forEach(([category, count]) => addRow(category, count));
  return el("div", {}, rows,
    el("button", { type: "button", class: "btn", text: "Add category", onclick: () => { addRow(); } }));
}

function presetSummary(name) {
  const steps = schema.presets[name];
  if (!steps) return "Unknown preset.";
  return `Expands to: ${steps.map((s) => s.op).join(" → ")}`;
}

function stepEditor(step, index) {
  const isPreset = step && typeof step === "object" && PRESET in step;
  const op = isPreset ? PRESET : step && step.op;
  const known = isPreset || (op && op in schema.ops);
  const opSelect = el("select", { "aria-label": `Kind of step ${index + 1}` },
    [...Object.keys(schema.ops), PRESET].map((name) => el("option", { value: name, text: LABELS[name] || name, selected: name === op })));
  if (!known) opSelect.prepend(el("option", { value: "", text: "(edit in JSON)", selected: true }));
  opSelect.addEventListener("change", () => {
    policy[index] = opSelect.value === PRESET ? { preset: Object.keys(schema.presets)[0] } : { op: opSelect.value };
    changedInForm();
  });
  const move = (delta) => {
    const target = index + delta;
    if (target < 0 || target >= policy.length) return;
    [policy[index], policy[target]] = [policy[target], policy[index]];
    changedInForm();
  };
  const header = el("div", { class: "row" },
    el("b", { text: `${index + 1}.` }), opSelect, el("span", { class: "spacer" }),
    el("button", { type: "button", class: "btn", "aria-label": `Move step ${index + 1} up`, text: "↑", disabled: index === 0, onclick: () => move(-1) }),
    el("button", { type: "button", class: "btn", "aria-label": `Move step ${index + 1} down`, text: "↓", disabled: index === policy.length - 1, onclick: () => move(1) }),
    el("button", { type: "button", class: "btn danger", "aria-label": `Remove step ${index + 1}`, text: "Remove", onclick: () => { policy.splice(index, 1); changedInForm(); } }));
  const body = el("div", { class: "policy-fields" });
  if (isPreset) {
    const select = el("select", { "aria-label": "Preset" },
      Object.keys(schema.presets).map((name) => el("option", { value: name, text: name, selected: name === step.preset })));
    const summary = el("span", { class: "muted small", text: presetSummary(step.preset) });
    select.addEventListener("change", () => { step.preset = select.value; summary.textContent = presetSummary(select.value); changedInForm({ rerender: false }); });
    body.append(el("div", { class: "policy-field" }, select), summary);
  } else if (known) {
    for (const [name, spec] of Object.entries(schema.ops[op].fields)) {
      body.append(fieldInput(step, name, spec, (value) => {
        if (value === undefined) delete step[name]; else step[name] = value;
        changedInForm({ rerender: false });
      }));
    }
    const rules = [...(schema.ops[op].one_of || []).map((names) => `give exactly one of ${names.join(", ")}`),
      ...(schema.ops[op].any_of || []).map((names) => `give ${names.join(" or ")} or both`)];
    if (rules.length) body.append(el("span", { class: "muted small", text: rules.join("; ") }));
  } else {
    body.append(el("span", { class: "muted small", text: "This step is not one the form knows; edit it in the JSON." }));
  }
  return el("li", { class: "policy-step" }, header, body);
}

function renderSteps() {
  stepsList.replaceChildren(...policy.map(stepEditor));
  if (!policy.length) stepsList.append(el("li", { class: "muted", text: "No step yet: add one below." }));
}

function writeJson() {
  jsonBox.value = JSON.stringify(policy, null, 2);
  setJsonValid(true);
}

function setJsonValid(valid, message = "") {
  jsonValid = valid;
  jsonError.textContent = message;
  jsonBox.setAttribute("aria-invalid", valid ? "false" : "true");
}

function changedInForm({ rerender = true } = {}) {
  if (rerender) renderSteps();
  writeJson();
}

jsonBox.addEventListener("input", () => {
  // JSON -> form. The text stays as the user typed it; the form follows when it parses.
  let parsed;
  try {
    parsed = JSON.parse(jsonBox.value);
  } catch (error) {
    setJsonValid(false, `Not valid JSON: ${error.message}`);
    return;
  }
  if (typeof parsed === "string") parsed = [{ preset: parsed }];
  if (!Array.isArray(parsed)) {
    setJsonValid(false, "A policy is a list of steps or a preset name.");
    return;
  }
  policy = parsed;
  setJsonValid(true);
  renderSteps();
});

const addSelect = document.getElementById("policy-add");
addSelect.append(...[...Object.keys(schema.ops), PRESET].map((name) => el("option", { value: name, text: LABELS[name] || name })));
document.getElementById("policy-add-button").addEventListener("click", () => {
  policy.push(addSelect.value === PRESET ? { preset: Object.keys(schema.presets)[0] } : { op: addSelect.value });
  changedInForm();
});

function learn(listId, values) {
  const list = document.getElementById(listId);
  const known = new Set([...list.options].map((o) => o.value));
  for (const value of values) if (value && !known.has(value)) { list.append(el("option", { value })); known.add(value); }
}
learn("policy-scores", schema.scores);

// --- preview ------------------------------------------------------------------------------------

let chart = null;
const preview = document.getElementById("preview");

function clearPreview() {
  // A failed preview must not leave the previous policy's numbers on screen.
  preview.hidden = true;
  document.getElementById("preview-rows").replaceChildren();
  document.getElementById("preview-steps").textContent = "";
  document.getElementById("samples").replaceChildren();
  if (chart) { chart.destroy(); chart = null; }
}

const byCategory = (counts) => Object.entries(counts || {}).map(([name, n]) => `${name || "(none)"}: ${n}`).join(", ");

function sampleItem(sample) {
  // Only same-origin media paths become image sources.
  const image = typeof sample.image_url === "string" && sample.image_url.startsWith("/")
    ? el("img", { src: sample.image_url, alt: `Image of item ${sample.external_id ?? ""}`, loading: "lazy" })
    : null;
  return el("li", { class: "sample" }, image,
    el("div", {},
      el("div", { class: "small muted" },
        Number.isInteger(sample.item_id) ? el("a", { href: `/items/${sample.item_id}/`, "data-item-link": sample.item_id, text: String(sample.external_id ?? sample.item_id) }) : String(sample.external_id ?? ""),
        ` · ${sample.category || "(none)"} · score ${sample.score}`),
      el("div", { class: "sample-q", text: sample.question || "" }),
      // md.js escapes every character before it adds its few tags (and makes no links).
      el("div", { class: "sample-a md", html: renderMarkdown(sample.answer || "") })));
}

function showPreview(result) {
  preview.hidden = false;
  const rows = [["Selected", result.selected], ["Random baseline", result.random_baseline], ["All scored", result.all]];
  document.getElementById("preview-rows").replaceChildren(...rows.map(([name, s]) => el("tr", {},
    el("th", { text: name }), el("td", { text: s.count }), el("td", { text: s.mean_score ?? "–" }),
    el("td", { text: s.flagged_unsafe }), el("td", { text: byCategory(s.by_category) }))));
  document.getElementById("preview-steps").textContent =
    `Steps: ${(result.steps || []).map((s) => `${s.op} ${s.before} → ${s.after}`).join(" · ")}`
    + (result.unscored ? ` · ${result.unscored} items not scored by this model` : "");
  document.getElementById("samples").replaceChildren(...(result.samples || []).map(sampleItem));
  learn("policy-categories", Object.keys(result.all.by_category || {}));
  const labels = result.histogram.edges.slice(0, -1).map((edge) => edge.toFixed(2));
  if (chart) chart.destroy();
  chart = new Chart(document.getElementById("histogram"), {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "all", data: result.histogram.all, backgroundColor: "#bdc3c7" },
        { label: "selected", data: result.histogram.selected, backgroundColor: "#2471a3" },
      ],
    },
    options: { maintainAspectRatio: false, scales: { yAxes: [{ ticks: { beginAtZero: true, precision: 0 } }] } },
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!jsonValid) { status.textContent = "Fix the policy JSON first."; jsonBox.focus(); return; }
  const data = new FormData(form);
  const commit = event.submitter && event.submitter.value === "commit";
  const body = { policy, model_run_id: Number(data.get("run")), commit };
  if (commit && data.get("name")) body.name = data.get("name");
  status.textContent = commit ? "Committing…" : "Computing preview…";
  try {
    const result = await api(`projects/${projectId}/curations/`, { method: "POST", body });
    if (commit) { location.reload(); return; }
    status.textContent = "";
    showPreview(result);
  } catch (error) {
    clearPreview();
    status.textContent = error.message;
  }
});

// --- exports ------------------------------------------------------------------------------------

// One control per dataset version, with every option of the export API: a format, images.tar,
// scores as fields (JSONL, Parquet, WebDataset; LLaVA JSON stays LLaVA's), the TRL pairs' file
// format, the shard size, and the S3 sink (offered only when a bucket is configured).
function exportRequest(control) {
  const options = { scores: control.querySelector("[data-export-scores]").checked };
  const pairs = control.querySelector("[data-export-pairs-format]").value;
  if (pairs) options.file_format = pairs;
  const shardMb = control.querySelector("[data-export-shard-mb]").valueAsNumber;
  if (Number.isFinite(shardMb) && shardMb > 0) options.shard_bytes = Math.round(shardMb * 1024 * 1024);
  const body = {
    format: control.querySelector("[data-export-format]").value,
    include_images: control.querySelector("[data-export-images]").checked,
    options,
  };
  const s3 = control.querySelector("[data-export-s3]");
  if (s3 && s3.checked) body.sink = "s3";
  return body;
}

function exportState(exp) {
  const job = exp.job;
  if (job.status === "succeeded") return downloadLinks(exp);
  if (job.status === "queued" || job.status === "running") return jobLine(job, "items");
  return `${job.status}: ${(job.error && job.error.message) || job.progress.message || ""}`;
}

// The data file, the images archive when there is one (LLaVA JSON + images.tar), the manifest.
function downloadLinks(exp) {
  const url = `/api/v1/exports/${Number(exp.id)}/download/`;
  const links = el("span", {}, el("a", { href: url, "data-download": exp.id, text: "download" }));
  const files = Object.keys((exp.manifest && exp.manifest.files) || {});
  if (files.includes("images.tar")) links.append(" · ", el("a", { href: `${url}?file=images.tar`, "data-download-images": exp.id, text: "images.tar" }));
  links.append(" · ", el("a", { href: `${url}?file=manifest.json`, "data-download-manifest": exp.id, text: "manifest" }));
  return links;
}

function showExport(list, exp) {
  let row = document.getElementById(`export-${Number(exp.id)}`);
  if (!row) {
    row = el("li", { id: `export-${Number(exp.id)}`, "data-export-id": exp.id },
      `${exp.format}${exp.include_images ? " + images" : ""}${exp.sink === "s3" ? " → S3" : ""}: `,
      el("span", { "data-export-state": "" }));
    list.append(row);
  }
  row.dataset.status = exp.job.status;
  row.querySelector("[data-export-state]").replaceChildren(exportState(exp));
}

const EXPORT_POLL_MS = 2000;
const LIVE = ["queued", "running"];
async function followExports(datasetId) {
  const list = document.querySelector(`[data-exports="${Number(datasetId)}"]`);
  try {
    const dataset = await api(`datasets/${datasetId}/`);
    (dataset.exports || []).forEach((exp) => showExport(list, exp));
  } catch (error) {
    toast(`Export progress unavailable: ${error.message}`, "error");
  }
  if (list.querySelector(LIVE.map((s) => `[data-status="${s}"]`).join(","))) setTimeout(() => followExports(datasetId), EXPORT_POLL_MS);
}

document.querySelectorAll("[data-export]").forEach((button) => button.addEventListener("click", async () => {
  const control = button.closest("[data-export-control]");
  button.disabled = true;
  try {
    const exp = await api(`datasets/${button.dataset.export}/exports/`, { method: "POST", body: exportRequest(control) });
    showExport(document.querySelector(`[data-exports="${Number(button.dataset.export)}"]`), exp);
    toast("Export started.");
    setTimeout(() => followExports(button.dataset.export), EXPORT_POLL_MS);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}));

// Exports still running when the page opened are followed too.
document.querySelectorAll("[data-exports]").forEach((list) => {
  if (list.querySelector(LIVE.map((s) => `[data-status="${s}"]`).join(","))) followExports(list.dataset.exports);
});

// --- rewriting ----------------------------------------------------------------------------------

// Owners start a rewriting of a version in the target LLM's style (POST datasets/{id}/rewrites/);
// its row then follows the job until it ends, with a link to its review page.
const GUARD_NAMES = ["colours", "numbers", "objects", "spatial", "negation", "length", "similarity"];

function rewriteRequest(control) {
  const settings = {
    review: control.querySelector("[data-rewrite-review-llm]").checked,
    fields: control.querySelector("[data-rewrite-questions]").checked ? ["question", "answer"] : ["answer"],
    granularity: control.querySelector("[data-rewrite-sentences]").checked ? "sentence" : "turn",
  };
  const prompt = control.querySelector("[data-rewrite-prompt]").value;
  if (prompt) settings.prompt_version = prompt;
  const temperature = control.querySelector("[data-rewrite-temperature]").valueAsNumber;
  if (Number.isFinite(temperature)) settings.temperature = temperature;
  const tokens = control.querySelector("[data-rewrite-max-tokens]").valueAsNumber;
  if (Number.isFinite(tokens)) settings.max_new_tokens = Math.round(tokens);
  const on = control.querySelector("[data-rewrite-guards]").checked;
  return { settings, guards: Object.fromEntries(GUARD_NAMES.map((name) => [name, on])) };
}

function rewriteState(run) {
  const job = run.job;
  if (job.status === "queued" || job.status === "running") return jobLine(job, "items");
  if (job.status === "succeeded") {
    const share = run.figures && run.figures.share_rewritten;
    return `succeeded: ${share === null || share === undefined ? "–" : share} of turns rewritten`;
  }
  return `${job.status}: ${(job.error && job.error.message) || job.progress.message || ""}`;
}

function showRewrite(list, datasetId, run) {
  let row = document.getElementById(`rewrite-${Number(run.id)}`);
  if (!row) {
    const href = `/datasets/${Number(datasetId)}/rewrites/${Number(run.id)}/review/`;
    row = el("li", { id: `rewrite-${Number(run.id)}` },
      el("a", { href, "data-rewrite-review": run.id, text: `rewriting #${Number(run.id)}` }), ": ",
      el("span", { "data-rewrite-state": "" }));
    list.append(row);
  }
  row.dataset.status = run.job.status;
  row.querySelector("[data-rewrite-state]").textContent = rewriteState(run);
}

const REWRITE_POLL_MS = 2000;
async function followRewrites(datasetId) {
  const list = document.querySelector(`[data-rewrites="${Number(datasetId)}"]`);
  try {
    const runs = await api(`datasets/${Number(datasetId)}/rewrites/`);
    runs.forEach((run) => showRewrite(list, datasetId, run));
  } catch (error) {
    toast(`Rewriting progress unavailable: ${error.message}`, "error");
    return;
  }
  if (list.querySelector(LIVE.map((s) => `[data-status="${s}"]`).join(","))) setTimeout(() => followRewrites(datasetId), REWRITE_POLL_MS);
}

document.querySelectorAll("[data-rewrite]").forEach((button) => button.addEventListener("click", async () => {
  const control = button.closest("[data-rewrite-control]");
  const datasetId = button.dataset.rewrite;
  button.disabled = true;
  try {
    const run = await api(`datasets/${Number(datasetId)}/rewrites/`, { method: "POST", body: rewriteRequest(control) });
    showRewrite(document.querySelector(`[data-rewrites="${Number(datasetId)}"]`), datasetId, run);
    toast("Rewriting started.");
    setTimeout(() => followRewrites(datasetId), REWRITE_POLL_MS);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}));

// Rewritings still running when the page opened are followed too.
document.querySelectorAll("[data-rewrites]").forEach((list) => {
  if (list.querySelector(LIVE.map((s) => `[data-status="${s}"]`).join(","))) followRewrites(list.dataset.rewrites);
});

renderSteps();
writeJson();
