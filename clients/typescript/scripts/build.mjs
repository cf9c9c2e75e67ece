// Builds the package: ESM into OUT/esm and CommonJS into OUT/cjs (with a package.json
// saying so), both with declarations, by the pinned TypeScript compiler. `npm run build`
// builds into dist/ (committed); the test suite builds into a temporary directory and
// compares it with dist/ byte for byte.
//
// usage: node scripts/build.mjs OUT_DIR
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/build.mjs OUT_DIR");
  process.exit(2);
}
const outDir = resolve(root, out);
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(outDir, { recursive: true, force: true });
for (const [config, sub] of [
  ["tsconfig.esm.json", "esm"],
  ["tsconfig.cjs.json", "cjs"],
]) {
  const r = spawnSync(process.execPath, [tsc, "-p", resolve(root, config), "--outDir", resolve(outDir, sub)], {
    cwd: root,
    stdio: "inherit",
    timeout: 120_000,
  });
  if (r.status !== 0) {
    console.error(`tsc -p ${config} failed (${r.error ?? `exit status ${r.status}`})`);
    process.exit(1);
  }
}
mkdirSync(resolve(outDir, "cjs"), { recursive: true });
writeFileSync(resolve(outDir, "cjs", "package.json"), '{"type":"commonjs"}\n');
