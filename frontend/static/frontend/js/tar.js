// A POSIX ustar archive of browser files, as a lazy Blob: the files' bytes are not read or
// copied here, the browser streams them when the Blob is uploaded. An images folder chosen or
// dropped in the browser goes to the server as one .tar, the same path an uploaded archive takes.
const BLOCK = 512;
const encoder = new TextEncoder();

function field(header, offset, length, text) {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar field too long: ${text}`);
  header.set(bytes, offset);
}

const octal = (value, digits) => value.toString(8).padStart(digits, "0");

// ustar keeps a path in name (100 bytes) and prefix (155 bytes), split at a "/"; null when it
// does not fit, and a pax header carries the path instead.
function splitPath(path) {
  const bytes = encoder.encode(path);
  if (bytes.length <= 100) return ["", path];
  const parts = path.split("/");
  for (let i = 1; i < parts.length; i += 1) {
    const prefix = parts.slice(0, i).join("/");
    const name = parts.slice(i).join("/");
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return [prefix, name];
  }
  return null;
}

// A pax record "<length> path=<path>\n", whose length counts its own digits.
function paxRecord(path) {
  const body = ` path=${path}\n`;
  const size = encoder.encode(body).length;
  let length = size + String(size).length;
  if (String(length).length !== String(size).length) length += 1;
  return encoder.encode(`${length}${body}`);
}

function header(path, size, mtime, type = "0") {
  const block = new Uint8Array(BLOCK);
  const [prefix, name] = splitPath(path) || ["", "long-path"];
  field(block, 0, 100, name);
  field(block, 100, 8, "0000644\0");
  field(block, 108, 8, "0000000\0");
  field(block, 116, 8, "0000000\0");
  field(block, 124, 12, `${octal(size, 11)}\0`);
  field(block, 136, 12, `${octal(Math.max(0, Math.floor(mtime / 1000)), 11)}\0`);
  field(block, 148, 8, "        "); // checksum counted as spaces
  field(block, 156, 1, type);
  field(block, 257, 6, "ustar\0");
  field(block, 263, 2, "00");
  field(block, 345, 155, prefix);
  const sum = block.reduce((total, byte) => total + byte, 0);
  field(block, 148, 8, `${octal(sum, 6)}\0 `);
  return block;
}

// entries: [{ path: "train2017/0001.jpg", file: File }]
export function tarBlob(entries) {
  const parts = [];
  for (const { path, file } of entries) {
    if (!splitPath(path)) {
      const record = paxRecord(path);
      parts.push(header("PaxHeader", record.length, 0, "x"), record, new Uint8Array((BLOCK - (record.length % BLOCK)) % BLOCK));
    }
    parts.push(header(path, file.size, file.lastModified || 0), file);
    const pad = (BLOCK - (file.size % BLOCK)) % BLOCK;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  return new Blob(parts, { type: "application/x-tar" });
}

// The files of a folder the user picked (<input webkitdirectory>) relative to that folder:
// the folder is the images root, like an images folder given by path on the server.
export function folderEntries(files) {
  const entries = [];
  for (const file of files) {
    const parts = (file.webkitRelativePath || file.name).split("/");
    const inside = parts.length > 1 ? parts.slice(1) : parts;
    if (inside.some((p) => p.startsWith("."))) continue; // .DS_Store and the like
    entries.push({ path: inside.join("/"), file });
  }
  return entries;
}

// A dropped folder: walk its entries (the File System API hands them out in batches).
export async function droppedEntries(dataTransfer) {
  const roots = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  const out = [];
  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const children = (dir) => new Promise((resolve, reject) => {
    const reader = dir.createReader();
    const all = [];
    const next = () => reader.readEntries((batch) => { if (!batch.length) resolve(all); else { all.push(...batch); next(); } }, reject);
    next();
  });
  async function walk(entry, path) {
    if (entry.name.startsWith(".")) return;
    if (entry.isFile) out.push({ path, file: await fileOf(entry) });
    else if (entry.isDirectory) for (const child of await children(entry)) await walk(child, path ? `${path}/${child.name}` : child.name);
  }
  for (const root of roots) {
    // A dropped folder is the images root; a dropped file keeps its own name.
    if (root.isDirectory) for (const child of await children(root)) await walk(child, child.name);
    else await walk(root, root.name);
  }
  return { entries: out, name: roots.length === 1 ? roots[0].name : "images", folder: roots.some((r) => r.isDirectory) };
}
