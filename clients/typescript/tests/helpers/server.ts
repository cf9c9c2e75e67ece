/**
 * Live `warden serve` processes for the tests: started from `$WARDEN_BIN` (else the
 * repository's `target/debug/warden`) on a free loopback port with a data directory of
 * their own, stopped with SIGTERM by their pid. Every wait here is bounded.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package directory (clients/typescript); tests run from build-test/tests/helpers. */
export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const REPO = resolve(PACKAGE_DIR, "../..");
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export function wardenBin(): string {
  const path = process.env["WARDEN_BIN"] || join(REPO, "target", "debug", "warden");
  if (!existsSync(path)) {
    throw new Error(
      `no warden binary at ${path}: set WARDEN_BIN to a built warden (cd ${REPO} && cargo build -p warden-cli)`,
    );
  }
  return path;
}

let tmpRoot: string | null = null;

/** A directory of this test process, removed when it exits. Reachable by the sandbox
 * user (mode 755), as the server's data directory must be. */
export function tempDir(prefix: string): string {
  if (tmpRoot === null) {
    tmpRoot = mkdtempSync(join(tmpdir(), "warden-ts-tests-"));
    chmodSync(tmpRoot, 0o755);
    const root = tmpRoot;
    process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  }
  const dir = mkdtempSync(join(tmpRoot, `${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

export interface Server {
  url: string;
  pid: number;
  dataDir: string;
  log: string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  // A test file that crashed before its `after` hook: do not leave servers behind.
  for (const child of live) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
});

/** Creates an API key in `dataDir` for `tenant` (with `policy`, when given). */
export function createKey(dataDir: string, tenant: string, policy?: object): string {
  const args = ["keys", "--data-dir", dataDir, "create", "--tenant", tenant];
  if (policy !== undefined) {
    const file = join(dataDir, `${tenant}-policy.json`);
    writeFileSync(file, JSON.stringify(policy));
    args.push("--policy", file);
  }
  const r = spawnSync(wardenBin(), args, { timeout: 30_000, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`warden keys create failed (${r.status}): ${r.stderr}`);
  const key = r.stdout.trim();
  if (!key.startsWith("wk_")) throw new Error(`unexpected key: ${JSON.stringify(key)}`);
  return key;
}

/**
 * Starts `warden serve --listen 127.0.0.1:0 --data-dir DIR ARGS...` and reads its
 * address from the first line of its stdout (`warden: listening on http://ADDR ...`);
 * the rest of stdout is drained so the server never blocks on a full pipe.
 */
export async function startServer(options: { args?: string[]; dataDir?: string } = {}): Promise<Server> {
  const dataDir = options.dataDir ?? tempDir("data");
  const log = `${dataDir}.log`;
  const logFd = openSync(log, "w");
  const child = spawn(
    wardenBin(),
    ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, ...(options.args ?? [])],
    { stdio: ["ignore", "pipe", logFd] },
  );
  closeSync(logFd);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), STOP_TIMEOUT_MS).unref()),
      ]);
      if (timedOut) {
        process.kill(child.pid, "SIGKILL");
        await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS).unref())]);
        live.delete(child);
        throw new Error(`warden serve (pid ${child.pid}) did not stop within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
      }
    }
    live.delete(child);
  };
  const first = await new Promise<string>((resolve) => {
    let buf = "";
    const timer = setTimeout(() => resolve(buf), START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume(); // keep draining
        child.stdout?.on("data", () => {});
        resolve(buf.slice(0, nl));
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(buf);
    });
  });
  const m = /http:\/\/(\S+)/.exec(first);
  if (m === null) {
    await stop().catch(() => {});
    const err = existsSync(log) ? readFileSync(log, "utf8").slice(-2000) : "";
    throw new Error(`no address from warden serve: ${JSON.stringify(first)}; stderr: ${err}`);
  }
  return { url: `http://${m[1]}`, pid: child.pid ?? -1, dataDir, log, stop };
}

/** A development-mode server (no keys). */
export function startDevServer(args: string[] = []): Promise<Server> {
  return startServer({ args: ["--dev", ...args] });
}

/** A server that needs keys, and a key of tenant `tenant` (with `policy`). */
export async function startKeyedServer(
  tenant = "sdk",
  policy?: object,
  args: string[] = [],
): Promise<{ server: Server; key: string }> {
  const dataDir = tempDir("keyed");
  const key = createKey(dataDir, tenant, policy);
  const server = await startServer({ dataDir, args });
  return { server, key };
}

/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${process.hrtime.bigint()}`;
}
