//! Desktop notifications that ask the owner something (a trust upgrade, a plan) with Approve
//! and Deny actions that take effect without opening the window.
//!
//! [`Notifier`] is injected so the backend is testable without a notification server; the app
//! uses [`Desktop`] (notify-rust over D-Bus on Linux).

use std::sync::Arc;

/// What the owner answered.
pub type Answer = Box<dyn FnOnce(bool) + Send>;

/// Shows a question with Approve/Deny actions and reports the owner's choice (a dismissed
/// notification reports nothing: the request stays pending in the app).
pub trait Notifier: Send + Sync {
    /// Asks `summary`/`body`; `answer` gets `true` for Approve, `false` for Deny.
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
        // Waiting for the click blocks, so each question gets its own thread.
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
                            if let (Some(choice), Some(answer)) = (choice, answer.take()) {
                                answer(choice);
                            }
                        });
                    }
                    #[cfg(not(all(unix, not(target_os = "macos"))))]
                    Ok(_) => drop(answer),
                    Err(e) => tracing::warn!("cannot show a notification: {e}"),
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
    fn ask(&self, _summary: &str, _body: &str, _answer: Answer) {}
}

/// A shared notifier.
pub type SharedNotifier = Arc<dyn Notifier>;
