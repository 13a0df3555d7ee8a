// Annotator workspace: one item at a time, keyboard first, the next item prefetched so that it
// appears the moment the current one is submitted.
import { api, el, toast } from "./api.js";
import { renderChat } from "./chat.js";
import { RubricForm } from "./form.js";
import { renderJudgeHints } from "./judge_hints.js";
import { ACTIONS, DEFAULTS, Keymap, keyName } from "./keymap.js";
import { ImageViewer } from "./viewer.js";

const config = JSON.parse(document.getElementById("ws-config").textContent);
const base = `projects/${config.project_id}`;
const $ = (sel) => document.querySelector(sel);

const state = {
  project: null, current: null, prefetch: null, prefetchSupported: true, busy: false,
  history: [], resume: null, editing: null, clientKey: null, draftTimer: null,
  submittedHere: 0, seq: 0, leaseWarned: false,
};
const keymap = new Keymap();
const viewer = new ImageViewer($(".ws-image"));
// A per-turn question is asked right under each answer turn of the conversation.
const turnHost = (turn) => document.querySelector(`#chat .turn[data-turn="${turn}"]`);
const form = new RubricForm($("#rubric-form"), { keymap, turnHost, onChange: () => scheduleDraft() });

// --- loading items ------------------------------------------------------------------------------
function preload(payload) {
  // Fetch and decode the image ahead of time; the decoded Image element is reused on display.
  if (payload && payload.item && payload.item.image_url && !payload._img) {
    const img = new Image();
    img.decoding = "async";
    img.src = payload.item.image_url;
    payload._img = img;
    payload._ready = img.decode().catch(() => {});
  }
  return payload;
}

async function requestNext(exclude = []) {
  const body = exclude.length ? { exclude } : {};
  return preload(await api(`${base}/next/`, { method: "POST", body }));
}

function startPrefetch() {
  // The engine hands out a second lease when asked to exclude the held item; if it returns the
  // same item, prefetching is not supported and the next item is fetched after each submit.
  if (!state.prefetchSupported || !state.current || state.prefetch || state.editing) return;
  const holding = state.current.item.id;
  state.prefetch = requestNext([holding]).then((payload) => {
    if (payload && payload.item.id === holding) { state.prefetchSupported = false; return undefined; }
    return payload;
  }).catch(() => undefined);
}

async function takeNext() {
  if (state.resume) { const r = state.resume; state.resume = null; return r; }
  if (state.prefetch) {
    const p = state.prefetch; state.prefetch = null;
    const payload = await p;
    if (payload !== undefined) return payload; // null: the queue was empty at prefetch time
  }
  return requestNext();
}

// --- showing an item ----------------------------------------------------------------------------
async function show(payload, { answers, editing = null } = {}) {
  state.current = payload;
  state.editing = editing;
  state.leaseWarned = false;
  state.clientKey = crypto.randomUUID();
  if (!payload) { showEmpty(); return; }
  $(".ws").hidden = false; $("#ws-empty").hidden = true;
  const { item, assignment } = payload;
  viewer.show(item.image_url, `Image of item ${item.external_id}`, payload._img);
  const order = assignment?.candidate_order || null;
  renderChat($("#chat"), item, order);
  $("#chat").scrollTop = 0;
  const initial = answers ?? payload.draft?.answers ?? (payload.draft && !payload.draft.answers ? payload.draft : {});
  form.render({ item, questions: state.project.rubric?.questions || [], rules: state.project.constitution?.rules || [], answers: initial, order });
  $("#editing").hidden = !editing;
  updateFooter();
  $("#gold-badge").hidden = !(assignment && assignment.is_gold && config.show_gold_badge);
  document.body.dataset.itemId = item.id;
  updateLease();
  form.setActive(0);
  showJudgeHints(item.id);
  // "Fully shown": image decoded and the frame painted; the benchmark reads these marks.
  if (payload._ready) await payload._ready;
  requestAnimationFrame(() => {
    const n = state.seq;
    performance.mark(`shown-${n}`);
    if (performance.getEntriesByName(`submit-${n}`).length) performance.measure("next-item", `submit-${n}`, `shown-${n}`);
    document.body.dataset.shown = String(n);
  });
  startPrefetch();
}

// Assisted projects only: on blind ones the annotators' labels must stay an unbiased measure of
// the judge, so its suggestions are not even requested (the engine would refuse them anyway).
async function showJudgeHints(itemId) {
  const host = $("#judge-hints");
  host.hidden = true;
  host.replaceChildren();
  if (state.project?.judge_assist !== "assisted") return;
  let data;
  try { data = await api(`${base}/items/${itemId}/judge/`); } catch { return; }
  if (state.current?.item.id !== itemId) return; // another item is shown by now
  renderJudgeHints(host, data?.suggestions || [], state.project.constitution?.rules || []);
}

function showEmpty() {
  $(".ws").hidden = true;
  $("#ws-empty").hidden = false;
  $("#lease").textContent = "";
  updateFooter();
  refreshQueueStatus().then(explainEmpty);
  document.body.dataset.itemId = "";
  document.body.dataset.shown = String(state.seq);
  $("#ws-empty button").focus();
}

// --- actions ------------------------------------------------------------------------------------
async function run(label, work) {
  if (state.busy) return;
  state.busy = true;
  $("#status").textContent = label;
  try { await work(); } catch (error) {
    toast(error.message || String(error), "error");
    if (error.code === "validation_error" || error.details?.fields) markServerErrors(error.details.fields || {});
  } finally { state.busy = false; $("#status").textContent = statusLine(); }
}

function markServerErrors(fields) {
  for (const key of Object.keys(fields)) document.querySelector(`.q[data-key="${CSS.escape(key)}"]`)?.classList.add("missing");
}

async function submit() {
  if (!state.current) return;
  if (form.flagMissing().length) { toast("Answer the highlighted questions first.", "error"); return; }
  await run("Saving…", async () => {
    const { item } = state.current;
    const answers = form.payload();
    state.seq += 1;
    performance.mark(`submit-${state.seq}`);
    clearTimeout(state.draftTimer);
    const result = await api(`${base}/annotations/`, { method: "POST", body: { item_id: item.id, answers, client_key: state.clientKey } });
    state.history.push({ payload: state.current, answers: result.answers || answers });
    if (state.history.length > 20) state.history.shift();
    if (!state.editing) state.submittedHere += 1;
    showGold(result.gold_feedback, answers);
    await show(await takeNext());
    refreshQueueStatus();
  });
}

async function skipOrPostpone(kind) {
  if (!state.current || state.editing) return;
  await run(kind === "skip" ? "Skipping…" : "Postponing…", async () => {
    state.seq += 1;
    performance.mark(`submit-${state.seq}`);
    clearTimeout(state.draftTimer);
    await api(`${base}/${kind}/`, { method: "POST", body: { item_id: state.current.item.id } });
    showGold(null);
    toast(kind === "skip" ? "Skipped." : "Postponed: it comes back later.");
    await show(await takeNext());
    refreshQueueStatus();
  });
}

async function undo() {
  await run("Loading your last answer…", async () => {
    let last = state.history.pop();
    if (!last) {
      // After a reload the local history is empty: ask the server for the last annotation.
      const mine = await api(`${base}/annotations/mine/?limit=1`);
      const row = Array.isArray(mine) ? mine[0] : (mine?.results || [])[0];
      if (!row || !row.item) { toast("Nothing to undo."); return; }
      last = { payload: { item: row.item, assignment: { candidate_order: row.display_order }, draft: null }, answers: row.answers };
    }
    // The held item stays leased; it comes back right after the edit is saved.
    if (state.current && !state.editing) state.resume = state.current;
    await show(preload(last.payload), { answers: last.answers, editing: true });
    toast("Editing your last answer: change it and submit again.");
  });
}

function showGold(expected, given = {}) {
  // The engine returns the reference answers of a gold item; each is compared here the way
  // the engine scores gold (text is never compared; sets ignore order).
  const box = $("#gold");
  box.replaceChildren();
  box.hidden = !expected;
  if (!expected) return;
  const norm = (v) => JSON.stringify(Array.isArray(v) ? [...v].sort() : v && typeof v === "object" && "ranking" in v ? v.ranking.map((t) => [...t].sort()) : v && typeof v === "object" && !("choice" in v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x?.verdict])) : v);
  const rows = Object.entries(expected).filter(([, v]) => typeof v !== "string");
  const wrong = rows.filter(([k, v]) => norm(v) !== norm(given[k]));
  box.className = `gold ${wrong.length ? "bad" : "ok"}`;
  box.append(el("b", { text: wrong.length ? "Gold check: the previous item differs from the reference." : "Gold check passed on the previous item." }));
  if (wrong.length) {
    const list = el("ul", { class: "small" });
    for (const [key, value] of wrong) list.append(el("li", {}, el("b", { text: `${key}: ` }), `expected ${JSON.stringify(value)}, you gave ${JSON.stringify(given[key] ?? null)}`));
    box.append(list);
  }
}

function scheduleDraft() {
  clearTimeout(state.draftTimer);
  if (!state.current || state.editing) return;
  const itemId = state.current.item.id;
  state.draftTimer = setTimeout(async () => {
    try {
      await api(`${base}/drafts/${itemId}/`, { method: "PUT", body: { answers: form.payload() } });
      $("#draft").textContent = `Draft saved ${new Date().toLocaleTimeString()}`;
    } catch { $("#draft").textContent = "Draft not saved"; }
  }, 800);
}

// --- lease and status ---------------------------------------------------------------------------
function updateLease() {
  const node = $("#lease");
  const expires = state.current?.assignment?.lease_expires_at;
  if (!expires || state.editing) { node.textContent = ""; return; }
  const left = Math.round((new Date(expires) - Date.now()) / 1000);
  if (left <= 0) {
    node.textContent = "Lease expired: submit soon, the item may go to someone else";
    node.className = "lease low";
    if (!state.leaseWarned) { toast("Your lease on this item expired.", "error"); state.leaseWarned = true; }
    return;
  }
  node.textContent = `Lease ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  node.className = `lease${left < 60 ? " low" : ""}`;
}

function statusLine() {
  // Totals come from the queue's status, asked again after each submit (without holding the
  // next item back); until it answers, the local count of this session's submits stands in.
  const q = state.queue;
  const bits = [`${state.submittedHere} this session`];
  if (q) {
    bits.push(`mine ${q.mine}`);
    if (q.total) bits.push(`project ${q.done}/${q.total} items`);
  }
  return bits.join(" · ");
}

async function refreshQueueStatus() {
  try { state.queue = await api(`${base}/queue/status/`); } catch { return state.queue; }
  if (!state.busy) $("#status").textContent = statusLine();
  updateFooter();
  return state.queue;
}

function explainEmpty(q) {
  // An empty queue says why: a finished project, others' leases, or others' answers to come.
  if (!q || state.current) return;
  const title = $("#ws-empty h2");
  const text = $("#ws-empty p");
  const when = q.next_lease_expires_at ? new Date(q.next_lease_expires_at).toLocaleTimeString() : null;
  const messages = {
    complete: ["This project is complete.", `All ${q.total} items have the ${q.overlap} answer${q.overlap === 1 ? "" : "s"} each that the project asks for. Thank you!`],
    leased_by_others: ["Waiting for others: the remaining items are leased.", `${q.leased_by_others} item${q.leased_by_others === 1 ? " is" : "s are"} being answered by other annotators right now${when ? `; if a lease lapses the item comes back (first at ${when})` : ""}. Check again later.`],
    waiting_for_others: ["You have answered every item you can.", `${q.waiting_for_others} of your items still need answers from other annotators (${q.overlap} per item). The project is ${q.done}/${q.total} done.`],
    available: ["The queue is empty for you.", "New work has appeared since: check again."],
  };
  const [head, body] = messages[q.state] || messages.available;
  title.textContent = head;
  text.textContent = body;
  document.body.dataset.queueState = q.state;
}

function updateFooter() {
  // Actions that cannot apply are hidden: skip and postpone with no item held or while editing
  // an earlier answer; undo with nothing of mine to go back to.
  const holding = Boolean(state.current) && !state.editing;
  $("#btn-skip").hidden = !holding;
  $("#btn-postpone").hidden = !holding;
  $("#btn-submit").hidden = !state.current;
  const mine = state.queue ? state.queue.mine : 0;
  $("#btn-undo").hidden = !(state.history.length || mine > 0) || Boolean(state.editing);
}

// --- keyboard -----------------------------------------------------------------------------------
function onKey(event) {
  if (document.querySelector("dialog[open]")) return;
  const target = event.target;
  const typing = target.matches?.("textarea, input[type=text], input:not([type]), select");
  if (typing) {
    if (event.key === "Escape") { target.blur(); form.setActive(form.active); event.preventDefault(); }
    else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); target.blur(); submit(); }
    return;
  }
  // Buttons outside the form keep their native Enter/Space; inside it keys mean rubric actions.
  if (target.closest?.("button, a") && !target.closest(".q") && ["Enter", " "].includes(event.key)) return;
  if (state.current === null && !$("#ws-empty").hidden) {
    if (event.key === "Enter" || event.key === "r") { event.preventDefault(); checkAgain(); }
    return;
  }
  const action = keymap.action(event);
  if (form.handleKey(event, action)) { event.preventDefault(); return; }
  const handlers = {
    submit, undo, skip: () => skipOrPostpone("skip"), postpone: () => skipOrPostpone("postpone"),
    zoom_in: () => viewer.command("in"), zoom_out: () => viewer.command("out"),
    zoom_fit: () => viewer.command("fit"), zoom_full: () => viewer.command("full"), help: openKeys,
  };
  if (handlers[action]) { event.preventDefault(); handlers[action](); }
}

function checkAgain() { run("Looking for items…", async () => show(await requestNext())); }

// --- key settings dialog ------------------------------------------------------------------------
function renderHints() {
  document.querySelectorAll("[data-key-for]").forEach((node) => { node.textContent = keymap.label(node.dataset.keyFor); });
}

function openKeys() {
  const dialog = $("#keys");
  const draft = { ...keymap.map };
  const body = dialog.querySelector("tbody");
  body.replaceChildren();
  for (const [name, label] of ACTIONS) {
    const button = el("button", { type: "button", class: "btn capture", "aria-label": `Key for ${label}`, text: draft[name] });
    button.addEventListener("click", () => {
      button.classList.add("listening"); button.textContent = "press a key…";
      const grab = (e) => {
        e.preventDefault(); e.stopPropagation();
        if (e.key !== "Escape") draft[name] = keyName(e);
        button.textContent = draft[name]; button.classList.remove("listening");
        window.removeEventListener("keydown", grab, true);
      };
      window.addEventListener("keydown", grab, true);
    });
    body.append(el("tr", {}, el("td", { text: label }), el("td", {}, button)));
  }
  dialog.querySelector("[data-save]").onclick = async () => {
    const used = Object.values(draft);
    if (new Set(used).size !== used.length) { toast("Two actions share a key.", "error"); return; }
    try { await keymap.save(draft); renderHints(); dialog.close(); toast("Keys saved."); } catch (e) { toast(e.message, "error"); }
  };
  dialog.querySelector("[data-close]").onclick = () => dialog.close();
  dialog.querySelector("[data-reset]").onclick = () => { Object.assign(draft, DEFAULTS); body.querySelectorAll("button").forEach((b, i) => { b.textContent = DEFAULTS[ACTIONS[i][0]]; }); };
  dialog.showModal();
}

// --- start --------------------------------------------------------------------------------------
async function start() {
  document.addEventListener("keydown", onKey);
  $("#btn-submit").addEventListener("click", submit);
  $("#btn-skip").addEventListener("click", () => skipOrPostpone("skip"));
  $("#btn-postpone").addEventListener("click", () => skipOrPostpone("postpone"));
  $("#btn-undo").addEventListener("click", undo);
  $("#btn-keys").addEventListener("click", openKeys);
  $("#ws-empty button").addEventListener("click", checkAgain);
  setInterval(updateLease, 1000);
  // others' answers move the project too: the status line follows them every 30 s
  setInterval(() => { if (!document.hidden && !state.busy) refreshQueueStatus().then(explainEmpty); }, 30000);
  try {
    const [project, first] = await Promise.all([api(`${base}/`), requestNext(), keymap.load(), refreshQueueStatus()]);
    state.project = project;
    renderHints();
    $("#status").textContent = statusLine();
    await show(first);
  } catch (error) {
    $("#status").textContent = "";
    $(".ws").hidden = true;
    $("#ws-empty").hidden = false;
    $("#ws-empty h2").textContent = error.status === 403 || error.status === 404 ? "You are not a member of this project." : "The workspace could not load.";
    $("#ws-empty p").textContent = error.message;
  }
}

window.arbiterWorkspace = { state, form };
start();
