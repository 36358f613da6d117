//! The two server streams: `SubscribeGroupMessages` and `SubscribeWelcomeMessages`.
//!
//! Order of work, as the reference node does it:
//! 1. the response (and its headers) goes out at once — tonic-based clients wait for them;
//! 2. the live subscription is registered *before* the backlog is read, so a message committed
//!    in between is seen live if not in the backlog;
//! 3. the backlog after each filter's cursor is sent, ascending, a page at a time;
//! 4. live messages follow.
//!
//! A per-topic high-water mark drops anything at or below what was already sent, so the switch
//! from backlog to live has no duplicate, and the live queue is in id order, so it has no gap.
//! If the live queue overflowed (a slow client), the stream reads what it missed from the
//! database before going on.

use std::collections::HashMap;
use std::future::Future;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tonic::Status;
use xmtp_proto::mls_api::{GroupMessage, WelcomeMessage, group_message, welcome_message};

use crate::fanout::Subscription;

/// Backlog page size (the API's maximum).
pub(crate) const PAGE: u32 = 100;

/// Something delivered on a subscription: it has a node-assigned id and a topic.
pub(crate) trait Delivered: Clone + Send + Sync + 'static {
    /// The node-assigned sequence id.
    fn id(&self) -> u64;
    /// The group id or installation key it was sent to.
    fn topic(&self) -> &[u8];
}

impl Delivered for GroupMessage {
    fn id(&self) -> u64 {
        match &self.version {
            Some(group_message::Version::V1(v1)) => v1.id,
            None => 0,
        }
    }
    fn topic(&self) -> &[u8] {
        match &self.version {
            Some(group_message::Version::V1(v1)) => &v1.group_id,
            None => &[],
        }
    }
}

impl Delivered for WelcomeMessage {
    fn id(&self) -> u64 {
        match &self.version {
            Some(welcome_message::Version::V1(v1)) => v1.id,
            Some(welcome_message::Version::WelcomePointer(p)) => p.id,
            None => 0,
        }
    }
    fn topic(&self) -> &[u8] {
        match &self.version {
            Some(welcome_message::Version::V1(v1)) => &v1.installation_key,
            Some(welcome_message::Version::WelcomePointer(p)) => &p.installation_key,
            None => &[],
        }
    }
}

/// Feeds one subscription until the client goes away or the node stops.
///
/// `filters` are `(topic, cursor)` pairs; `subscription` must already be registered for exactly
/// those topics; `backlog(topic, cursor)` returns the next page (ascending, at most [`PAGE`])
/// after `cursor`, and whether it was cut short by size (more follow).
pub(crate) async fn run<M, F, Fut>(
    filters: Vec<(Bytes, u64)>,
    mut subscription: Subscription<M>,
    backlog: F,
    out: mpsc::Sender<Result<M, Status>>,
    mut stopping: watch::Receiver<bool>,
) where
    M: Delivered,
    F: Fn(Bytes, u64) -> Fut,
    Fut: Future<Output = Result<(Vec<M>, bool), Status>>,
{
    let mut sent: HashMap<Bytes, u64> = HashMap::with_capacity(filters.len());
    for (topic, cursor) in filters {
        let mark = sent.entry(topic).or_insert(cursor);
        *mark = (*mark).min(cursor);
    }
    let mut sink = Sink { out: &out, stopping: &mut stopping };

    if !catch_up(&mut sent, &backlog, &mut sink).await {
        return;
    }
    loop {
        let message = tokio::select! {
            biased;
            _ = sink.stopping.wait_for(|s| *s) => {
                let _ = out.try_send(Err(Status::unavailable("the node is shutting down")));
                return;
            }
            () = out.closed() => return,
            message = subscription.rx.recv() => message,
        };
        let Some(message) = message else { return };
        if subscription.take_lagged() && !catch_up(&mut sent, &backlog, &mut sink).await {
            return;
        }
        if !sink.forward(&mut sent, message).await {
            return;
        }
    }
}

struct Sink<'a, M> {
    out: &'a mpsc::Sender<Result<M, Status>>,
    stopping: &'a mut watch::Receiver<bool>,
}

impl<M: Delivered> Sink<'_, M> {
    /// Sends `message` unless its topic's mark is already at or past it. False when the stream
    /// should end.
    async fn forward(&mut self, sent: &mut HashMap<Bytes, u64>, message: M) -> bool {
        let Some(mark) = sent.get_mut(message.topic()) else { return true };
        if message.id() <= *mark {
            return true;
        }
        *mark = message.id();
        self.send(Ok(message)).await
    }

    async fn send(&mut self, item: Result<M, Status>) -> bool {
        tokio::select! {
            biased;
            _ = self.stopping.wait_for(|s| *s) => false,
            sent = self.out.send(item) => sent.is_ok(),
        }
    }
}

/// Sends everything after each topic's mark. False when the stream should end.
async fn catch_up<M, F, Fut>(
    sent: &mut HashMap<Bytes, u64>,
    backlog: &F,
    sink: &mut Sink<'_, M>,
) -> bool
where
    M: Delivered,
    F: Fn(Bytes, u64) -> Fut,
    Fut: Future<Output = Result<(Vec<M>, bool), Status>>,
{
    let topics: Vec<Bytes> = sent.keys().cloned().collect();
    for topic in topics {
        loop {
            let cursor = sent.get(&topic).copied().unwrap_or(0);
            let (page, cut) = match backlog(topic.clone(), cursor).await {
                Ok(page) => page,
                Err(status) => {
                    let _ = sink.send(Err(status)).await;
                    return false;
                }
            };
            let full = cut || page.len() >= PAGE as usize;
            for message in page {
                if !sink.forward(sent, message).await {
                    return false;
                }
            }
            if !full {
                break;
            }
        }
    }
    true
}
