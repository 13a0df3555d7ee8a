// Reward-model runs of a project: start a training run, promote a finished one, and follow a
// running one live (the job's own message says featurising n/N, step s of at most T with an
// ETA); when it ends the page reloads so the path's next steps appear.
import { api, toast } from "./api.js";

const form = document.getElementById("train-form");
const status = document.getElementById("train-status");
const projectId = form.dataset.project;
const POLL_MS = 2000;
const backboneField = document.getElementById("backbone-field");

// The VLM recipe names its checkpoint and counts optimiser steps, not epochs.
const showRecipe = () => {
  const vlm = form.elements.trainer.value === "vlm";
  backboneField.hidden = !vlm;
  form.elements.epochs.closest("label").hidden = vlm;
};
form.elements.trainer.addEventListener("change", showRecipe);
showRecipe();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const hyperparameters = { seed: Number(data.get("seed")), trainer: data.get("trainer") };
  if (hyperparameters.trainer === "vlm") hyperparameters.backbone = data.get("backbone");
  else if (data.get("epochs")) hyperparameters.epochs = Number(data.get("epochs"));
  try {
    await api(`projects/${projectId}/reward-models/`, { method: "POST", body: { hyperparameters } });
    status.textContent = "Started.";
    setTimeout(() => location.reload(), 1000);
  } catch (error) {
    status.textContent = error.message;
  }
});

document.querySelectorAll("[data-promote]").forEach((button) => button.addEventListener("click", async () => {
  try {
    await api(`reward-models/${button.dataset.promote}/promote/`, { method: "POST", body: {} });
    location.reload();
  } catch (error) {
    toast(error.message, "error");
  }
}));

async function follow(cell) {
  try {
    const run = await api(`reward-models/${cell.dataset.liveRun}/`);
    const job = run.job;
    if (["succeeded", "failed", "cancelled"].includes(job.status)) { location.reload(); return; }
    // The server's message already carries n/N and the ETA of the phase it is in.
    cell.textContent = `${job.status} ${job.progress.message || ""}`;
  } catch (error) {
    cell.textContent = `Progress unavailable: ${error.message}`;
  }
  setTimeout(() => follow(cell), POLL_MS);
}
document.querySelectorAll("[data-live-run]").forEach((cell) => setTimeout(() => follow(cell), POLL_MS));
