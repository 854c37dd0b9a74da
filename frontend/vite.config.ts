import { svelte } from "@sveltejs/vite-plugin-svelte";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const pagesDir = resolve(here, "src/pages");
const outDir = resolve(here, "../templates_static");

/** Every page folder with an index.html is one entry of the multi-page build. */
const pages = Object.fromEntries(
  readdirSync(pagesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => [d.name, join(pagesDir, d.name, "index.html")]),
);

/** Empty the output folder but keep its README.md (vite's emptyOutDir would delete it). */
function cleanOutDir(): Plugin {
  return {
    name: "vidlib-clean-out-dir",
    apply: "build",
    buildStart() {
      for (const entry of readdirSync(outDir)) {
        if (entry !== "README.md") rmSync(join(outDir, entry), { recursive: true, force: true });
      }
    },
  };
}

export default defineConfig({
  root: pagesDir,
  base: "/",
  plugins: [svelte(), cleanOutDir()],
  resolve: { alias: { $lib: resolve(here, "src/lib") } },
  build: {
    outDir,
    emptyOutDir: false,
    target: "es2022",
    assetsDir: "assets",
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    rolldownOptions: { input: pages },
  },
  server: {
    proxy: Object.fromEntries(["/api", "/search/", "/media", "/video", "/rq"].map((p) => [p, "http://127.0.0.1:8000"])),
  },
});
