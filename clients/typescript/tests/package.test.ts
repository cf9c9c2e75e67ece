/** The package as published: the committed dist/ is exactly what src/ builds to, both
 * builds load through package.json `exports`, and nothing is needed at run time. */

import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { describe, test } from "node:test";

import { PACKAGE_DIR, tempDir } from "./helpers/server.js";

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe("package", { concurrency: true }, () => {
  test("the committed dist/ is byte for byte what src/ builds to", () => {
    const out = join(tempDir("dist"), "dist");
    const r = spawnSync(process.execPath, [join(PACKAGE_DIR, "scripts", "build.mjs"), out], {
      cwd: PACKAGE_DIR,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `the build failed: ${r.stdout}${r.stderr}`);
    const committed = join(PACKAGE_DIR, "dist");
    const built = files(out);
    assert.ok(built.includes("esm/index.js") && built.includes("cjs/index.d.ts") && built.includes("cjs/package.json"));
    assert.deepEqual(files(committed), built, "dist/ has other files than a fresh build: run `npm run build`");
    const stale = built.filter((f) => !readFileSync(join(out, f)).equals(readFileSync(join(committed, f))));
    assert.deepEqual(stale, [], "dist/ is not what src/ builds to: run `npm run build` and commit dist/");
    assert.equal(readFileSync(join(committed, "cjs", "package.json"), "utf8"), '{"type":"commonjs"}\n');
  });

  test("ESM and CommonJS load through the exports, with the same classes' API", async () => {
    const esm = (await import("warden-client")) as Record<string, unknown>;
    const require = createRequire(join(PACKAGE_DIR, "package.json"));
    const cjs = require("warden-client") as Record<string, unknown>;
    assert.equal(require.resolve("warden-client"), join(PACKAGE_DIR, "dist", "cjs", "index.js"));
    assert.notEqual(esm["Sandbox"], cjs["Sandbox"], "two builds, two module instances");
    for (const name of [
      "Sandbox",
      "execute",
      "Workflows",
      "Execution",
      "WardenError",
      "RateLimitError",
      "QuotaExceededError",
      "TimeoutError",
      "AbortError",
      "SSEParser",
      "WardenCodeRunner",
      "WardenSandboxManager",
      "createCodeExecutor",
    ]) {
      assert.equal(typeof esm[name], "function", `ESM ${name}`);
      assert.equal(typeof cjs[name], "function", `CJS ${name}`);
    }
    assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).sort());
    const adapters = require("warden-client/adapters") as Record<string, unknown>;
    assert.equal(adapters["createCodeExecutor"], cjs["createCodeExecutor"]);
    const esmAdapters = (await import("warden-client/adapters")) as Record<string, unknown>;
    assert.equal(esmAdapters["WardenCodeRunner"], esm["WardenCodeRunner"]);
    // Both builds dispose through the one Symbol.asyncDispose.
    const proto = (esm["Sandbox"] as { prototype: object }).prototype;
    assert.equal(typeof (proto as Record<symbol, unknown>)[Symbol.asyncDispose], "function");
    const cproto = (cjs["Sandbox"] as { prototype: object }).prototype;
    assert.equal(typeof (cproto as Record<symbol, unknown>)[Symbol.asyncDispose], "function");
    const E = cjs["RateLimitError"] as new (code: string, message: string) => Error & { code: string };
    const e = new E("RATE_LIMITED", "m");
    assert.equal(e.name, "RateLimitError");
    assert.ok(e instanceof (cjs["WardenError"] as new () => Error));
  });

  test("no run-time dependencies; dev tools pinned; a lockfile", () => {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(pkg["dependencies"], undefined);
    assert.equal(pkg["peerDependencies"], undefined);
    assert.deepEqual(Object.keys(pkg["devDependencies"] as object).sort(), ["@types/node", "prettier", "typescript"]);
    for (const v of Object.values(pkg["devDependencies"] as Record<string, string>)) assert.match(v, /^\d+\.\d+\.\d+$/);
    assert.deepEqual(pkg["engines"], { node: ">=18" });
    const lock = JSON.parse(readFileSync(join(PACKAGE_DIR, "package-lock.json"), "utf8")) as {
      lockfileVersion: number;
      packages: Record<string, { version?: string; dependencies?: unknown }>;
    };
    assert.equal(lock.lockfileVersion, 3);
    assert.equal(lock.packages[""]?.version, pkg["version"]);
    assert.equal(lock.packages[""]?.dependencies, undefined);
    assert.equal(
      lock.packages["node_modules/typescript"]?.version,
      (pkg["devDependencies"] as Record<string, string>)["typescript"],
    );
  });
});
