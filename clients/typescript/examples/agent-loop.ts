/**
 * An LLM agent that runs code in warden: an OpenAI-style tool loop.
 *
 * The model gets warden's tool definitions (`sandbox.tools()`: execute_python,
 * execute_javascript, execute_bash, list_files, read_file, write_file). Each tool call it
 * makes is run by warden in one session (`sandbox.callTool()`), whose answer is the
 * messages to append; the loop ends when the model answers without tool calls.
 *
 * The model is any chat-completions endpoint speaking OpenAI's wire format (OpenAI itself,
 * vLLM, Ollama, llama.cpp's server, a gateway...), reached with plain `fetch`:
 *
 *     export OPENAI_BASE_URL=https://api.openai.com/v1 OPENAI_API_KEY=sk-... OPENAI_MODEL=gpt-4o-mini
 *     export WARDEN_API_URL=http://127.0.0.1:8080      # and WARDEN_API_KEY unless --dev
 *     npm run example:agent -- "What is the 30th Fibonacci number? Compute it."
 */

import { pathToFileURL } from "node:url";

import { Sandbox, type JsonObject } from "warden-client";

const SYSTEM_PROMPT =
  "You can run code in a sandbox with the tools you have. Compute rather than guess: " +
  "run code for anything that needs calculation or data, then answer in plain words.";

export interface AgentOptions {
  /** The chat-completions endpoint's base URL, e.g. `https://api.openai.com/v1`. */
  modelBaseUrl: string;
  model?: string;
  modelApiKey?: string;
  /** warden's URL and key (default `$WARDEN_API_URL`, `$WARDEN_API_KEY`). */
  baseUrl?: string;
  apiKey?: string;
  maxTurns?: number;
  /** `false` drops the `user` messages carrying figures (for models without vision). */
  images?: boolean;
  /** Sees every message appended to the conversation. */
  onMessage?: (message: JsonObject) => void;
}

interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** One chat-completions call; returns the assistant message. */
async function chat(options: AgentOptions, messages: JsonObject[], tools: JsonObject[]): Promise<JsonObject> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.modelApiKey) headers["authorization"] = `Bearer ${options.modelApiKey}`;
  const res = await fetch(`${options.modelBaseUrl.replace(/\/+$/, "")}/chat/completions`, {
    method: "POST",
    headers,
    body: JSON.stringify({ model: options.model ?? "gpt-4o-mini", messages, tools, tool_choice: "auto" }),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`model endpoint answered ${res.status}: ${text.slice(0, 500)}`);
  const message = (JSON.parse(text) as { choices?: { message?: unknown }[] }).choices?.[0]?.message;
  if (typeof message !== "object" || message === null) throw new Error(`unexpected model reply: ${text.slice(0, 500)}`);
  return message as JsonObject;
}

/** Runs the loop until the model answers without tool calls; returns that answer. */
export async function runAgent(prompt: string, options: AgentOptions): Promise<string> {
  const sandboxOptions: { baseUrl?: string; apiKey?: string } = {};
  if (options.baseUrl !== undefined) sandboxOptions.baseUrl = options.baseUrl;
  if (options.apiKey !== undefined) sandboxOptions.apiKey = options.apiKey;
  await using sandbox = await Sandbox.create(sandboxOptions);
  const tools = await sandbox.tools({ format: "openai" });
  const messages: JsonObject[] = [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: prompt },
  ];
  const append = (message: JsonObject): void => {
    messages.push(message);
    options.onMessage?.(message);
  };
  const maxTurns = options.maxTurns ?? 10;
  for (let turn = 0; turn < maxTurns; turn++) {
    const message = await chat(options, messages, tools);
    append(Object.fromEntries(Object.entries(message).filter(([, v]) => v !== null && v !== undefined)));
    const calls = (message["tool_calls"] as ToolCall[] | null | undefined) ?? [];
    if (calls.length === 0) return String(message["content"] ?? "");
    // Every tool message must directly follow the assistant message that asked for it,
    // so messages of other roles (images) go after all of them.
    const toolMessages: JsonObject[] = [];
    const others: JsonObject[] = [];
    for (const call of calls) {
      for (const m of await sandbox.callTool(call, { format: "openai" })) {
        (m["role"] === "tool" ? toolMessages : others).push(m);
      }
    }
    for (const m of [...toolMessages, ...(options.images === false ? [] : others)]) append(m);
  }
  throw new Error(`no answer without tool calls after ${maxTurns} turns`);
}

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 1) {
    console.error('usage: agent-loop "QUESTION"   (with OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL)');
    return 2;
  }
  const show = (message: JsonObject): void => {
    for (const call of (message["tool_calls"] as ToolCall[] | undefined) ?? []) {
      console.error(`→ ${call.function.name}(${call.function.arguments})`);
    }
    if (message["role"] === "tool") console.error(`← ${String(message["content"])}`);
  };
  const options: AgentOptions = {
    modelBaseUrl: process.env["OPENAI_BASE_URL"] ?? "https://api.openai.com/v1",
    model: process.env["OPENAI_MODEL"] ?? "gpt-4o-mini",
    onMessage: show,
  };
  const key = process.env["OPENAI_API_KEY"];
  if (key) options.modelApiKey = key;
  console.log(await runAgent(argv[0]!, options));
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
