import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import ChatPage from "./ChatPage.svelte";
import type { ActivityItem, ConversationView, MessageView, PeerView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { nav } from "../lib/nav.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const ME = "aa".repeat(32);
const BOB = "bb".repeat(32);
const CAROL = "cc".repeat(32);

const dm: ConversationView = {
  id: "c0ffee01",
  kind: "dm",
  title: "bob",
  active: true,
  members: [
    { inbox_id: ME, name: "ada", tier: null },
    { inbox_id: BOB, name: "bob", tier: 2 },
  ],
};
const group: ConversationView = {
  id: "c0ffee02",
  kind: "group",
  title: "research crew",
  active: true,
  members: [
    { inbox_id: ME, name: "ada", tier: null },
    { inbox_id: BOB, name: "bob", tier: 2 },
    { inbox_id: CAROL, name: "carol", tier: 1 },
  ],
};
const peers: PeerView[] = [
  { inbox_id: BOB, name: "bob", tier: 2, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
  { inbox_id: CAROL, name: "carol", tier: 1, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
];

function msg(id: string, over: Partial<MessageView> = {}): MessageView {
  return { id, sender: BOB, mine: false, sent_ms: Date.UTC(2026, 0, 1, 12), kind: "chat", text: `text ${id}`, ...over };
}

const dmMessages: MessageView[] = [
  msg("m1", { text: "hi ada" }),
  msg("m2", { text: "hello bob", mine: true, sender: ME }),
  msg("m3", { kind: "call", text: "call summarize {text}" }),
  msg("m4", { kind: "result", text: "result completed in 120 ms", mine: true, sender: ME }),
  msg("m5", { kind: "plan", text: "plan: 2 steps" }),
  msg("m6", { kind: "trust", text: "asks for tier 2" }),
  msg("m7", { kind: "discover", text: "asks for skills" }),
  msg("m8", { kind: "error", text: "error TIMEOUT" }),
  msg("m9", { kind: "weird", text: "something else" }),
];

function item(event: ActivityItem["event"]): ActivityItem {
  return { at_ms: Date.now(), event };
}

beforeEach(() => {
  setLanguage("en");
  nav.conversation = null;
});

afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

test("lists conversations with badges and opens the first one", async () => {
  const calls = await mockCommands({
    conversations: [dm, group],
    peers,
    messages: (a: { conversation: string }) => (a.conversation === dm.id ? dmMessages : []),
  });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  const items = container.querySelectorAll(".conversation");
  expect([...items].map((e) => e.getAttribute("data-id"))).toEqual([dm.id, group.id]);
  expect(items[0].textContent).toContain("DM");
  expect(items[1].textContent).toContain("Group");
  expect(items[1].querySelectorAll(".tier-badge").length).toBe(2);
  expect(callsTo(calls, "messages")).toEqual([{ conversation: dm.id, limit: 10000 }]);

  // Members with tier badges; me is "You".
  const members = container.querySelectorAll(".members .member");
  expect(members.length).toBe(2);
  expect(members[0].textContent).toContain("ada");
  expect(members[0].querySelector(".tier-badge")?.textContent).toBe("You");
  expect(members[1].querySelector(".tier-badge")?.className).toContain("tier-2");

  // Chat bubbles and protocol lines with their kind classes.
  const kinds = [...container.querySelectorAll(".message")].map((e) =>
    [...e.classList].find((c) => c.startsWith("kind-")),
  );
  expect(kinds).toEqual([
    "kind-chat",
    "kind-chat",
    "kind-call",
    "kind-result",
    "kind-plan",
    "kind-trust",
    "kind-discover",
    "kind-error",
    "kind-other",
  ]);
  expect(container.querySelector('.message[data-id="m2"]')?.classList.contains("mine")).toBe(true);
  expect(container.querySelector('.message[data-id="m1"]')?.classList.contains("mine")).toBe(false);
  expect(container.querySelector('.message[data-id="m3"] .sys-label')?.textContent).toBe("Call");
  expect(screen.getByText("call summarize {text}")).toBeTruthy();
});

test("opens the conversation another page asked for", async () => {
  nav.conversation = group.id;
  const calls = await mockCommands({
    conversations: [dm, group],
    peers,
    messages: (a: { conversation: string }) =>
      a.conversation === group.id ? [msg("g1", { text: "group hello", sender: CAROL })] : dmMessages,
  });
  const { container } = render(ChatPage);
  await screen.findByText("group hello");
  expect(callsTo(calls, "messages")).toEqual([{ conversation: group.id, limit: 10000 }]);
  expect(container.querySelector(".conversation.selected")?.getAttribute("data-id")).toBe(group.id);
  // In a group, other people's bubbles carry their name.
  expect(container.querySelector('.message[data-id="g1"] .sender')?.textContent).toBe("carol");
});

test("a 10,000-message conversation renders only a window of it, at the end", async () => {
  const many = Array.from({ length: 10_000 }, (_, i) =>
    msg(`m${i}`, { text: `message number ${i}`, mine: i % 3 === 0, kind: i % 10 === 0 ? "call" : "chat" }),
  );
  await mockCommands({ conversations: [dm], peers, messages: many });
  const started = performance.now();
  const { container } = render(ChatPage);
  await screen.findByText("message number 9999");
  const elapsed = performance.now() - started;
  const rendered = container.querySelectorAll(".message").length;
  expect(rendered).toBeGreaterThan(5);
  expect(rendered).toBeLessThan(100);
  expect(screen.queryByText("message number 0")).toBeNull();
  // Generous bound for slow CI machines; the benchmark (npm run bench) gives the real figure.
  expect(elapsed).toBeLessThan(2000);
});

test("Enter sends the message and appends it; Shift+Enter does not send", async () => {
  const calls = await mockCommands({ conversations: [dm], peers, messages: dmMessages, send_message: null });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  const composer = container.querySelector("#composer") as HTMLTextAreaElement;
  await fireEvent.input(composer, { target: { value: "line one" } });
  await fireEvent.keyDown(composer, { key: "Enter", shiftKey: true });
  expect(callsTo(calls, "send_message")).toEqual([]);
  await fireEvent.input(composer, { target: { value: "how are you?" } });
  await fireEvent.keyDown(composer, { key: "Enter" });
  expect(await screen.findByText("how are you?")).toBeTruthy();
  expect(callsTo(calls, "send_message")).toEqual([{ conversation: dm.id, text: "how are you?" }]);
  expect(composer.value).toBe("");
  const last = [...container.querySelectorAll(".message")].pop()!;
  expect(last.classList.contains("mine")).toBe(true);
  expect(last.classList.contains("kind-chat")).toBe(true);

  // The Send button does the same.
  await fireEvent.input(composer, { target: { value: "and the button" } });
  await fireEvent.click(container.querySelector("#send")!);
  expect(await screen.findByText("and the button")).toBeTruthy();
  expect(callsTo(calls, "send_message")[1]).toEqual({ conversation: dm.id, text: "and the button" });
});

test("a failed send says why and keeps the text", async () => {
  await mockCommands({
    conversations: [dm],
    peers,
    messages: dmMessages,
    send_message: () => {
      throw failure("peer is offline");
    },
  });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  const composer = container.querySelector("#composer") as HTMLTextAreaElement;
  await fireEvent.input(composer, { target: { value: "are you there?" } });
  await fireEvent.keyDown(composer, { key: "Enter" });
  expect((await screen.findByRole("alert")).textContent).toContain("peer is offline");
  expect(composer.value).toBe("are you there?");
});

test("creates a group from peers and invite codes, then opens it", async () => {
  let convs = [dm];
  const created: ConversationView = { ...group, id: "c0ffee03", title: "new crew" };
  const calls = await mockCommands({
    conversations: () => convs,
    peers,
    messages: (a: { conversation: string }) =>
      a.conversation === created.id ? [msg("n1", { text: "welcome to new crew" })] : dmMessages,
    create_group: () => {
      convs = [dm, created];
      return created.id;
    },
  });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  const create = container.querySelector("#group-create") as HTMLButtonElement;
  expect(create.disabled).toBe(true);
  await fireEvent.input(container.querySelector("#group-name")!, { target: { value: "new crew" } });
  const carol = container.querySelector(`.group-peer[value="${CAROL}"]`) as HTMLInputElement;
  await fireEvent.click(carol);
  await fireEvent.input(container.querySelector("#group-invites")!, {
    target: { value: "coworker://invite/abc\n eyJuIjoiZGF2ZSJ9 " },
  });
  await fireEvent.click(create);
  expect(await screen.findByText("welcome to new crew")).toBeTruthy();
  expect(callsTo(calls, "create_group")).toEqual([
    { name: "new crew", members: [CAROL, "coworker://invite/abc", "eyJuIjoiZGF2ZSJ9"] },
  ]);
  expect(container.querySelector(".conversation.selected")?.getAttribute("data-id")).toBe(created.id);
  expect((container.querySelector("#group-name") as HTMLInputElement).value).toBe("");
});

test("creating a group needs members, and shows the backend's error", async () => {
  const calls = await mockCommands({
    conversations: [dm],
    peers,
    messages: dmMessages,
    create_group: () => {
      throw failure("invalid invite code");
    },
  });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  await fireEvent.input(container.querySelector("#group-name")!, { target: { value: "x" } });
  await fireEvent.click(container.querySelector("#group-create")!);
  expect((await screen.findByRole("alert")).textContent).toContain("at least one peer");
  expect(callsTo(calls, "create_group")).toEqual([]);
  await fireEvent.input(container.querySelector("#group-invites")!, { target: { value: "bogus" } });
  await fireEvent.click(container.querySelector("#group-create")!);
  await waitFor(() => expect(container.querySelector("#group-error")?.textContent).toContain("invalid invite code"));
});

test("shows why messages cannot be loaded", async () => {
  await mockCommands({
    conversations: [dm],
    peers,
    messages: () => {
      throw failure("database locked");
    },
  });
  render(ChatPage);
  expect((await screen.findByRole("alert")).textContent).toContain("database locked");
});

test("live activity reloads the open conversation and marks others unread", async () => {
  let current = dmMessages.slice(0, 2);
  const calls = await mockCommands({ conversations: [dm, group], peers, messages: () => current });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");

  current = [...current, msg("m10", { text: "fresh news" })];
  await emit("activity-event", item({ type: "chat", conversation: dm.id, sender: BOB, text: "fresh news" }));
  expect(await screen.findByText("fresh news")).toBeTruthy();

  // Protocol traffic (a finished call) shows up as a system line.
  current = [...current, msg("m11", { kind: "result", text: "summarize completed" })];
  await emit("activity-event", item({ type: "call_finished", peer: BOB, task_id: "t1", status: { state: "completed" } }));
  expect(await screen.findByText("summarize completed")).toBeTruthy();
  expect(container.querySelector('.message[data-id="m11"]')?.classList.contains("kind-result")).toBe(true);

  // A message elsewhere marks that conversation unread, without reloading this one.
  const before = callsTo(calls, "messages").length;
  await emit("activity-event", item({ type: "chat", conversation: group.id, sender: CAROL, text: "psst" }));
  await waitFor(() => expect(container.querySelector(`.conversation[data-id="${group.id}"] .unread`)).toBeTruthy());
  await new Promise((r) => setTimeout(r, 150));
  expect(callsTo(calls, "messages").length).toBe(before);
});

test("bursts of activity are debounced into one reload", async () => {
  const calls = await mockCommands({ conversations: [dm], peers, messages: dmMessages });
  render(ChatPage);
  await screen.findByText("hi ada");
  for (let i = 0; i < 5; i++) {
    await emit("activity-event", item({ type: "call_progress", task_id: "t", percent: i * 20, text: "working" }));
  }
  await new Promise((r) => setTimeout(r, 250));
  expect(callsTo(calls, "messages").length).toBe(2);
});

test("follows a conversation requested while the page is open", async () => {
  await mockCommands({
    conversations: [dm, group],
    peers,
    messages: (a: { conversation: string }) =>
      a.conversation === group.id ? [msg("g1", { text: "group hello", sender: CAROL })] : dmMessages,
  });
  const { container } = render(ChatPage);
  await screen.findByText("hi ada");
  nav.go("chat", { conversation: group.id });
  expect(await screen.findByText("group hello")).toBeTruthy();
  expect(container.querySelector(".conversation.selected")?.getAttribute("data-id")).toBe(group.id);
  // Clicking another conversation opens it too.
  await fireEvent.click(container.querySelector(`.conversation[data-id="${dm.id}"]`)!);
  expect(await screen.findByText("hi ada")).toBeTruthy();
  expect(nav.conversation).toBe(dm.id);
});
