//! Which XMTP network to talk to, and the gRPC channel to it.

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use xmtp_proto::identity_api::identity_api_client::IdentityApiClient;
use xmtp_proto::mls_api::mls_api_client::MlsApiClient;

use crate::error::{ClientError, Result};

/// Largest gRPC message either side sends (libxmtp's `GRPC_PAYLOAD_LIMIT`).
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

/// An XMTP network (V3 node API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// XMTP's public `dev` network.
    Dev,
    /// XMTP's public `production` network.
    Production,
    /// Any node by URL: `http://` is h2c (plaintext HTTP/2), `https://` is TLS with the web PKI
    /// roots (plus [`crate::ClientOptions::trusted_ca_pem`]). The embedded node is one of these.
    Url(String),
}

impl Network {
    /// Parses `dev`, `production` or a node URL.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "dev" => Ok(Self::Dev),
            "production" => Ok(Self::Production),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(Self::Url(url.trim_end_matches('/').to_owned()))
            }
            other => Err(ClientError::InvalidInput(format!(
                "unknown network {other:?}: use dev, production or a node URL (http:// or https://)"
            ))),
        }
    }

    /// The node URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Dev => "https://grpc.dev.xmtp.network:443",
            Self::Production => "https://grpc.production.xmtp.network:443",
            Self::Url(url) => url,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dev => f.write_str("dev"),
            Self::Production => f.write_str("production"),
            Self::Url(url) => f.write_str(url),
        }
    }
}

/// gRPC clients for the two node services over one lazily connected channel: a node that is
/// down when the client starts (or restarts later) is reconnected on the next call.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    pub(crate) mls: MlsApiClient<Channel>,
    pub(crate) identity: IdentityApiClient<Channel>,
}

impl Api {
    /// A lazily connected channel to `network`; `https://` nodes are verified against the web PKI
    /// roots plus `trusted_ca_pem`.
    pub(crate) fn connect(network: &Network, trusted_ca_pem: Option<&[u8]>) -> Result<Self> {
        let url = network.url().to_owned();
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(16))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if url.starts_with("https://") {
            let mut tls = ClientTlsConfig::new().with_webpki_roots();
            if let Some(pem) = trusted_ca_pem {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
        }
        let channel = endpoint.connect_lazy();
        Ok(Self {
            mls: MlsApiClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            identity: IdentityApiClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_by_name_and_url() {
        assert_eq!(Network::parse("dev").unwrap().url(), "https://grpc.dev.xmtp.network:443");
        assert_eq!(
            Network::parse("production").unwrap().url(),
            "https://grpc.production.xmtp.network:443"
        );
        assert_eq!(
            Network::parse("http://127.0.0.1:5556/").unwrap(),
            Network::Url("http://127.0.0.1:5556".into())
        );
        assert!(Network::parse("ftp://x").is_err());
        assert!(Network::parse("prod").is_err());
    }
}
