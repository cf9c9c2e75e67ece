/**
 * As a new user would: a fresh npm project outside the repository installs the package
 * from its directory (and from the tarball `npm pack` makes), offline, and runs the
 * README's examples — extracted from README.md itself — as ESM, as CommonJS and as
 * TypeScript against a live development server.
 */

import { strict as assert } from "node:assert";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { readFileSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { PACKAGE_DIR, REPO, startDevServer, tempDir, type Server } from "./helpers/server.js";

const README = readFileSync(join(PACKAGE_DIR, "README.md"), "utf8");

/** The README's code block whose first line is `// NAME`. */
function example(name: string): string {
  const blocks = [...README.matchAll(/```(?:js|ts)\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.startsWith(`// ${name}\n`));
  assert.ok(block, `README.md has no code block starting with "// ${name}"`);
  return block;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
    env: {
      PATH: process.env["PATH"] ?? "",
      HOME: cwd,
      npm_config_cache: process.env["npm_config_cache"] ?? join(cwd, ".npm-cache"),
      ...env,
    },
  });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A fresh project outside the repository. */
function project(name: string): string {
  const dir = realpathSync(tempDir(name));
  assert.ok(!dir.startsWith(REPO), `${dir} is inside the repository`);
  ok(run("npm", ["init", "-y"], dir), "npm init");
  return dir;
}

const NPM_FLAGS = ["--offline", "--no-audit", "--no-fund", "--loglevel=error"];

let server: Server;

before(async () => {
  server = await startDevServer();
});
after(async () => {
  await server?.stop();
});

describe("a new user's project", { concurrency: true }, () => {
  test("npm install ./clients/typescript, then the README's quick start as ESM, CommonJS and TypeScript", () => {
    const dir = project("user");
    ok(run("npm", ["install", PACKAGE_DIR, ...NPM_FLAGS], dir), "npm install");
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    assert.match(pkg.dependencies["warden-client"] ?? "", /^file:/);
    // Nothing else came with it.
    assert.deepEqual(
      readdirSync(join(dir, "node_modules")).filter((n) => !n.startsWith(".")),
      ["warden-client"],
    );

    const env = { WARDEN_API_URL: server.url };
    for (const file of ["quickstart.mjs", "quickstart.cjs"]) {
      writeFileSync(join(dir, file), example(file));
      const out = ok(run(process.execPath, [file], dir, env), `node ${file}`);
      assert.equal(out, "42\nZeroDivisionError\n6\n", file);
    }

    // TypeScript: the declarations type-check for ESM (.mts) and CommonJS (.cts) users,
    // and the `await using` example runs once compiled.
    writeFileSync(join(dir, "quickstart.mts"), example("quickstart.mts"));
    writeFileSync(
      join(dir, "types.cts"),
      'import { Sandbox, execute, WardenError, type Execution } from "warden-client";\n' +
        'import { createCodeExecutor } from "warden-client/adapters";\n' +
        "export async function f(): Promise<string | null> {\n" +
        '  const ex: Execution = await execute("1", { input: { a: 1 }, timeout: 5 });\n' +
        '  const sb = await Sandbox.create({ language: "python", network: false });\n' +
        "  await sb.close();\n" +
        '  await createCodeExecutor({ riskLevel: "high" }).execute("1");\n' +
        "  return ex instanceof WardenError ? null : ex.text;\n" +
        "}\n",
    );
    const tsc = createRequire(join(PACKAGE_DIR, "package.json")).resolve("typescript/bin/tsc");
    const typeRoots = join(PACKAGE_DIR, "node_modules", "@types");
    ok(
      run(
        process.execPath,
        [
          tsc,
          "--strict",
          "--target",
          "ES2022",
          "--lib",
          "ES2022,ESNext.Disposable",
          "--module",
          "NodeNext",
          "--moduleResolution",
          "NodeNext",
          "--typeRoots",
          typeRoots,
          "--types",
          "node",
          "--outDir",
          "out",
          "quickstart.mts",
          "types.cts",
        ],
        dir,
      ),
      "tsc",
    );
    assert.equal(
      ok(run(process.execPath, ["out/quickstart.mjs"], dir, env), "node out/quickstart.mjs"),
      "[ 2, 4, 6 ]\n",
    );
  });

  test("the README's contract example runs as shown", () => {
    const dir = project("contract");
    ok(run("npm", ["install", PACKAGE_DIR, ...NPM_FLAGS], dir), "npm install");
    writeFileSync(join(dir, "contract.mjs"), example("contract.mjs"));
    const out = ok(run(process.execPath, ["contract.mjs"], dir, { WARDEN_API_URL: server.url }), "node contract.mjs");
    assert.equal(
      out,
      "{ words: 4 }\ntrue 8\nfalse MEMORY_LIMIT\n4\nfalse EXECUTION_ERROR: ZeroDivisionError: division by zero\n",
    );
  });

  test("the tarball npm pack makes holds what a user needs", () => {
    const dir = project("packed");
    const packed = ok(
      run("npm", ["pack", PACKAGE_DIR, "--pack-destination", dir, "--json", ...NPM_FLAGS], dir),
      "npm pack",
    );
    const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
    const paths = info.files.map((f) => f.path);
    for (const p of [
      "package.json",
      "README.md",
      "dist/esm/index.js",
      "dist/esm/index.d.ts",
      "dist/cjs/index.js",
      "dist/cjs/package.json",
    ]) {
      assert.ok(paths.includes(p), `${p} is not in the tarball`);
    }
    assert.ok(
      !paths.some((p) => p.startsWith("tests/") || p.startsWith("build-test/") || p.startsWith("node_modules/")),
    );
    ok(run("npm", ["install", join(dir, info.filename), ...NPM_FLAGS], dir), "npm install the tarball");
    writeFileSync(join(dir, "quickstart.cjs"), example("quickstart.cjs"));
    assert.equal(
      ok(run(process.execPath, ["quickstart.cjs"], dir, { WARDEN_API_URL: server.url }), "node quickstart.cjs"),
      "42\nZeroDivisionError\n6\n",
    );
  });
});
