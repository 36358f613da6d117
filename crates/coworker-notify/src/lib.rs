//! Desktop notifications that ask the owner something (a trust upgrade, a plan) and report
//! the answer, the same way on Linux, macOS and Windows.
//!
//! - [`Notifier`]: what the app's backend asks through (injected, so tests need no
//!   notification server); [`Silent`] shows nothing.
//! - [`Desktop`]: notify-rust on every platform: D-Bus notification actions on Linux, toast
//!   buttons on Windows, the notification's action menu on macOS. Clicking the notification
//!   itself answers [`Choice::Open`] (the app opens the question), which is also how a platform
//!   without action buttons is answered.
//! - [`choice`]: a platform's response turned into the owner's [`Choice`] (the one mapping every
//!   platform goes through, unit-tested here).

use std::sync::Arc;

use notify_rust::NotificationResponse;

/// What the owner did with a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Approve, from the notification.
    Approve,
    /// Deny, from the notification.
    Deny,
    /// Clicked the notification: show the question in the app (it stays open there).
    Open,
    /// Closed it, or it expired: the question stays open in the app.
    Dismissed,
}

/// Receives the owner's choice, once.
pub type Answer = Box<dyn FnOnce(Choice) + Send>;

/// Shows a question with Approve/Deny actions and reports the owner's choice.
pub trait Notifier: Send + Sync {
    /// Asks `summary`/`body`; `answer` is called once.
    fn ask(&self, summary: &str, body: &str, answer: Answer);
}

/// A shared notifier.
pub type SharedNotifier = Arc<dyn Notifier>;

/// The action ids (and the labels shown).
pub const APPROVE: (&str, &str) = ("approve", "Approve");
/// See [`APPROVE`].
pub const DENY: (&str, &str) = ("deny", "Deny");

/// The actions in the order a platform shows them. On macOS two actions sit in a menu whose
/// button, clicked without opening the menu, picks the first one: there it is Deny, so a hasty
/// click never grants anything.
pub fn actions() -> [(&'static str, &'static str); 2] {
    actions_for(cfg!(target_os = "macos"))
}

fn actions_for(macos: bool) -> [(&'static str, &'static str); 2] {
    if macos { [DENY, APPROVE] } else { [APPROVE, DENY] }
}

/// The owner's choice from a notification's response, on any platform.
pub fn choice(response: &NotificationResponse) -> Choice {
    match response {
        NotificationResponse::Action(key) if key == APPROVE.0 => Choice::Approve,
        NotificationResponse::Action(key) if key == DENY.0 => Choice::Deny,
        NotificationResponse::Default => Choice::Open,
        // Another action (none is offered), a reply, or closed.
        _ => Choice::Dismissed,
    }
}

/// Notifications through the platform's notification service.
#[derive(Debug, Default, Clone, Copy)]
pub struct Desktop;

impl Notifier for Desktop {
    fn ask(&self, summary: &str, body: &str, answer: Answer) {
        let mut notification = notify_rust::Notification::new();
        notification.appname("CoWorker").summary(summary).body(body);
        for (id, label) in actions() {
            notification.action(id, label);
        }
        notification.timeout(notify_rust::Timeout::Never);
        // Waiting for the answer blocks, so each open question has a thread (the backend keeps
        // at most a few open). On macOS the answer arrives through the app's main run loop,
        // which Tauri runs.
        let spawned = std::thread::Builder::new().name("notification".into()).spawn(move || {
            let handle = match notification.show() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!("cannot show a notification: {e}");
                    return answer(Choice::Dismissed);
                }
            };
            let mut answer = Some(answer);
            let waited = handle.wait_for_response(|response: &NotificationResponse| {
                if let Some(answer) = answer.take() {
                    answer(choice(response));
                }
            });
            if let Err(e) = waited {
                tracing::warn!("no answer from the notification: {e}");
            }
            if let Some(answer) = answer.take() {
                answer(Choice::Dismissed);
            }
        });
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
        answer(Choice::Dismissed);
    }
}

#[cfg(test)]
mod tests {
    use notify_rust::{CloseReason, NotificationResponse};

    use super::{APPROVE, Choice, DENY, actions, actions_for, choice};

    #[test]
    fn buttons_decide_and_a_click_on_the_notification_opens_the_app() {
        let action = |key: &str| NotificationResponse::Action(key.to_owned());
        assert_eq!(choice(&action(APPROVE.0)), Choice::Approve);
        assert_eq!(choice(&action(DENY.0)), Choice::Deny);
        assert_eq!(choice(&NotificationResponse::Default), Choice::Open);
    }

    #[test]
    fn anything_else_leaves_the_question_open() {
        for response in [
            NotificationResponse::Closed(CloseReason::Dismissed),
            NotificationResponse::Closed(CloseReason::Expired),
            NotificationResponse::Action("Approve".to_owned()), // a label is not an id
            NotificationResponse::Action("__closed".to_owned()),
            NotificationResponse::Reply("yes".to_owned()),
        ] {
            assert_eq!(choice(&response), Choice::Dismissed, "{response:?}");
        }
    }

    #[test]
    fn both_actions_are_offered_and_on_macos_the_menu_button_denies() {
        assert_eq!(actions_for(true), [DENY, APPROVE], "macOS: the menu's button picks Deny");
        assert_eq!(actions_for(false), [APPROVE, DENY]);
        assert_eq!(actions(), actions_for(cfg!(target_os = "macos")));
    }
}
