// Renders the agent's activity readably (the Home feed), in the current language.
import type { Activity, CallState } from "./bindings";
import { t } from "./i18n.svelte";
import { tierName } from "./tiers";

export type Tone = "info" | "ok" | "warn" | "bad";

export type Described = {
  /** A short category label ("Chat", "Trust", …). */
  kind: string;
  /** One readable sentence. */
  text: string;
  tone: Tone;
};

/** Where a call stands, as words. */
export function statusText(status: CallState): string {
  switch (status.state) {
    case "completed":
      return t("activity.statusCompleted");
    case "sent":
      return t("activity.statusSent");
    case "failed":
      return status.code ? t("activity.statusFailedCode", { code: status.code }) : t("activity.statusFailed");
  }
}

function toneOf(status: CallState): Tone {
  return status.state === "failed" ? "bad" : status.state === "completed" ? "ok" : "info";
}

/** Why a tier changed, as words. */
function whyText(why: string): string {
  const known = [
    "approved",
    "auto_grant",
    "okr_completed",
    "okr_ended",
    "okr_expired",
    "okr_steps_served",
    "failure_decay",
    "manual",
    "blocked",
    "seeded",
  ];
  return known.includes(why) ? t(`activity.why_${why}`) : why;
}

/** One activity as a sentence; `name` turns an inbox id into a peer's name. */
export function describe(event: Activity, name: (inbox: string) => string): Described {
  switch (event.type) {
    case "chat":
      return { kind: t("activity.kindChat"), text: t("activity.chat", { who: name(event.sender), text: event.text }), tone: "info" };
    case "task_served":
      return {
        kind: t("activity.kindServed"),
        text: t("activity.taskServed", { skill: event.skill, who: name(event.peer), status: statusText(event.status) }),
        tone: toneOf(event.status),
      };
    case "call_progress":
      return {
        kind: t("activity.kindCall"),
        text: t("activity.callProgress", { percent: event.percent, text: event.text }),
        tone: "info",
      };
    case "call_finished":
      return {
        kind: t("activity.kindCall"),
        text: t("activity.callFinished", { who: name(event.peer), status: statusText(event.status) }),
        tone: toneOf(event.status),
      };
    case "trust_requested":
      return {
        kind: t("activity.kindTrust"),
        text: t("activity.trustRequested", {
          who: name(event.request.peer),
          tier: tierName(event.request.requested),
          reason: event.request.reason || "—",
        }),
        tone: "warn",
      };
    case "trust_changed":
      return {
        kind: t("activity.kindTrust"),
        text: t("activity.trustChanged", { who: name(event.peer), tier: tierName(event.tier), why: whyText(event.why) }),
        tone: "ok",
      };
    case "denied":
      return {
        kind: t("activity.kindDenied"),
        text: t("activity.denied", { action: event.entry.action, who: name(event.entry.peer), reason: event.entry.reason }),
        tone: "bad",
      };
    case "okr":
      return {
        kind: t("activity.kindGoal"),
        text: t("activity.okr", {
          goal: event.okr.objective,
          status: goalStatus(event.okr.status),
          progress: event.okr.progress,
        }),
        tone: event.okr.status === "failed" ? "bad" : event.okr.status === "completed" ? "ok" : "info",
      };
    case "plan_proposed":
      return {
        kind: t("activity.kindPlan"),
        text: t("activity.planProposed", { who: name(event.okr.initiator), goal: event.okr.objective }),
        tone: "warn",
      };
  }
}

/** A goal's status (`proposed`, `running`, …) as a word. */
export function goalStatus(status: string): string {
  const known = ["proposed", "rejected", "running", "completed", "failed"];
  return known.includes(status) ? t(`activity.goal_${status}`) : status;
}
