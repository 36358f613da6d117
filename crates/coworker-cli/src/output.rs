//! How commands talk to people and programs: human text (colours only on a terminal), or with
//! `--json` exactly one JSON object per command on stdout (one per line for streams); errors
//! as `{"error":{"code","message","hint"}}` with a meaningful exit code; progress on stderr.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use coworker_host::{ErrorKind, HostError};
use coworker_runtime::RuntimeError;
use coworker_runtime::protocol::skill::FailureCode;
use serde_json::{Value, json};

/// Exit codes (documented in the README).
pub(crate) mod exit {
    /// Something failed that fits no other class.
    pub(crate) const FAILURE: u8 = 1;
    /// Bad command-line input: invalid JSON, a malformed invite, a schema violation.
    pub(crate) const INVALID_INPUT: u8 = 3;
    /// No identity yet, an unknown peer, task or group.
    pub(crate) const NOT_FOUND: u8 = 4;
    /// A peer refused or the call failed on its side (trust, unknown skill, skill error).
    pub(crate) const REFUSED: u8 = 5;
    /// The network or the peer could not be reached in time.
    pub(crate) const UNREACHABLE: u8 = 6;
    /// The identity is in use by another coworker process.
    pub(crate) const BUSY: u8 = 7;
}

/// A command's failure, for people (message + hint) and programs (code + exit status).
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) exit: u8,
}

impl CliError {
    pub(crate) fn new(code: &str, exit: u8, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into(), hint: None, exit }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid_input", exit::INVALID_INPUT, message)
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::new("failed", exit::FAILURE, message)
    }
}

impl From<RuntimeError> for CliError {
    fn from(e: RuntimeError) -> Self {
        HostError::from(e).into()
    }
}

/// Exit codes and hints from the error's kind (and a peer's failure code), never from its text.
impl From<HostError> for CliError {
    fn from(e: HostError) -> Self {
        let exit = match e.kind {
            ErrorKind::InvalidInput => exit::INVALID_INPUT,
            ErrorKind::NotFound => exit::NOT_FOUND,
            ErrorKind::Refused => exit::REFUSED,
            ErrorKind::Timeout | ErrorKind::Unreachable => exit::UNREACHABLE,
            ErrorKind::Busy => exit::BUSY,
            ErrorKind::Protocol | ErrorKind::Failed => exit::FAILURE,
        };
        let hint = match (e.kind, e.failure()) {
            (ErrorKind::Timeout, _) => {
                Some("is the peer running (`coworker serve`) on the same network?")
            }
            (ErrorKind::Refused, Some(FailureCode::TrustTierTooLow)) => {
                Some("ask the peer for a higher tier: coworker connect CODE --ask known")
            }
            (ErrorKind::Unreachable, _) => {
                Some("is the node running? `coworker node`, or pick one with --network")
            }
            (ErrorKind::Busy, _) => Some(
                "its commands reach the running agent when it serves its control socket; otherwise stop it or use another --data-dir",
            ),
            (ErrorKind::InvalidInput, _) if e.code.starts_with("invite.") => {
                Some("ask the peer for a fresh code: `coworker invite`")
            }
            _ => None,
        };
        Self { code: e.code, message: e.message, hint: hint.map(str::to_owned), exit }
    }
}

/// Where output goes and how it looks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    color: bool,
}

impl Out {
    pub(crate) fn new(json: bool, quiet: bool) -> Self {
        let color =
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { json, quiet, color }
    }

    /// A command's result: the JSON object, or the human text (with no control or escape
    /// sequence but our own colours: it may quote what peers chose). A reader that went away
    /// (`coworker serve --json | head -1`) is not an error: an agent goes on serving.
    pub(crate) fn result(&self, value: &Value, human: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(stdout, "{value}")
        } else if !human.is_empty() {
            writeln!(stdout, "{}", terminal_safe(human))
        } else {
            Ok(())
        };
        let _ = stdout.flush();
    }

    /// One line of a stream (JSON lines with `--json`).
    pub(crate) fn line(&self, value: &Value, human: &str) {
        if self.json || !self.quiet {
            self.result(value, human);
        }
    }

    /// Progress on stderr, for people only.
    #[allow(clippy::print_stderr)]
    pub(crate) fn progress(&self, text: &str) {
        if !self.json && !self.quiet && std::io::stderr().is_terminal() {
            eprintln!("{}", terminal_safe(&self.dim(text)));
        }
    }

    /// A spinner with elapsed time on stderr while something waits (terminals only); it
    /// clears its line when dropped.
    pub(crate) fn spinner(&self, text: &str) -> Spinner {
        if self.json || self.quiet || !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let text = text.to_owned();
        let started = std::time::Instant::now();
        Spinner(Some(tokio::spawn(async move {
            const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            for frame in FRAMES.iter().cycle() {
                let mut err = std::io::stderr();
                let _ = write!(err, "\r{frame} {text} {:.1}s ", started.elapsed().as_secs_f64());
                let _ = err.flush();
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })))
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }

    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// Reports a failure and gives the exit code.
    #[allow(clippy::print_stderr)]
    pub(crate) fn fail(&self, error: &CliError) -> ExitCode {
        if self.json {
            let mut body = json!({"code": error.code, "message": error.message});
            if let Some(hint) = &error.hint {
                body["hint"] = json!(hint);
            }
            let _ = writeln!(std::io::stdout(), "{}", json!({"error": body}));
        } else {
            eprintln!("coworker: {}", terminal_safe(&error.message));
            if let Some(hint) = &error.hint {
                eprintln!("  hint: {}", terminal_safe(hint));
            }
        }
        ExitCode::from(error.exit)
    }
}

/// The colours [`Out`] paints with: the only escape sequences human output keeps.
const OUR_COLOURS: [&str; 4] = ["\x1b[1m", "\x1b[32m", "\x1b[2m", "\x1b[0m"];

/// Text for a terminal: control characters, escape sequences (cursor moves, screen clears,
/// window titles, hyperlinks…) and bidirectional overrides removed, except line breaks, tabs
/// and our own colours. Peer-chosen text (names, chat, errors) cannot rewrite the screen.
pub(crate) fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&coworker_runtime::protocol::text::sanitize(&rest[..at]));
        rest = &rest[at..];
        match OUR_COLOURS.iter().find(|c| rest.starts_with(**c)) {
            Some(colour) => {
                out.push_str(colour);
                rest = &rest[colour.len()..];
            }
            None => rest = &rest[1..],
        }
    }
    out.push_str(&coworker_runtime::protocol::text::sanitize(rest));
    out
}

/// See [`Out::spinner`].
pub(crate) struct Spinner(Option<tokio::task::JoinHandle<()>>);

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_cannot_drive_the_terminal() {
        let out = Out { json: false, quiet: false, color: true };
        let evil =
            "mallory\x1b[2J\x1b[H\x1b]0;title\x07\x1b]8;;http://x\x07link\r\u{202e}gnp.exe\x1b[8m";
        let line = format!("{} says {evil}", out.bold("peer"));
        let safe = terminal_safe(&line);
        assert!(safe.starts_with("\x1b[1mpeer\x1b[0m says mallory"), "{safe:?}");
        let escapes = safe.matches('\x1b').count();
        assert_eq!(escapes, 2, "only our bold and reset survive: {safe:?}");
        assert!(!safe.contains('\r') && !safe.contains('\x07') && !safe.contains('\u{202e}'));
        assert_eq!(terminal_safe("two\nlines"), "two\nlines");
    }
}
