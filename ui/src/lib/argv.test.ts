import { expect, test } from "vitest";
import { ArgvError, splitArgv } from "./argv";

test("splits on any whitespace", () => {
  expect(splitArgv("python3  summarize.py\t--max 3\n")).toEqual(["python3", "summarize.py", "--max", "3"]);
  expect(splitArgv("")).toEqual([]);
  expect(splitArgv("   ")).toEqual([]);
});

test("single quotes are literal", () => {
  expect(splitArgv(`echo 'a  b' 'it"s'`)).toEqual(["echo", "a  b", 'it"s']);
  expect(splitArgv(`jq '.text | length'`)).toEqual(["jq", ".text | length"]);
});

test("double quotes allow \\\" and \\\\ escapes and keep other backslashes", () => {
  expect(splitArgv(`say "hello \\"world\\"" "a\\\\b"`)).toEqual(["say", 'hello "world"', "a\\b"]);
  expect(splitArgv(`"C:\\Program Files\\Tool\\tool.exe" --x`)).toEqual(["C:\\Program Files\\Tool\\tool.exe", "--x"]);
});

test("quotes join with adjacent text and can be empty", () => {
  expect(splitArgv(`--name="Ada Lovelace" x'y'z`)).toEqual(["--name=Ada Lovelace", "xyz"]);
  expect(splitArgv(`cmd "" ''`)).toEqual(["cmd", "", ""]);
});

test("a backslash escapes a space or quote outside quotes; other backslashes stay", () => {
  expect(splitArgv(`my\\ file.txt \\"q\\"`)).toEqual(["my file.txt", '"q"']);
  expect(splitArgv(`C:\\tools\\run.exe`)).toEqual(["C:\\tools\\run.exe"]);
  expect(splitArgv(`trailing\\`)).toEqual(["trailing\\"]);
});

test("an unterminated quote is an error", () => {
  expect(() => splitArgv(`echo 'oops`)).toThrow(ArgvError);
  expect(() => splitArgv(`echo "oops`)).toThrow(/double quote/);
  try {
    splitArgv(`x 'y`);
  } catch (e) {
    expect((e as ArgvError).quote).toBe("'");
  }
});
