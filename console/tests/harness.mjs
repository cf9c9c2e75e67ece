// Test harness: starts `warden serve` on a free loopback port with a temporary data
// directory, makes API keys, runs a local listener that records every request it gets,
// and launches Debian's Chromium through playwright-core.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { chromium } from 'playwright-core';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, '..', '..');
export const WARDEN_BIN = process.env.WARDEN_BIN || join(REPO, 'target', 'debug', 'warden');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Runs `warden keys --data-dir DIR create ...` and returns the key. */
export function createKey(dataDir, tenant, { admin = false, policy = null } = {}) {
  const args = ['keys', '--data-dir', dataDir, 'create', '--tenant', tenant];
  if (admin) args.push('--admin');
  if (policy) {
    const file = join(dataDir, `policy-${tenant}.json`);
    writeFileSync(file, JSON.stringify(policy));
    args.push('--policy', file);
  }
  const out = execFileSync(WARDEN_BIN, args, { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const key = out.split('\n').map((l) => l.trim()).find((l) => /^wk_[0-9a-f]+\.[0-9a-f]+$/.test(l));
  if (!key) throw new Error(`no key in the output of warden keys create: ${out}`);
  return key;
}

/**
 * Starts `warden serve --listen 127.0.0.1:0 --data-dir DIR ...extra`. Resolves with
 * {url, pid, stop(), log} once the first stdout line names the address. stdout and stderr
 * are drained to a log file for the whole run.
 */
export function startServer(dataDir, extra = [], { startTimeoutMs = 30_000 } = {}) {
  const logPath = join(dataDir, 'server.log');
  const log = createWriteStream(logPath);
  const child = spawn(WARDEN_BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = null;
  const exitPromise = new Promise((r) => child.once('exit', (code, signal) => r((exited = { code, signal }))));
  child.stderr.on('data', (d) => log.write(d));
  return new Promise((resolvePromise, reject) => {
    let buf = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`warden serve did not print its address within ${startTimeoutMs} ms (log: ${logPath})`));
    }, startTimeoutMs);
    child.once('exit', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`warden serve exited early (${code ?? signal}); log: ${logPath}`));
    });
    child.stdout.on('data', (d) => {
      log.write(d);
      if (done) return;
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const m = /listening on (http:\/\/[^\s]+)/.exec(buf.slice(0, nl));
      done = true;
      clearTimeout(timer);
      if (!m) {
        child.kill('SIGKILL');
        reject(new Error(`unexpected first line from warden serve: ${buf.slice(0, nl)}`));
        return;
      }
      resolvePromise({
        url: m[1].replace(/\/$/, ''),
        pid: child.pid,
        logPath,
        /** SIGTERM by pid, then a bounded wait (SIGKILL after graceMs). */
        async stop(graceMs = 15_000) {
          if (exited) return exited;
          process.kill(child.pid, 'SIGTERM');
          const t = setTimeout(() => {
            if (!exited) process.kill(child.pid, 'SIGKILL');
          }, graceMs);
          const r = await exitPromise;
          clearTimeout(t);
          log.end();
          return r;
        },
      });
    });
  });
}

/** A local HTTP listener that records every request (a would-be exfiltration target). */
export function startListener() {
  const hits = [];
  const server = http.createServer((req, res) => {
    hits.push({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(204, { 'access-control-allow-origin': '*' });
    res.end();
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () =>
      r({
        port: server.address().port,
        hits,
        close: () => new Promise((c) => server.close(() => c())),
      }),
    ),
  );
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir) {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    /* a sandbox mount may linger for a moment; the OS cleans tmp */
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The machine runs tests as root, where Chromium's own sandbox cannot start.
    chromiumSandbox: false,
    args: ['--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
}
