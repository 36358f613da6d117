//! Live delivery: topic → subscribers.
//!
//! A topic is a group id (group messages) or an installation key (welcomes). Each subscriber has
//! a bounded channel; the store publishes every newly committed message to the subscribers of
//! its topic with `try_send`. A full channel never blocks the publisher: the message is dropped
//! for that subscriber and the subscriber is marked *lagged*, and it then reads what it missed
//! from the database (see `subscribe`), so a slow client costs nothing but itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc;

/// How many live messages a subscriber may have queued before it is marked lagged.
pub(crate) const SUBSCRIBER_QUEUE: usize = 1_024;

struct Subscriber<M> {
    id: u64,
    tx: mpsc::Sender<M>,
    lagged: AtomicBool,
}

/// The subscribers of every topic.
pub(crate) struct Fanout<M> {
    topics: Mutex<HashMap<Bytes, Vec<Arc<Subscriber<M>>>>>,
    next_id: AtomicU64,
}

impl<M> Default for Fanout<M> {
    fn default() -> Self {
        Self { topics: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1) }
    }
}

/// A live subscription; unsubscribes when dropped.
pub(crate) struct Subscription<M> {
    fanout: Arc<Fanout<M>>,
    me: Arc<Subscriber<M>>,
    topics: Vec<Bytes>,
    /// Live messages, in publish (= id) order.
    pub(crate) rx: mpsc::Receiver<M>,
}

impl<M> Subscription<M> {
    /// Whether messages were dropped since the last call (and clears the mark).
    pub(crate) fn take_lagged(&self) -> bool {
        self.me.lagged.swap(false, Ordering::AcqRel)
    }
}

impl<M> Drop for Subscription<M> {
    fn drop(&mut self) {
        let mut topics = self.fanout.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in &self.topics {
            if let Some(subscribers) = topics.get_mut(topic) {
                subscribers.retain(|s| s.id != self.me.id);
                if subscribers.is_empty() {
                    topics.remove(topic);
                }
            }
        }
    }
}

impl<M: Clone> Fanout<M> {
    /// Subscribes to `topics`.
    pub(crate) fn subscribe(self: &Arc<Self>, topics: Vec<Bytes>) -> Subscription<M> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let me = Arc::new(Subscriber {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
            lagged: AtomicBool::new(false),
        });
        let mut map = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in &topics {
            map.entry(topic.clone()).or_default().push(me.clone());
        }
        drop(map);
        Subscription { fanout: self.clone(), me, topics, rx }
    }

    /// Delivers `message` to the subscribers of `topic`, never waiting.
    pub(crate) fn publish(&self, topic: &[u8], message: &M) {
        let map = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(subscribers) = map.get(topic) else { return };
        for subscriber in subscribers {
            if let Err(mpsc::error::TrySendError::Full(_)) = subscriber.tx.try_send(message.clone())
            {
                subscriber.lagged.store(true, Ordering::Release);
            }
        }
    }

    /// How many topics have at least one subscriber.
    #[cfg(test)]
    pub(crate) fn topic_count(&self) -> usize {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_only_to_subscribers_of_the_topic() {
        let fanout = Arc::new(Fanout::<u32>::default());
        let mut a = fanout.subscribe(vec![Bytes::from_static(b"a")]);
        let mut ab = fanout.subscribe(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        fanout.publish(b"a", &1);
        fanout.publish(b"b", &2);
        fanout.publish(b"c", &3);
        assert_eq!(a.rx.recv().await, Some(1));
        assert_eq!(ab.rx.recv().await, Some(1));
        assert_eq!(ab.rx.recv().await, Some(2));
        assert!(a.rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_subscriber_lagged_instead_of_blocking() {
        let fanout = Arc::new(Fanout::<usize>::default());
        let sub = fanout.subscribe(vec![Bytes::from_static(b"t")]);
        for i in 0..SUBSCRIBER_QUEUE + 5 {
            fanout.publish(b"t", &i);
        }
        assert!(sub.take_lagged());
        assert!(!sub.take_lagged(), "the mark is cleared once taken");
    }

    #[test]
    fn dropping_a_subscription_unsubscribes() {
        let fanout = Arc::new(Fanout::<u8>::default());
        let sub = fanout.subscribe(vec![Bytes::from_static(b"x"), Bytes::from_static(b"y")]);
        assert_eq!(fanout.topic_count(), 2);
        drop(sub);
        assert_eq!(fanout.topic_count(), 0);
    }
}
