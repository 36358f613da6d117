// Trust tiers 0-3 and their translated names.
import { t } from "./i18n.svelte";

export const TIERS = [0, 1, 2, 3] as const;
const keys = ["untrusted", "known", "internal", "privileged"];

/** The translated name of a tier (0-3); anything else reads as untrusted. */
export function tierName(tier: number): string {
  return t(`common.${keys[tier] ?? "untrusted"}`);
}
