// Compiles src/, tests/ and examples/ into build-test/ (gitignored) for `node --test`.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
rmSync(resolve(root, "build-test"), { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", resolve(root, "tsconfig.test.json")], {
  cwd: root,
  stdio: "inherit",
  timeout: 120_000,
});
process.exit(r.status ?? 1);
