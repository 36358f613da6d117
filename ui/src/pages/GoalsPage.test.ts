import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import GoalsPage from "./GoalsPage.svelte";
import type { AppStatus, OkrView, PeerView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { nav } from "../lib/nav.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const ME = "aa".repeat(32);
const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);

const status: AppStatus = {
  version: "0.1.0",
  data_dir: "/tmp",
  backend: { state: "ready" },
  startup_ms: 1,
  checked_at_ms: null,
  identity: { name: "ada", inbox_id: ME, address: "0x1", network: "embedded" },
  node_url: null,
};
const peers: PeerView[] = [
  { inbox_id: BOB, name: "bob", tier: 2, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
  { inbox_id: CAROL, name: "carol", tier: 1, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
];

function okr(id: string, over: Partial<OkrView> = {}): OkrView {
  return {
    id,
    objective: `objective ${id}`,
    initiator: ME,
    peer: BOB,
    status: "running",
    progress: 50,
    key_results: [
      { id: "kr1", description: "Summary written", progress: 100 },
      { id: "kr2", description: "Summary translated", progress: 0 },
    ],
    steps: [
      {
        id: "s1",
        agent: BOB,
        skill: "summarize",
        inputs: ["text ← goal"],
        depends_on: [],
        status: "done",
        output: '{\n  "summary": "short"\n}',
        error: null,
      },
      {
        id: "s2",
        agent: ME,
        skill: "translate",
        inputs: ["text ← s1.summary"],
        depends_on: ["s1"],
        status: "running",
        output: null,
        error: null,
      },
    ],
    created_ms: Date.now() - 60_000,
    ...over,
  };
}

beforeEach(() => {
  setLanguage("en");
  nav.peer = null;
});
afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

function card(root: HTMLElement, id: string): HTMLElement {
  const found = root.querySelector<HTMLElement>(`.okr[data-id="${id}"]`);
  if (!found) throw new Error(`no okr ${id}`);
  return found;
}

test("shows the board with progress, key results and live step states; history apart", async () => {
  await mockCommands({
    app_status: status,
    peers,
    goals: [
      okr("g1"),
      okr("g2", { status: "completed", progress: 100, objective: "old goal" }),
      okr("g3", {
        status: "failed",
        progress: 50,
        steps: [{ ...okr("x").steps[0], status: "failed", output: null, error: "TIMEOUT after 30 s" }],
      }),
    ],
  });
  const { container } = render(GoalsPage);
  await screen.findByText("objective g1");
  const g1 = card(container, "g1");
  expect(g1.dataset.status).toBe("running");
  expect(g1.querySelector(".status-chip")?.textContent).toBe("Running");
  expect(g1.querySelector(".progress")?.textContent).toContain("50%");
  expect(g1.querySelector(".okr-peer")?.textContent).toContain("With bob");
  const krs = g1.querySelectorAll(".kr");
  expect(krs.length).toBe(2);
  expect(krs[0].querySelector(".progress")?.textContent).toContain("100%");
  const steps = g1.querySelectorAll(".step");
  expect([...steps].map((s) => s.querySelector(".step-state")?.textContent)).toEqual(["Done", "Running"]);
  expect(steps[0].querySelector(".step-agent")?.textContent).toBe("bob");
  expect(steps[1].querySelector(".step-agent")?.textContent).toBe("Me");
  expect(steps[1].textContent).toContain("after s1");
  expect(steps[0].querySelector(".step-output pre")?.textContent).toContain('"summary": "short"');

  // Finished goals are in History.
  const history = container.querySelector(".history") as HTMLElement;
  expect(history.querySelector('.okr[data-id="g2"]')?.getAttribute("data-status")).toBe("completed");
  expect(history.querySelector('.okr[data-id="g3"] .step-error')?.textContent).toContain("TIMEOUT after 30 s");
  expect(container.querySelector(".board .okr[data-id='g2']")).toBeNull();
});

test("plan, review, start", async () => {
  nav.peer = CAROL;
  const draft = okr("new", { status: "proposed", progress: 0, peer: CAROL, objective: "Translate the notes" });
  draft.steps = draft.steps.map((s) => ({ ...s, status: "pending", output: null, agent: s.agent === BOB ? CAROL : ME }));
  const calls = await mockCommands({ app_status: status, peers, goals: [], plan_goal: draft, start_goal: null });
  const { container } = render(GoalsPage);
  await screen.findByText("No goals in progress.");
  const select = container.querySelector("#goal-peer") as HTMLSelectElement;
  await waitFor(() => expect(select.value).toBe(CAROL));
  await fireEvent.input(container.querySelector("#goal-text")!, { target: { value: "Translate the notes" } });
  await fireEvent.click(container.querySelector("#goal-plan")!);

  const review = await waitFor(() => {
    const r = container.querySelector("#plan-review");
    if (!r) throw new Error("no review yet");
    return r as HTMLElement;
  });
  expect(callsTo(calls, "plan_goal")).toEqual([{ peer: CAROL, goal: "Translate the notes" }]);
  expect(review.textContent).toContain("Summary written");
  expect([...review.querySelectorAll(".step-agent")].map((e) => e.textContent)).toEqual(["carol", "Me"]);
  expect(review.textContent).toContain("text ← s1.summary");
  expect(review.textContent).toContain("after s1");
  expect(callsTo(calls, "start_goal")).toEqual([]);

  await fireEvent.click(container.querySelector("#goal-start")!);
  await waitFor(() => expect(container.querySelector("#plan-review")).toBeNull());
  expect(callsTo(calls, "start_goal")).toEqual([{ id: "new" }]);
  expect(card(container, "new").dataset.status).toBe("running");
});

test("discarding a reviewed plan drops it", async () => {
  const draft = okr("d1", { status: "proposed", progress: 0 });
  const calls = await mockCommands({ app_status: status, peers, goals: [], plan_goal: draft, discard_goal: null });
  const { container } = render(GoalsPage);
  await screen.findByText("No goals in progress.");
  await waitFor(() => expect((container.querySelector("#goal-peer") as HTMLSelectElement).value).toBe(BOB));
  await fireEvent.input(container.querySelector("#goal-text")!, { target: { value: "anything" } });
  await fireEvent.click(container.querySelector("#goal-plan")!);
  await screen.findByText("Review the plan");
  await fireEvent.click(container.querySelector("#goal-discard")!);
  await waitFor(() => expect(container.querySelector("#plan-review")).toBeNull());
  expect(callsTo(calls, "discard_goal")).toEqual([{ id: "d1" }]);
  expect(container.querySelector('.okr[data-id="d1"]')).toBeNull();
});

test("a planning error is shown", async () => {
  await mockCommands({
    app_status: status,
    peers,
    goals: [],
    plan_goal: () => {
      throw failure("bob has no skills I can use");
    },
  });
  const { container } = render(GoalsPage);
  await screen.findByText("No goals in progress.");
  await waitFor(() => expect((container.querySelector("#goal-peer") as HTMLSelectElement).value).toBe(BOB));
  await fireEvent.input(container.querySelector("#goal-text")!, { target: { value: "fly to the moon" } });
  await fireEvent.click(container.querySelector("#goal-plan")!);
  expect((await screen.findByRole("alert")).textContent).toContain("bob has no skills I can use");
  expect(container.querySelector("#plan-review")).toBeNull();
});

test("a plan proposed by a peer can be accepted", async () => {
  const proposed = okr("p1", { initiator: BOB, peer: ME, status: "proposed", progress: 0, objective: "Bob's idea" });
  const calls = await mockCommands({
    app_status: status,
    peers,
    goals: [proposed, okr("mine", { status: "proposed", progress: 0 })],
    decide_plan: (a: { id: string; accept: boolean }) => ({ ...proposed, status: a.accept ? "running" : "rejected" }),
  });
  const { container } = render(GoalsPage);
  await screen.findByText("Bob's idea");
  const p1 = card(container, "p1");
  expect(p1.textContent).toContain("Proposed by bob");
  // My own draft has no Accept/Decline.
  expect(card(container, "mine").querySelector(".plan-accept")).toBeNull();
  await fireEvent.click(p1.querySelector(".plan-accept")!);
  await waitFor(() => expect(card(container, "p1").dataset.status).toBe("running"));
  expect(callsTo(calls, "decide_plan")).toEqual([{ id: "p1", accept: true }]);
  expect(card(container, "p1").querySelector(".plan-accept")).toBeNull();
});

test("declining a proposed plan moves it to History", async () => {
  const proposed = okr("p2", { initiator: CAROL, peer: ME, status: "proposed", progress: 0 });
  const calls = await mockCommands({
    app_status: status,
    peers,
    goals: [proposed],
    decide_plan: () => ({ ...proposed, status: "rejected" }),
  });
  const { container } = render(GoalsPage);
  await screen.findByText("objective p2");
  await fireEvent.click(container.querySelector(".plan-decline")!);
  await waitFor(() => expect(container.querySelector('.history .okr[data-id="p2"]')).toBeTruthy());
  expect(callsTo(calls, "decide_plan")).toEqual([{ id: "p2", accept: false }]);
  expect(card(container, "p2").dataset.status).toBe("rejected");
});

test("a refused decision is shown", async () => {
  await mockCommands({
    app_status: status,
    peers,
    goals: [okr("p3", { initiator: BOB, peer: ME, status: "proposed" })],
    decide_plan: () => {
      throw failure("plan expired");
    },
  });
  const { container } = render(GoalsPage);
  await screen.findByText("objective p3");
  await fireEvent.click(container.querySelector(".plan-accept")!);
  expect((await screen.findByRole("alert")).textContent).toContain("plan expired");
});

test("okr and plan_proposed events update the board without reloading", async () => {
  const calls = await mockCommands({ app_status: status, peers, goals: [okr("g1")] });
  const { container } = render(GoalsPage);
  await screen.findByText("objective g1");

  const updated = okr("g1", { progress: 75 });
  updated.steps = updated.steps.map((s) => (s.id === "s2" ? { ...s, status: "failed", error: "bad input" } : s));
  await emit("activity-event", { at_ms: Date.now(), event: { type: "okr", okr: updated } });
  await waitFor(() => expect(card(container, "g1").querySelector(".progress")?.textContent).toContain("75%"));
  expect(card(container, "g1").querySelector('.step[data-id="s2"] .step-state')?.textContent).toBe("Failed");
  expect(card(container, "g1").textContent).toContain("bad input");

  await emit("activity-event", {
    at_ms: Date.now(),
    event: { type: "plan_proposed", okr: okr("p9", { initiator: CAROL, peer: ME, status: "proposed", objective: "Carol asks" }) },
  });
  await screen.findByText("Carol asks");
  expect(card(container, "p9").querySelector(".plan-accept")).toBeTruthy();

  await emit("activity-event", { at_ms: Date.now(), event: { type: "okr", okr: okr("g1", { status: "completed", progress: 100 }) } });
  await waitFor(() => expect(container.querySelector('.history .okr[data-id="g1"]')).toBeTruthy());
  expect(callsTo(calls, "goals").length).toBe(1);
});

test("a load error is shown", async () => {
  await mockCommands({
    app_status: status,
    peers,
    goals: () => {
      throw failure("store unavailable");
    },
  });
  render(GoalsPage);
  expect((await screen.findByRole("alert")).textContent).toContain("store unavailable");
});
