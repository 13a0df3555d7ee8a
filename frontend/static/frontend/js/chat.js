// Renders a LLaVA conversation as a chat; candidate lists are shown as lettered cards.
import { el } from "./api.js";
import { renderMarkdown } from "./md.js";

export const asText = (v) => (typeof v === "string" ? v : Array.isArray(v) ? v.map(asText).join("\n") : v && typeof v === "object" ? (v.value ?? JSON.stringify(v)) : String(v ?? ""));

export const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function candidateTurn(item) {
  const conversations = item.conversations;
  // The first gpt turn whose value is a list: the candidates that pairwise / ranking judge.
  const turns = conversations || [];
  for (let i = 0; i < turns.length; i += 1) {
    if (Array.isArray(turns[i].value)) return { turn: i, candidates: turns[i].value, scores: turns[i].score || null };
  }
  // Question-preference records: the candidates are alternative question sets.
  if (Array.isArray(item.questions) && item.questions.length > 1) {
    return { turn: "questions", candidates: item.questions.map(asText), scores: null };
  }
  return null;
}

// Canonical candidate indices in the order they are shown: the assignment's random order for
// this turn when the engine gave one (so position cannot bias the answer), else as stored.
export function shownOrder(order, turn, n) {
  const given = order && order[String(turn)];
  if (Array.isArray(given) && given.length === n && [...given].sort((x, y) => x - y).every((c, i) => c === i)) return given;
  return [...Array(n).keys()];
}

export function renderChat(container, item, order = null) {
  container.replaceChildren();
  const meta = el("div", { class: "ws-meta" },
    el("span", { class: "badge", text: item.category || "uncategorised" }),
    el("span", { text: `#${item.external_id}` }),
  );
  container.append(meta);
  (item.conversations || []).forEach((turn, index) => {
    const who = turn.from === "human" ? "human" : "gpt";
    const node = el("div", { class: `turn ${who}`, "data-turn": index },
      el("div", { class: "who", text: who === "human" ? "Instruction" : "Response" }));
    if (Array.isArray(turn.value)) {
      const list = el("div", { class: "cands" });
      shownOrder(order, index, turn.value.length).forEach((c, k) => {
        list.append(el("div", { class: "cand", "data-cand": c },
          el("span", { class: "tag", text: `Candidate ${LETTERS[k] || k + 1}` }),
          el("div", { class: "md", html: renderMarkdown(turn.value[c]) })));
      });
      node.append(list);
    } else {
      node.append(el("div", { class: "bubble md", html: renderMarkdown(turn.value) }));
    }
    container.append(node);
  });
  if (Array.isArray(item.questions) && item.questions.length > 1) {
    const list = el("div", { class: "cands" });
    shownOrder(order, "questions", item.questions.length).forEach((c, k) => list.append(el("div", { class: "cand", "data-cand": c },
      el("span", { class: "tag", text: `Question set ${LETTERS[k] || k + 1}` }), el("div", { class: "md", html: renderMarkdown(asText(item.questions[c])) }))));
    container.append(el("div", { class: "turn gpt" }, el("div", { class: "who", text: "Candidate questions" }), list));
  }
}
