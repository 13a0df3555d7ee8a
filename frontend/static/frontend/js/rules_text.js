// A rule's preconditions and central objects as the constitution editor writes them: one
// precondition per line (an AND-chain), its alternatives separated by "|" (any one suffices);
// central object words separated by commas. The server validates and bounds what is sent.

export function parsePreconditions(text) {
  return String(text).split("\n")
    .map((line) => line.split("|").map((a) => a.trim()).filter(Boolean))
    .filter((alternatives) => alternatives.length)
    .map((alternatives) => (alternatives.length === 1 ? alternatives[0] : alternatives));
}

export function formatPreconditions(list) {
  return (list || []).map((p) => (Array.isArray(p) ? p.join(" | ") : String(p))).join("\n");
}

export function parseObjects(text) {
  return String(text).split(",").map((o) => o.trim()).filter(Boolean);
}

export function formatObjects(list) {
  return (list || []).join(", ");
}
