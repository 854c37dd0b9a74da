// Regenerate the typed API client's types (src/lib/api-types.ts) from the app's own OpenAPI spec.
//
//   node scripts/gen-api.mjs                      dump the spec with `flask --app vidlib openapi-spec`
//                                                 (no server, a throwaway data dir) and regenerate
//   node scripts/gen-api.mjs --spec S --out O     generate O from the spec file S (the staleness
//                                                 test in tests/test_pages.py uses this, so both
//                                                 paths share the same generator options)
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, "..");
const repo = resolve(frontend, "..");

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? resolve(process.argv[i + 1]) : null;
}

function generate(spec, out) {
  // Request fields with a server-side default are optional to send: keep them optional.
  execFileSync(join(frontend, "node_modules", ".bin", "openapi-typescript"), [spec, "-o", out, "--default-non-nullable=false"], {
    cwd: frontend,
    stdio: ["ignore", "ignore", "inherit"],
  });
}

const out = arg("--out") ?? join(frontend, "src", "lib", "api-types.ts");
const given = arg("--spec");
if (given) {
  generate(given, out);
} else {
  const venvPython = join(repo, ".venv", "bin", "python");
  const python = process.env.VIDLIB_PYTHON || (existsSync(venvPython) ? venvPython : "python3");
  const work = mkdtempSync(join(tmpdir(), "vidlib-openapi-"));
  try {
    const spec = join(work, "openapi.json");
    const env = { ...process.env, VIDLIB_DATA_DIR: join(work, "data"), VIDLIB_FOLDERS: "" };
    execFileSync(python, ["-m", "flask", "--app", "vidlib", "openapi-spec", spec], { cwd: repo, env, stdio: "inherit" });
    generate(spec, out);
    console.log(`API types written to ${out}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
