// Calling the backend's typed commands. A fallible command answers its data or a `HostError`
// (`{kind, code, message}`); `settle` turns the error into text in the UI's language (see
// `errorText`) and keeps its code, and folds an IPC call that threw into the same shape, so a
// caller handles every failure in one place.
import type { ErrorKind, HostError_Serialize as HostError } from "./bindings";
import { t } from "./i18n.svelte";
import { sections } from "./locales";

/** What a command answered: its data, or the error as text with its stable code. */
export type Result<T> = { status: "ok"; data: T } | { status: "error"; error: string; code: string };

/** What the generated bindings give for a fallible command. */
export type Answer<T> = { status: "ok"; data: T } | { status: "error"; error: HostError };

/** An error for people, in the current language: the code's own sentence where it has one,
 * otherwise the backend's message framed by what kind of failure it is. */
export function errorText(error: HostError): string {
  if (sections.errors.en[error.code] !== undefined) return t(`errors.${error.code}`);
  return t(`errors.kind_${error.kind satisfies ErrorKind}`, { message: error.message });
}

/** A command's result; an IPC call that failed (threw) becomes an error result with its message. */
export async function settle<T>(call: Promise<Answer<T>>): Promise<Result<T>> {
  try {
    const answer = await call;
    if (answer.status === "ok") return answer;
    return { status: "error", error: errorText(answer.error), code: answer.error.code };
  } catch (e) {
    return { status: "error", error: e instanceof Error ? e.message : String(e), code: "ipc" };
  }
}
