// Per-user key bindings: defaults here, overrides stored through GET/PUT me/preferences.
import { api } from "./api.js";

export const ACTIONS = [
  ["submit", "Submit the item", "Enter"],
  ["skip", "Skip the item", "s"],
  ["postpone", "Postpone the item", "p"],
  ["undo", "Undo the last submit (edit it)", "u"],
  ["next_question", "Next question", "ArrowDown"],
  ["prev_question", "Previous question", "ArrowUp"],
  ["next_rule", "Next rule / option", "ArrowRight"],
  ["prev_rule", "Previous rule / option", "ArrowLeft"],
  ["rationale", "Write in the text box of the question", "r"],
  ["clear", "Clear the current question", "Backspace"],
  ["zoom_in", "Zoom in", "+"],
  ["zoom_out", "Zoom out", "-"],
  ["zoom_fit", "Fit image to view", "w"],
  ["zoom_full", "Image at full size (1:1)", "f"],
  ["help", "Show keys", "?"],
];
// Digits choose options of the current question (1-9, 0 is the tenth); they are not remappable
// because their meaning is positional, which is what people expect of a numbered list.
export const DEFAULTS = Object.fromEntries(ACTIONS.map(([name, , key]) => [name, key]));

export function keyName(event) {
  let key = event.key;
  if (key === " ") key = "Space";
  const parts = [];
  if (event.ctrlKey) parts.push("Ctrl");
  if (event.altKey) parts.push("Alt");
  if (event.metaKey) parts.push("Meta");
  // Shift is part of the name only for letters and named keys; "?" or "+" already encode it.
  if (event.shiftKey && (key.length > 1 || /[a-z]/i.test(key))) parts.push("Shift");
  parts.push(key.length === 1 ? key.toLowerCase() : key);
  return parts.join("+");
}

export function digitOf(event) {
  const match = /^(?:Digit|Numpad)(\d)$/.exec(event.code || "");
  if (!match || event.ctrlKey || event.altKey || event.metaKey) return null;
  const d = Number(match[1]);
  return d === 0 ? 9 : d - 1; // zero-based option index
}

export class Keymap {
  constructor() { this.map = { ...DEFAULTS }; }

  async load() {
    try {
      const prefs = await api("me/preferences/");
      Object.assign(this.map, (prefs && prefs.keymap) || {});
    } catch { /* defaults keep working if preferences are unavailable */ }
    return this;
  }

  async save(overrides) {
    const keymap = {};
    for (const [name, key] of Object.entries(overrides)) if (DEFAULTS[name] !== key) keymap[name] = key;
    await api("me/preferences/", { method: "PUT", body: { keymap } });
    this.map = { ...DEFAULTS, ...keymap };
  }

  action(event) {
    const name = keyName(event);
    for (const [action, key] of Object.entries(this.map)) if (key === name) return action;
    return null;
  }

  label(action) {
    const key = this.map[action] || "";
    return ({ ArrowDown: "↓", ArrowUp: "↑", ArrowLeft: "←", ArrowRight: "→", Backspace: "⌫", Enter: "Enter" })[key] || key.toUpperCase();
  }
}
