// The rubric form: controls generated from the project's rubric (and constitution), driven by the
// keyboard. The workspace and the review page both use it, so a key means the same thing in both.
import { el } from "./api.js";
import { LETTERS, candidateTurn, shownOrder } from "./chat.js";
import { digitOf } from "./keymap.js";
import { renderMarkdown } from "./md.js";

const VERDICTS = [
  ["violates", "Violates"],
  ["does_not_violate", "Does not violate"],
  ["unsure", "Unsure"],
];
const PAIR_CHOICES = [["A", "A is better"], ["B", "B is better"], ["tie", "Tie"], ["both_bad", "Both bad"]];

function optionList(raw) {
  return (raw || []).map((o, i) => (typeof o === "object" && o !== null
    ? { value: o.value ?? o.key ?? i + 1, label: o.label ?? o.text ?? String(o.value ?? o.key) }
    : { value: o, label: String(o) }));
}

export function ratingOptions(q) {
  // The engine normalises ratings to labels: [{value, label}] sorted by value.
  const listed = Array.isArray(q.labels) && q.labels.length && typeof q.labels[0] === "object" ? q.labels : q.options;
  if (Array.isArray(listed) && listed.length) {
    return optionList(listed).map((o, i) => ({ value: typeof o.value === "number" ? o.value : i + 1, label: o.label === String(o.value) ? "" : o.label }));
  }
  const min = q.min ?? q.scale_min ?? 1;
  const max = q.max ?? q.scale_max ?? (Array.isArray(q.labels) && q.labels.length ? min + q.labels.length - 1 : 5);
  const out = [];
  for (let v = min; v <= max; v += 1) {
    let label = "";
    if (Array.isArray(q.labels)) label = q.labels[v - min] ?? "";
    else if (q.labels && typeof q.labels === "object") label = q.labels[v] ?? q.labels[String(v)] ?? "";
    out.push({ value: v, label });
  }
  return out;
}

export function multiOptions(q) {
  return optionList(q.options?.length ? q.options : q.labels).map((o) => ({ value: String(o.value), label: o.label }));
}

// The answer turns a per-turn question is asked under: non-human messages with a plain answer
// (the engine's `answer_turns`; candidate lists are judged by comparisons instead).
export function answerTurns(item) {
  return (item.conversations || []).flatMap((m, i) => (m && m.from !== "human" && !Array.isArray(m.value) ? [i] : []));
}

function excerpt(text, n = 400) {
  const s = String(text ?? "").replace(/<image>\s*/g, "");
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

export class RubricForm {
  constructor(root, { onChange = () => {}, keymap, advanceToNext = false, turnHost = null }) {
    this.root = root; this.onChange = onChange; this.keymap = keymap;
    // Where a per-turn question's block for answer turn t goes (under that turn in the chat);
    // without a host, or without that turn on screen, the block stays in the form.
    this.turnHost = turnHost;
    // Review forms are prefilled, so there "advance" means the very next question.
    this.advanceToNext = advanceToNext;
    this.blocks = []; this.active = 0; this.answers = {};
    // The rubric is answered with keys and buttons, never by a native form submit.
    root.addEventListener("submit", (event) => event.preventDefault());
  }

  render({ item, questions, rules, answers, order = null }) {
    this.item = item;
    this.rules = rules || [];
    this.answers = structuredClone(answers || {});
    this.cand = candidateTurn(item);
    // shown[k] = the canonical index of the k-th candidate on screen; answers name canonical ones.
    this.shown = this.cand ? shownOrder(order, this.cand.turn, this.cand.candidates.length) : [];
    this.root.replaceChildren();
    this.blocks = [];
    for (const q of questions || []) {
      // Candidate questions only make sense when the item carries at least two candidates.
      if ((q.type === "pairwise" || q.type === "ranking") && !(this.cand && this.cand.candidates.length >= 2)) continue;
      if (q.type === "rule_verdict" && !this.rules.length) continue;
      if (q.per_turn) {
        // One block per answer turn, each answered on its own: {turn: value}.
        const turns = answerTurns(item);
        turns.forEach((turn, k) => {
          const block = this.build({ ...q, _turn: String(turn), _turnLabel: `answer ${k + 1} of ${turns.length}` }, this.blocks.length);
          this.blocks.push(block);
          (this.turnHost?.(turn) || this.root).append(block.node);
          block.update();
        });
        continue;
      }
      const block = this.build(q, this.blocks.length);
      this.blocks.push(block);
      this.root.append(block.node);
      block.update();
    }
    if (!this.blocks.length) this.root.append(el("p", { class: "muted", text: "This rubric has no questions for this item." }));
    this.setActive(0, false);
  }

  // --- building blocks ---------------------------------------------------------------------
  shell(q, index, role = "group") {
    const id = `q-${index}`;
    const node = el("fieldset", { class: `q${q._turn !== undefined ? " per-turn" : ""}`, id, tabindex: "0", role, "aria-labelledby": `${id}-label`, "data-key": q.key, "data-type": q.type, "data-turn": q._turn });
    node.append(el("legend", { id: `${id}-label`, class: "prompt" },
      el("span", { text: `${index + 1}. ${q.prompt || q.key}` }),
      q._turnLabel ? el("span", { class: "turn-of", text: ` · ${q._turnLabel}` }) : null,
      q.required ? el("span", { class: "req", title: "required", "aria-label": "required", text: "*" }) : null));
    if (q.help) node.append(el("div", { class: "hint", text: q.help }));
    node.addEventListener("focus", () => this.setActive(index, false));
    node.addEventListener("click", () => this.setActive(index, false));
    return node;
  }

  optButton(label, keyHint, onClick, extra = "") {
    const b = el("button", { type: "button", class: `opt ${extra}`, tabindex: "-1", "aria-pressed": "false", onclick: (e) => { e.stopPropagation(); onClick(); } },
      keyHint ? el("kbd", { text: keyHint }) : null, el("span", { text: label }));
    return b;
  }

  build(q, index) {
    // A per-turn block reads and writes its own turn of the question's {turn: value} answer.
    const turn = q._turn;
    const get = () => (turn === undefined ? this.answers[q.key] : this.answers[q.key]?.[turn]);
    const set = (value) => (turn === undefined ? this.set(q.key, value) : this.setTurn(q.key, turn, value));
    const unset = () => (turn === undefined ? this.unset(q.key) : this.setTurn(q.key, turn, undefined));
    const node = this.shell(q, index, ["rating", "binary", "pairwise"].includes(q.type) ? "radiogroup" : "group");
    const block = { q, node, index, get, update: () => {}, key: () => false, complete: () => get() !== undefined };
    if (q.type === "rating") {
      const opts = ratingOptions(q);
      const wrap = el("div", { class: "opts" });
      const buttons = opts.map((o, i) => {
        const b = el("button", { type: "button", class: "opt scale", tabindex: "-1", role: "radio", "aria-checked": "false", "aria-label": `${o.value} ${o.label}`, onclick: () => { set(o.value); this.advance(index); } },
          el("kbd", { text: i < 9 ? String(i + 1) : "0" }), el("b", { text: String(o.value) }), o.label ? el("small", { text: o.label }) : null);
        wrap.append(b); return b;
      });
      node.append(wrap);
      block.update = () => buttons.forEach((b, i) => { const on = get() === opts[i].value; b.classList.toggle("on", on); b.setAttribute("aria-checked", on); });
      block.key = (e, action, digit) => {
        if (digit !== null && digit < opts.length) { set(opts[digit].value); this.advance(index); return true; }
        if (action === "clear") { unset(); return true; }
        return false;
      };
    } else if (q.type === "binary") {
      const opts = [[true, q.labels?.[0] || "Yes"], [false, q.labels?.[1] || "No"]];
      const wrap = el("div", { class: "opts" });
      const buttons = opts.map(([value, label], i) => {
        const b = el("button", { type: "button", class: "opt", tabindex: "-1", role: "radio", "aria-checked": "false", onclick: () => { set(value); this.advance(index); } },
          el("kbd", { text: String(i + 1) }), el("span", { text: label }));
        wrap.append(b); return b;
      });
      node.append(wrap);
      block.update = () => buttons.forEach((b, i) => { const on = get() === opts[i][0]; b.classList.toggle("on", on); b.setAttribute("aria-checked", on); });
      block.key = (e, action, digit) => {
        if (digit === 0 || digit === 1) { set(opts[digit][0]); this.advance(index); return true; }
        if (action === "clear") { unset(); return true; }
        return false;
      };
    } else if (q.type === "multi_label") {
      const opts = multiOptions(q);
      const wrap = el("div", { class: "opts" });
      const toggle = (value) => {
        const current = new Set(get() || []);
        if (current.has(value)) current.delete(value); else current.add(value);
        set(opts.map((o) => o.value).filter((v) => current.has(v)));
      };
      const buttons = opts.map((o, i) => {
        const b = el("button", { type: "button", class: "opt", tabindex: "-1", role: "checkbox", "aria-checked": "false", onclick: () => toggle(o.value) },
          el("kbd", { text: i < 9 ? String(i + 1) : "0" }), el("span", { text: o.label }));
        wrap.append(b); return b;
      });
      node.append(wrap, el("div", { class: "hint", text: "Toggle every label that applies; none is a valid answer." }));
      block.update = () => buttons.forEach((b, i) => { const on = (get() || []).includes(opts[i].value); b.classList.toggle("on", on); b.setAttribute("aria-checked", on); });
      block.key = (e, action, digit) => {
        if (digit !== null && digit < opts.length) { toggle(opts[digit].value); return true; }
        if (action === "clear") { set([]); return true; }
        return false;
      };
      // An untouched multi-label question means "no label applies".
      block.complete = () => true;
      if (get() === undefined) this.initTurnless(q.key, turn, []);
    } else if (q.type === "text") {
      const area = el("textarea", { id: `q-${index}-text`, rows: "3", "aria-labelledby": `q-${index}-label`, placeholder: "Type here; Esc returns to the keys, Ctrl+Enter submits" });
      area.value = get() || "";
      area.addEventListener("input", () => { if (area.value) set(area.value); else unset(); });
      area.addEventListener("focus", () => this.setActive(index, false));
      node.append(area);
      block.text = area;
      block.update = () => { if (document.activeElement !== area) area.value = get() || ""; };
      block.complete = () => !q.required || Boolean((get() || "").trim());
      block.key = (e, action) => {
        if (action === "rationale" || e.key === "Space") { area.focus(); return true; }
        if (action === "clear") { unset(); area.value = ""; return true; }
        return false;
      };
    } else if (q.type === "pairwise") {
      const { turn, candidates } = this.cand;
      // A and B are the first two candidates as shown (the conversation shows them as A and B).
      const [a, b] = this.shown;
      node.append(el("div", { class: "pair" },
        el("div", { class: "side", "data-cand": a }, el("h4", { text: "A · Candidate A" }), el("div", { html: renderMarkdown(excerpt(candidates[a])) })),
        el("div", { class: "side", "data-cand": b }, el("h4", { text: "B · Candidate B" }), el("div", { html: renderMarkdown(excerpt(candidates[b])) }))));
      const wrap = el("div", { class: "opts" });
      const buttons = PAIR_CHOICES.map(([choice, label], i) => {
        const btn = el("button", { type: "button", class: "opt", tabindex: "-1", role: "radio", "aria-checked": "false", onclick: () => { set({ a, b, turn, choice }); this.advance(index); } },
          el("kbd", { text: String(i + 1) }), el("span", { text: label }));
        wrap.append(btn); return btn;
      });
      node.append(wrap);
      block.update = () => buttons.forEach((btn, i) => { const on = this.answers[q.key]?.choice === PAIR_CHOICES[i][0]; btn.classList.toggle("on", on); btn.setAttribute("aria-checked", on); });
      block.key = (e, action, digit) => {
        if (digit !== null && digit < 4) { set({ a, b, turn, choice: PAIR_CHOICES[digit][0] }); this.advance(index); return true; }
        if (action === "clear") { this.unset(q.key); return true; }
        return false;
      };
      block.pair = [a, b];
    } else if (q.type === "ranking") {
      this.buildRanking(q, index, block);
    } else if (q.type === "rule_verdict") {
      this.buildRules(q, index, block);
    } else {
      node.append(el("p", { class: "muted", text: `Unsupported question type "${q.type}".` }));
      block.complete = () => true;
    }
    return block;
  }

  buildRanking(q, index, block) {
    const { turn, candidates } = this.cand;
    const n = candidates.length;
    const shown = this.shown;
    const at = (c) => shown.indexOf(c); // a candidate's place on screen: its key and letter
    // Tiers: [[best...], [next...], ...]; candidates in one tier are tied.
    let tiers = Array.isArray(this.answers[q.key]?.ranking) ? structuredClone(this.answers[q.key].ranking) : [];
    const list = el("ol", { class: "rank-list", "aria-label": "Ranking, best first" });
    block.node.append(list, el("div", { class: "hint" },
      "Press a candidate's number to give it the next place; ", el("kbd", { text: "Shift" }), "+number ties it with the last placed; ",
      el("kbd", { text: "⌫" }), " takes the last one back. Or drag (Shift-drop ties)."));
    const commit = () => {
      const placed = tiers.flat().length;
      if (placed === n) this.set(q.key, { turn, ranking: tiers });
      else { delete this.answers[q.key]; this.onChange(this.answers); }
      block.update();
      if (placed === n) this.advance(index);
    };
    const remove = (c) => { tiers = tiers.map((t) => t.filter((x) => x !== c)).filter((t) => t.length); };
    const place = (c, tie) => {
      remove(c);
      if (tie && tiers.length) tiers[tiers.length - 1].push(c); else tiers.push([c]);
      // With one candidate left, its place is decided.
      const left = shown.filter((x) => !tiers.flat().includes(x));
      if (left.length === 1 && n > 2) tiers.push(left);
      commit();
    };
    let dragging = null;
    block.update = () => {
      list.replaceChildren();
      let position = 1;
      tiers.forEach((tier) => {
        tier.forEach((c, k) => list.append(row(c, tier.length > 1 ? `=${position}` : `${position}`, k > 0)));
        position += tier.length;
      });
      for (const c of shown) if (!tiers.flat().includes(c)) list.append(row(c, "–", false, true));
    };
    const row = (c, pos, tied, unranked = false) => {
      const li = el("li", { class: `rank-item${unranked ? " unranked" : ""}`, draggable: "true", "data-cand": c,
        "aria-label": `Candidate ${LETTERS[at(c)]}, ${unranked ? "not ranked" : `place ${pos}`}` },
        el("span", { class: "pos", text: pos }), el("kbd", { text: String(at(c) + 1) }),
        el("b", { text: LETTERS[at(c)] }), el("span", { class: "txt", html: renderMarkdown(excerpt(candidates[c], 160)) }));
      li.addEventListener("dragstart", (e) => { dragging = c; e.dataTransfer.effectAllowed = "move"; });
      li.addEventListener("dragover", (e) => { e.preventDefault(); li.classList.add("drop-target"); });
      li.addEventListener("dragleave", () => li.classList.remove("drop-target"));
      li.addEventListener("drop", (e) => {
        e.preventDefault();
        if (dragging === null || dragging === c) return;
        const target = c; const moving = dragging; dragging = null;
        remove(moving);
        const t = tiers.findIndex((tier) => tier.includes(target));
        if (t < 0) tiers.push([moving]);
        else if (e.shiftKey) tiers[t].push(moving);
        else tiers.splice(t, 0, [moving]);
        commit();
      });
      li.addEventListener("click", () => { if (unranked) place(c, false); });
      return li;
    };
    block.key = (e, action, digit) => {
      if (digit !== null && digit < n) { place(shown[digit], e.shiftKey); return true; }
      if (action === "clear") {
        if (tiers.length) { const last = tiers[tiers.length - 1]; last.pop(); tiers = tiers.filter((t) => t.length); commit(); }
        return true;
      }
      return false;
    };
    block.reset = () => { tiers = []; commit(); };
  }

  buildRules(q, index, block) {
    block.rule = 0;
    const value = () => this.answers[q.key] || {};
    const rows = this.rules.map((rule, r) => {
      const name = `q-${index}-rule-${r}`;
      const buttons = VERDICTS.map(([verdict, label], i) => this.optButton(label, String(i + 1), () => { choose(r, verdict); }, `v-${verdict}`));
      const rationale = el("input", { type: "text", id: `${name}-why`, placeholder: "Rationale (optional)", "aria-label": `Rationale for rule ${rule.key}` });
      rationale.addEventListener("input", () => {
        const current = structuredClone(value());
        current[rule.key] = { verdict: current[rule.key]?.verdict, rationale: rationale.value };
        this.set(q.key, current);
      });
      rationale.addEventListener("focus", () => { this.setActive(index, false); block.rule = r; block.update(); });
      const meta = [rule.category, rule.severity && `severity ${rule.severity}`].filter(Boolean).join(" · ");
      const node = el("div", { class: "rule", role: "radiogroup", "aria-label": `Rule ${rule.key}: ${rule.text}`, "data-rule": rule.key },
        el("div", { class: "text" }, el("b", { text: `${rule.key}. ` }), rule.text),
        rule.objectified && rule.objectified !== rule.text ? el("div", { class: "meta", text: `Check: ${rule.objectified}` }) : null,
        rule.preconditions?.length ? el("div", { class: "meta", text: `Applies when: ${[].concat(rule.preconditions).join("; ")}` }) : null,
        meta ? el("div", { class: "meta", text: meta }) : null,
        el("div", { class: "opts" }, buttons), rationale);
      node.addEventListener("click", () => { block.rule = r; this.setActive(index, false); block.update(); });
      return { rule, node, buttons, rationale };
    });
    const choose = (r, verdict) => {
      const current = structuredClone(value());
      current[rows[r].rule.key] = { verdict, rationale: current[rows[r].rule.key]?.rationale || "" };
      this.set(q.key, current);
      if (r + 1 < rows.length) { block.rule = r + 1; block.update(); rows[r + 1].node.scrollIntoView({ block: "nearest" }); }
      else if (block.complete()) this.advance(index);
    };
    rows.forEach((row) => block.node.append(row.node));
    block.complete = () => rows.every((row) => value()[row.rule.key]?.verdict);
    block.update = () => rows.forEach((row, r) => {
      const v = value()[row.rule.key] || {};
      row.node.classList.toggle("active", r === block.rule && this.active === index);
      row.buttons.forEach((b, i) => { const on = v.verdict === VERDICTS[i][0]; b.classList.toggle("on", on); b.setAttribute("aria-pressed", on); });
      if (document.activeElement !== row.rationale) row.rationale.value = v.rationale || "";
    });
    block.key = (e, action, digit) => {
      if (digit !== null && digit < 3) { choose(block.rule, VERDICTS[digit][0]); return true; }
      if (action === "next_rule") { block.rule = Math.min(rows.length - 1, block.rule + 1); block.update(); return true; }
      if (action === "prev_rule") { block.rule = Math.max(0, block.rule - 1); block.update(); return true; }
      if (action === "rationale") { rows[block.rule].rationale.focus(); return true; }
      if (action === "clear") { const c = structuredClone(value()); delete c[rows[block.rule].rule.key]; this.set(q.key, c); return true; }
      return false;
    };
  }

  // --- state -----------------------------------------------------------------------------
  set(key, value) {
    this.answers[key] = value;
    this.blocks.filter((b) => b.q.key === key).forEach((b) => { b.update(); b.node.classList.remove("missing"); });
    this.onChange(this.answers);
  }

  unset(key) {
    delete this.answers[key];
    this.blocks.filter((b) => b.q.key === key).forEach((b) => b.update());
    this.onChange(this.answers);
  }

  // One turn of a per-turn answer; undefined clears that turn.
  setTurn(key, turn, value) {
    const current = this.answers[key] && typeof this.answers[key] === "object" && !Array.isArray(this.answers[key]) ? this.answers[key] : {};
    if (value === undefined) delete current[turn]; else current[turn] = value;
    this.answers[key] = current;
    const block = this.blocks.find((b) => b.q.key === key && b.q._turn === turn);
    if (block) { block.update(); if (value !== undefined) block.node.classList.remove("missing"); }
    this.onChange(this.answers);
  }

  // A default value set without announcing a change (an untouched multi-label means "none").
  initTurnless(key, turn, value) {
    if (turn === undefined) { this.answers[key] = value; return; }
    if (!this.answers[key] || typeof this.answers[key] !== "object" || Array.isArray(this.answers[key])) this.answers[key] = {};
    this.answers[key][turn] = value;
  }

  setActive(index, focus = true) {
    if (!this.blocks.length) return;
    this.active = Math.max(0, Math.min(this.blocks.length - 1, index));
    this.blocks.forEach((b, i) => { b.node.classList.toggle("active", i === this.active); if (b.q.type === "rule_verdict") b.update(); });
    const node = this.blocks[this.active].node;
    if (focus) node.focus({ preventScroll: true });
    node.scrollIntoView({ block: "nearest" });
  }

  advance(index) {
    // After a single choice the next unanswered question becomes active: no extra key press.
    if (this.advanceToNext) { if (index + 1 < this.blocks.length) this.setActive(index + 1); return; }
    for (let i = index + 1; i < this.blocks.length; i += 1) {
      if (!this.blocks[i].complete() || this.blocks[i].q.type === "text") { this.setActive(i); return; }
    }
  }

  missing() {
    return this.blocks.filter((b) => b.q.required !== false && !b.complete());
  }

  flagMissing() {
    const missing = this.missing();
    missing.forEach((b) => b.node.classList.add("missing"));
    if (missing.length) this.setActive(missing[0].index);
    return missing;
  }

  payload() {
    // Only answers to questions shown for this item are sent; text answers are trimmed.
    const out = {};
    for (const b of this.blocks) {
      const v = b.get();
      if (v === undefined) continue;
      if (b.q._turn !== undefined) {
        const clean = typeof v === "string" ? v.trim() : v;
        if (clean === "") continue;
        out[b.q.key] = { ...(out[b.q.key] || {}), [b.q._turn]: clean };
        continue;
      }
      if (b.q.type === "rule_verdict") {
        out[b.q.key] = Object.fromEntries(Object.entries(v).filter(([, x]) => x && x.verdict));
      } else out[b.q.key] = typeof v === "string" ? v.trim() : v;
    }
    return out;
  }

  handleKey(event, action) {
    const block = this.blocks[this.active];
    if (!block) return false;
    if (action === "next_question" || (event.key === "Tab" && !event.shiftKey && this.active < this.blocks.length - 1)) { this.setActive(this.active + 1); return true; }
    if (action === "prev_question" || (event.key === "Tab" && event.shiftKey && this.active > 0)) { this.setActive(this.active - 1); return true; }
    return block.key(event, action, digitOf(event));
  }
}
