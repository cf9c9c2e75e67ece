/** A tiny local HTTP server whose answers the test scripts, recording every request. */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  /** `performance.now()` when the request's body had arrived. */
  at: number;
}

export type Handler = (req: SeenRequest, res: ServerResponse, n: number) => void | Promise<void>;

export interface Stub {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export async function startStub(handler: Handler): Promise<Stub> {
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const seen: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(parts),
        at: performance.now(),
      };
      requests.push(seen);
      Promise.resolve(handler(seen, res, requests.length)).catch((err: unknown) => {
        res.destroy(err instanceof Error ? err : new Error(String(err)));
      });
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const SESSION = {
  id: "ses_1",
  language: "python",
  state: "idle",
  created_at: 1.0,
  last_used_at: 1.0,
  idle_ttl: 3600.0,
  expires_at: 2.0,
  execution_count: 0,
};

export const OK_CELL = { status: "ok", execution_count: 1, value: { "text/plain": "2" }, outputs: [], stdout: "" };
