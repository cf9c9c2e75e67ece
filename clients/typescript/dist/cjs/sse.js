"use strict";
/**
 * Server-Sent Events, decoded by the WHATWG rules that warden's streams need: `event`,
 * `data`, `id` and `retry` fields, comments, multi-line data, LF, CR and CRLF line
 * endings, blank-line dispatch, and chunks that split lines, line endings or UTF-8
 * characters anywhere.
 *
 * @module
 */
Object.defineProperty(exports, "__esModule", { value: true });
exports.SSEParser = void 0;
exports.readEvents = readEvents;
/**
 * An incremental parser: `feed` it text as it arrives, in chunks of any size, and it
 * returns the events each chunk completes; `end()` returns the last event of a stream
 * that ended without its blank line (warden's never do, but a proxy might cut one).
 */
class SSEParser {
    buffer = "";
    /** The previous chunk ended in CR: an LF at the start of the next one belongs to it. */
    pendingCR = false;
    bomChecked = false;
    eventType = "";
    data = [];
    lastId = "";
    /** The reconnection time the stream asked for (`retry:`), in ms; warden's streams do
     * not reconnect, but the field is parsed as the format says. */
    retry = null;
    feed(chunk) {
        if (chunk.length === 0)
            return [];
        if (!this.bomChecked) {
            this.bomChecked = true;
            if (chunk.charCodeAt(0) === 0xfeff)
                chunk = chunk.slice(1);
        }
        if (this.pendingCR && chunk.startsWith("\n"))
            chunk = chunk.slice(1);
        this.pendingCR = false;
        this.buffer += chunk;
        const events = [];
        let start = 0;
        for (;;) {
            let i = start;
            const n = this.buffer.length;
            while (i < n) {
                const c = this.buffer.charCodeAt(i);
                if (c === 10 || c === 13)
                    break;
                i++;
            }
            if (i >= n)
                break;
            const line = this.buffer.slice(start, i);
            if (this.buffer.charCodeAt(i) === 13) {
                if (i + 1 < n) {
                    start = this.buffer.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
                }
                else {
                    this.pendingCR = true;
                    start = i + 1;
                }
            }
            else {
                start = i + 1;
            }
            const event = this.line(line);
            if (event !== null)
                events.push(event);
        }
        this.buffer = this.buffer.slice(start);
        return events;
    }
    /** The stream ended: the event still being gathered, if it has data. */
    end() {
        const events = [];
        if (this.buffer.length > 0) {
            const event = this.line(this.buffer);
            this.buffer = "";
            if (event !== null)
                events.push(event);
        }
        const last = this.dispatch();
        if (last !== null)
            events.push(last);
        return events;
    }
    line(line) {
        if (line === "")
            return this.dispatch();
        if (line.startsWith(":"))
            return null;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        switch (field) {
            case "event":
                this.eventType = value;
                break;
            case "data":
                this.data.push(value);
                break;
            case "id":
                if (!value.includes("\0"))
                    this.lastId = value;
                break;
            case "retry":
                if (/^[0-9]+$/.test(value))
                    this.retry = Number(value);
                break;
            default:
                break; // other fields are ignored
        }
        return null;
    }
    dispatch() {
        if (this.data.length === 0) {
            this.eventType = "";
            return null;
        }
        const event = { event: this.eventType || "message", data: this.data.join("\n"), id: this.lastId };
        this.eventType = "";
        this.data = [];
        return event;
    }
}
exports.SSEParser = SSEParser;
/** The events of a byte stream (a `fetch` body), as they complete. UTF-8 characters split
 * between chunks are decoded whole. */
async function* readEvents(body) {
    const decoder = new TextDecoder("utf-8");
    const parser = new SSEParser();
    const reader = body.getReader();
    try {
        for (;;) {
            const { done, value } = await reader.read();
            if (done)
                break;
            yield* parser.feed(decoder.decode(value, { stream: true }));
        }
        yield* parser.feed(decoder.decode());
        yield* parser.end();
    }
    finally {
        // Stops the download when the consumer stops early (a result, an error, a throw).
        reader.cancel().catch(() => { });
        reader.releaseLock();
    }
}
