//! Skill declarations every front end shares: a skill backed by an external command (input JSON
//! on stdin, output JSON on stdout) or by an HTTP endpoint (a JSON POST). The agent file and the
//! app's "Add a skill" both declare skills this way; skills a control client provides are the
//! third kind ([`crate::control`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use coworker_runtime::handler::SECRET_VARIABLES;
use coworker_runtime::{Command, Handler, HttpEndpoint};

use crate::error::HostError;

/// A skill run by an external command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSkill {
    /// The program and its arguments. A relative program with a `/` is relative to the
    /// declaring file's directory.
    pub argv: Vec<String>,
    /// Variables the command gets, with their values (it gets `PATH` and nothing else besides).
    pub env: Vec<(String, String)>,
    /// Variables the command gets from the agent's own environment, by name.
    pub pass_env: Vec<String>,
    /// Killed after this long (default: the runtime's).
    pub timeout: Option<Duration>,
    /// Output larger than this is refused (default: the runtime's).
    pub max_output_bytes: Option<usize>,
}

impl CommandSkill {
    /// A command with its arguments and nothing else set.
    pub fn new(argv: Vec<String>) -> Self {
        Self { argv, ..Self::default() }
    }

    /// The handler; `base` is the declaring file's directory. Refused: an empty command, and
    /// any secret of the agent (the key-store password) named for the command's environment.
    pub fn handler(self, base: Option<&Path>) -> Result<Handler, HostError> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| HostError::invalid("skill.command", "the command is empty"))?;
        let program = match base {
            Some(base) if program.contains('/') && !program.starts_with('/') => base.join(program),
            _ => PathBuf::from(program),
        };
        for name in self.env.iter().map(|(n, _)| n).chain(&self.pass_env) {
            if SECRET_VARIABLES.contains(&name.as_str()) {
                return Err(HostError::invalid(
                    "skill.secret",
                    format!("{name} is never passed to a skill"),
                ));
            }
        }
        let mut command = Command::new(program, &[]);
        command.args = args.to_vec();
        command.env = self.env;
        for name in self.pass_env {
            if let Ok(value) = std::env::var(&name) {
                command.env.push((name, value));
            }
        }
        if let Some(timeout) = self.timeout {
            command.timeout = timeout;
        }
        if let Some(limit) = self.max_output_bytes {
            command.max_output_bytes = limit;
        }
        Ok(Handler::Command(command))
    }
}

/// A skill run by an HTTP endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSkill {
    /// Where the input is POSTed.
    pub url: String,
    /// Headers sent with it (an API key, say).
    pub headers: Vec<(String, String)>,
    /// The whole exchange is abandoned after this long (default: the runtime's).
    pub timeout: Option<Duration>,
    /// A larger answer is refused (default: the runtime's).
    pub max_output_bytes: Option<usize>,
}

impl HttpSkill {
    /// The handler.
    pub fn handler(self) -> Handler {
        let mut endpoint = HttpEndpoint::new(self.url);
        endpoint.headers = self.headers;
        if let Some(timeout) = self.timeout {
            endpoint.timeout = timeout;
        }
        if let Some(limit) = self.max_output_bytes {
            endpoint.max_output_bytes = limit;
        }
        Handler::Http(endpoint)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commands_resolve_relative_programs_and_never_get_secrets() {
        let skill = CommandSkill::new(vec!["./upper.py".into(), "--fast".into()]);
        let Handler::Command(command) = skill.handler(Some(Path::new("/etc/bots"))).unwrap() else {
            panic!("not a command")
        };
        assert_eq!(command.program, PathBuf::from("/etc/bots/./upper.py"));
        assert_eq!(command.args, ["--fast"]);
        let bare = CommandSkill::new(vec!["upper".into()]).handler(Some(Path::new("/x"))).unwrap();
        let Handler::Command(bare) = bare else { panic!("not a command") };
        assert_eq!(bare.program, PathBuf::from("upper"), "found on PATH");

        let empty = CommandSkill::new(Vec::new()).handler(None).unwrap_err();
        assert_eq!(empty.code, "skill.command");
        for secret in SECRET_VARIABLES {
            let mut leaky = CommandSkill::new(vec!["env".into()]);
            leaky.pass_env = vec![(*secret).to_owned()];
            assert_eq!(leaky.clone().handler(None).unwrap_err().code, "skill.secret");
            leaky.pass_env.clear();
            leaky.env = vec![((*secret).to_owned(), "x".into())];
            assert_eq!(leaky.handler(None).unwrap_err().code, "skill.secret");
        }
    }
}
