//! Desktop notifications that ask the owner something (a trust upgrade, a plan) with Approve
//! and Deny actions that take effect without opening the window.
//!
//! [`Notifier`] is injected so the backend is testable without a notification server; the app
//! uses [`Desktop`] (notify-rust over D-Bus on Linux).

use std::sync::Arc;

/// What the owner answered: `Some(true)` Approve, `Some(false)` Deny, `None` when the
/// notification closed without an answer (the question stays open in the app).
pub type Answer = Box<dyn FnOnce(Option<bool>) + Send>;

/// Shows a question with Approve/Deny actions and reports the owner's choice.
pub trait Notifier: Send + Sync {
    /// Asks `summary`/`body`; `answer` is called once, with the choice or `None`.
    fn ask(&self, summary: &str, body: &str, answer: Answer);
}

/// Notifications through the desktop's notification server.
#[derive(Debug, Default, Clone, Copy)]
pub struct Desktop;

/// The action ids (and the labels shown).
pub const APPROVE: (&str, &str) = ("approve", "Approve");
/// See [`APPROVE`].
pub const DENY: (&str, &str) = ("deny", "Deny");

impl Notifier for Desktop {
    fn ask(&self, summary: &str, body: &str, answer: Answer) {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("CoWorker")
            .summary(summary)
            .body(body)
            .action(APPROVE.0, APPROVE.1)
            .action(DENY.0, DENY.1)
            .timeout(notify_rust::Timeout::Never);
        // Waiting for the click blocks, so each open question has a thread (the backend keeps
        // at most a few open).
        let spawned =
            std::thread::Builder::new().name("notification".into()).spawn(
                move || match notification.show() {
                    #[cfg(all(unix, not(target_os = "macos")))]
                    Ok(handle) => {
                        let mut answer = Some(answer);
                        handle.wait_for_action(|action| {
                            let choice = match action {
                                a if a == APPROVE.0 => Some(true),
                                a if a == DENY.0 => Some(false),
                                _ => None,
                            };
                            if let Some(answer) = answer.take() {
                                answer(choice);
                            }
                        });
                        if let Some(answer) = answer.take() {
                            answer(None);
                        }
                    }
                    #[cfg(not(all(unix, not(target_os = "macos"))))]
                    Ok(_) => answer(None),
                    Err(e) => {
                        tracing::warn!("cannot show a notification: {e}");
                        answer(None);
                    }
                },
            );
        if let Err(e) = spawned {
            tracing::warn!("cannot start the notification thread: {e}");
        }
    }
}

/// A notifier that shows nothing (tests, or when notifications are switched off).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Notifier for Silent {
    fn ask(&self, _summary: &str, _body: &str, answer: Answer) {
        answer(None);
    }
}

/// A shared notifier.
pub type SharedNotifier = Arc<dyn Notifier>;
