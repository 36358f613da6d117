import { afterEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import StatusPage from "./StatusPage.svelte";
import type { AppStatus } from "../lib/bindings";
import { failure } from "../lib/ipcmock";

// Unmount (which unlistens) while the IPC mock is still installed, then remove the mock.
afterEach(() => {
  cleanup();
  clearMocks();
});

const base: AppStatus = {
  version: "0.1.0",
  data_dir: "/home/ada/.local/share/dev.coworker.app",
  backend: { state: "starting" },
  startup_ms: null,
  checked_at_ms: null,
  identity: null,
  node_url: null,
};

test("shows the backend's status from the typed command", async () => {
  mockIPC((cmd) => (cmd === "app_status" ? { ...base, backend: { state: "ready" }, startup_ms: 42 } : null), {
    shouldMockEvents: true,
  });
  render(StatusPage);
  expect((await screen.findByText("Ready")).id).toBe("backend-state");
  expect(screen.getByText(base.data_dir)).toBeTruthy();
  expect(screen.getByText("42 ms")).toBeTruthy();
  expect(screen.getByText("never")).toBeTruthy();
});

test("follows status-changed events pushed by the backend", async () => {
  mockIPC((cmd) => (cmd === "app_status" ? base : null), { shouldMockEvents: true });
  render(StatusPage);
  await screen.findByText("Starting");
  await emit("status-changed", { ...base, backend: { state: "failed", reason: "disk full" } });
  expect(await screen.findByText("Failed")).toBeTruthy();
  expect(screen.getByText("disk full")).toBeTruthy();
});

test("Check now runs the health check and shows when it ran", async () => {
  const calls: string[] = [];
  const checkedAt = Date.UTC(2026, 10, 24, 12, 0, 0);
  mockIPC(
    (cmd) => {
      calls.push(cmd);
      if (cmd === "app_status") return { ...base, backend: { state: "ready" } };
      if (cmd === "check_backend") return { ...base, backend: { state: "ready" }, checked_at_ms: checkedAt };
      return null;
    },
    { shouldMockEvents: true },
  );
  render(StatusPage);
  await screen.findByText("Ready");
  await fireEvent.click(screen.getByRole("button", { name: "Check now" }));
  expect(await screen.findByText(new Date(checkedAt).toLocaleTimeString(undefined, { hour12: false }))).toBeTruthy();
  expect(calls).toContain("check_backend");
});

test("reports a backend that cannot be reached", async () => {
  mockIPC(
    (cmd) => {
      if (cmd === "app_status") throw new Error("ipc down");
      return null;
    },
    { shouldMockEvents: true },
  );
  render(StatusPage);
  expect((await screen.findByRole("alert")).textContent).toContain("ipc down");
});

test("onboarding creates the identity and shows the invite", async () => {
  const identity = { name: "ada", inbox_id: "ab".repeat(32), address: "0x" + "1".repeat(40), network: "embedded" };
  const invite = { code: "eyJuIjoiYWRhIn0=", uri: "coworker://invite/eyJ", short_id: "ada-abababab", qr_svg: "<svg></svg>" };
  const calls: Array<[string, unknown]> = [];
  mockIPC(
    (cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "app_status") return { ...base, backend: { state: "needs_identity" } };
      if (cmd === "create_identity") return { ...base, backend: { state: "ready" }, identity };
      if (cmd === "my_invite") return invite;
      return null;
    },
    { shouldMockEvents: true },
  );
  render(StatusPage);
  expect((await screen.findByText("Set up")).id).toBe("backend-state");
  await fireEvent.input(screen.getByLabelText("Name"), { target: { value: "ada" } });
  await fireEvent.click(screen.getByRole("button", { name: "Create" }));
  expect(await screen.findByText(invite.code)).toBeTruthy();
  expect(screen.getByText("Ready")).toBeTruthy();
  expect(screen.getByText(identity.inbox_id)).toBeTruthy();
  expect(calls).toContainEqual(["create_identity", { name: "ada", network: "embedded" }]);
});

test("onboarding says what each network reaches and takes a gateway", async () => {
  const calls: Array<[string, unknown]> = [];
  mockIPC(
    (cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "app_status") return { ...base, backend: { state: "needs_identity" } };
      if (cmd === "create_identity") throw failure("cannot reach the gateway");
      return null;
    },
    { shouldMockEvents: true },
  );
  render(StatusPage);
  await screen.findByText("Set up");
  const about = () => document.getElementById("onboard-network-about")?.textContent ?? "";
  expect(about()).toContain("only agents on this computer");
  expect(about()).toContain("a peer on another network cannot connect");
  const choose = (value: string) => fireEvent.change(screen.getByLabelText("Network"), { target: { value } });
  await choose("production");
  expect(about()).toContain("reaches anyone on it, anywhere");
  await choose("url");
  expect(about()).toContain("A node your team runs");
  await choose("gateway");
  expect(about()).toContain("d14n gateway");
  await fireEvent.input(screen.getByLabelText("Name"), { target: { value: "ada" } });
  await fireEvent.input(screen.getByLabelText("Gateway URL"), { target: { value: " https://gw.example:443 " } });
  await fireEvent.click(screen.getByRole("button", { name: "Create" }));
  expect((await screen.findByRole("alert")).textContent).toContain("cannot reach the gateway");
  expect(calls).toContainEqual(["create_identity", { name: "ada", network: "gateway:https://gw.example:443" }]);
});

test("a failed onboarding says why and can be retried", async () => {
  mockIPC(
    (cmd) => {
      if (cmd === "app_status") return { ...base, backend: { state: "needs_identity" } };
      if (cmd === "create_identity") throw failure("cannot reach the dev network");
      return null;
    },
    { shouldMockEvents: true },
  );
  render(StatusPage);
  await screen.findByText("Set up");
  await fireEvent.input(screen.getByLabelText("Name"), { target: { value: "ada" } });
  await fireEvent.click(screen.getByRole("button", { name: "Create" }));
  expect((await screen.findByRole("alert")).textContent).toContain("cannot reach the dev network");
  expect((screen.getByRole("button", { name: "Create" }) as HTMLButtonElement).disabled).toBe(false);
});
