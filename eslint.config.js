// ESLint flat config for the browser ES modules under frontend/static (run by `make lint`).
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    // Vendored or generated files are not ours to lint.
    ignores: ["node_modules/", "var/", "**/*.min.js"],
  },
  js.configs.recommended,
  {
    files: ["frontend/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      // A non-module script written by mistake would leak globals; unused names are noise.
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
      "no-implied-eval": "error",
      "no-eval": "error",
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.node } },
  },
];
