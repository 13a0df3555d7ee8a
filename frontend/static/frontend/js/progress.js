// One line for a running job: what it says it does, n/N of its unit, and the time left
// estimated from its own rate since it started (no estimate until there is a rate).
export function eta(job) {
  const { current, total } = job.progress;
  if (!job.started_at || !total || !current || current >= total) return "";
  const elapsed = (Date.now() - Date.parse(job.started_at)) / 1000;
  if (!(elapsed > 1)) return "";
  const left = (elapsed / current) * (total - current);
  if (left <= 90) return `about ${Math.max(1, Math.round(left))} s left`;
  if (left < 5400) return `about ${Math.round(left / 60)} min left`;
  return `about ${(left / 3600).toFixed(1)} h left`;
}

export function jobLine(job, unit) {
  const { current, total, message } = job.progress;
  if (job.status === "queued") return "queued: waiting for a worker";
  const parts = [job.status];
  if (total) parts.push(`${current}/${total} ${unit}`);
  if (message) parts.push(message);
  const left = eta(job);
  if (left) parts.push(left);
  return parts.join(" · ");
}
