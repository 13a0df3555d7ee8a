// A deliberately small Markdown renderer for corpus text. It escapes every character first and
// only then adds a handful of tags, so machine-generated text can never inject HTML or script.
const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const escapeHtml = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ESC[c]);

function inline(text) {
  // `text` is already escaped; code spans are cut out first so their content stays literal.
  const parts = text.split(/(`[^`\n]+`)/g);
  return parts.map((part) => {
    if (/^`[^`\n]+`$/.test(part)) return `<code>${part.slice(1, -1)}</code>`;
    return part
      .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*\w])\*([^*\n]+)\*(?!\w)/g, "$1<em>$2</em>")
      .replace(/(^|[^_\w])_([^_\n]+)_(?!\w)/g, "$1<em>$2</em>");
  }).join("");
}

export function renderMarkdown(source) {
  // LLaVA marks the image position with an <image> token; it is noise to a reader.
  const text = String(source ?? "").replace(/<image>\s*/g, "").trim();
  const out = [];
  const blocks = text.split(/(```[\s\S]*?```)/g);
  for (const block of blocks) {
    if (block.startsWith("```") && block.endsWith("```") && block.length >= 6) {
      const body = block.slice(3, -3).replace(/^[\w-]*\n/, "");
      out.push(`<pre><code>${escapeHtml(body)}</code></pre>`);
      continue;
    }
    for (const para of escapeHtml(block).split(/\n{2,}/)) {
      const lines = para.split("\n").filter((l) => l.trim() !== "");
      if (!lines.length) continue;
      if (lines.every((l) => /^\s*[-*]\s+/.test(l))) {
        out.push(`<ul>${lines.map((l) => `<li>${inline(l.replace(/^\s*[-*]\s+/, ""))}</li>`).join("")}</ul>`);
      } else if (lines.every((l) => /^\s*\d+[.)]\s+/.test(l))) {
        out.push(`<ol>${lines.map((l) => `<li>${inline(l.replace(/^\s*\d+[.)]\s+/, ""))}</li>`).join("")}</ol>`);
      } else {
        out.push(`<p>${lines.map(inline).join("<br>")}</p>`);
      }
    }
  }
  return out.join("");
}
