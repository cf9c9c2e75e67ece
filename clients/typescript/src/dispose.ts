/**
 * `Symbol.asyncDispose` for runtimes that lack it (Node.js before 18.18 and 20.4), so
 * that `await using sb = await Sandbox.create()` works everywhere: TypeScript's
 * down-levelled `await using` looks the symbol up at run time. `Symbol.for` gives the
 * same symbol to the ESM and CommonJS builds if both are loaded.
 *
 * @module
 */

const symbols = Symbol as unknown as { asyncDispose?: symbol; dispose?: symbol };
if (typeof symbols.asyncDispose !== "symbol") {
  Object.defineProperty(Symbol, "asyncDispose", { value: Symbol.for("Symbol.asyncDispose") });
}
if (typeof symbols.dispose !== "symbol") {
  Object.defineProperty(Symbol, "dispose", { value: Symbol.for("Symbol.dispose") });
}

/** The symbol, for classes to name their method by. */
export const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose;
