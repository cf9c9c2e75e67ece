/**
 * Server-Sent Events, decoded by the WHATWG rules that warden's streams need: `event`,
 * `data`, `id` and `retry` fields, comments, multi-line data, LF, CR and CRLF line
 * endings, blank-line dispatch, and chunks that split lines, line endings or UTF-8
 * characters anywhere.
 *
 * @module
 */
/** One dispatched event. `event` is `message` when the stream named none. */
export interface SSEEvent {
    event: string;
    data: string;
    /** The last event id the stream set (`id:`), or `""`. */
    id: string;
}
/**
 * An incremental parser: `feed` it text as it arrives, in chunks of any size, and it
 * returns the events each chunk completes; `end()` returns the last event of a stream
 * that ended without its blank line (warden's never do, but a proxy might cut one).
 */
export declare class SSEParser {
    private buffer;
    /** The previous chunk ended in CR: an LF at the start of the next one belongs to it. */
    private pendingCR;
    private bomChecked;
    private eventType;
    private data;
    private lastId;
    /** The reconnection time the stream asked for (`retry:`), in ms; warden's streams do
     * not reconnect, but the field is parsed as the format says. */
    retry: number | null;
    feed(chunk: string): SSEEvent[];
    /** The stream ended: the event still being gathered, if it has data. */
    end(): SSEEvent[];
    private line;
    private dispatch;
}
/** The events of a byte stream (a `fetch` body), as they complete. UTF-8 characters split
 * between chunks are decoded whole. */
export declare function readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SSEEvent, void, undefined>;
