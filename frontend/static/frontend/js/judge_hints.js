// The safety judge's suggestions beside the annotator's rule verdicts, shown only on assisted
// projects (the workspace never asks for them on blind ones). They are marked as the judge's and
// never fill in the annotator's answer. Every string is set as text, never parsed as HTML.
import { el } from "./api.js";

const VERDICTS = { violates: "violates", does_not_violate: "does not violate" };
const MAX_RATIONALE = 240;

const clip = (text) => (text.length > MAX_RATIONALE ? `${text.slice(0, MAX_RATIONALE - 1)}…` : text);
const quote = (value) => `“${String(value ?? "")}”`;

// One short sentence from the decision's trace: why the judge decided as it did.
export function rationaleOf(suggestion) {
  const trace = suggestion?.trace || {};
  const chain = Array.isArray(trace.preconditions) ? trace.preconditions : [];
  const said = chain.flatMap((p) => p.alternatives || []).flatMap((a) => a.steps || [])
    .filter((s) => s.step === "reasoning" && s.rationale).map((s) => String(s.rationale));
  let why;
  if (trace.stopped_at === "relevance") {
    const r = trace.relevance || {};
    why = `The rule looked irrelevant to the image (relevance ${r.score} below ${r.threshold}).`;
  } else if (Number.isInteger(trace.stopped_at) && chain[trace.stopped_at]) {
    const tried = (chain[trace.stopped_at].alternatives || []).map((a) => quote(a.content));
    why = `Not seen: ${tried.join(" or ")}.`;
  } else if (chain.length) {
    const met = chain.map((p) => (p.alternatives || []).find((a) => a.outcome === "met")).filter(Boolean);
    why = `Seen: ${met.map((a) => quote(a.content)).join(" and ")}.`;
  } else {
    why = "";
  }
  if (said.length) why = `${why} ${quote(said[said.length - 1])}`.trim();
  return clip(why);
}

export function renderJudgeHints(host, suggestions, rules) {
  const names = new Map((rules || []).map((r) => [r.key, r.text]));
  host.replaceChildren();
  if (!suggestions.length) { host.hidden = true; return; }
  host.append(
    el("h3", { class: "small", style: "margin:0 0 .3rem" }, "Safety judge's suggestions ", el("span", { class: "badge", text: "model, not you" })),
    el("p", { class: "small muted", style: "margin:0 0 .4rem", text: "A model's verdict per rule, for reference: your own verdict is what counts." }),
    el("ul", { class: "judge-hints-list small", style: "margin:0;padding-left:1.1rem" },
      suggestions.map((s) => el("li", { "data-rule": String(s.rule ?? "") },
        el("b", { text: String(s.rule ?? "") }),
        names.has(s.rule) ? el("span", { class: "muted", text: ` (${names.get(s.rule)})` }) : null,
        ": ",
        el("span", { class: `badge ${s.verdict === "violates" ? "warn" : ""}`, "data-verdict": String(s.verdict ?? ""), text: `judge: ${VERDICTS[s.verdict] || "no verdict"}` }),
        el("div", { class: "muted", text: rationaleOf(s) })))),
  );
  host.hidden = false;
}
