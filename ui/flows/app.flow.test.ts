// UI flows in headless Chromium against the production build, the backend mocked at the IPC
// boundary (see harness.ts). What jsdom cannot show: real layout, focus and events, the built
// bundle, and the whole shell (navigation, live events) around the pages.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { CommandError, launchChromium, openApp, serveDist } from "./harness";
import { BOB, CAROL, bob, carolAsks, invite, overview, readyApp, status } from "./fixtures";
import type {
  ActivityItem_Serialize,
  Connected_Serialize,
  ConversationView_Serialize,
  InvitePreview,
  MessageView,
  MySkillView_Serialize,
  NewSkill,
} from "../src/lib/bindings";

let browser: Browser;
let server: Awaited<ReturnType<typeof serveDist>>;

beforeAll(async () => {
  server = await serveDist();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

test("onboarding: a new user names the agent, the identity is created, and Home opens", async () => {
  let current = status(false);
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    app_status: () => current,
    create_identity: ({ name }: Record<string, unknown>) => {
      current = { ...status(true), identity: { ...status(true).identity!, name: String(name) } };
      return current;
    },
  });
  const { page } = app;
  await expect.poll(() => page.locator("#backend-state").textContent()).toBe("Set up");
  expect(await page.locator("#onboard-submit").isDisabled()).toBe(true);
  await page.fill("#onboard-name", "alice");
  await page.click("#onboard-submit");
  await page.locator("#nav-home").waitFor();
  expect(app.callsTo("create_identity")).toEqual([{ name: "alice", network: "embedded" }]);
  await page.click("#nav-status");
  await expect.poll(() => page.locator("#identity-name").textContent()).toBe("alice");
  await expect.poll(() => page.locator("#invite-code").textContent()).toBe(invite.code);
  await app.close();
});

test("a refused identity keeps the form and shows the backend's reason", async () => {
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    app_status: status(false),
    create_identity: () => {
      throw new CommandError("the keychain is locked");
    },
  });
  await app.page.fill("#onboard-name", "alice");
  await app.page.click("#onboard-submit");
  await expect.poll(() => app.page.locator("#onboard-error").textContent()).toContain("the keychain is locked");
  expect(await app.page.inputValue("#onboard-name")).toBe("alice");
  await app.close();
});

test("peers: a tier change waits for confirmation, and a pending request is approved", async () => {
  let requests = [carolAsks];
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    trust_requests: () => requests,
    set_peer_tier: ({ peer, tier }: Record<string, unknown>) => ({ ...bob, inbox_id: String(peer), tier: Number(tier) }),
    decide_trust_request: () => {
      requests = [];
      return null;
    },
  });
  const { page } = app;
  await page.click("#nav-peers");
  await page.click(`.peer[data-inbox="${BOB}"]`);
  await page.selectOption("#peer-tier-select", "2");

  // Cancelled: nothing changes.
  await page.click("#peer-tier-apply");
  await page.click("#confirm-no");
  expect(app.callsTo("set_peer_tier")).toEqual([]);

  await page.click("#peer-tier-apply");
  await expect.poll(() => page.locator("#confirm-message").textContent()).toContain("bob");
  await page.click("#confirm-yes");
  const badge = page.locator(`.peer[data-inbox="${BOB}"] .tier-badge`);
  await expect.poll(() => badge.textContent()).toBe("Internal");
  expect(app.callsTo("set_peer_tier")).toEqual([{ peer: BOB, tier: 2 }]);

  await page.click(`.trust-request[data-id="7"] .approve`);
  await page.locator(".trust-request").waitFor({ state: "detached" });
  expect(app.callsTo("decide_trust_request")).toEqual([{ id: 7, approve: true }]);
  await app.close();
});

test("Home: live activity from the backend appears in the feed and refreshes what needs attention", async () => {
  let current = overview;
  const app = await openApp(browser, server.url, { ...readyApp(), overview: () => current });
  const { page } = app;
  await expect.poll(() => page.locator("#attention").textContent()).toContain("Nothing needs your attention.");

  current = { ...overview, pending_requests: [carolAsks] };
  const asked: ActivityItem_Serialize = { at_ms: Date.now(), event: { type: "trust_requested", request: carolAsks } };
  await app.emit("activity-event", asked);
  const chat: ActivityItem_Serialize = { at_ms: Date.now(), event: { type: "chat", conversation: "c1", sender: CAROL, text: "hello there" } };
  await app.emit("activity-event", chat);

  await expect.poll(() => page.locator("#feed .feed-item").count()).toBe(2);
  expect(await page.locator("#feed .feed-item").first().textContent()).toContain("carol: hello there");
  await expect.poll(() => page.locator("#attention").textContent()).toContain("carol asks to be Known");
  await app.close();
});

test("Invite: a pasted link is previewed, accepted, and asks for Known", async () => {
  const preview: InvitePreview = { name: "bob", inbox_id: BOB, short_id: "bbbb-bbbb", fingerprint: "bbbbbbbb bbbbbbbb bbbbbbbb", signed: true, same_name_as: null };
  const connected: Connected_Serialize = { peer: bob, online: true, trust: "pending" };
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    preview_invite: preview,
    accept_invite: connected,
  });
  const { page } = app;
  await page.click("#nav-invite");
  await expect.poll(() => page.locator("#my-invite-code").textContent()).toBe(invite.code);
  const link = "coworker://invite/eyJib2IiOnRydWV9";
  await page.fill("#invite-paste", link);
  await expect.poll(() => page.locator("#invite-preview-name").textContent()).toBe("bob");
  await page.click("#invite-accept");
  await expect.poll(() => page.locator("#invite-result").textContent()).toContain("bob");
  expect(app.callsTo("accept_invite")).toEqual([{ code: link, askTier: 1 }]);
  await app.close();
});

test("Skills: an invalid schema is refused in the form; fixed, the skill is added with its command split", async () => {
  let mine: MySkillView_Serialize[] = [];
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    my_skills: () => mine,
    preview_skills: () => mine.map((m) => m.skill),
    add_skill: ({ skill }: Record<string, unknown>) => {
      const s = skill as NewSkill;
      const view = { ...s, when_to_use: "" };
      mine = [{ skill: view, exposed: true, command: s.command, calls: 0, failures: 0, mean_ms: null }];
      return null;
    },
  });
  const { page } = app;
  await page.click("#nav-skills");
  await page.fill("#skill-name", "shout");
  await page.fill("#skill-description", "Upper-cases text");
  await page.fill("#skill-command", `python3 -c "import sys; print(sys.stdin.read().upper())"`);
  await page.fill("#skill-input-schema", '{"type": "object"');
  await page.fill("#skill-output-schema", '{"type": "object"}');
  await page.click("#skill-add");
  await expect.poll(() => page.locator("#skill-input-schema-error").textContent()).toMatch(/JSON/);
  expect(app.callsTo("add_skill")).toEqual([]);

  await page.fill("#skill-input-schema", '{"type": "object"}');
  await page.click("#skill-add");
  await page.locator('.my-skill[data-skill="shout"]').waitFor();
  const [{ skill }] = app.callsTo("add_skill") as { skill: NewSkill }[];
  expect(skill.name).toBe("shout");
  expect(skill.command).toEqual(["python3", "-c", "import sys; print(sys.stdin.read().upper())"]);
  expect(JSON.parse(skill.input_schema)).toEqual({ type: "object" });
  await app.close();
});

test("Chat: 10,000 messages open at the newest with only the visible rows in the page; a sent message appears", async () => {
  const dm: ConversationView_Serialize = {
    id: "c1",
    kind: "dm",
    title: "bob",
    members: [{ inbox_id: BOB, name: "bob", tier: 1 }],
    active: true,
  };
  const history: MessageView[] = Array.from({ length: 10_000 }, (_, i) => ({
    id: `m${i}`,
    sender: BOB,
    mine: false,
    sent_ms: Date.now() - (10_000 - i) * 1000,
    kind: i === 9_998 ? "call" : "chat",
    text: i === 9_998 ? 'calls summarize with {"text":"hi"}' : `message ${i}`,
  }));
  const app = await openApp(browser, server.url, {
    ...readyApp(),
    conversations: [dm],
    messages: history,
    send_message: null,
  });
  const { page } = app;
  await page.click("#nav-chat");
  await page.click(".conversation");
  const newest = page.locator('.message[data-id="m9999"]');
  await newest.waitFor();
  expect(await newest.isVisible()).toBe(true);
  expect(await newest.textContent()).toContain("message 9999");
  // Protocol traffic (summarised by the backend) is a labelled system line, not a chat bubble.
  const call = page.locator('.message.system.kind-call[data-id="m9998"]');
  expect(await call.textContent()).toMatch(/Call.*calls summarize/);
  const rows = await page.locator(".vlist-row").count();
  expect(rows).toBeGreaterThan(5);
  expect(rows).toBeLessThan(80);

  // Scrolled to the top, the oldest message is rendered instead.
  await page.locator(".vlist").evaluate((list) => (list.scrollTop = 0));
  await page.locator('.message[data-id="m0"]').waitFor();
  expect(await page.locator(".vlist-row").count()).toBeLessThan(80);

  await page.fill("#composer", "hello bob");
  await page.click("#send");
  await expect.poll(() => page.locator(".message.mine").last().textContent()).toContain("hello bob");
  expect(app.callsTo("send_message")).toEqual([{ conversation: "c1", text: "hello bob" }]);
  expect(await page.inputValue("#composer")).toBe("");
  await app.close();
});
