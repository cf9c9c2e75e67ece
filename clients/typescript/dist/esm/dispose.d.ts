/**
 * `Symbol.asyncDispose` for runtimes that lack it (Node.js before 18.18 and 20.4), so
 * that `await using sb = await Sandbox.create()` works everywhere: TypeScript's
 * down-levelled `await using` looks the symbol up at run time. `Symbol.for` gives the
 * same symbol to the ESM and CommonJS builds if both are loaded.
 *
 * @module
 */
/** The symbol, for classes to name their method by. */
export declare const asyncDispose: typeof Symbol.asyncDispose;
