// Splits a command line into the program and its arguments, like a shell would for the simple
// cases: whitespace separates words, '…' quotes literally, "…" quotes with \" and \\ escapes,
// and outside quotes a backslash escapes whitespace, a quote or a backslash. Any other backslash
// is kept (so Windows paths such as C:\tools\run.exe work unquoted). No variables, globs or pipes:
// the command runs without a shell.

export class ArgvError extends Error {
  constructor(readonly quote: "'" | '"') {
    super(`unterminated ${quote === "'" ? "single" : "double"} quote`);
    this.name = "ArgvError";
  }
}

const SPACE = /\s/;

/** The words of `line`; throws `ArgvError` for an unterminated quote. */
export function splitArgv(line: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (SPACE.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) throw new ArgvError("'");
      word += line.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < line.length) {
        const d = line[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === "\\" && (line[i + 1] === '"' || line[i + 1] === "\\")) {
          word += line[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      if (!closed) throw new ArgvError('"');
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length && (SPACE.test(line[i + 1]) || `'"\\`.includes(line[i + 1]))) {
      word += line[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
