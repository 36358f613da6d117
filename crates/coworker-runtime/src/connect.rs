//! Meeting peers, both sides: invites, accepting one, naming peers, ping, discovery, and
//! trust requests (asking for a tier; answering one, with the owner's approval).

use std::time::{Duration, Instant};

use coworker_protocol::envelope::{self, Envelope, kind};
use coworker_protocol::trust::{self, Tier, TrustRequestOutcome};
use coworker_protocol::{Decision, Invite, SkillCard};
use xmtp_client::ConversationId;

use crate::agent::{Agent, AgentEvent};
use crate::call::refusal;
use crate::error::{CallError, Result, RuntimeError};
use crate::store::{NameSource, Peer};

/// Whether two network names (`dev`, `production`, node URLs or `gateway:<url>`) are the same
/// network: `localhost` and `127.0.0.1`, case and a trailing slash do not matter, and a node
/// reached as a d14n gateway is the node at that URL (ours serves both APIs on one URL).
fn same_network(a: &str, b: &str) -> bool {
    let key = |n: &str| {
        let n = n.trim_end_matches('/').to_ascii_lowercase();
        let n = n.strip_prefix("gateway:").unwrap_or(&n).to_owned();
        n.replace("://localhost", "://127.0.0.1")
    };
    key(a) == key(b)
}

impl Agent {
    /// An invite code for this agent: name, inbox id and network, signed by the installation
    /// key.
    pub fn invite(&self, expires_at: Option<u64>) -> Result<String> {
        let client = &self.inner.client;
        Ok(Invite::issue(
            &self.inner.config.name,
            client.inbox_id(),
            expires_at,
            Some(&client.network().to_string()),
            client.installation_id(),
            |b| client.sign(b),
        )?)
    }

    /// Connects from an invite code: checks it (signature, expiry, that the signing key is an
    /// installation of that inbox), opens the DM and discovers what the peer shows us.
    pub async fn connect(&self, code: &str) -> Result<Peer> {
        let peer = self.add_peer(code).await?;
        self.discover(&peer.inbox_id).await?;
        self.peer(&peer.inbox_id).await
    }

    /// The first half of [`Agent::connect`]: checks the invite, remembers the peer and opens
    /// the DM, without waiting for the peer (which may be offline).
    pub async fn add_peer(&self, code: &str) -> Result<Peer> {
        let invite = Invite::parse(code, self.now_ms() / 1000)?;
        self.check_invite(&invite).await?;
        self.inner
            .store
            .save_peer_info(
                &invite.inbox_id,
                Some((&invite.name, NameSource::Owner)),
                None,
                self.now_ms(),
            )
            .await?;
        self.dm(&invite.inbox_id).await?;
        self.peer(&invite.inbox_id).await
    }

    /// A known peer.
    pub async fn peer(&self, inbox_id: &str) -> Result<Peer> {
        self.inner
            .store
            .peers()
            .await?
            .into_iter()
            .find(|p| p.inbox_id == inbox_id)
            .ok_or_else(|| RuntimeError::NotFound(format!("peer {inbox_id}")))
    }

    /// A known peer by inbox id or by name. A name resolves only to the one peer the owner
    /// accepted under it (from an invite): never to a peer that merely calls itself so (its
    /// name could be anyone's), and never when two accepted peers share it.
    pub async fn find_peer(&self, text: &str) -> Result<Peer> {
        let text = text.trim();
        let peers = self.inner.store.peers().await?;
        if let Some(peer) = peers.iter().find(|p| p.inbox_id.eq_ignore_ascii_case(text)) {
            return Ok(peer.clone());
        }
        let named = |verified: bool| -> Vec<&Peer> {
            peers
                .iter()
                .filter(|p| p.name_verified == verified && p.name.eq_ignore_ascii_case(text))
                .collect()
        };
        match (named(true).as_slice(), named(false).as_slice()) {
            ([one], _) => Ok((*one).clone()),
            ([], []) => Err(RuntimeError::NotFound(format!("peer {text:?}"))),
            ([], [one, ..]) => Err(RuntimeError::InvalidInput(format!(
                "the peer calling itself {text:?} is unverified ({}); name it by its inbox id",
                one.label()
            ))),
            (many, _) => Err(RuntimeError::InvalidInput(format!(
                "{} peers are named {text:?}; name one by its inbox id",
                many.len()
            ))),
        }
    }

    /// A signed invite must be signed by an installation of the inbox it names.
    pub(crate) async fn check_invite(&self, invite: &Invite) -> Result<()> {
        let ours = self.inner.client.network().to_string();
        if let Some(theirs) = invite.network.as_ref().filter(|n| !same_network(n, &ours)) {
            return Err(RuntimeError::WrongNetwork { invite: theirs.clone(), ours });
        }
        if let Some(signer) = invite.signer {
            let state = self.inner.client.inbox_state(&invite.inbox_id).await?;
            if !state.installation_keys().any(|k| k == signer) {
                return Err(RuntimeError::InvalidInput(
                    "the invite was not signed by an installation of that inbox".into(),
                ));
            }
        }
        Ok(())
    }

    /// Round trip of a ping.
    pub async fn ping(&self, peer: &str) -> Result<Duration> {
        let started = Instant::now();
        self.request(
            peer,
            kind::PING,
            &envelope::Ping { message: "ping".into() },
            self.inner.config.deadline,
        )
        .await?;
        Ok(started.elapsed())
    }

    /// The skills a peer shows us (saved with the peer).
    pub async fn discover(&self, peer: &str) -> Result<Vec<SkillCard>> {
        self.discover_within(peer, self.inner.config.deadline).await
    }

    /// [`Agent::discover`], waiting at most `wait` for the answer.
    pub async fn discover_within(&self, peer: &str, wait: Duration) -> Result<Vec<SkillCard>> {
        let asker = envelope::Discover {
            name: self.inner.config.name.clone(),
            wallet: self.inner.client.address(),
        };
        let answer = self.request(peer, kind::DISCOVER, &asker, wait).await?;
        if answer.envelope.kind != kind::CAPABILITIES {
            return Err(refusal(&answer).into());
        }
        let mut capabilities: envelope::Capabilities =
            answer.envelope.payload().map_err(|e| CallError::BadAnswer(e.to_string()))?;
        // The original describes inputs in its shorthand: plan and validate with JSON Schema.
        capabilities.skills = capabilities.skills.into_iter().map(SkillCard::normalized).collect();
        // What the peer calls itself never replaces the name from the invite the owner
        // accepted.
        let name = (!capabilities.name.is_empty())
            .then_some((capabilities.name.as_str(), NameSource::Peer));
        self.inner
            .store
            .save_peer_info(peer, name, Some(&capabilities.skills), self.now_ms())
            .await?;
        Ok(capabilities.skills)
    }

    /// Asks a peer to hold us at `tier`; waits for its owner's decision up to `wait`.
    pub async fn request_trust(
        &self,
        peer: &str,
        tier: Tier,
        reason: &str,
        wait: Duration,
    ) -> Result<envelope::TrustAnswer> {
        let request = envelope::TrustRequest {
            requested_tier: u8::from(tier).into(),
            reason: reason.to_owned(),
        };
        let answer = self.request(peer, kind::TRUST_REQUEST, &request, wait).await?;
        match answer.envelope.kind.as_str() {
            kind::TRUST_GRANT | kind::TRUST_DENY => {
                answer.envelope.payload().map_err(|e| CallError::BadAnswer(e.to_string()).into())
            }
            _ => Err(refusal(&answer).into()),
        }
    }

    pub(crate) async fn on_trust_request(
        &self,
        peer: &str,
        tier: Tier,
        conversation: &ConversationId,
        envelope: &Envelope,
    ) -> Result<()> {
        let corr = envelope.correlation_id.as_deref();
        let request: envelope::TrustRequest = match envelope.payload() {
            Ok(request) => request,
            Err(e) => {
                let deny = envelope::TrustAnswer::deny(None, &e.to_string());
                return self.send(conversation, deny.kind(), &deny, corr).await;
            }
        };
        let action = format!("trust_request {}", request.requested_tier);
        // The owner decided about this peer before (a denial, a demotion, a tier set by hand):
        // the ceiling gives it nothing above that decision.
        let cap = self.peer_state(peer).await?.auto_grant_cap;
        let ceiling = match (self.inner.config.auto_grant_ceiling, cap) {
            (Some(ceiling), Some(cap)) => Some(ceiling.min(cap)),
            (ceiling, _) => ceiling,
        };
        match trust::on_trust_request(tier, &request.requested_tier, ceiling) {
            TrustRequestOutcome::AlreadyHeld(held) => {
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: true,
                        rule: "already_held".into(),
                        reason: format!("peer already holds {held}; a request never lowers a tier"),
                    },
                )
                .await;
                let grant = envelope::TrustAnswer::grant(held, "already held");
                self.send(conversation, grant.kind(), &grant, corr).await
            }
            TrustRequestOutcome::Granted(granted) => {
                self.change_tier(peer, granted, "auto_grant").await?;
                let grant = envelope::TrustAnswer::grant(granted, "granted by policy");
                self.send(conversation, grant.kind(), &grant, corr).await
            }
            TrustRequestOutcome::NeedsApproval(requested) => {
                // A few questions per peer reach the owner; the rest of a flood is dropped
                // (one pending request per peer anyway: a new one replaces the last).
                if self.inner.trust_asks.take(peer, self.now_ms()).is_none() {
                    self.audit(
                        peer,
                        &action,
                        Decision {
                            allowed: false,
                            rule: "rate_limited".into(),
                            reason: "too many trust requests; try again later".into(),
                        },
                    )
                    .await;
                    return Ok(());
                }
                let (id, new) = self
                    .inner
                    .store
                    .add_trust_request(peer, requested, &request.reason, corr, self.now_ms())
                    .await?;
                if !new {
                    return Ok(());
                }
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: false,
                        rule: "needs_approval".into(),
                        reason: format!("{requested} needs the owner's approval (request {id})"),
                    },
                )
                .await;
                if let Some(record) =
                    self.inner.store.trust_requests(true).await?.into_iter().find(|r| r.id == id)
                {
                    self.emit(AgentEvent::TrustRequested(record));
                }
                // The answer goes out when the owner decides.
                Ok(())
            }
            TrustRequestOutcome::Invalid(reason) => {
                self.audit(
                    peer,
                    &action,
                    Decision {
                        allowed: false,
                        rule: "invalid_request".into(),
                        reason: reason.clone(),
                    },
                )
                .await;
                let deny = envelope::TrustAnswer::deny(None, &reason);
                self.send(conversation, deny.kind(), &deny, corr).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_network;

    #[test]
    fn network_names_compare_as_the_same_node() {
        assert!(same_network("http://localhost:5556/", "http://127.0.0.1:5556"));
        assert!(same_network("gateway:http://127.0.0.1:5556", "http://127.0.0.1:5556/"));
        assert!(!same_network("gateway:http://127.0.0.1:5556", "http://127.0.0.1:5557"));
        assert!(same_network("dev", "dev"));
        assert!(!same_network("dev", "production"));
        assert!(!same_network("http://127.0.0.1:5556", "http://127.0.0.1:5557"));
    }
}
