// Fills the project cards with progress from GET projects/ (the engine computes it once).
import { api } from "./api.js";

function setBar(card, which, done, total) {
  const bar = card.querySelector(`[data-progress="${which}"]`);
  const text = card.querySelector(`[data-progress-text="${which}"]`);
  if (!bar) return;
  const fraction = total ? Math.min(1, done / total) : 0;
  bar.firstElementChild.style.width = `${fraction * 100}%`;
  bar.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  text.textContent = total ? `${done} / ${total} (${Math.round(fraction * 100)}%)` : `${done}`;
}

export function progressOf(project) {
  // Tolerates the shapes {progress: {done, total, mine, mine_total}} and flat counters.
  const p = project.progress || project;
  const total = p.total ?? p.total_slots ?? p.items ?? 0;
  const done = p.done ?? p.completed ?? p.annotations ?? 0;
  const mine = project.my_progress?.annotations ?? p.mine ?? 0;
  const mineTotal = p.mine_total ?? p.my_total ?? p.items ?? total;
  return { done, total, mine, mineTotal };
}

async function load() {
  let projects;
  try { projects = await api("projects/"); } catch { return; }
  for (const project of projects.results || projects) {
    const card = document.querySelector(`[data-project="${project.id}"]`);
    if (!card) continue;
    const p = progressOf(project);
    setBar(card, "project", p.done, p.total);
    setBar(card, "mine", p.mine, p.mineTotal);
  }
}
load();
