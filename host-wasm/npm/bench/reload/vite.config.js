import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));

// The package as an app installs it: its browser entry, bundled with the app.
export default defineConfig({
  root: here,
  logLevel: "warn",
  resolve: { alias: { "rewind-store": path.resolve(here, "../../dist/web/index.js") } },
  build: { outDir: process.env.REWIND_RELOAD_OUT, emptyOutDir: true, target: "es2022" },
});
