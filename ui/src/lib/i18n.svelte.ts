// Translations: English and Chinese, detected from the system and switchable in Settings.
// Each page keeps its strings in `locales/<page>.ts` as `{ en: {...}, zh: {...} }` with the same
// keys; `t("peers.title")` looks up key `title` of the `peers` section in the current language,
// falling back to English, and fills `{name}` placeholders from `params`. A count of one picks
// the key's `_one` variant where there is one ("1 step", not "1 steps").
import { sections } from "./locales";

export type Language = "en" | "zh";

/** The system's language, as far as we support it. */
export function systemLanguage(): Language {
  const langs = typeof navigator === "undefined" ? [] : [...(navigator.languages ?? []), navigator.language];
  return langs.some((l) => l?.toLowerCase().startsWith("zh")) ? "zh" : "en";
}

class Locale {
  /** The chosen language ("" follows the system). */
  choice = $state<"" | Language>("");
  readonly current: Language = $derived(this.choice === "" ? systemLanguage() : this.choice);
}

export const locale = new Locale();

/** Sets the language; "" follows the system. */
export function setLanguage(choice: "" | Language): void {
  locale.choice = choice;
  if (typeof document !== "undefined") document.documentElement.lang = locale.current;
}

/** The text for `key` (`section.name`) in the current language. */
export function t(key: string, params: Record<string, string | number> = {}): string {
  const dot = key.indexOf(".");
  const section = sections[key.slice(0, dot)];
  const base = key.slice(dot + 1);
  const one = params.count === 1 && section?.en?.[`${base}_one`] !== undefined;
  const name = one ? `${base}_one` : base;
  const text = section?.[locale.current]?.[name] ?? section?.en?.[name] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, p: string) => (p in params ? String(params[p]) : `{${p}}`));
}
