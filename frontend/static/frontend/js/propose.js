// "Propose" under a constitution rule: the helper LLM's preconditions and central objects are
// written by a background job (it may take a while with a large model), polled here, and shown
// beside the rule. Nothing changes until the person accepts; the constitution is saved only by
// its own Save button. The page stays usable while the job runs, and it can be stopped.
import { api, el } from "./api.js";
import { formatObjects, formatPreconditions } from "./rules_text.js";

const POLL_MS = 1000;

function proposalView(proposal) {
  return el("div", { class: "proposal-body" },
    el("div", { class: "small muted", text: "Preconditions (all must hold; alternatives separated by |):" }),
    el("pre", { class: "proposal-preconditions", text: formatPreconditions(proposal.preconditions) }),
    el("div", { class: "small" }, el("span", { class: "muted", text: "Central objects: " }),
      el("span", { class: "proposal-objects", text: formatObjects(proposal.central_objects) || "none" })));
}

// rule: the editor's live rule object; onAccept(proposal) puts it into the rule's fields.
export function proposeControl({ pid, helperLlm, rule, label, onAccept }) {
  const box = el("div", { class: "proposal", "aria-live": "polite" });
  const button = el("button", {
    type: "button", class: "btn", "aria-label": `Propose preconditions for ${label}`,
    title: helperLlm ? `Ask ${helperLlm} for preconditions and central objects` : "No helper LLM is configured (ARBITER_JUDGE_HELPER_LLM)",
    disabled: !helperLlm, text: "Propose",
  });
  let stopped = false;
  let jobId = null;

  const show = (...children) => box.replaceChildren(...children);
  const dismiss = () => { stopped = true; box.replaceChildren(); button.disabled = !helperLlm; };
  const dismissButton = () => el("button", { type: "button", class: "btn", text: "Dismiss", onclick: dismiss });

  async function poll(started) {
    while (!stopped) {
      const job = await api(`jobs/${jobId}/`);
      if (stopped) return;
      if (job.status === "succeeded") return finished(job.result);
      if (job.status === "failed" || job.status === "cancelled") {
        show(el("span", { class: "bad", text: job.error?.message || `The proposal was ${job.status}.` }), " ", dismissButton());
        button.disabled = false;
        return;
      }
      const seconds = Math.round((Date.now() - started) / 1000);
      const what = job.status === "queued" ? "waiting for a worker" : job.progress?.message || "writing";
      show(el("span", { class: "muted proposal-status", text: `Proposal: ${what} (${seconds} s)` }), " ",
        el("button", { type: "button", class: "btn", text: "Stop", onclick: () => {
          stopped = true; api(`jobs/${jobId}/cancel/`, { method: "POST" }).catch(() => {}); dismiss();
        } }));
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
    }
  }

  function finished(result) {
    button.disabled = false;
    if (!result?.proposal) {
      show(el("span", { class: "muted", text: `No usable proposal from ${result?.llm || "the helper LLM"}: ${result?.reason || "unknown reason"}.` }), " ", dismissButton());
      return;
    }
    show(el("div", { class: "small", text: `Proposed by ${result.llm} (${result.prompt_version}); check it before accepting:` }),
      proposalView(result.proposal),
      el("div", { class: "row" },
        el("button", { type: "button", class: "btn primary", "aria-label": `Accept the proposal for ${label}`, text: "Accept", onclick: () => {
          onAccept(result.proposal); box.replaceChildren();
        } }),
        dismissButton()));
  }

  button.addEventListener("click", async () => {
    stopped = false;
    button.disabled = true;
    show(el("span", { class: "muted proposal-status", text: "Proposal: asking…" }));
    try {
      const job = await api(`projects/${pid}/judge-proposals/`, { method: "POST", body: { text: rule.text || "", objectified: rule.objectified || "" } });
      jobId = job.id;
      await poll(Date.now());
    } catch (error) {
      button.disabled = false;
      show(el("span", { class: "bad", text: error.message }), " ", dismissButton());
    }
  });
  return { button, box };
}
