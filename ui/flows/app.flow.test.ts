// UI flows in headless Chromium against the production build, the backend mocked at the IPC
// boundary (see harness.ts). What jsdom cannot show: real layout, focus and events, the built
// bundle, and the whole shell (navigation, live events) around the pages.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Browser } from "playwright-core";
import { CommandError, launchChromium, openApp, serveDist } from "./harness";
import { BOB, CAROL, bob, carolAsks, invite, overview, readyApp, status } from "./fixtures";
import type { ActivityItem_Serialize, Connected_Serialize, InvitePreview } from "../src/lib/bindings";

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
  const preview: InvitePreview = { name: "bob", inbox_id: BOB, short_id: "bbbb-bbbb", signed: true };
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
