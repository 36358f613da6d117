import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import PeersPage from "./PeersPage.svelte";
import type { ActivityItem, AuditView, PeerView, TrustRequestView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { nav } from "../lib/nav.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);
const summarize = {
  name: "summarize",
  description: "Summarizes a text",
  when_to_use: "Long documents",
  input_schema: JSON.stringify({ type: "object", properties: { text: { type: "string" }, words: { type: "integer" } } }, null, 2),
  output_schema: JSON.stringify({ type: "object", properties: { summary: { type: "string" } } }, null, 2),
  min_tier: 1,
};
const echo = { ...summarize, name: "echo", description: "Echoes", when_to_use: "", input_schema: "{}", min_tier: 0 };
const bob: PeerView = { inbox_id: BOB, name: "bob", tier: 1, skills: [summarize, echo], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: Date.now() - 5 * 60_000 };
const carol: PeerView = { inbox_id: CAROL, name: "carol", tier: 0, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null };
const request: TrustRequestView = { id: 7, peer: CAROL, who: "carol", requested: 1, reason: "let me in", status: "pending" };
const audit: AuditView[] = [
  { at_ms: Date.UTC(2026, 0, 1, 10), peer: BOB, action: "call summarize", allowed: true, rule: "min_tier", reason: "tier 1 ≥ 1" },
  { at_ms: Date.UTC(2026, 0, 1, 9), peer: BOB, action: "call secret", allowed: false, rule: "hidden", reason: "not exposed" },
];

function item(event: ActivityItem["event"]): ActivityItem {
  return { at_ms: Date.now(), event };
}

beforeEach(() => {
  setLanguage("en");
  live.items = [];
  nav.page = "peers";
  nav.peer = null;
  nav.conversation = null;
});

afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  live.items = [];
  setLanguage("");
});

test("lists peers with badges, last seen and skill counts", async () => {
  await mockCommands({ peers: [bob, carol], trust_requests: [], audit_log: [] });
  const { container } = render(PeersPage);
  await screen.findByText("bob");
  const rows = container.querySelectorAll(".peer");
  expect([...rows].map((e) => e.getAttribute("data-inbox"))).toEqual([BOB, CAROL]);
  expect(rows[0].querySelector(".tier-badge")?.className).toContain("tier-1");
  expect(rows[0].textContent).toContain("Known");
  expect(rows[0].textContent).toContain("2 skills");
  expect(rows[0].textContent).toContain("5 minutes ago");
  expect(rows[1].textContent).toContain("never");
  expect(rows[1].textContent).toContain("Untrusted");
  expect(screen.getByText("Select a peer to see its skills, trust and history.")).toBeTruthy();
});

test("selecting a peer shows its skills and audit trail; a call sends the input", async () => {
  const calls = await mockCommands({
    peers: [bob, carol],
    trust_requests: [],
    audit_log: (a: { peer: string }) => (a.peer === BOB ? audit : []),
    call_skill: { task_id: "t-1", output: '{\n  "summary": "short"\n}', elapsed_ms: 840, receipt: true },
    check_call_input: [],
  });
  const { container } = render(PeersPage);
  await fireEvent.click(await screen.findByText("bob"));
  await waitFor(() => expect(container.querySelectorAll("#audit .audit-entry").length).toBe(2));
  expect(callsTo(calls, "audit_log")).toEqual([{ peer: BOB }]);
  const entries = container.querySelectorAll("#audit .audit-entry");
  expect(entries[0].textContent).toContain("call summarize");
  expect(entries[0].textContent).toContain("Allowed");
  expect(entries[1].textContent).toContain("Denied");
  expect(entries[1].textContent).toContain("hidden");
  expect(entries[1].textContent).toContain("not exposed");

  const skill = container.querySelector('.skill[data-skill="summarize"]')!;
  expect(skill.textContent).toContain("Summarizes a text");
  expect(skill.querySelector("pre")?.textContent).toContain('"words"');
  await fireEvent.click(skill.querySelector(".skill-call")!);
  // The form, built from the input schema, starts from the template's values.
  const text = container.querySelector("#call-field-text") as HTMLInputElement;
  const words = container.querySelector("#call-field-words") as HTMLInputElement;
  expect([text.value, words.value]).toEqual(["", "0"]);
  await fireEvent.input(text, { target: { value: "a long text" } });
  await fireEvent.input(words, { target: { value: "5" } });
  // The JSON view shows the same input, and back.
  await fireEvent.click(container.querySelector("#call-as-json")!);
  const input = container.querySelector("#call-input") as HTMLTextAreaElement;
  expect(JSON.parse(input.value)).toEqual({ text: "a long text", words: 5 });
  await fireEvent.click(container.querySelector("#call-as-form")!);
  expect((container.querySelector("#call-field-words") as HTMLInputElement).value).toBe("5");
  await fireEvent.click(container.querySelector("#call-submit")!);
  const output = await waitFor(() => {
    const el = container.querySelector("#call-output");
    expect(el).toBeTruthy();
    return el!;
  });
  expect(output.textContent).toContain('"summary": "short"');
  expect(output.textContent).toContain("840 ms");
  expect(output.textContent).toContain("Verified receipt");
  const sent = JSON.stringify({ text: "a long text", words: 5 }, null, 2);
  expect(callsTo(calls, "check_call_input")).toEqual([{ schema: summarize.input_schema, input: sent }]);
  expect(callsTo(calls, "call_skill")).toEqual([{ peer: BOB, skill: "summarize", input: sent }]);

  // A skill without input properties starts from {}.
  await fireEvent.click(container.querySelector('.skill[data-skill="echo"] .skill-call')!);
  expect((container.querySelector("#call-input") as HTMLTextAreaElement).value).toBe("{}");
});

test("a failing call and invalid JSON are shown as errors", async () => {
  const calls = await mockCommands({
    peers: [bob],
    trust_requests: [],
    audit_log: [],
    call_skill: () => {
      throw failure("peer did not answer within 30 s");
    },
    check_call_input: [],
  });
  nav.peer = BOB;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelector('.skill[data-skill="summarize"]')).toBeTruthy());
  await fireEvent.click(container.querySelector('.skill[data-skill="summarize"] .skill-call')!);
  await fireEvent.click(container.querySelector("#call-as-json")!);
  await fireEvent.input(container.querySelector("#call-input")!, { target: { value: "{oops" } });
  await fireEvent.click(container.querySelector("#call-submit")!);
  expect(container.querySelector("#call-error")?.textContent).toContain("not valid JSON");
  expect(callsTo(calls, "call_skill")).toEqual([]);

  await fireEvent.input(container.querySelector("#call-input")!, { target: { value: "{}" } });
  await fireEvent.click(container.querySelector("#call-submit")!);
  await waitFor(() => expect(container.querySelector("#call-error")?.textContent).toContain("peer did not answer within 30 s"));
});

test("the call form follows the schema and flags bad input before anything is sent", async () => {
  const plan = {
    ...summarize,
    name: "plan",
    input_schema: JSON.stringify({
      type: "object",
      required: ["goal", "mode"],
      properties: {
        goal: { type: "string", description: "What to reach" },
        mode: { enum: ["fast", "careful"] },
        dry_run: { type: "boolean" },
        limits: { type: "object", properties: { steps: { type: "integer" } } },
      },
    }),
  };
  const problems = [
    { path: "", message: 'missing required property "goal"' },
    { path: "/limits/steps", message: "expected integer, got string" },
  ];
  const calls = await mockCommands({
    peers: [{ ...bob, skills: [plan] }],
    trust_requests: [],
    audit_log: [],
    check_call_input: (a: { input: string }) => (JSON.parse(a.input).goal ? [] : problems),
    call_skill: { task_id: "t-2", output: "{}", elapsed_ms: 12, receipt: true },
  });
  nav.peer = BOB;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelector('.skill[data-skill="plan"]')).toBeTruthy());
  await fireEvent.click(container.querySelector('.skill[data-skill="plan"] .skill-call')!);
  const field = (name: string) => container.querySelector(`#call-field-${name}`) as HTMLInputElement;
  // Types, required marks, choices and descriptions come from the schema.
  expect(field("goal").type).toBe("text");
  expect(field("dry_run").type).toBe("checkbox");
  expect(field("limits").tagName).toBe("TEXTAREA");
  const mode = field("mode") as unknown as HTMLSelectElement;
  expect([...mode.options].map((o) => o.textContent)).toEqual(["Choose…", "fast", "careful"]);
  const form = container.querySelector("#call-form")!;
  expect(form.querySelectorAll(".required").length).toBe(2);
  expect(form.textContent).toContain("What to reach");

  // A nested value that is not JSON is caught by the form itself.
  await fireEvent.input(field("limits"), { target: { value: "{steps: " } });
  await fireEvent.click(container.querySelector("#call-submit")!);
  expect(container.querySelector("#call-error")?.textContent).toContain("1 place");
  expect(field("limits").getAttribute("aria-invalid")).toBe("true");
  expect(callsTo(calls, "check_call_input")).toEqual([]);

  // The schema check's problems are shown at their fields; nothing is sent.
  await fireEvent.input(field("limits"), { target: { value: '{"steps": "two"}' } });
  await fireEvent.change(mode, { target: { value: "1" } });
  await fireEvent.click(container.querySelector("#call-submit")!);
  await waitFor(() => expect(container.querySelector("#call-error")?.textContent).toContain("2 places"));
  expect(field("goal").getAttribute("aria-invalid")).toBe("true");
  expect(field("limits").getAttribute("aria-invalid")).toBe("true");
  expect(field("dry_run").getAttribute("aria-invalid")).toBe("false");
  expect(callsTo(calls, "call_skill")).toEqual([]);

  await fireEvent.input(field("goal"), { target: { value: "ship it" } });
  await fireEvent.click(field("dry_run"));
  await fireEvent.click(container.querySelector("#call-submit")!);
  await waitFor(() => expect(container.querySelector("#call-output")).toBeTruthy());
  const [sent] = callsTo(calls, "call_skill") as Array<{ input: string }>;
  expect(JSON.parse(sent.input)).toEqual({ goal: "ship it", mode: "careful", dry_run: true, limits: { steps: "two" } });
});

test("changing a peer's tier asks for confirmation first", async () => {
  const calls = await mockCommands({
    peers: [bob],
    trust_requests: [],
    audit_log: [],
    set_peer_tier: (a: { tier: number }) => ({ ...bob, tier: a.tier }),
  });
  nav.peer = BOB;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelector("#peer-tier-select")).toBeTruthy());
  const select = container.querySelector("#peer-tier-select") as HTMLSelectElement;
  expect(select.value).toBe("1");
  const apply = container.querySelector("#peer-tier-apply") as HTMLButtonElement;
  expect(apply.disabled).toBe(true);

  await fireEvent.change(select, { target: { value: "2" } });
  await fireEvent.click(apply);
  expect(container.ownerDocument.querySelector("#confirm-dialog")?.textContent).toContain("bob will be Internal");
  // Cancelling sends nothing.
  await fireEvent.click(screen.getByText("Cancel"));
  expect(container.ownerDocument.querySelector("#confirm-dialog")).toBeNull();
  expect(callsTo(calls, "set_peer_tier")).toEqual([]);

  await fireEvent.click(apply);
  await fireEvent.click(container.ownerDocument.querySelector("#confirm-yes")!);
  await waitFor(() => expect(container.querySelector("#peer-detail .tier-badge")?.className).toContain("tier-2"));
  expect(callsTo(calls, "set_peer_tier")).toEqual([{ peer: BOB, tier: 2 }]);
});

test("an unverified name is marked, the fingerprint shown, and the peer can be blocked", async () => {
  const stranger: PeerView = { ...carol, name: "Alice's Bank", name_verified: false, fingerprint: "cccccccc cccccccc cccccccc" };
  const calls = await mockCommands({
    peers: [stranger],
    trust_requests: [],
    audit_log: [],
    set_peer_blocked: (a: { blocked: boolean }) => ({ ...stranger, tier: 0, blocked: a.blocked }),
  });
  nav.peer = CAROL;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelector("#peer-detail")).toBeTruthy());
  expect(container.querySelector(`.peer[data-inbox="${CAROL}"] .unverified`)?.textContent).toBe("unverified");
  expect(container.querySelector("#peer-unverified")?.textContent).toContain("name the peer gives itself");
  expect(container.querySelector("#peer-fingerprint")?.textContent).toBe("cccccccc cccccccc cccccccc");

  await fireEvent.click(container.querySelector("#peer-block")!);
  await waitFor(() => expect(container.querySelector(`.peer[data-inbox="${CAROL}"] .blocked`)).toBeTruthy());
  expect(container.querySelector("#peer-block")?.textContent?.trim()).toBe("Unblock");
  expect(callsTo(calls, "set_peer_blocked")).toEqual([{ peer: CAROL, blocked: true }]);
});

test("a refused tier change is reported", async () => {
  await mockCommands({
    peers: [bob],
    trust_requests: [],
    audit_log: [],
    set_peer_tier: () => {
      throw failure("unknown peer");
    },
  });
  nav.peer = BOB;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelector("#peer-tier-select")).toBeTruthy());
  await fireEvent.change(container.querySelector("#peer-tier-select")!, { target: { value: "0" } });
  await fireEvent.click(container.querySelector("#peer-tier-apply")!);
  await fireEvent.click(container.ownerDocument.querySelector("#confirm-yes")!);
  expect((await screen.findByRole("alert")).textContent).toContain("unknown peer");
});

test("refresh, chat and goal buttons", async () => {
  const calls = await mockCommands({
    peers: [bob],
    trust_requests: [],
    audit_log: [],
    refresh_peer: { ...bob, skills: [echo] },
    open_dm: "c0ffee01",
  });
  nav.peer = BOB;
  const { container } = render(PeersPage);
  await waitFor(() => expect(container.querySelectorAll(".skill").length).toBe(2));
  await fireEvent.click(container.querySelector("#peer-refresh")!);
  await waitFor(() => expect(container.querySelectorAll(".skill").length).toBe(1));
  expect(callsTo(calls, "refresh_peer")).toEqual([{ peer: BOB }]);

  await fireEvent.click(container.querySelector("#peer-goal")!);
  expect(nav.page).toBe("goals");
  expect(nav.peer).toBe(BOB);

  nav.page = "peers";
  await fireEvent.click(container.querySelector("#peer-chat")!);
  await waitFor(() => expect(nav.page).toBe("chat"));
  expect(nav.conversation).toBe("c0ffee01");
  expect(callsTo(calls, "open_dm")).toEqual([{ peer: BOB }]);
});

test("pending trust requests can be approved, and pushed activity reloads the page", async () => {
  let requests = [request];
  let peers = [bob, carol];
  const calls = await mockCommands({
    peers: () => peers,
    trust_requests: () => requests,
    audit_log: [],
    decide_trust_request: () => {
      requests = [];
      peers = [bob, { ...carol, tier: 1 }];
      return null;
    },
  });
  const { container } = render(PeersPage);
  const row = await waitFor(() => {
    const el = container.querySelector('#trust-requests .trust-request[data-id="7"]');
    expect(el).toBeTruthy();
    return el!;
  });
  expect(row.textContent).toContain("carol asks to be Known");
  expect(row.textContent).toContain("let me in");
  expect(callsTo(calls, "trust_requests")[0]).toEqual({ pendingOnly: true });

  await fireEvent.click(row.querySelector(".approve")!);
  await waitFor(() => expect(container.querySelector(".trust-request")).toBeNull());
  expect(callsTo(calls, "decide_trust_request")).toEqual([{ id: 7, approve: true }]);
  expect(container.querySelector(`.peer[data-inbox="${CAROL}"] .tier-badge`)?.className).toContain("tier-1");

  // A new request arrives while the page is open.
  requests = [{ ...request, id: 8, peer: BOB, who: "bob", requested: 3, reason: "admin" }];
  await emit("activity-event", item({ type: "trust_requested", request: requests[0] }));
  await waitFor(() => expect(container.querySelector('.trust-request[data-id="8"]')?.textContent).toContain("bob asks to be Privileged"));

  // A tier change pushed by the backend.
  peers = [{ ...bob, tier: 3 }, carol];
  await emit("activity-event", item({ type: "trust_changed", peer: BOB, tier: 3, why: "approved" }));
  await waitFor(() => expect(container.querySelector(`.peer[data-inbox="${BOB}"] .tier-badge`)?.className).toContain("tier-3"));

  // A chat message is not a reason to reload.
  const before = callsTo(calls, "peers").length;
  await emit("activity-event", item({ type: "chat", conversation: "c1", sender: BOB, text: "hi" }));
  expect(callsTo(calls, "peers").length).toBe(before);
});

test("a peers list that cannot load is reported, and texts follow the language", async () => {
  await mockCommands({
    peers: () => {
      throw failure("store locked");
    },
    trust_requests: [],
  });
  setLanguage("zh");
  render(PeersPage);
  expect((await screen.findByRole("alert")).textContent).toContain("无法加载伙伴：store locked");
  expect(screen.getByText("信任请求")).toBeTruthy();
});
