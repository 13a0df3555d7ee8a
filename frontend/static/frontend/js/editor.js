// Project editor: settings, rubric (add / remove / reorder / presets), constitution versions and
// members. Every save goes through the REST API, so validation messages are the engine's.
import { api, el, toast } from "./api.js";
import { proposeControl } from "./propose.js";
import { formatObjects, formatPreconditions, parseObjects, parsePreconditions } from "./rules_text.js";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const $ = (s) => document.querySelector(s);
const TYPES = ["rating", "binary", "multi_label", "text", "pairwise", "ranking", "rule_verdict"];
// Question types that can be asked under each answer turn (the engine's PER_TURN_TYPES).
const PER_TURN_TYPES = ["rating", "binary", "multi_label", "text"];
const SEVERITIES = ["low", "medium", "high", "critical"];
const pid = config.project_id;

function fillSelect(select, choices, value) {
  select.replaceChildren(...choices.map(([v, label]) => el("option", { value: v, text: label })));
  if (value !== undefined) select.value = value;
}

function reportError(target, error) {
  const fields = error.details?.fields || error.details || {};
  const detail = Object.entries(fields).filter(([k]) => k !== "problems").map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join(" · ");
  target.textContent = `${error.message}${detail ? ` — ${detail}` : ""}`;
  target.style.color = "var(--bad)";
  toast(error.message, "error");
}

function ok(target, message) { target.textContent = message; target.style.color = "var(--ok)"; }

// --- settings -----------------------------------------------------------------------------------
async function loadSettings() {
  fillSelect($("#sampling"), config.sampling);
  fillSelect($("#skip_policy"), config.skip_policies);
  const [corpora, project] = await Promise.all([api("corpora/"), pid ? api(`projects/${pid}/`) : null]);
  const chosen = new Set((project?.corpora || []).map((c) => (typeof c === "object" ? c.id : c)));
  const list = $("#corpora-list");
  list.classList.remove("muted");
  list.replaceChildren(...corpora.map((c) => el("label", { style: "display:block" },
    el("input", { type: "checkbox", name: "corpora", value: c.id, checked: chosen.has(c.id) }), ` ${c.name} `, el("span", { class: "muted", text: `(${c.item_count} items)` }))));
  if (!corpora.length) list.append(el("span", {}, "No corpus yet: ", el("a", { href: "/corpora/", text: "import one" }), "."));
  if (project) {
    for (const name of ["name", "instructions", "overlap", "gold_rate", "lease_seconds", "sampling", "skip_policy"]) {
      if (project[name] !== undefined && project[name] !== null) $(`#${name}`).value = project[name];
    }
    $("#category_filter").value = (project.category_filter || []).join(", ");
    renderQuestions(project.rubric?.questions || []);
    renderRules(project.constitution?.rules || []);
    $("#const-version").textContent = project.constitution ? `version ${project.constitution.version}` : "none";
    loadMembers();
  }
}

$("#settings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const msg = $("#settings-msg");
  const body = {
    name: $("#name").value.trim(),
    instructions: $("#instructions").value,
    corpora: [...document.querySelectorAll("input[name=corpora]:checked")].map((i) => Number(i.value)),
    category_filter: $("#category_filter").value.split(",").map((s) => s.trim()).filter(Boolean),
    overlap: Number($("#overlap").value), gold_rate: Number($("#gold_rate").value),
    lease_seconds: Number($("#lease_seconds").value), sampling: $("#sampling").value, skip_policy: $("#skip_policy").value,
  };
  try {
    if (pid) {
      await api(`projects/${pid}/`, { method: "PATCH", body });
      ok(msg, "Saved.");
    } else {
      body.preset = $("#preset").value;
      const project = await api("projects/", { method: "POST", body });
      location.assign(`/projects/${project.id}/edit/?created=1`);
    }
  } catch (error) { reportError(msg, error); }
});

// --- rubric -------------------------------------------------------------------------------------
let questions = [];

function labelsText(q) {
  if (q.type === "rating") return (q.labels || []).map((l) => `${l.value}: ${l.label}`).join("\n");
  if (q.type === "multi_label") return (q.options || []).join("\n");
  return "";
}

function parseLabels(type, text) {
  const lines = text.split("\n").map((s) => s.trim()).filter(Boolean);
  if (type === "rating") {
    return { labels: lines.map((line, i) => {
      const m = /^(-?\d+)\s*[:=-]\s*(.*)$/.exec(line);
      return m ? { value: Number(m[1]), label: m[2] || m[1] } : { value: i + 1, label: line };
    }) };
  }
  if (type === "multi_label") return { options: lines };
  return {};
}

function renderQuestions(list) {
  questions = structuredClone(list);
  const box = $("#questions");
  box.replaceChildren();
  questions.forEach((q, i) => {
    const id = `qe-${i}`;
    const input = (name, label, attrs = {}) => el("div", { class: "field" }, el("label", { for: `${id}-${name}`, text: label }),
      el("input", { type: "text", id: `${id}-${name}`, value: q[name] ?? "", ...attrs, oninput: (e) => { q[name] = e.target.value; } }));
    const type = el("select", { id: `${id}-type`, onchange: (e) => { q.type = e.target.value; if (!PER_TURN_TYPES.includes(q.type)) delete q.per_turn; renderQuestions(questions); } },
      TYPES.map((t) => el("option", { value: t, text: t.replace("_", " "), selected: q.type === t })));
    const needsLabels = q.type === "rating" || q.type === "multi_label";
    const card = el("div", { class: "q-edit", "data-question": q.key || i },
      el("div", { class: "row" },
        el("b", { text: `${i + 1}.` }),
        input("key", "Key", { style: "font-family:monospace" }),
        el("div", { class: "field" }, el("label", { for: `${id}-type`, text: "Type" }), type),
        el("label", { class: "small" }, el("input", { type: "checkbox", checked: q.required !== false, onchange: (e) => { q.required = e.target.checked; } }), " required"),
        el("label", { class: "small", title: "Objective questions have a right answer and count for agreement and gold." }, el("input", { type: "checkbox", checked: Boolean(q.objective), onchange: (e) => { q.objective = e.target.checked; } }), " objective"),
        PER_TURN_TYPES.includes(q.type)
          ? el("label", { class: "small", title: "Ask this question under each answer of a multi-turn conversation; each answer is judged on its own." }, el("input", { type: "checkbox", "aria-label": `Question ${i + 1}: ask per turn`, checked: Boolean(q.per_turn), onchange: (e) => { q.per_turn = e.target.checked; } }), " per turn")
          : null,
        el("div", { class: "tools" },
          el("button", { type: "button", class: "btn", "aria-label": `Move question ${i + 1} up`, disabled: i === 0, onclick: () => move(i, -1), text: "↑" }),
          el("button", { type: "button", class: "btn", "aria-label": `Move question ${i + 1} down`, disabled: i === questions.length - 1, onclick: () => move(i, 1), text: "↓" }),
          el("button", { type: "button", class: "btn danger", "aria-label": `Remove question ${i + 1}`, onclick: () => { questions.splice(i, 1); renderQuestions(questions); }, text: "Remove" }))),
      input("prompt", "Prompt"),
      el("div", { class: "row" }, input("help", "Help text"), input("criterion", "Criterion")),
      needsLabels ? el("div", { class: "field" },
        el("label", { for: `${id}-labels`, text: q.type === "rating" ? "Scale: one “value: label” per line" : "Labels: one per line" }),
        el("textarea", { id: `${id}-labels`, rows: "4", oninput: (e) => Object.assign(q, parseLabels(q.type, e.target.value)) }, labelsText(q))) : null);
    box.append(card);
  });
}

function move(i, delta) {
  const [q] = questions.splice(i, 1);
  questions.splice(i + delta, 0, q);
  renderQuestions(questions);
  document.querySelectorAll(".q-edit")[i + delta]?.querySelector("button")?.focus();
}

async function saveRubric() {
  const msg = $("#rubric-msg");
  try {
    const cleaned = questions.map((q) => Object.fromEntries(Object.entries(q).filter(([, v]) => v !== "" && v !== null)));
    const result = await api(`projects/${pid}/rubric/`, { method: "PUT", body: { questions: cleaned } });
    if (result?.questions) renderQuestions(result.questions);
    ok(msg, `Saved ${questions.length} questions.`);
  } catch (error) { reportError(msg, error); }
}

if (pid) {
  $("#add-question").addEventListener("click", () => {
    questions.push({ key: `q${questions.length + 1}`, type: "rating", prompt: "", required: true, objective: false, labels: [1, 2, 3, 4, 5].map((v) => ({ value: v, label: String(v) })) });
    renderQuestions(questions);
    document.querySelector(".q-edit:last-child input")?.focus();
  });
  $("#preset-load").addEventListener("change", (e) => {
    if (!e.target.value) return;
    renderQuestions(config.presets[e.target.value]);
    e.target.value = "";
    toast("Preset loaded: review and save the rubric.");
  });
  $("#save-rubric").addEventListener("click", saveRubric);
}

// --- constitution -------------------------------------------------------------------------------
let rules = [];

function renderRules(list) {
  rules = structuredClone(list);
  const box = $("#rules");
  box.replaceChildren();
  rules.forEach((r, i) => {
    const id = `re-${i}`;
    const text = (name, label, rows = 2, value = r[name] ?? "", parse = (v) => v) => el("div", { class: "field" },
      el("label", { for: `${id}-${name}`, text: label }),
      el("textarea", { id: `${id}-${name}`, rows: String(rows), oninput: (e) => { r[name] = parse(e.target.value); } }, value));
    const propose = proposeControl({
      pid, helperLlm: config.judge_helper_llm, rule: r, label: `rule ${i + 1}`,
      onAccept: (proposal) => {
        // into the fields and the rule being edited; saved only with the constitution
        r.preconditions = proposal.preconditions;
        r.central_objects = proposal.central_objects;
        document.getElementById(`${id}-preconditions`).value = formatPreconditions(r.preconditions);
        document.getElementById(`${id}-central_objects`).value = formatObjects(r.central_objects);
        toast("Proposal accepted: review it and save the constitution.");
      },
    });
    box.append(el("div", { class: "q-edit", "data-rule": r.key || i },
      el("div", { class: "row" },
        el("b", { text: `${i + 1}.` }),
        el("div", { class: "field" }, el("label", { for: `${id}-key`, text: "Key" }), el("input", { type: "text", id: `${id}-key`, value: r.key || "", style: "font-family:monospace", oninput: (e) => { r.key = e.target.value; } })),
        el("div", { class: "field" }, el("label", { for: `${id}-category`, text: "Category" }), el("input", { type: "text", id: `${id}-category`, value: r.category || "", oninput: (e) => { r.category = e.target.value; } })),
        el("div", { class: "field" }, el("label", { for: `${id}-severity`, text: "Severity" }),
          el("select", { id: `${id}-severity`, onchange: (e) => { r.severity = e.target.value; } }, SEVERITIES.map((s) => el("option", { value: s, text: s, selected: (r.severity || "high") === s })))),
        el("div", { class: "tools" },
          el("button", { type: "button", class: "btn", "aria-label": `Move rule ${i + 1} up`, disabled: i === 0, onclick: () => moveRule(i, -1), text: "↑" }),
          el("button", { type: "button", class: "btn", "aria-label": `Move rule ${i + 1} down`, disabled: i === rules.length - 1, onclick: () => moveRule(i, 1), text: "↓" }),
          el("button", { type: "button", class: "btn danger", "aria-label": `Remove rule ${i + 1}`, onclick: () => { rules.splice(i, 1); renderRules(rules); }, text: "Remove" }))),
      el("div", { class: "grid-2" }, text("text", "Rule as written"), text("objectified", "Check (objectified)")),
      el("div", { class: "grid-2" },
        text("preconditions", "Preconditions (all must hold: one per line; alternatives separated by |)", 3, formatPreconditions(r.preconditions), parsePreconditions),
        el("div", { class: "field" },
          el("label", { for: `${id}-central_objects`, text: "Central objects (comma-separated words)" }),
          el("input", { type: "text", id: `${id}-central_objects`, value: formatObjects(r.central_objects), oninput: (e) => { r.central_objects = parseObjects(e.target.value); } }),
          el("div", { class: "row" }, propose.button, el("span", { class: "small muted", text: "the helper LLM's preconditions and objects, for you to accept" })))),
      propose.box));
  });
  if (!rules.length) box.append(el("p", { class: "muted", text: "No rules: this project has no safety constitution yet." }));
}

function moveRule(i, delta) {
  const [r] = rules.splice(i, 1);
  rules.splice(i + delta, 0, r);
  renderRules(rules);
}

async function saveConstitution() {
  const msg = $("#const-msg");
  try {
    const result = await api(`projects/${pid}/constitution/`, { method: "PUT", body: { name: $("#const-name").value, rules } });
    $("#const-version").textContent = `version ${result?.version ?? "?"}`;
    if (result?.rules) renderRules(result.rules);
    ok(msg, `Saved as version ${result?.version ?? ""}.`);
  } catch (error) { reportError(msg, error); }
}

if (pid) {
  $("#add-rule").addEventListener("click", () => { rules.push({ key: "", text: "", objectified: "", category: "", severity: "high", preconditions: [], central_objects: [] }); renderRules(rules); });
  $("#load-default-rules").addEventListener("click", () => { renderRules(config.default_constitution.rules); $("#const-name").value = config.default_constitution.name || ""; toast("Default rules loaded: save to make them a version."); });
  $("#save-constitution").addEventListener("click", saveConstitution);
}

// --- members ------------------------------------------------------------------------------------
async function loadMembers() {
  fillSelect($("#member-role"), config.roles, "annotator");
  const members = await api(`projects/${pid}/members/`);
  const body = $("#members");
  body.replaceChildren();
  for (const m of members.results || members) {
    const name = m.username || m.user?.username || m.user;
    const acc = m.gold_accuracy;
    body.append(el("tr", {}, el("td", { text: name }),
      el("td", {}, el("select", { "aria-label": `Role of ${name}`, onchange: (e) => setMember(name, e.target.value) },
        config.roles.map(([v, label]) => el("option", { value: v, text: label, selected: m.role === v })))),
      el("td", { text: acc === null || acc === undefined ? "–" : `${Math.round(acc * 100)}%` }),
      el("td", {}, el("button", { type: "button", class: "btn danger", onclick: () => removeMember(m), text: "Remove" }))));
  }
}

async function setMember(username, role) {
  try { await api(`projects/${pid}/members/`, { method: "POST", body: { username, role } }); toast(`${username}: ${role}`); loadMembers(); } catch (e) { toast(e.message, "error"); }
}

async function removeMember(m) {
  const userId = m.user_id ?? m.user?.id ?? m.id;
  try { await api(`projects/${pid}/members/`, { method: "DELETE", body: { user_id: userId } }); loadMembers(); } catch (e) { toast(e.message, "error"); }
}

if (pid) {
  $("#member-form").addEventListener("submit", (e) => { e.preventDefault(); setMember($("#member-username").value.trim(), $("#member-role").value); $("#member-username").value = ""; });
  if (new URLSearchParams(location.search).get("created")) toast("Project created. Add members, then start annotating.");
}

document.addEventListener("keydown", (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.key !== "s") return;
  e.preventDefault();
  const section = document.activeElement?.closest("section, form");
  if (section?.id === "rubric-section") saveRubric();
  else if (section?.id === "constitution-section") saveConstitution();
  else $("#settings-form").requestSubmit();
});

loadSettings().catch((error) => toast(`Could not load: ${error.message}`, "error"));
