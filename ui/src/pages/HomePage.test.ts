import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import HomePage from "./HomePage.svelte";
import type { ActivityItem, Overview, PeerView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { nav } from "../lib/nav.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);
const peers: PeerView[] = [
  { inbox_id: BOB, name: "bob", tier: 1, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
  { inbox_id: CAROL, name: "carol", tier: 2, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
];

const overview: Overview = {
  peers: 2,
  skills: 5,
  skills_exposed: 3,
  calls_made: 12,
  calls_served: 7,
  goals_running: 1,
  pending_requests: [{ id: 4, peer: BOB, who: "bob", requested: 2, reason: "we work together", status: "pending" }],
  pending_plans: [
    {
      id: "okr-1",
      objective: "Summarize the report",
      initiator: CAROL,
      peer: CAROL,
      status: "proposed",
      progress: 0,
      key_results: [],
      steps: [
        { id: "s1", agent: CAROL, skill: "fetch", inputs: [], depends_on: [], status: "pending", output: null, error: null },
        { id: "s2", agent: CAROL, skill: "summarize", inputs: [], depends_on: ["s1"], status: "pending", output: null, error: null },
      ],
      created_ms: null,
    },
  ],
  failed_calls: [{ task_id: "t-9", peer: CAROL, skill: "translate", status: { state: "failed", code: "TIMEOUT" }, created_ms: Date.now() - 120_000 }],
};

const empty: Overview = { ...overview, pending_requests: [], pending_plans: [], failed_calls: [] };

function item(event: ActivityItem["event"], at_ms = Date.UTC(2026, 0, 1, 9, 30)): ActivityItem {
  return { at_ms, event };
}

beforeEach(() => {
  setLanguage("en");
  live.items = [];
  nav.page = "home";
  nav.peer = null;
});

afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  live.items = [];
  setLanguage("");
});

test("shows the counts and what needs attention", async () => {
  await mockCommands({ overview, peers });
  const { container } = render(HomePage);
  expect((await screen.findByText("12")).closest("#count-calls-made")).toBeTruthy();
  expect(container.querySelector("#count-peers")?.textContent).toContain("2");
  expect(container.querySelector("#count-skills")?.textContent).toContain("3 / 5");
  expect(container.querySelector("#count-calls-served")?.textContent).toContain("7");
  expect(container.querySelector("#count-goals")?.textContent).toContain("1");

  const attention = container.querySelector("#attention")!;
  expect(attention.querySelector('.attention-trust[data-id="4"]')?.textContent).toContain("bob asks to be Internal");
  expect(attention.textContent).toContain("we work together");
  const plan = attention.querySelector('.attention-plan[data-id="okr-1"]')!;
  expect(plan.textContent).toContain("carol proposes a plan");
  expect(plan.textContent).toContain("Summarize the report");
  expect(plan.textContent).toContain("fetch → summarize");
  const failed = attention.querySelector('.attention-failed[data-task="t-9"]')!;
  expect(failed.querySelector(".pill")?.textContent).toBe("failed (TIMEOUT)");
  expect(failed.textContent).toContain("Call to carol (translate)");
  expect(failed.textContent).toContain("2 minutes ago");
});

test("approving a trust request and accepting a plan call the backend, then reload", async () => {
  let current = overview;
  const calls = await mockCommands({
    overview: () => current,
    peers,
    decide_trust_request: () => {
      current = { ...current, pending_requests: [] };
      return null;
    },
    decide_plan: () => {
      current = { ...current, pending_plans: [] };
      return current.pending_plans[0] ?? null;
    },
  });
  const { container } = render(HomePage);
  await screen.findByText("bob asks to be Internal");
  await fireEvent.click(container.querySelector('.attention-trust[data-id="4"] .approve')!);
  await waitFor(() => expect(container.querySelector(".attention-trust")).toBeNull());
  expect(callsTo(calls, "decide_trust_request")).toEqual([{ id: 4, approve: true }]);

  await fireEvent.click(container.querySelector('.attention-plan[data-id="okr-1"] .decline')!);
  await waitFor(() => expect(container.querySelector(".attention-plan")).toBeNull());
  expect(callsTo(calls, "decide_plan")).toEqual([{ id: "okr-1", accept: false }]);
  expect(callsTo(calls, "overview").length).toBe(3);
});

test("an action that fails says why", async () => {
  await mockCommands({
    overview,
    peers,
    decide_trust_request: () => {
      throw failure("request 4 is already decided");
    },
  });
  const { container } = render(HomePage);
  await screen.findByText("bob asks to be Internal");
  await fireEvent.click(container.querySelector(".attention-trust .deny")!);
  expect((await screen.findByRole("alert")).textContent).toContain("request 4 is already decided");
});

test("an overview that cannot load is reported", async () => {
  await mockCommands({
    overview: () => {
      throw failure("no identity yet");
    },
    peers,
  });
  render(HomePage);
  expect((await screen.findByRole("alert")).textContent).toContain("no identity yet");
});

test("the feed shows activity newest first and reloads the overview on pushed events", async () => {
  let current = empty;
  const calls = await mockCommands({
    overview: () => current,
    peers,
    activity: [item({ type: "chat", conversation: "c1", sender: BOB, text: "hello there" })],
  });
  const { container } = render(HomePage);
  await screen.findByText("bob: hello there");
  expect(container.querySelector("#attention")?.textContent).toContain("Nothing needs your attention.");

  current = overview;
  await emit("activity-event", item({ type: "trust_requested", request: overview.pending_requests[0] }));
  await screen.findByText("bob asks to be Internal");
  await emit(
    "activity-event",
    item({ type: "call_finished", peer: CAROL, task_id: "t-9", status: { state: "failed", code: "TIMEOUT" } }),
  );
  await waitFor(() => expect(container.querySelectorAll("#feed .feed-item").length).toBe(3));

  const types = [...container.querySelectorAll("#feed .feed-item")].map((e) => e.getAttribute("data-type"));
  expect(types).toEqual(["call_finished", "trust_requested", "chat"]);
  expect(container.querySelector('#feed [data-type="call_finished"]')?.textContent).toContain("Call to carol: failed (TIMEOUT)");
  expect(container.querySelector('#feed [data-type="trust_requested"]')?.textContent).toContain(
    "bob asks to be Internal: we work together",
  );
  expect(callsTo(calls, "overview").length).toBe(3);
});

test("every kind of activity reads as a sentence, in Chinese too", async () => {
  await mockCommands({ overview: empty, peers });
  setLanguage("zh");
  const okr = { ...overview.pending_plans[0], status: "running" as const, progress: 50 };
  const { container } = render(HomePage);
  await screen.findByText("首页");
  const events: ActivityItem["event"][] = [
    { type: "task_served", peer: BOB, skill: "summarize", task_id: "t1", status: { state: "completed" } },
    { type: "call_progress", task_id: "t2", percent: 40, text: "reading" },
    { type: "trust_changed", peer: CAROL, tier: 3, why: "manual" },
    {
      type: "denied",
      entry: { at_ms: null, peer: BOB, action: "call translate", allowed: false, rule: "min_tier", reason: "tier too low" },
    },
    { type: "okr", okr },
    { type: "plan_proposed", okr },
  ];
  for (const event of events) live.push(item(event));
  await waitFor(() => expect(container.querySelectorAll("#feed .feed-item").length).toBe(events.length));
  const text = (type: string) => container.querySelector(`#feed [data-type="${type}"]`)?.textContent ?? "";
  expect(text("task_served")).toContain("为 bob 运行了 summarize：已完成");
  expect(text("call_progress")).toContain("调用进度 40%：reading");
  expect(text("trust_changed")).toContain("carol 现在是特权（手动设置）");
  expect(text("denied")).toContain("已拒绝来自 bob 的 call translate：tier too low");
  expect(text("okr")).toContain("目标“Summarize the report”进行中（50%）");
  expect(text("plan_proposed")).toContain("carol 提议了一个计划");
});

test("a trust request's peer opens on the Peers page", async () => {
  await mockCommands({ overview, peers });
  render(HomePage);
  await fireEvent.click(await screen.findByText("bob asks to be Internal"));
  expect(nav.page).toBe("peers");
  expect(nav.peer).toBe(BOB);
});
