//! What the fault tests share: clocks that are wrong on purpose.

use std::time::Duration;

use xmtp_client::{Clock, SystemClock};

/// This machine's clock, off by `skew` (ahead when positive): a peer whose clock is wrong.
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    /// Nanoseconds added to the system clock (negative: behind).
    pub skew_ns: i128,
}

impl SkewedClock {
    /// Ahead of the node by `by`.
    pub fn ahead(by: Duration) -> Self {
        Self { skew_ns: i128::try_from(by.as_nanos()).unwrap_or(i128::MAX) }
    }

    /// Behind the node by `by`.
    pub fn behind(by: Duration) -> Self {
        Self { skew_ns: -i128::try_from(by.as_nanos()).unwrap_or(i128::MAX) }
    }
}

impl Clock for SkewedClock {
    fn now_ns(&self) -> u64 {
        let now = i128::from(SystemClock.now_ns()) + self.skew_ns;
        u64::try_from(now.max(0)).unwrap_or(u64::MAX)
    }
}

/// An agent on a runtime of its own, so the test can crash it: its tasks stop where they are,
/// nothing is flushed, nothing is answered (as when its process is killed).
pub struct Crashable {
    runtime: tokio::runtime::Runtime,
    /// The agent.
    pub agent: coworker_runtime::Agent,
    serving: coworker_runtime::Serving,
}

impl Crashable {
    /// Opens `name` with `keys` on the node at `url` (state in `dir`), runs `setup`, serves.
    ///
    /// # Panics
    /// When the agent cannot open or serve.
    pub async fn start(
        url: &str,
        dir: &std::path::Path,
        name: &str,
        keys: &std::sync::Arc<dyn xmtp_client::KeyStore>,
        setup: fn(&coworker_runtime::Agent),
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let (url, dir, name, keys) =
            (url.to_owned(), dir.to_owned(), name.to_owned(), std::sync::Arc::clone(keys));
        let (agent, serving) = runtime
            .spawn(async move {
                let agent = coworker_testkit::open(&url, &dir, &name, keys, |_| {}).await;
                setup(&agent);
                let serving = agent.serve().await.expect("it serves");
                (agent, serving)
            })
            .await
            .expect("the agent starts");
        Self { runtime, agent, serving }
    }

    /// Runs `work` on the agent's runtime (it dies with the crash).
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(work);
    }

    /// Kills it: no shutdown, no flush.
    pub fn crash(self) {
        std::mem::forget(self.serving);
        drop(self.agent);
        self.runtime.shutdown_background();
    }
}
