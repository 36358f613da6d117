//! Token buckets: one per client host, and quotas per identity a write names.
//!
//! XMTP v3 has no client authentication. Requests are limited per client *host* (a remote IP
//! address, however many connections it opens; on loopback, where every local program shares
//! one address, per connection), and writes are also limited per identity they name: identity
//! updates per inbox, key packages per installation, welcomes per recipient installation. So
//! opening more connections, or spreading a flood over many of them, buys an attacker nothing.
//! Requests over a limit are answered `ResourceExhausted` and do nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tonic::{Request, Status};

/// Buckets idle this long are forgotten.
const IDLE: Duration = Duration::from_secs(120);
/// Buckets kept before idle ones are forgotten.
const MAX_BUCKETS: usize = 4_096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// `rate` per second on average and `burst` at once, per key. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub(crate) struct Buckets<K> {
    rate: f64,
    burst: f64,
    buckets: Arc<Mutex<HashMap<K, Bucket>>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        Self { rate, burst: f64::from(burst.max(1)), buckets: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Takes `n` tokens for `key` at `now`; `false` (and nothing taken) when there are fewer.
    pub(crate) fn take(&self, key: &K, n: f64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > MAX_BUCKETS {
            buckets.retain(|_, b| now.duration_since(b.updated) < IDLE);
        }
        let bucket =
            buckets.entry(key.clone()).or_insert(Bucket { tokens: self.burst, updated: now });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= n {
            bucket.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// Who a request comes from, as far as the node can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    /// A remote host: all its connections share one bucket.
    Host(IpAddr),
    /// A local program (loopback): its own connection.
    Local(SocketAddr),
}

impl Client {
    fn of(peer: SocketAddr) -> Self {
        if peer.ip().is_loopback() { Self::Local(peer) } else { Self::Host(peer.ip()) }
    }
}

/// The per-host request limit, as a tonic interceptor.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    rate: u32,
    buckets: Buckets<Client>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at once, per client host.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self { rate, buckets: Buckets::new(f64::from(rate), burst) }
    }

    /// Lets `request` through or rejects it.
    pub(crate) fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(peer) = request.remote_addr() else { return Ok(request) };
        if self.buckets.take(&Client::of(peer), 1.0, Instant::now()) {
            Ok(request)
        } else {
            Err(Status::resource_exhausted(format!(
                "rate limit exceeded: at most {} requests per second per client",
                self.rate
            )))
        }
    }
}

/// Write quotas per identity named in a request.
#[derive(Debug, Clone)]
pub(crate) struct IdentityQuotas {
    /// Identity updates per inbox id.
    pub(crate) identity_updates: Buckets<String>,
    /// Key package uploads per installation key.
    pub(crate) key_packages: Buckets<Vec<u8>>,
    /// Welcomes per recipient installation key.
    pub(crate) welcomes: Buckets<Vec<u8>>,
}

impl Default for IdentityQuotas {
    fn default() -> Self {
        Self {
            // A registration, a few installations, the odd revocation: bursts of 16, then one
            // every 10 s per inbox.
            identity_updates: Buckets::new(0.1, 16),
            // A fresh key package after each welcome: 30 at once, then one a second.
            key_packages: Buckets::new(1.0, 30),
            // Joining many groups at once is fine; a flood of welcomes to one installation is
            // not.
            welcomes: Buckets::new(10.0, 200),
        }
    }
}

/// The refusal for a write over its identity's quota.
pub(crate) fn over_quota(what: &str) -> Status {
    Status::resource_exhausted(format!("too many {what}; try again later"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_rate() {
        let limiter = RateLimiter::new(10, 3);
        let peer = Client::of("10.0.0.1:5000".parse().unwrap());
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.buckets.take(&peer, 1.0, t0)));
        assert!(!limiter.buckets.take(&peer, 1.0, t0), "the burst is spent");
        let t1 = t0 + Duration::from_millis(100);
        assert!(limiter.buckets.take(&peer, 1.0, t1), "one token per 100 ms");
        assert!(!limiter.buckets.take(&peer, 1.0, t1));
    }

    #[test]
    fn a_remote_host_has_one_bucket_however_many_connections() {
        let limiter = RateLimiter::new(1, 1);
        let t0 = Instant::now();
        let a = Client::of("10.0.0.1:5000".parse().unwrap());
        let b = Client::of("10.0.0.1:5001".parse().unwrap());
        let other = Client::of("10.0.0.2:5000".parse().unwrap());
        assert!(limiter.buckets.take(&a, 1.0, t0));
        assert!(!limiter.buckets.take(&b, 1.0, t0), "a second connection shares the bucket");
        assert!(limiter.buckets.take(&other, 1.0, t0));
        let local_a = Client::of("127.0.0.1:5000".parse().unwrap());
        let local_b = Client::of("127.0.0.1:5001".parse().unwrap());
        assert!(limiter.buckets.take(&local_a, 1.0, t0));
        assert!(limiter.buckets.take(&local_b, 1.0, t0), "local programs are told apart");
    }
}
