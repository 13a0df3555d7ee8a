// Header badge: database / broker / workers from /healthz, refreshed every 15 s, so nobody waits
// on a job that will never start.
const node = document.getElementById("health");
const text = node?.querySelector(".text");

function describe(body) {
  if (!body || !body.database) return ["down", "Server unreachable"];
  if (!body.database.ok) return ["down", "Database down"];
  if (!body.broker.ok) return ["down", "Broker down: jobs cannot start"];
  if (!body.workers.ok) return ["degraded", "No worker: jobs will wait"];
  const n = body.workers.alive.length;
  return ["ok", `${n} worker${n === 1 ? "" : "s"} · ${body.workers.queues.join(", ") || "no queue"}`];
}

export async function refresh() {
  let body;
  try {
    const res = await fetch("/healthz", { credentials: "same-origin", cache: "no-store" });
    body = await res.json();
  } catch { body = null; }
  const [state, label] = describe(body);
  node.dataset.state = state;
  text.textContent = label;
  node.title = body ? JSON.stringify({ database: body.database?.ok, broker: body.broker?.ok, workers: body.workers?.alive?.map((w) => w.hostname) }) : "unreachable";
  window.dispatchEvent(new CustomEvent("arbiter:health", { detail: { state, label, body } }));
}

if (node) {
  refresh();
  setInterval(() => { if (!document.hidden) refresh(); }, 15000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
}
