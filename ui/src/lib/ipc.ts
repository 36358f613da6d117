// Calling the backend's typed commands. The generated bindings (`typedError` in bindings.ts)
// return the command's own error as a result, but re-throw when the IPC call itself fails with
// an `Error`; `settle` folds that case into the result, so a caller handles both in one place.

/** What a typed command answers: its data, or the error text. */
export type Result<T> = { status: "ok"; data: T } | { status: "error"; error: string };

/** A command's result; an IPC call that failed (threw) becomes an error result with its message. */
export async function settle<T>(call: Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await call;
  } catch (e) {
    return { status: "error", error: e instanceof Error ? e.message : String(e) };
  }
}
