//! A minimal JSON-over-HTTP client, and the skill handler built on it.
//!
//! [`post_json`] sends one `POST` with a JSON body over a fresh HTTP/1.1 connection: plain TCP
//! for `http://`, TLS for `https://` (the Mozilla roots from `webpki-roots`, plus an optional
//! extra CA). The whole exchange is bounded by a timeout and the response body by a size limit.
//! There is no pool and no global state: each call builds what it needs.
//!
//! Errors never quote the URL or a header value (either may carry a credential).
//!
//! [`HttpEndpoint`] mirrors the `Command` handler: a skill whose input is POSTed as JSON and
//! whose output is the JSON response. Its caller sees only a generic failure; the details stay
//! in the local log.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::handler::SkillFailure;

/// Why an HTTP exchange failed. Messages quote neither the URL nor header values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not an `http://` or `https://` URL this client can use.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    /// The TCP connection failed.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The TLS handshake or configuration failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The exchange took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The response body is larger than the limit (bytes).
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// A bad request header, or the server broke HTTP.
    #[error("HTTP error: {0}")]
    Protocol(String),
}

impl HttpError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUrl(_) => "INVALID_URL",
            Self::Connect(_) => "CONNECT",
            Self::Tls(_) => "TLS",
            Self::Timeout => "TIMEOUT",
            Self::TooLarge(_) => "TOO_LARGE",
            Self::Protocol(_) => "PROTOCOL",
        }
    }
}

fn protocol(e: hyper::Error) -> HttpError {
    HttpError::Protocol(e.to_string())
}

/// Where a request goes, parsed from a URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// For connecting and SNI: an IPv6 literal without brackets.
    host: String,
    port: u16,
    /// For the `Host` header: as written in the URL.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, HttpError> {
        let uri: Uri = url.parse().map_err(|_| HttpError::InvalidUrl("malformed"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(HttpError::InvalidUrl("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or(HttpError::InvalidUrl("no host"))?;
        if authority.as_str().contains('@') {
            return Err(HttpError::InvalidUrl("credentials in the URL are not supported"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(HttpError::InvalidUrl("no host"));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }

    fn request(
        &self,
        headers: &[(String, String)],
        body: &Value,
    ) -> Result<Request<Full<Bytes>>, HttpError> {
        let body = Bytes::from(body.to_string());
        let len = body.len();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() =
            self.path_and_query.parse().map_err(|_| HttpError::InvalidUrl("malformed path"))?;
        let map = request.headers_mut();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::Protocol("invalid header name".into()))?;
            if [header::HOST, header::CONTENT_LENGTH, header::TRANSFER_ENCODING].contains(&name) {
                return Err(HttpError::Protocol(format!("the {name} header is set by the client")));
            }
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| HttpError::Protocol(format!("invalid value for header {name}")))?;
            value.set_sensitive(true);
            map.append(name, value);
        }
        let host = HeaderValue::from_str(&self.authority)
            .map_err(|_| HttpError::InvalidUrl("invalid host"))?;
        map.insert(header::HOST, host);
        map.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        map.entry(header::CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
        Ok(request)
    }
}

/// A TLS client configuration: the webpki roots plus the certificates in `extra_ca_pem`.
fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, HttpError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra_ca_pem {
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| HttpError::Tls(format!("bad CA PEM: {e}")))?;
            roots.add(cert).map_err(|e| HttpError::Tls(format!("bad CA certificate: {e}")))?;
        }
        if roots.len() == before {
            return Err(HttpError::Tls("the CA PEM holds no certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// POSTs `body` as JSON to an `http://` or `https://` URL with the caller's extra headers, and
/// returns the response status and body. The whole exchange (connect, TLS, request, response)
/// is bounded by `timeout`; a body over `max_response_bytes` is [`HttpError::TooLarge`].
/// `extra_ca_pem` adds trusted CA certificates (PEM) to the webpki roots.
pub(crate) async fn post_json(
    url: &str,
    headers: &[(String, String)],
    body: &Value,
    timeout: Duration,
    max_response_bytes: usize,
    extra_ca_pem: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), HttpError> {
    let target = Target::parse(url)?;
    let request = target.request(headers, body)?;
    let tls = if target.tls { Some(tls_config(extra_ca_pem)?) } else { None };
    let work = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| HttpError::Connect(e.to_string()))?;
        let Some(config) = tls else {
            return exchange(tcp, request, max_response_bytes).await;
        };
        let name = ServerName::try_from(target.host.clone())
            .map_err(|_| HttpError::InvalidUrl("the host is not a valid TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        exchange(stream, request, max_response_bytes).await
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| HttpError::Timeout)?
}

/// One request on a new HTTP/1.1 connection, driving the connection until the body is read.
async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    limit: usize,
) -> Result<(u16, Vec<u8>), HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(protocol)?;
    let response = async move {
        let response = sender.send_request(request).await.map_err(protocol)?;
        read_body(response, limit).await
    };
    tokio::pin!(response, connection);
    tokio::select! {
        result = &mut response => result,
        closed = &mut connection => {
            closed.map_err(protocol)?;
            response.await
        }
    }
}

async fn read_body(
    response: Response<Incoming>,
    limit: usize,
) -> Result<(u16, Vec<u8>), HttpError> {
    let status = response.status().as_u16();
    let declared = response.headers().get(header::CONTENT_LENGTH);
    let declared = declared.and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX)) {
        return Err(HttpError::TooLarge(limit));
    }
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(protocol)?.data_ref() {
            if out.len() + data.len() > limit {
                return Err(HttpError::TooLarge(limit));
            }
            out.extend_from_slice(data);
        }
    }
    Ok((status, out))
}

/// A URL for the log: no userinfo, no query.
fn redacted(url: &str) -> String {
    let Ok(uri) = url.parse::<Uri>() else { return "<invalid URL>".to_owned() };
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    let (scheme, host) = (uri.scheme_str().unwrap_or("?"), uri.host().unwrap_or("?"));
    format!("{scheme}://{host}{port}{}", uri.path())
}

/// An HTTP service as a skill: the input is POSTed as JSON, the JSON response is the output.
#[derive(Clone)]
pub struct HttpEndpoint {
    /// The `http://` or `https://` URL.
    pub url: String,
    /// Extra request headers (e.g. `Authorization`); never logged.
    pub headers: Vec<(String, String)>,
    /// The whole exchange is abandoned after this long.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_output_bytes: usize,
}

impl std::fmt::Debug for HttpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpEndpoint")
            .field("url", &redacted(&self.url))
            .field("headers", &names)
            .field("timeout", &self.timeout)
            .field("max_output_bytes", &self.max_output_bytes)
            .finish()
    }
}

impl HttpEndpoint {
    /// An endpoint with no extra headers, a 30 s timeout and a 1 MiB output limit.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            max_output_bytes: 1024 * 1024,
        }
    }

    /// POSTs `input` and returns the JSON answer; failures are generic, details are logged.
    pub(crate) async fn run(&self, input: &Value) -> Result<Value, SkillFailure> {
        let endpoint = redacted(&self.url);
        let failed = |detail: &dyn std::fmt::Display| {
            tracing::warn!(%endpoint, "skill endpoint failed: {detail}");
            SkillFailure::new("the skill failed")
        };
        let limit = self.max_output_bytes;
        let (status, body) =
            match post_json(&self.url, &self.headers, input, self.timeout, limit, None).await {
                Ok(answer) => answer,
                Err(e @ HttpError::TooLarge(_)) => {
                    tracing::warn!(%endpoint, "skill endpoint failed: {e}");
                    return Err(SkillFailure::new("the skill's output is too large"));
                }
                Err(e) => return Err(failed(&e)),
            };
        if !(200..300).contains(&status) {
            return Err(failed(&format_args!("HTTP status {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| {
            tracing::warn!(%endpoint, "skill endpoint returned invalid JSON: {e}");
            SkillFailure::new("the skill returned invalid JSON")
        })
    }
}

/// A one-shot local HTTP(S) server for tests.
#[cfg(test)]
pub(crate) mod mock {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    /// The request the server received: the head (lowercased) and the body.
    pub(crate) struct Captured {
        pub(crate) head: String,
        pub(crate) body: Vec<u8>,
    }

    /// A complete response with a JSON (or any) body.
    pub(crate) fn response(status: u16, body: &str) -> Vec<u8> {
        let len = body.len();
        format!("HTTP/1.1 {status} X\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n{body}")
            .into_bytes()
    }

    /// Serves one request on 127.0.0.1 with `response`; returns the port and the request.
    pub(crate) async fn serve_once(
        response: Vec<u8>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> (u16, JoinHandle<Captured>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            match tls {
                Some(acceptor) => answer(acceptor.accept(tcp).await.unwrap(), &response).await,
                None => answer(tcp, &response).await,
            }
        });
        (port, task)
    }

    async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, response: &[u8]) -> Captured {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the client closed early");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap().to_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        while buf.len() < end + len {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the client closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
        let _ = stream.write_all(response).await;
        let _ = stream.shutdown().await;
        Captured { head, body: buf[end..].to_vec() }
    }
}

#[cfg(test)]
mod tests {
    use super::mock::{response, serve_once};
    use super::*;
    use serde_json::json;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn posts_json_and_reads_the_answer() {
        let (port, server) = serve_once(response(201, r#"{"ok":true}"#), None).await;
        let url = format!("http://127.0.0.1:{port}/skill?x=1");
        let headers = [("X-Api-Key".to_owned(), "k".to_owned())];
        let (status, body) =
            post_json(&url, &headers, &json!({"a": 1}), SECOND, 100, None).await.unwrap();
        assert_eq!((status, body.as_slice()), (201, br#"{"ok":true}"#.as_slice()));
        let request = server.await.unwrap();
        assert!(request.head.starts_with("post /skill?x=1 http/1.1\r\n"), "{}", request.head);
        for line in [
            format!("host: 127.0.0.1:{port}"),
            "content-type: application/json".into(),
            "content-length: 7".into(),
            "x-api-key: k".into(),
        ] {
            assert!(request.head.contains(&line), "{line} missing from {}", request.head);
        }
        assert_eq!(request.body, br#"{"a":1}"#);
    }

    #[tokio::test]
    async fn limits_the_body_and_the_time() {
        // No content-length: the body runs to the end of the connection.
        let big = format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{}", "x".repeat(5000));
        let (port, _server) = serve_once(big.into_bytes(), None).await;
        let url = format!("http://127.0.0.1:{port}/");
        let err = post_json(&url, &[], &json!({}), SECOND, 100, None).await.unwrap_err();
        assert_eq!((err.code(), err), ("TOO_LARGE", HttpError::TooLarge(100)));

        // A server that accepts connections (backlog) but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let short = Duration::from_millis(150);
        let err = post_json(&url, &[], &json!({}), short, 100, None).await.unwrap_err();
        assert_eq!(err.code(), "TIMEOUT");
        assert!(started.elapsed() < SECOND);
    }

    #[tokio::test]
    async fn bad_urls_and_headers_are_refused_without_echoing_them() {
        for url in ["ftp://host/", "not a url", "http:///path", "https://user:hunter2@host/"] {
            let err = post_json(url, &[], &json!({}), SECOND, 100, None).await.unwrap_err();
            assert_eq!(err.code(), "INVALID_URL", "{url}");
            assert!(!err.to_string().contains("hunter2"));
        }
        let headers = [("Authorization".to_owned(), "Bearer hunter2\n".to_owned())];
        let url = "http://127.0.0.1:9/";
        let err = post_json(url, &headers, &json!({}), SECOND, 100, None).await.unwrap_err();
        assert_eq!(err.code(), "PROTOCOL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let endpoint = HttpEndpoint { headers: headers.to_vec(), ..HttpEndpoint::new(url) };
        assert!(!format!("{endpoint:?}").contains("hunter2"));
    }

    #[test]
    fn urls_parse_into_targets() {
        let target = Target::parse("https://[::1]:8443/v1/x?q=1").unwrap();
        assert_eq!(
            target,
            Target {
                tls: true,
                host: "::1".into(),
                port: 8443,
                authority: "[::1]:8443".into(),
                path_and_query: "/v1/x?q=1".into(),
            }
        );
        let target = Target::parse("http://example.com").unwrap();
        assert_eq!((target.port, target.path_and_query.as_str()), (80, "/"));
        assert_eq!(redacted("https://u:p@h:1/a/b?token=t"), "https://h:1/a/b");
    }

    #[tokio::test]
    async fn https_with_an_extra_ca() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let ca = certified.cert.pem();

        let (port, server) = serve_once(response(200, "[1]"), Some(acceptor.clone())).await;
        let url = format!("https://localhost:{port}/");
        let answer = post_json(&url, &[], &json!(null), SECOND, 100, Some(ca.as_bytes())).await;
        assert_eq!(answer.unwrap(), (200, b"[1]".to_vec()));
        assert!(server.await.unwrap().head.contains(&format!("host: localhost:{port}")));

        let (port, _server) = serve_once(response(200, "[1]"), Some(acceptor)).await;
        let url = format!("https://localhost:{port}/");
        let err = post_json(&url, &[], &json!(null), SECOND, 100, None).await.unwrap_err();
        assert_eq!(err.code(), "TLS", "{err}");
    }

    #[tokio::test]
    async fn endpoint_failures_are_generic() {
        let (port, _s) = serve_once(response(200, r#"{"y":2}"#), None).await;
        let ok = HttpEndpoint::new(format!("http://127.0.0.1:{port}/"));
        assert_eq!(ok.run(&json!({"x": 1})).await.unwrap(), json!({"y": 2}));

        let cases = [
            (response(500, "/srv/secret.py line 3"), "the skill failed"),
            (response(200, "not json"), "the skill returned invalid JSON"),
            (response(200, &"1".repeat(200)), "the skill's output is too large"),
        ];
        for (answer, message) in cases {
            let (port, _s) = serve_once(answer, None).await;
            let mut endpoint = HttpEndpoint::new(format!("http://127.0.0.1:{port}/?key=k"));
            endpoint.max_output_bytes = 100;
            assert_eq!(endpoint.run(&json!({})).await.unwrap_err(), SkillFailure::new(message));
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut slow = HttpEndpoint::new(format!("http://{}/", listener.local_addr().unwrap()));
        slow.timeout = Duration::from_millis(100);
        assert_eq!(slow.run(&json!({})).await.unwrap_err().0, "the skill failed");
    }
}
