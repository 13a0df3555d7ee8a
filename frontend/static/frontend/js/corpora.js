// Corpus import: upload with a byte progress bar, then watch the background job until it ends.
// Corpus deletion: confirmed in a dialog, then watched the same way.
import { droppedEntries, folderEntries, tarBlob } from "./tar.js";
import { api, el, toast } from "./api.js";

const $ = (s) => document.querySelector(s);
const form = $("#import-form");
let watching = null;

form.querySelectorAll("input[name=mode]").forEach((r) => r.addEventListener("change", () => {
  document.querySelectorAll("[data-mode]").forEach((box) => { box.hidden = box.dataset.mode !== form.mode.value; });
}));
$("#corpus").addEventListener("change", () => { $("#new-name-field").hidden = Boolean($("#corpus").value); });

function upload(url, data) {
  // XMLHttpRequest, not fetch: only it reports upload progress, and large files take a while.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", document.querySelector('meta[name="csrf-token"]').content);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) showBar(e.loaded / e.total, `Uploading ${(e.loaded / 1048576).toFixed(1)} / ${(e.total / 1048576).toFixed(1)} MB`); };
    xhr.onload = () => {
      let body;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error(body?.error?.message || `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("Network error during upload"));
    xhr.send(data);
  });
}

function showBar(fraction, message, status = "uploading") {
  $("#job-idle").hidden = true; $("#job-view").hidden = false;
  const bar = $("#job-bar");
  bar.classList.toggle("indeterminate", fraction === null || fraction === undefined);
  bar.firstElementChild.style.width = `${Math.round((fraction || 0) * 100)}%`;
  if (fraction !== null && fraction !== undefined) bar.setAttribute("aria-valuenow", String(Math.round(fraction * 100)));
  $("#job-message").textContent = message || "";
  const badge = $("#job-status");
  badge.textContent = status;
  badge.className = `badge ${status === "succeeded" ? "ok" : status === "failed" || status === "cancelled" ? "bad" : ""}`;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#import-submit");
  button.disabled = true;
  $("#job-error").hidden = true; $("#job-result").hidden = true;
  try {
    let corpusId = $("#corpus").value;
    if (!corpusId) {
      const name = $("#new-name").value.trim();
      if (!name) throw new Error("Name the new corpus, or pick an existing one.");
      const corpus = await api("corpora/", { method: "POST", body: { name } });
      corpusId = corpus.id;
      $("#corpus").append(el("option", { value: corpus.id, text: corpus.name }));
      $("#corpus").value = String(corpus.id);
      $("#new-name-field").hidden = true;
    }
    const data = new FormData();
    if (form.mode.value === "upload") {
      if (!$("#file").files[0]) throw new Error("Choose a file to upload.");
      data.append("file", $("#file").files[0]);
      if ($("#images").files[0]) data.append("images", $("#images").files[0]);
      else if (imagesFolder?.entries.length) data.append("images", tarBlob(imagesFolder.entries), `${imagesFolder.name}.tar`);
    } else {
      if (!$("#path").value.trim()) throw new Error("Give the file's path on the server.");
      data.append("path", $("#path").value.trim());
      if ($("#images_path").value.trim()) data.append("images_path", $("#images_path").value.trim());
    }
    if ($("#category").value.trim()) data.append("category", $("#category").value.trim());
    showBar(0, "Starting…");
    const job = await upload(`/api/v1/corpora/${corpusId}/imports/`, data);
    watch(job.id);
  } catch (error) {
    toast(error.message, "error");
    showBar(0, error.message, "failed");
  } finally { button.disabled = false; }
});

const KIND_LABELS = { corpus_import: "Import", corpus_delete: "Deletion" };

export async function watch(jobId) {
  watching = jobId;
  $("#job-name").textContent = `Job #${jobId}`;
  $("#job-error").hidden = true; $("#job-result").hidden = true;
  history.replaceState(null, "", `?job=${jobId}`);
  while (watching === jobId) {
    let job;
    try { job = await api(`jobs/${jobId}/`); } catch (error) { showBar(null, `Cannot read the job: ${error.message}`, "unknown"); await sleep(2000); continue; }
    $("#job-name").textContent = `${KIND_LABELS[job.kind] || "Job"} #${jobId}${job.params?.source_name ? ` · ${job.params.source_name}` : ""}`;
    $("#job-cancel").hidden = !["queued", "running"].includes(job.status);
    const p = job.progress || {};
    const message = p.message || (p.total ? `${p.current} / ${p.total}` : job.status === "queued" ? "Waiting for a worker…" : "Working…");
    showBar(job.status === "succeeded" ? 1 : p.fraction, message, job.status);
    $("#job-worker-warning").hidden = !(job.status === "queued" && document.getElementById("health").dataset.state !== "ok");
    if (["succeeded", "failed", "cancelled"].includes(job.status)) { finish(job); return; }
    await sleep(500);
  }
}

function finish(job) {
  $("#job-worker-warning").hidden = true;
  if (job.status === "succeeded") {
    const r = job.result || {};
    const parts = Object.entries(r).filter(([, v]) => typeof v === "number").map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`);
    $("#job-result").hidden = false;
    $("#job-result").textContent = `${KIND_LABELS[job.kind] || "Job"} finished. ${parts.join(" · ")}`;
    return;
  }
  if (job.kind === "corpus_delete" && job.status === "cancelled") {
    // What the deletion had not reached yet is a corpus again: reload to list it.
    $("#job-result").hidden = false;
    $("#job-result").textContent = "Deletion cancelled: what was not deleted yet is listed again after a reload.";
    return;
  }
  const error = job.error || {};
  $("#job-error").hidden = false;
  $("#job-error-message").textContent = `${error.code ? `${error.code}: ` : ""}${error.message || job.status}`;
  const body = $("#problems");
  body.replaceChildren();
  for (const p of error.details?.problems || []) {
    body.append(el("tr", {}, el("td", { text: p.line ?? "" }), el("td", { text: p.column ?? "" }), el("td", { text: p.index ?? "" }),
      el("td", { text: p.item_id ?? "" }), el("td", {}, el("code", { text: p.field ?? "" })), el("td", { text: p.message ?? "" })));
  }
  if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "No per-record problems were reported." })));
}

$("#job-cancel").addEventListener("click", async () => {
  if (!watching) return;
  try { await api(`jobs/${watching}/cancel/`, { method: "POST" }); toast("Cancelling…"); } catch (error) { toast(error.message, "error"); }
});

// --- deletion ------------------------------------------------------------------------------------
const deleteDialog = $("#delete-dialog");
let deleting = null;

document.querySelectorAll("[data-delete]").forEach((button) => button.addEventListener("click", () => {
  deleting = { id: Number(button.dataset.delete), name: button.dataset.name };
  deleteDialog.querySelector("[data-name]").textContent = `“${button.dataset.name}”`;
  deleteDialog.querySelector("[data-items]").textContent = button.dataset.items;
  deleteDialog.showModal();
}));
deleteDialog.querySelector("[data-close]").addEventListener("click", () => deleteDialog.close());
deleteDialog.querySelector("[data-confirm]").addEventListener("click", async () => {
  const target = deleting;
  deleteDialog.close();
  if (!target) return;
  try {
    const job = await api(`corpora/${target.id}/`, { method: "DELETE" });
    document.querySelector(`[data-corpus-row="${target.id}"]`)?.remove();
    $(`#corpus option[value="${target.id}"]`)?.remove();
    toast(`Deleting “${target.name}”…`);
    watch(job.id);
  } catch (error) {
    toast(error.message, "error");
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
document.querySelectorAll("[data-watch]").forEach((b) => b.addEventListener("click", () => watch(Number(b.dataset.watch))));
const initial = new URLSearchParams(location.search).get("job");
if (initial) watch(Number(initial));

// --- images as a folder (picked or dropped), sent as one .tar --------------------------------------
let imagesFolder = null;

function showFolder(folder) {
  imagesFolder = folder && folder.entries.length ? folder : null;
  const summary = $("#images-folder-summary");
  summary.hidden = !folder;
  if (!folder) return;
  const bytes = folder.entries.reduce((n, e) => n + e.file.size, 0);
  summary.textContent = folder.entries.length
    ? `Folder “${folder.name}”: ${folder.entries.length} files, ${(bytes / 1024 / 1024).toFixed(1)} MB.`
    : `Folder “${folder.name}” holds no files.`;
  if (imagesFolder) $("#images").value = "";
}

$("#images-folder")?.addEventListener("change", (event) => {
  const files = [...event.target.files];
  const name = files[0]?.webkitRelativePath?.split("/")[0] || "images";
  showFolder({ entries: folderEntries(files), name });
});
$("#images")?.addEventListener("change", () => { if ($("#images").files[0]) { $("#images-folder").value = ""; showFolder(null); } });

const drop = $("#images-drop");
if (drop) {
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    try {
      const dropped = await droppedEntries(event.dataTransfer);
      if (!dropped.folder && dropped.entries.length === 1 && /\.(zip|tar|tgz|tar\.gz)$/i.test(dropped.entries[0].file.name)) {
        const files = new DataTransfer();
        files.items.add(dropped.entries[0].file);
        $("#images").files = files.files;
        $("#images-folder").value = "";
        showFolder(null);
        toast(`Images archive: ${dropped.entries[0].file.name}`);
      } else {
        $("#images-folder").value = "";
        showFolder(dropped);
      }
    } catch (error) { toast(`Could not read the dropped folder: ${error.message}`, "error"); }
  });
}
