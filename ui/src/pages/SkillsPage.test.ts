import { afterEach, beforeEach, expect, test } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import SkillsPage from "./SkillsPage.svelte";
import type { MySkillView, SkillView } from "../lib/bindings";
import { callsTo, failure, mockCommands } from "../lib/ipcmock";
import { live } from "../lib/live.svelte";
import { setLanguage } from "../lib/i18n.svelte";

function skill(name: string, min_tier: number, description = `${name} things`): SkillView {
  return { name, description, when_to_use: "", input_schema: "{}", output_schema: "{}", min_tier };
}

const builtin: MySkillView = {
  skill: skill("echo", 1, "Echoes the input"),
  exposed: true,
  command: null,
  calls: 12,
  failures: 1,
  mean_ms: 42,
};
const added: MySkillView = {
  skill: skill("summarize", 2, "Summarizes a text"),
  exposed: false,
  command: ["python3", "sum.py"],
  calls: 0,
  failures: 0,
  mean_ms: null,
};

beforeEach(() => setLanguage("en"));
afterEach(() => {
  live.disconnect();
  cleanup();
  clearMocks();
  setLanguage("");
});

function el<T extends Element = HTMLElement>(root: HTMLElement, selector: string): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`no ${selector}`);
  return found;
}

test("lists my skills with visibility, tier and stats", async () => {
  await mockCommands({ my_skills: [builtin, added], preview_skills: [skill("echo", 1)] });
  const { container } = render(SkillsPage);
  await screen.findByText("Echoes the input");
  const rows = container.querySelectorAll(".my-skill");
  expect([...rows].map((r) => r.getAttribute("data-skill"))).toEqual(["echo", "summarize"]);
  const echo = rows[0] as HTMLElement;
  const summarize = rows[1] as HTMLElement;
  expect(el<HTMLInputElement>(echo, ".skill-exposed").checked).toBe(true);
  expect(el<HTMLInputElement>(summarize, ".skill-exposed").checked).toBe(false);
  // Only app-added skills have an editable tier and a Remove button.
  expect(echo.querySelector(".skill-tier")).toBeNull();
  expect(echo.querySelector(".tier-badge.tier-1")).toBeTruthy();
  expect(echo.querySelector(".skill-remove")).toBeNull();
  expect(el<HTMLSelectElement>(summarize, ".skill-tier").value).toBe("2");
  expect(summarize.querySelector(".skill-remove")).toBeTruthy();
  expect(el(echo, ".skill-stats").textContent).toContain("12 calls, 1 failed");
  expect(el(echo, ".skill-stats").textContent).toContain("42 ms");
  expect(el(summarize, ".skill-stats").textContent).toContain("—");
  // The preview for the default tier.
  expect(container.querySelectorAll(".preview-skill").length).toBe(1);
});

test("toggling visibility and the tier sends the commands", async () => {
  let skills = [builtin, added];
  const calls = await mockCommands({
    my_skills: () => skills,
    preview_skills: [],
    set_skill_exposed: (a: { skill: string; exposed: boolean }) => {
      skills = skills.map((s) => (s.skill.name === a.skill ? { ...s, exposed: a.exposed } : s));
      return null;
    },
    set_skill_min_tier: null,
  });
  const { container } = render(SkillsPage);
  await screen.findByText("Summarizes a text");
  const row = el(container, '.my-skill[data-skill="summarize"]');
  await fireEvent.click(el(row, ".skill-exposed"));
  await waitFor(() => expect(callsTo(calls, "set_skill_exposed")).toEqual([{ skill: "summarize", exposed: true }]));
  await waitFor(() => expect(el(row, ".chip.exposed").textContent).toBe("Visible"));

  const select = el<HTMLSelectElement>(row, ".skill-tier");
  select.value = "3";
  await fireEvent.change(select);
  await waitFor(() => expect(callsTo(calls, "set_skill_min_tier")).toEqual([{ skill: "summarize", tier: 3 }]));
});

test("a refused change is shown and the checkbox goes back", async () => {
  await mockCommands({
    my_skills: [builtin, added],
    preview_skills: [],
    set_skill_exposed: () => {
      throw failure("skill is broken");
    },
  });
  const { container } = render(SkillsPage);
  await screen.findByText("Summarizes a text");
  const box = el<HTMLInputElement>(container, '.my-skill[data-skill="summarize"] .skill-exposed');
  await fireEvent.click(box);
  expect((await screen.findByRole("alert")).textContent).toContain("skill is broken");
  await waitFor(() => expect(box.checked).toBe(false));
});

test("Remove asks for confirmation first", async () => {
  const calls = await mockCommands({ my_skills: [builtin, added], preview_skills: [], remove_skill: null });
  const { container } = render(SkillsPage);
  await screen.findByText("Summarizes a text");
  await fireEvent.click(el(container, ".skill-remove"));
  expect(callsTo(calls, "remove_skill")).toEqual([]);
  await fireEvent.click(el(container, ".skill-remove-cancel"));
  expect(container.querySelector(".skill-remove-confirm")).toBeNull();
  await fireEvent.click(el(container, ".skill-remove"));
  await fireEvent.click(el(container, ".skill-remove-confirm"));
  await waitFor(() => expect(callsTo(calls, "remove_skill")).toEqual([{ skill: "summarize" }]));
});

test("Preview as tier lists what a peer at that tier sees", async () => {
  const calls = await mockCommands({
    my_skills: [builtin, added],
    preview_skills: (a: { tier: number }) => (a.tier >= 2 ? [skill("echo", 1), skill("summarize", 2)] : []),
  });
  const { container } = render(SkillsPage);
  expect(await screen.findByText("A peer at this tier sees no skills at all.")).toBeTruthy();
  const select = el<HTMLSelectElement>(container, "#preview-tier");
  select.value = "2";
  await fireEvent.change(select);
  await waitFor(() => expect(container.querySelectorAll(".preview-skill").length).toBe(2));
  expect(callsTo(calls, "preview_skills")).toEqual([{ tier: 1 }, { tier: 2 }]);
  expect(screen.getByText(/look nonexistent/)).toBeTruthy();
});

test("adding a skill sends argv, schemas, tier and timeout", async () => {
  const calls = await mockCommands({ my_skills: [builtin], preview_skills: [], add_skill: null });
  const { container } = render(SkillsPage);
  await screen.findByText("Echoes the input");
  const input = '{"type":"object","properties":{"text":{"type":"string"}}}';
  const output = '{"type":"object","properties":{"summary":{"type":"string"}}}';
  await fireEvent.input(el(container, "#skill-name"), { target: { value: "summarize" } });
  await fireEvent.input(el(container, "#skill-description"), { target: { value: "Summarizes a text" } });
  await fireEvent.input(el(container, "#skill-command"), {
    target: { value: `python3 "/opt/my skills/sum.py" --max 3` },
  });
  await fireEvent.input(el(container, "#skill-input-schema"), { target: { value: input } });
  await fireEvent.input(el(container, "#skill-output-schema"), { target: { value: output } });
  const tier = el<HTMLSelectElement>(container, "#skill-min-tier");
  tier.value = "2";
  await fireEvent.change(tier);
  await fireEvent.input(el(container, "#skill-timeout"), { target: { value: "45" } });
  await fireEvent.click(el(container, "#skill-add"));
  await waitFor(() =>
    expect(callsTo(calls, "add_skill")).toEqual([
      {
        skill: {
          name: "summarize",
          description: "Summarizes a text",
          command: ["python3", "/opt/my skills/sum.py", "--max", "3"],
          input_schema: input,
          output_schema: output,
          min_tier: 2,
          timeout_secs: 45,
          mcp_tool: null,
        },
      },
    ]),
  );
  expect((await screen.findByRole("status")).textContent).toContain("starts hidden");
  expect(el<HTMLInputElement>(container, "#skill-name").value).toBe("");
});

test("an invalid JSON schema or command is refused without calling the backend", async () => {
  const calls = await mockCommands({ my_skills: [], preview_skills: [], add_skill: null });
  const { container } = render(SkillsPage);
  await screen.findByText("No skills yet. Add one below.");
  await fireEvent.input(el(container, "#skill-name"), { target: { value: "bad" } });
  await fireEvent.input(el(container, "#skill-command"), { target: { value: "run 'unclosed" } });
  await fireEvent.input(el(container, "#skill-input-schema"), { target: { value: '{"type": "object",' } });
  await fireEvent.input(el(container, "#skill-output-schema"), { target: { value: "[1, 2]" } });
  await fireEvent.click(el(container, "#skill-add"));
  expect(el(container, "#skill-input-schema-error").textContent).toContain("not valid JSON");
  expect(el(container, "#skill-output-schema-error").textContent).toContain("must be a JSON object");
  expect(el(container, "#skill-command-error").textContent).toContain("unterminated");
  expect(callsTo(calls, "add_skill")).toEqual([]);
});

test("the backend's refusal to add is shown", async () => {
  await mockCommands({
    my_skills: [],
    preview_skills: [],
    add_skill: () => {
      throw failure("a skill named echo exists");
    },
  });
  const { container } = render(SkillsPage);
  await screen.findByText("No skills yet. Add one below.");
  await fireEvent.input(el(container, "#skill-name"), { target: { value: "echo" } });
  await fireEvent.input(el(container, "#skill-command"), { target: { value: "cat" } });
  await fireEvent.input(el(container, "#skill-input-schema"), { target: { value: '{"type":"object"}' } });
  await fireEvent.input(el(container, "#skill-output-schema"), { target: { value: '{"type":"object"}' } });
  await fireEvent.click(el(container, "#skill-add"));
  expect((await screen.findByRole("alert")).textContent).toContain("a skill named echo exists");
});

test("loading errors are shown", async () => {
  await mockCommands({
    my_skills: () => {
      throw failure("agent not running");
    },
    preview_skills: [],
  });
  render(SkillsPage);
  expect((await screen.findByRole("alert")).textContent).toContain("agent not running");
});

test("a served task reloads the stats", async () => {
  let skills = [builtin];
  await mockCommands({ my_skills: () => skills, preview_skills: [] });
  const { container } = render(SkillsPage);
  await screen.findByText("Echoes the input");
  skills = [{ ...builtin, calls: 13 }];
  await emit("activity-event", {
    at_ms: Date.now(),
    event: { type: "task_served", peer: "bb", skill: "echo", task_id: "t1", status: { state: "completed" } },
  });
  await waitFor(() => expect(el(container, ".skill-stats").textContent).toContain("13 calls"));
});

test("a skill backed by an MCP server's tool takes the tool's description and schemas", async () => {
  const tool = {
    name: "shout",
    description: "Upper-cases a text.",
    input_schema: '{\n  "type": "object",\n  "properties": {"text": {"type": "string"}}\n}',
    output_schema: "{}",
  };
  const calls = await mockCommands({
    my_skills: [builtin],
    preview_skills: [],
    add_skill: null,
    mcp_tools: ({ command }: { command: string[] }) => {
      if (command[0] === "broken") throw failure("broken: No such file or directory", "skill.mcp_server");
      return [tool, { ...tool, name: "whisper" }];
    },
  });
  const { container } = render(SkillsPage);
  await screen.findByText("Echoes the input");
  await fireEvent.input(el(container, "#skill-command"), { target: { value: "broken" } });
  await fireEvent.click(el(container, "#skill-mcp-list"));
  expect((await screen.findByText(/Could not list its tools/)).textContent).toContain("No such file");

  await fireEvent.input(el(container, "#skill-command"), { target: { value: `python3 "/opt/mcp/tools.py"` } });
  await fireEvent.click(el(container, "#skill-mcp-list"));
  await waitFor(() => expect(callsTo(calls, "mcp_tools").at(-1)).toEqual({ command: ["python3", "/opt/mcp/tools.py"] }));
  const pick = await waitFor(() => el<HTMLSelectElement>(container, "#skill-mcp-tool"));
  pick.value = "shout";
  await fireEvent.change(pick);
  expect(el<HTMLInputElement>(container, "#skill-name").value).toBe("shout");
  expect(el<HTMLInputElement>(container, "#skill-description").value).toBe("Upper-cases a text.");
  expect(el(container, "#skill-mcp-picked").textContent).toContain("shout");
  await fireEvent.click(el(container, "#skill-add"));
  await waitFor(() =>
    expect(callsTo(calls, "add_skill")).toEqual([
      {
        skill: {
          name: "shout",
          description: "Upper-cases a text.",
          command: ["python3", "/opt/mcp/tools.py"],
          input_schema: tool.input_schema,
          output_schema: "{}",
          min_tier: 1,
          timeout_secs: 30,
          mcp_tool: "shout",
        },
      },
    ]),
  );
});
