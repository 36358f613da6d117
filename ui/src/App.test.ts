import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import App from "./App.svelte";
import type { ActivityItem, AppStatus, Overview, Settings } from "./lib/bindings";
import { live } from "./lib/live.svelte";
import { nav } from "./lib/nav.svelte";
import { setLanguage } from "./lib/i18n.svelte";

type Args = Record<string, unknown>;

const identity = { name: "ada", inbox_id: "ab".repeat(32), address: "0x" + "1".repeat(40), network: "embedded" };
const ready: AppStatus = {
  version: "0.1.0",
  data_dir: "/tmp/coworker",
  backend: { state: "ready" },
  startup_ms: 40,
  checked_at_ms: null,
  identity,
  node_url: null,
};
const settings: Settings = {
  planner_endpoint: "",
  planner_model: "",
  planner_key_set: false,
  language: "en",
  notify_trust_requests: true,
  notify_plan_proposals: true,
};
const overview: Overview = {
  peers: 0,
  skills: 0,
  skills_exposed: 0,
  calls_made: 0,
  calls_served: 0,
  goals_running: 0,
  pending_requests: [],
  pending_plans: [],
  failed_calls: [],
};
const request = { id: 1, peer: "bb".repeat(32), who: "peer (00000000 11111111 22222222)", requested: 2, reason: "", status: "pending" as const };

/** The backend: the App connects the live feed itself. */
function backend(answers: Record<string, unknown>): Array<[string, Args]> {
  const calls: Array<[string, Args]> = [];
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Args;
      calls.push([cmd, a]);
      const answer = answers[cmd];
      if (typeof answer === "function") return (answer as (a: Args) => unknown)(a);
      if (answer !== undefined) return answer;
      if (cmd === "activity" || cmd === "peers" || cmd === "trust_requests") return [];
      if (cmd === "ui_ready") return { startup_ms: 100, link: null };
      if (cmd === "settings") return settings;
      if (cmd === "overview") return overview;
      return null;
    },
    { shouldMockEvents: true },
  );
  return calls;
}

const count = (calls: Array<[string, Args]>, cmd: string) => calls.filter(([c]) => c === cmd).length;

beforeEach(() => {
  nav.page = "home";
  nav.invite = null;
  nav.peer = null;
  live.items = [];
});

afterEach(() => {
  cleanup();
  clearMocks();
  setLanguage("");
});

test("onboarding fills the window until the backend is ready with an identity", async () => {
  backend({ app_status: { ...ready, backend: { state: "needs_identity" }, identity: null } });
  const { container } = render(App);
  await waitFor(() => expect(container.querySelector("#onboard-name")).toBeTruthy());
  expect(container.querySelector("#nav-home")).toBeNull();

  await emit("status-changed", ready);
  await waitFor(() => expect(container.querySelector("#nav-home")).toBeTruthy());
  expect(container.querySelector("#onboard-name")).toBeNull();
});

test("the sidebar lists every page and shows the chosen one", async () => {
  const calls = backend({ app_status: ready });
  const { container } = render(App);
  await waitFor(() => expect(container.querySelector("#nav-home")).toBeTruthy());
  const pages = [...container.querySelectorAll("nav [data-page]")].map((e) => e.getAttribute("data-page"));
  expect(pages).toEqual(["home", "peers", "chat", "skills", "goals", "receipts", "insights", "invite", "settings", "status"]);
  expect(container.querySelector("#nav-home")?.getAttribute("aria-current")).toBe("page");
  expect(container.querySelector("#nav-status")?.textContent).toContain("ada");
  await screen.findByRole("heading", { name: "Home" });

  await fireEvent.click(container.querySelector("#nav-peers")!);
  await screen.findByRole("heading", { name: "Peers" });
  expect(container.querySelector("#nav-peers")?.getAttribute("aria-current")).toBe("page");

  await fireEvent.click(container.querySelector("#nav-status")!);
  await waitFor(() => expect(container.querySelector("#backend-state")?.textContent).toBe("Ready"));
  expect(container.querySelector("#inbox-id")?.textContent).toBe(identity.inbox_id);

  await waitFor(() => expect(count(calls, "ui_ready")).toBe(1));
});

test("the saved language applies on start", async () => {
  backend({ app_status: ready, settings: { ...settings, language: "zh" } });
  const { container } = render(App);
  await waitFor(() => expect(container.querySelector("#nav-peers")?.textContent).toContain("伙伴"));
  expect(container.querySelector("#nav-settings")?.textContent).toContain("设置");
});

test("a link that opened the app, and one that arrives later, open the Invite page", async () => {
  backend({ app_status: ready, ui_ready: { startup_ms: 90, link: "coworker://invite/first" } });
  const { container } = render(App);
  await waitFor(() =>
    expect((container.querySelector("#invite-paste") as HTMLTextAreaElement | null)?.value).toBe("coworker://invite/first"),
  );
  expect(nav.page).toBe("invite");

  await fireEvent.click(container.querySelector("#nav-home")!);
  await emit("open-link", { page: "invite", invite: "coworker://invite/second" });
  await waitFor(() =>
    expect((container.querySelector("#invite-paste") as HTMLTextAreaElement | null)?.value).toBe("coworker://invite/second"),
  );
});

test("the Peers item counts pending trust requests and follows activity", async () => {
  let current: Overview = { ...overview, pending_requests: [request] };
  backend({ app_status: ready, overview: () => current });
  const { container } = render(App);
  await waitFor(() => expect(container.querySelector("#peers-badge")?.textContent).toBe("1"));

  current = { ...overview, pending_requests: [request, { ...request, id: 2 }] };
  const item: ActivityItem = { at_ms: Date.now(), event: { type: "trust_requested", request: { ...request, id: 2 } } };
  await emit("activity-event", item);
  await waitFor(() => expect(container.querySelector("#peers-badge")?.textContent).toBe("2"));

  current = overview;
  await emit("activity-event", { at_ms: Date.now(), event: { type: "trust_changed", peer: request.peer, tier: 2, why: "approved" } });
  await waitFor(() => expect(container.querySelector("#peers-badge")).toBeNull());
});
