import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import SettingsPage from "./SettingsPage.svelte";
import type { AppStatus, InstallationView, Settings } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { locale, setLanguage } from "../lib/i18n.svelte";

const status: AppStatus = {
  version: "0.1.0",
  data_dir: "/home/ada/.local/share/dev.coworker.app",
  backend: { state: "ready" },
  startup_ms: 40,
  checked_at_ms: null,
  identity: { name: "ada", inbox_id: "ab".repeat(32), address: "0x" + "1".repeat(40), network: "embedded" },
  node_url: "http://127.0.0.1:5556",
};
const settings: Settings = {
  planner_endpoint: "https://llm.example/v1",
  planner_model: "small-1",
  planner_key_set: true,
  language: "",
  notify_trust_requests: true,
  notify_plan_proposals: false,
};
const installations: InstallationView[] = [
  { id: "11".repeat(32), this_device: true },
  { id: "22".repeat(32), this_device: false },
];

beforeEach(() => setLanguage("en"));

afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

const save = (a: { update: Settings }) => ({ ...settings, ...a.update, planner_key_set: true });

test("shows the identity, installations and current settings", async () => {
  await mockCommands({ app_status: status, settings, installations });
  const { container } = render(SettingsPage);
  expect((await screen.findByText("ada")).id).toBe("settings-name");
  expect(screen.getByText(status.identity!.inbox_id)).toBeTruthy();
  expect(screen.getByText(status.identity!.address)).toBeTruthy();
  expect(screen.getByText("embedded")).toBeTruthy();
  expect(screen.getByText(status.data_dir)).toBeTruthy();
  // The embedded node is named as such: the identity may be on another network.
  expect(screen.getByText("http://127.0.0.1:5556").parentElement?.previousElementSibling?.textContent).toBe(
    "Embedded node (this computer only)",
  );

  await waitFor(() => expect(container.querySelectorAll(".installation").length).toBe(2));
  const [mine, other] = container.querySelectorAll(".installation");
  expect(mine.textContent).toContain("This device");
  expect(mine.querySelector(".revoke")).toBeNull();
  expect(other.querySelector(".revoke")).toBeTruthy();

  await waitFor(() => expect((container.querySelector("#settings-planner-endpoint") as HTMLInputElement).value).toBe(settings.planner_endpoint));
  expect((container.querySelector("#settings-planner-model") as HTMLInputElement).value).toBe("small-1");
  expect((container.querySelector("#settings-planner-key") as HTMLInputElement).type).toBe("password");
  expect(container.querySelector("#settings-key-state")?.textContent).toContain("A key is stored");
  expect((container.querySelector("#settings-notify-trust") as HTMLInputElement).checked).toBe(true);
  expect((container.querySelector("#settings-notify-plans") as HTMLInputElement).checked).toBe(false);
  expect((container.querySelector("#settings-language") as HTMLSelectElement).value).toBe("");
});

test("saving sends the settings, keeping the stored key unless one is typed", async () => {
  const calls = await mockCommands({ app_status: status, settings, installations, save_settings: save });
  const { container } = render(SettingsPage);
  await waitFor(() => expect((container.querySelector("#settings-planner-model") as HTMLInputElement).value).toBe("small-1"));
  await fireEvent.input(container.querySelector("#settings-planner-model")!, { target: { value: "big-2" } });
  await fireEvent.click(container.querySelector("#settings-notify-plans")!);
  await fireEvent.click(container.querySelector("#settings-save")!);
  await screen.findByText("Settings saved.");
  expect(callsTo(calls, "save_settings")).toEqual([
    {
      update: {
        planner_endpoint: "https://llm.example/v1",
        planner_model: "big-2",
        planner_key: null,
        language: "",
        notify_trust_requests: true,
        notify_plan_proposals: true,
      },
    },
  ]);

  // A typed key is sent once; removing the stored key sends "".
  await fireEvent.input(container.querySelector("#settings-planner-key")!, { target: { value: "sk-secret" } });
  await fireEvent.click(container.querySelector("#settings-save")!);
  await waitFor(() => expect(callsTo(calls, "save_settings").length).toBe(2));
  expect((callsTo(calls, "save_settings")[1].update as Settings & { planner_key: string }).planner_key).toBe("sk-secret");
  await waitFor(() => expect((container.querySelector("#settings-planner-key") as HTMLInputElement).value).toBe(""));

  await fireEvent.click(container.querySelector("#settings-key-remove")!);
  await fireEvent.click(container.querySelector("#settings-save")!);
  await waitFor(() => expect(callsTo(calls, "save_settings").length).toBe(3));
  expect((callsTo(calls, "save_settings")[2].update as Settings & { planner_key: string }).planner_key).toBe("");
});

test("switching the language applies at once and is saved", async () => {
  const calls = await mockCommands({ app_status: status, settings, installations, save_settings: save });
  const { container } = render(SettingsPage);
  expect(await screen.findByText("Settings")).toBeTruthy();
  await waitFor(() => expect((container.querySelector("#settings-save") as HTMLButtonElement).disabled).toBe(false));
  await fireEvent.change(container.querySelector("#settings-language")!, { target: { value: "zh" } });
  expect(locale.current).toBe("zh");
  expect(await screen.findByText("设置")).toBeTruthy();
  expect(screen.getByText("安装实例")).toBeTruthy();
  expect(screen.getByText("保存")).toBeTruthy();
  await fireEvent.click(container.querySelector("#settings-save")!);
  await screen.findByText("设置已保存。");
  expect((callsTo(calls, "save_settings")[0].update as Settings).language).toBe("zh");
});

test("a failed save is reported", async () => {
  await mockCommands({
    app_status: status,
    settings,
    installations,
    save_settings: () => {
      throw failure("the planner endpoint is not a URL");
    },
  });
  const { container } = render(SettingsPage);
  await waitFor(() => expect((container.querySelector("#settings-save") as HTMLButtonElement).disabled).toBe(false));
  await fireEvent.click(container.querySelector("#settings-save")!);
  expect((await screen.findByRole("alert")).textContent).toContain("the planner endpoint is not a URL");
  expect(container.querySelector("#settings-saved")).toBeNull();
});

test("revoking another installation asks first, then reloads the list", async () => {
  let list = installations;
  const calls = await mockCommands({
    app_status: status,
    settings,
    installations: () => list,
    revoke_installation: () => {
      list = [installations[0]];
      return null;
    },
  });
  const { container } = render(SettingsPage);
  await waitFor(() => expect(container.querySelector(".installation .revoke")).toBeTruthy());
  await fireEvent.click(container.querySelector(".installation .revoke")!);
  expect(document.querySelector("#confirm-dialog")?.textContent).toContain("Revoke this installation?");
  await fireEvent.click(document.querySelector("#confirm-no")!);
  expect(callsTo(calls, "revoke_installation")).toEqual([]);

  await fireEvent.click(container.querySelector(".installation .revoke")!);
  await fireEvent.click(document.querySelector("#confirm-yes")!);
  await waitFor(() => expect(container.querySelectorAll(".installation").length).toBe(1));
  expect(callsTo(calls, "revoke_installation")).toEqual([{ id: installations[1].id }]);
});

test("a refused revocation is reported", async () => {
  await mockCommands({
    app_status: status,
    settings,
    installations,
    revoke_installation: () => {
      throw failure("cannot revoke this installation");
    },
  });
  const { container } = render(SettingsPage);
  await waitFor(() => expect(container.querySelector(".installation .revoke")).toBeTruthy());
  await fireEvent.click(container.querySelector(".installation .revoke")!);
  await fireEvent.click(document.querySelector("#confirm-yes")!);
  expect((await screen.findByRole("alert")).textContent).toContain("Could not revoke: cannot revoke this installation");
});

test("the planner hint joins its sentences as each language writes them", async () => {
  await mockCommands({ app_status: status, settings: { ...settings, planner_endpoint: "" }, installations });
  const { container } = render(SettingsPage);
  const note = () => container.querySelector("#settings-planner-note")?.textContent?.trim();
  await waitFor(() => expect(note()).toBe("Built-in planner in use. A new planner applies from the next start."));
  setLanguage("zh");
  await waitFor(() => expect(note()).toBe("正在使用内置规划器。新的规划器将在下次启动时生效。"));
});

test("moving to another network asks first, then shows where the identity is", async () => {
  const gateway = "gateway:https://gateway.example:443";
  const movedStatus: AppStatus = { ...status, identity: { ...status.identity!, network: gateway } };
  const calls = await mockCommands({ app_status: status, settings, installations, change_network: movedStatus });
  const { container } = render(SettingsPage);
  await fireEvent.click(await screen.findByText("Move to another network…"));
  const submit = () => container.querySelector("#move-submit") as HTMLButtonElement;
  await fireEvent.change(container.querySelector("#move-network")!, { target: { value: "gateway" } });
  expect(container.querySelector("#move-network-about")?.textContent).toContain("d14n gateway");
  await waitFor(() => expect(submit().disabled).toBe(true));
  await fireEvent.input(container.querySelector("#move-gateway")!, { target: { value: " https://gateway.example:443 " } });
  await waitFor(() => expect(submit().disabled).toBe(false));

  await fireEvent.click(submit());
  expect(document.querySelector("#confirm-dialog")?.textContent).toContain(`Move to ${gateway}?`);
  await fireEvent.click(document.querySelector("#confirm-no")!);
  expect(callsTo(calls, "change_network")).toEqual([]);

  await fireEvent.click(submit());
  await fireEvent.click(document.querySelector("#confirm-yes")!);
  await screen.findByText("Moved. Share your new invite.");
  expect(callsTo(calls, "change_network")).toEqual([{ network: gateway }]);
  expect(container.querySelector("#settings-network")?.textContent).toBe(gateway);
  expect(container.querySelector("#settings-move-form")).toBeNull();
});

test("a move that fails says so and leaves the identity where it was", async () => {
  await mockCommands({
    app_status: status,
    settings,
    installations,
    change_network: () => {
      throw failure("cannot reach http://127.0.0.1:9", "host.unreachable", "unreachable");
    },
  });
  const { container } = render(SettingsPage);
  await fireEvent.click(await screen.findByText("Move to another network…"));
  await fireEvent.change(container.querySelector("#move-network")!, { target: { value: "url" } });
  await fireEvent.input(container.querySelector("#move-url")!, { target: { value: "http://127.0.0.1:9" } });
  await waitFor(() => expect((container.querySelector("#move-submit") as HTMLButtonElement).disabled).toBe(false));
  await fireEvent.click(container.querySelector("#move-submit")!);
  await fireEvent.click(document.querySelector("#confirm-yes")!);
  expect((await screen.findByRole("alert")).textContent).toBe(
    "Could not move: cannot reach http://127.0.0.1:9. You are still on the same network.",
  );
  expect(container.querySelector("#settings-network")?.textContent).toBe("embedded");
  expect(container.querySelector("#settings-move-form")).toBeTruthy();
});
