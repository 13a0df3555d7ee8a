// Reward-model runs of a project: start a training run, promote a finished one.
import { api, toast } from "./api.js";

const form = document.getElementById("train-form");
const status = document.getElementById("train-status");
const projectId = form.dataset.project;
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
