import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import InvitePage from "./InvitePage.svelte";
import type { Connected, InviteInfo, InvitePreview } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { nav } from "../lib/nav.svelte";
import { setLanguage } from "../lib/i18n.svelte";

const BOB = "bb".repeat(32);
const mine: InviteInfo = {
  code: "eyJuIjoiYWRhIn0",
  uri: "coworker://invite/eyJuIjoiYWRhIn0",
  short_id: "ada-aaaaaaaa",
  qr_svg: '<svg xmlns="http://www.w3.org/2000/svg" id="qr-svg"><rect width="1" height="1"/></svg>',
};
const bobCode = "eyJuIjoiYm9iIn0";
const preview: InvitePreview = { name: "bob", inbox_id: BOB, short_id: "bob-bbbbbbbb", fingerprint: "bbbbbbbb bbbbbbbb bbbbbbbb", signed: true, same_name_as: null };
const connected: Connected = {
  peer: { inbox_id: BOB, name: "bob", tier: 0, skills: [], name_verified: true, fingerprint: "00000000 11111111 22222222", blocked: false, last_seen_ms: null },
  online: true,
  trust: "granted",
};

beforeEach(() => {
  setLanguage("en");
  nav.page = "invite";
  nav.invite = null;
  nav.peer = null;
});

afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
  vi.unstubAllGlobals();
  Reflect.deleteProperty(navigator, "clipboard");
  Reflect.deleteProperty(navigator, "mediaDevices");
});

test("shows my invite with its QR code and copies the code", async () => {
  const writeText = vi.fn(() => Promise.resolve());
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
  await mockCommands({ my_invite: mine });
  const { container } = render(InvitePage);
  expect((await screen.findByText(mine.code)).id).toBe("my-invite-code");
  expect(container.querySelector(".qr svg#qr-svg")).toBeTruthy();
  expect(screen.getByText("ada-aaaaaaaa")).toBeTruthy();
  await fireEvent.click(container.querySelector("#my-invite-copy")!);
  expect(writeText).toHaveBeenCalledWith(mine.code);
  expect(await screen.findByText("Copied")).toBeTruthy();
  await fireEvent.click(container.querySelector("#my-invite-copy-link")!);
  expect(writeText).toHaveBeenLastCalledWith(mine.uri);
});

test("my invite that is not available says why", async () => {
  await mockCommands({
    my_invite: () => {
      throw failure("no identity yet");
    },
  });
  render(InvitePage);
  expect((await screen.findByRole("alert")).textContent).toContain("no identity yet");
});

test("a pasted invite is previewed, then accepted asking for a tier", async () => {
  const calls = await mockCommands({ my_invite: mine, preview_invite: preview, accept_invite: connected });
  const { container } = render(InvitePage);
  const paste = container.querySelector("#invite-paste") as HTMLTextAreaElement;
  await fireEvent.input(paste, { target: { value: `  ${bobCode}\n` } });
  const shown = await waitFor(() => {
    const el = container.querySelector("#invite-preview");
    expect(el).toBeTruthy();
    return el!;
  });
  expect(shown.textContent).toContain("bob");
  expect(container.querySelector("#invite-preview-fingerprint")?.textContent).toBe("bbbbbbbb bbbbbbbb bbbbbbbb");
  expect(container.querySelector("#invite-preview-signed")?.textContent).toContain("Signed");
  expect(container.querySelector("#invite-lookalike")).toBeNull();
  expect(callsTo(calls, "preview_invite")).toEqual([{ code: bobCode }]);

  expect((container.querySelector("#invite-ask-tier") as HTMLSelectElement).value).toBe("1");
  await fireEvent.click(container.querySelector("#invite-accept")!);
  const result = await waitFor(() => {
    const el = container.querySelector("#invite-result");
    expect(el).toBeTruthy();
    return el!;
  });
  expect(callsTo(calls, "accept_invite")).toEqual([{ code: bobCode, askTier: 1 }]);
  expect(result.textContent).toContain("Connected to bob");
  expect(container.querySelector("#invite-result-online")?.textContent).toContain("Online");
  expect(container.querySelector("#invite-result-trust")?.textContent).toContain("Trust granted");

  await fireEvent.click(container.querySelector("#invite-open-peer")!);
  expect(nav.page).toBe("peers");
  expect(nav.peer).toBe(BOB);
});

test("an invite named like a peer I already know is flagged as a look-alike", async () => {
  const lookalike: InvitePreview = { ...preview, same_name_as: "bob (0b0b0b0b 0b0b0b0b 0b0b0b0b)" };
  await mockCommands({ my_invite: mine, preview_invite: lookalike });
  const { container } = render(InvitePage);
  await fireEvent.input(container.querySelector("#invite-paste")!, { target: { value: bobCode } });
  const warning = await waitFor(() => {
    const el = container.querySelector("#invite-lookalike");
    expect(el).toBeTruthy();
    return el!;
  });
  expect(warning.textContent).toContain("different peer by this name: bob (0b0b0b0b 0b0b0b0b 0b0b0b0b)");
});

test("asking for no tier sends null, and pending or denied answers are explained", async () => {
  let answer: Connected = { ...connected, online: false, trust: null };
  const calls = await mockCommands({ my_invite: mine, preview_invite: preview, accept_invite: () => answer });
  const { container } = render(InvitePage);
  await fireEvent.input(container.querySelector("#invite-paste")!, { target: { value: bobCode } });
  await fireEvent.change(container.querySelector("#invite-ask-tier")!, { target: { value: "" } });
  await fireEvent.click(container.querySelector("#invite-accept")!);
  await waitFor(() => expect(container.querySelector("#invite-result")).toBeTruthy());
  expect(callsTo(calls, "accept_invite")).toEqual([{ code: bobCode, askTier: null }]);
  expect(container.querySelector("#invite-result-online")?.textContent).toContain("Offline");
  expect(container.querySelector("#invite-result-trust")).toBeNull();

  answer = { ...connected, trust: "denied: we do not know you" };
  await fireEvent.change(container.querySelector("#invite-ask-tier")!, { target: { value: "2" } });
  await fireEvent.click(container.querySelector("#invite-accept")!);
  await waitFor(() =>
    expect(container.querySelector("#invite-result-trust")?.textContent).toContain("Trust request denied: we do not know you"),
  );
  expect(callsTo(calls, "accept_invite")[1]).toEqual({ code: bobCode, askTier: 2 });

  answer = { ...connected, trust: "pending" };
  await fireEvent.click(container.querySelector("#invite-accept")!);
  await waitFor(() => expect(container.querySelector("#invite-result-trust")?.textContent).toContain("pending"));
});

test("an invalid invite and a failed accept are shown", async () => {
  await mockCommands({
    my_invite: mine,
    preview_invite: () => {
      throw failure("not an invite: bad base64");
    },
    accept_invite: () => {
      throw failure("the inviter's inbox does not exist");
    },
  });
  const { container } = render(InvitePage);
  await fireEvent.input(container.querySelector("#invite-paste")!, { target: { value: "garbage" } });
  await waitFor(() => expect(container.querySelector("#invite-error")?.textContent).toContain("not an invite: bad base64"));
  await fireEvent.click(container.querySelector("#invite-accept")!);
  await waitFor(() =>
    expect(container.querySelector("#invite-error")?.textContent).toContain("the inviter's inbox does not exist"),
  );
  expect(container.querySelector("#invite-result")).toBeNull();
});

test("a coworker:// link that opened the app fills the form", async () => {
  const link = `coworker://invite/${bobCode}`;
  nav.invite = link;
  const calls = await mockCommands({ my_invite: mine, preview_invite: preview });
  const { container } = render(InvitePage);
  expect((container.querySelector("#invite-paste") as HTMLTextAreaElement).value).toBe(link);
  await waitFor(() => expect(callsTo(calls, "preview_invite")).toEqual([{ code: link }]));
  expect(nav.invite).toBeNull();

  // Another link while the page is open.
  nav.go("invite", { invite: "second" });
  await waitFor(() => expect((container.querySelector("#invite-paste") as HTMLTextAreaElement).value).toBe("second"));
});

test("scanning: a file that is not an image, and no camera, are explained", async () => {
  await mockCommands({ my_invite: mine });
  const { container } = render(InvitePage);
  const input = container.querySelector("#invite-qr-file") as HTMLInputElement;
  const file = new File(["text"], "notes.txt", { type: "text/plain" });
  Object.defineProperty(input, "files", { value: [file], configurable: true });
  await fireEvent.change(input);
  await waitFor(() => expect(container.querySelector("#invite-scan-error")?.textContent).toBe("That file is not an image."));

  await fireEvent.click(container.querySelector("#invite-camera")!);
  await waitFor(() => expect(container.querySelector("#invite-scan-error")?.textContent).toContain("No camera is available here"));
});

test("a camera that cannot start says why", async () => {
  const getUserMedia = vi.fn(() => Promise.reject(new DOMException("Permission denied", "NotAllowedError")));
  Object.defineProperty(navigator, "mediaDevices", { value: { getUserMedia }, configurable: true });
  await mockCommands({ my_invite: mine });
  const { container } = render(InvitePage);
  await fireEvent.click(container.querySelector("#invite-camera")!);
  await waitFor(() => expect(container.querySelector("#invite-scan-error")?.textContent).toContain("Camera access was denied."));
  expect(getUserMedia).toHaveBeenCalledWith({ video: { facingMode: "environment" }, audio: false });
  expect(container.querySelector("video")).toBeNull();

  getUserMedia.mockImplementation(() => Promise.reject(new DOMException("device busy", "NotReadableError")));
  await fireEvent.click(container.querySelector("#invite-camera")!);
  await waitFor(() =>
    expect(container.querySelector("#invite-scan-error")?.textContent).toContain("The camera could not start: device busy"),
  );
});

test("the camera stream is stopped when the page closes", async () => {
  const stop = vi.fn();
  const stream = { getTracks: () => [{ stop }] } as unknown as MediaStream;
  Object.defineProperty(navigator, "mediaDevices", {
    value: { getUserMedia: () => Promise.resolve(stream) },
    configurable: true,
  });
  // jsdom has no media playback.
  Object.defineProperty(HTMLMediaElement.prototype, "play", { value: () => Promise.resolve(), configurable: true });
  vi.stubGlobal("requestAnimationFrame", () => 1);
  vi.stubGlobal("cancelAnimationFrame", () => {});
  await mockCommands({ my_invite: mine });
  const { container, unmount } = render(InvitePage);
  await fireEvent.click(container.querySelector("#invite-camera")!);
  await waitFor(() => expect(container.querySelector("video#invite-video")).toBeTruthy());
  expect(screen.getByText("Point the camera at an invite QR code…")).toBeTruthy();
  expect(container.querySelector("#invite-camera")?.textContent).toContain("Stop camera");
  unmount();
  expect(stop).toHaveBeenCalled();
});

test("texts follow the language", async () => {
  await mockCommands({ my_invite: mine });
  setLanguage("zh");
  render(InvitePage);
  expect(await screen.findByText("接受邀请")).toBeTruthy();
  expect(screen.getByText("你的邀请")).toBeTruthy();
});
