// The scoring step of the path: score the selected corpora with the panel's model, and show
// each scoring's progress live (items scored n/N, shards, an ETA from the scoring's own rate)
// until every one has ended. Corpus names are set as text, never parsed as HTML.
import { api, toast } from "./api.js";
import { jobLine } from "./progress.js";

const panel = document.getElementById("scoring-panel");
const runId = panel.dataset.run;
const status = document.getElementById("score-status");
const POLL_MS = 2000;

const rowOf = (corpusId) => panel.querySelector(`tr[data-corpus="${Number(corpusId)}"]`);

function show(scoring) {
  const row = rowOf(scoring.corpus);
  if (!row) return;
  const job = scoring.job;
  const cell = row.querySelector("[data-scoring-state]");
  row.dataset.scoring = scoring.id;
  if (job.status === "succeeded") {
    row.dataset.state = "scored";
    cell.textContent = `scored (${job.progress.total ?? job.progress.current} items)`;
  } else if (job.status === "queued" || job.status === "running") {
    row.dataset.state = "scoring";
    cell.textContent = jobLine(job, "items");
  } else {
    row.dataset.state = job.status;
    cell.textContent = `${job.status}: ${(job.error && job.error.message) || job.progress.message || ""}`;
  }
  const pick = row.querySelector("[data-score-pick]");
  if (pick) {
    pick.disabled = row.dataset.state === "scoring";
    if (row.dataset.state === "scoring" || row.dataset.state === "scored") pick.checked = false;
  }
}

let timer = null;
async function poll() {
  timer = null;
  try {
    const scorings = await api(`reward-models/${runId}/scorings/`);
    // Newest first: the first scoring seen for a corpus is the one its row shows.
    const seen = new Set();
    for (const scoring of scorings) {
      if (seen.has(scoring.corpus)) continue;
      seen.add(scoring.corpus);
      show(scoring);
    }
  } catch (error) {
    status.textContent = `Progress unavailable: ${error.message}`;
  }
  schedule();
}

function schedule() {
  const live = panel.querySelector('tr[data-state="scoring"]');
  if (live && timer === null) timer = setTimeout(poll, POLL_MS);
  panel.dataset.live = live ? "true" : "false";
  if (!live && status && status.textContent.startsWith("Scoring ")) status.textContent = "Scoring finished.";
}

const button = document.getElementById("score-selected");
if (button) {
  button.addEventListener("click", async () => {
    const picks = [...panel.querySelectorAll("[data-score-pick]:checked")];
    if (!picks.length) { status.textContent = "Select a corpus to score."; return; }
    button.disabled = true;
    status.textContent = "Starting…";
    let started = 0;
    for (const pick of picks) {
      try {
        show(await api(`reward-models/${runId}/scorings/`, { method: "POST", body: { corpus_id: Number(pick.dataset.scorePick) } }));
        started += 1;
      } catch (error) {
        toast(error.message, "error");
      }
    }
    status.textContent = started ? `Scoring ${started} corpus${started > 1 ? "es" : ""}.` : "Nothing started.";
    button.disabled = false;
    schedule();
  });
}

schedule();
