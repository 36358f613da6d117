//! Invite codes: how someone learns to reach a CoWorker agent over XMTP.
//!
//! An invite carries a display name and the agent's XMTP inbox id (64 lowercase hex) — nothing
//! else: no wallet address, no skill list.
//!
//! # Formats
//!
//! Every code is STANDARD base64 (`+/`, `=` padding) of a compact JSON object, so the Python
//! original (agent-coworker 0.6.1), which reads `n`/`name`, `i`, `wallet`, `v`/`version` and
//! ignores unknown keys, can still decode ours.
//!
//! * **CoWorker (signed)** —
//!   `{"n":name,"i":inbox_id,"v":"coworker/1","x":expiry,"w":network,"k":key,"s":sig}` in exactly
//!   that key order. `x` (expiry, Unix seconds) is omitted when the code never expires; `w` is
//!   the XMTP network the inbox lives on (`dev`, `production` or a node URL; omitted by codes
//!   issued before networks were named); `k` is the Ed25519 public key of the issuing XMTP installation (64 lowercase hex)
//!   and `s` its signature (128 lowercase hex) over [`Invite::signing_bytes`].
//! * **Legacy (Python, unsigned)** — `{"n":name,"i":inbox_id,"v":"0.6.1"}`, or the older
//!   `{"name":name,"wallet":"0x…","v":…}`. The first parses as an unverified invite
//!   (`signer: None`); the wallet form is refused with [`InviteError::LegacyWallet`] because
//!   CoWorker only connects by inbox id.
//!
//! A code may also travel as the URI `coworker://invite/<code>`, where `<code>` is the same JSON
//! bytes in base64url without padding ([`Invite::uri`]). [`Invite::parse`] accepts all of these.
//!
//! Names: a signed code's name must be 1..=64 characters after trimming, with no control or
//! bidirectional-override characters, or the code is malformed. A legacy name is instead
//! cleaned: those characters are dropped, the rest trimmed and cut to 64 characters (empty →
//! malformed). This module does no I/O and reads no clock.

use base64::Engine as _;
use base64::alphabet::STANDARD as STD_ALPHABET;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use ed25519_dalek::{Signature, VerifyingKey};
use qrcode::{Color, QrCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `v` value of CoWorker-issued codes.
pub const VERSION: &str = "coworker/1";
/// The prefix of invite URIs.
pub const URI_PREFIX: &str = "coworker://invite/";
/// The longest input (in bytes) [`Invite::parse`] and the QR renderers accept.
pub const MAX_INPUT_BYTES: usize = 4096;
/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The longest network name or node URL, in bytes.
pub const MAX_NETWORK_BYTES: usize = 256;
/// The largest PNG side, in pixels, [`Invite::qr_png`] renders.
pub const MAX_PNG_SIDE: u32 = 4096;
const DOMAIN: &str = "CoWorker invite v1\n";
const QUIET_ZONE: usize = 4;

/// A parsed invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// Display name of the agent (trimmed, 1..=64 characters).
    pub name: String,
    /// XMTP inbox id: 64 lowercase hex characters.
    pub inbox_id: String,
    /// When the code stops being accepted (Unix seconds), if ever.
    pub expires_at: Option<u64>,
    /// The XMTP network the inbox lives on (`dev`, `production` or a node URL), when the code
    /// names it (signed codes since networks were named).
    pub network: Option<String>,
    /// Ed25519 public key of the XMTP installation that signed the code; `None` for an
    /// unverified legacy code.
    pub signer: Option<[u8; 32]>,
    /// The verified signature, present exactly when `signer` is.
    pub signature: Option<[u8; 64]>,
}

/// Why a text is not a usable invite, or a QR code could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InviteError {
    /// The input is longer than [`MAX_INPUT_BYTES`].
    #[error("invite of {0} bytes exceeds the {MAX_INPUT_BYTES}-byte limit")]
    TooLong(usize),
    /// Not base64 of a JSON object, or a field is missing, of the wrong type or out of range.
    #[error("malformed invite: {0}")]
    Malformed(String),
    /// The signature does not verify against the key in the code (the code was altered).
    #[error("invite signature does not verify: the code was altered or forged")]
    BadSignature,
    /// The code expired at the given Unix second.
    #[error("invite expired at {0} (Unix seconds); ask for a new code")]
    Expired(u64),
    /// An old wallet-address code; CoWorker connects by XMTP inbox id only.
    #[error(
        "this is an old wallet-address invite from {name:?} (wallet {wallet}); connecting by \
         wallet is not supported, ask {name:?} for a new invite code"
    )]
    LegacyWallet {
        /// The (cleaned) name in the code.
        name: String,
        /// The wallet address in the code.
        wallet: String,
    },
    /// The QR code could not be rendered (too much data, or a bad scale).
    #[error("cannot render invite QR code: {0}")]
    Qr(String),
}

impl InviteError {
    /// A stable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong(_) => "invite.too_long",
            Self::Malformed(_) => "invite.malformed",
            Self::BadSignature => "invite.bad_signature",
            Self::Expired(_) => "invite.expired",
            Self::LegacyWallet { .. } => "invite.legacy_wallet",
            Self::Qr(_) => "invite.qr",
        }
    }
}

fn malformed(why: &str) -> InviteError {
    InviteError::Malformed(why.to_owned())
}

/// The JSON we write, in wire key order.
#[derive(Serialize)]
struct Wire<'a> {
    n: &'a str,
    i: &'a str,
    v: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    w: Option<&'a str>,
    k: String,
    s: String,
}

/// The JSON we read: every known key of every format; unknown keys are ignored.
#[derive(Deserialize)]
struct Raw {
    n: Option<String>,
    name: Option<String>,
    i: Option<String>,
    wallet: Option<String>,
    v: Option<Value>,
    x: Option<u64>,
    w: Option<String>,
    k: Option<String>,
    s: Option<String>,
}

fn is_banned(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_name(name: &str) -> Result<&str, InviteError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(is_banned) {
        return Err(malformed("name must be 1..=64 characters without control characters"));
    }
    Ok(name)
}

fn check_inbox(inbox_id: &str) -> Result<String, InviteError> {
    if !is_hex(inbox_id, 64) {
        return Err(malformed("inbox id must be 64 hex characters"));
    }
    Ok(inbox_id.to_ascii_lowercase())
}

fn check_network(network: &str) -> Result<&str, InviteError> {
    if network.is_empty() || network.len() > MAX_NETWORK_BYTES || network.chars().any(is_banned) {
        return Err(malformed("the network must be 1 to 256 bytes with no control characters"));
    }
    Ok(network)
}

fn clean_legacy_name(name: &str) -> String {
    let kept: String = name.chars().filter(|&c| !is_banned(c)).collect();
    kept.trim().chars().take(MAX_NAME_CHARS).collect::<String>().trim_end().to_owned()
}

fn decode_hex<const N: usize>(s: &str, what: &str) -> Result<[u8; N], InviteError> {
    let mut out = [0u8; N];
    match hex::decode_to_slice(s, &mut out) {
        Ok(()) if s.len() == 2 * N => Ok(out),
        _ => Err(InviteError::Malformed(format!("{what} must be {} hex characters", 2 * N))),
    }
}

fn verify(msg: &[u8], key: &[u8; 32], sig: &[u8; 64]) -> Result<(), InviteError> {
    let key = VerifyingKey::from_bytes(key).map_err(|_| InviteError::BadSignature)?;
    key.verify_strict(msg, &Signature::from_bytes(sig)).map_err(|_| InviteError::BadSignature)
}

/// The code inside `text`: whitespace dropped, a `coworker://invite/` prefix (any case) removed.
fn code_body(text: &str) -> String {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.get(..URI_PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(URI_PREFIX) => {
            compact[URI_PREFIX.len()..].trim_end_matches('/').to_owned()
        }
        _ => compact,
    }
}

/// Decodes a code body in either base64 alphabet, padded or not.
fn decode_body(body: &str) -> Result<Vec<u8>, InviteError> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&STD_ALPHABET, config)
        .decode(body.replace('-', "+").replace('_', "/"))
        .map_err(|_| malformed("not a base64 invite code"))
}

fn qr(text: &str) -> Result<QrCode, InviteError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(InviteError::TooLong(text.len()));
    }
    QrCode::new(text.as_bytes()).map_err(|e| InviteError::Qr(e.to_string()))
}

/// Dark-module grid of `code` including the quiet zone, row-major, and its side length.
fn grid(code: &QrCode) -> (Vec<bool>, usize) {
    let (w, side) = (code.width(), code.width() + 2 * QUIET_ZONE);
    let mut cells = vec![false; side * side];
    for (idx, color) in code.to_colors().into_iter().enumerate() {
        let (x, y) = (idx % w + QUIET_ZONE, idx / w + QUIET_ZONE);
        if let Some(cell) = cells.get_mut(y * side + x) {
            *cell = color == Color::Dark;
        }
    }
    (cells, side)
}

impl Invite {
    /// The bytes the installation key signs: the UTF-8 of
    /// `"CoWorker invite v1\n" + n + "\n" + i + "\n" + x + "\n" + k`, where `n` is the name and
    /// `i` the inbox id exactly as they appear in the code's JSON, `x` the expiry in decimal
    /// (empty when there is none) and `k` the signer's public key in 64 lowercase hex; then,
    /// when the code names its network, `"\n" + w`.
    pub fn signing_bytes(
        name: &str,
        inbox_id: &str,
        expires_at: Option<u64>,
        network: Option<&str>,
        signer: &[u8; 32],
    ) -> Vec<u8> {
        let x = expires_at.map(|x| x.to_string()).unwrap_or_default();
        let mut text = format!("{DOMAIN}{name}\n{inbox_id}\n{x}\n{}", hex::encode(signer));
        if let Some(network) = network {
            text.push('\n');
            text.push_str(network);
        }
        text.into_bytes()
    }

    /// Issues a signed code. `sign` signs bytes with the installation key (the key stays in the
    /// caller's key store). The name is trimmed and the inbox id lowercased before signing; the
    /// signature is checked against `signer` before the code is returned.
    pub fn issue(
        name: &str,
        inbox_id: &str,
        expires_at: Option<u64>,
        network: Option<&str>,
        signer: [u8; 32],
        sign: impl FnOnce(&[u8]) -> [u8; 64],
    ) -> Result<String, InviteError> {
        let name = check_name(name)?;
        let inbox_id = check_inbox(inbox_id)?;
        let network = network.map(check_network).transpose()?;
        let msg = Self::signing_bytes(name, &inbox_id, expires_at, network, &signer);
        let sig = sign(&msg);
        verify(&msg, &signer, &sig)?;
        let wire = Wire {
            n: name,
            i: &inbox_id,
            v: VERSION,
            x: expires_at,
            w: network,
            k: hex::encode(signer),
            s: hex::encode(sig),
        };
        let json = serde_json::to_vec(&wire).map_err(|e| InviteError::Malformed(e.to_string()))?;
        Ok(STANDARD.encode(json))
    }

    /// Parses a code in any accepted form: the bare base64 code (whitespace/newlines inside
    /// ignored), a `coworker://invite/<code>` URI (the code in the URI is base64url without
    /// padding — both alphabets are accepted, padded or not), or the Python original's legacy
    /// codes. Verifies the signature if present and rejects expired codes (`now >= x`, `now` in
    /// Unix seconds). A legacy unsigned code parses with `signer: None` (show it as unverified).
    pub fn parse(text: &str, now: u64) -> Result<Invite, InviteError> {
        if text.len() > MAX_INPUT_BYTES {
            return Err(InviteError::TooLong(text.len()));
        }
        let raw: Raw = serde_json::from_slice(&decode_body(&code_body(text))?)
            .map_err(|_| malformed("not a JSON invite object"))?;
        let (signer, signature, name) = match (&raw.k, &raw.s) {
            (Some(k), Some(s)) => {
                let key = decode_hex::<32>(k, "key")?;
                let sig = decode_hex::<64>(s, "signature")?;
                let (Some(n), Some(i)) = (&raw.n, &raw.i) else {
                    return Err(malformed("a signed invite needs \"n\" and \"i\""));
                };
                let network = raw.w.as_deref().map(check_network).transpose()?;
                verify(&Self::signing_bytes(n, i, raw.x, network, &key), &key, &sig)?;
                (Some(key), Some(sig), check_name(n)?.to_owned())
            }
            (None, None) => {
                if raw.v.as_ref().and_then(Value::as_str) == Some(VERSION) {
                    return Err(malformed("a coworker/1 invite must be signed"));
                }
                let name =
                    clean_legacy_name(raw.n.as_deref().or(raw.name.as_deref()).unwrap_or(""));
                if let (None, Some(wallet)) = (&raw.i, &raw.wallet) {
                    if !wallet.strip_prefix("0x").is_some_and(|h| is_hex(h, 40)) {
                        return Err(malformed("wallet must be a 0x-prefixed 40-hex address"));
                    }
                    return Err(InviteError::LegacyWallet { name, wallet: wallet.clone() });
                }
                if name.is_empty() {
                    return Err(malformed("name is missing or empty"));
                }
                (None, None, name)
            }
            _ => return Err(malformed("\"k\" and \"s\" must appear together")),
        };
        let inbox_id = check_inbox(raw.i.as_deref().unwrap_or(""))?;
        if let Some(x) = raw.x.filter(|&x| now >= x) {
            return Err(InviteError::Expired(x));
        }
        // An unsigned code's network is not vouched for by anyone: it is not kept.
        let network = if signer.is_some() { raw.w } else { None };
        Ok(Invite { name, inbox_id, expires_at: raw.x, network, signer, signature })
    }

    /// Whether the code was signed (and the signature verified when it was parsed).
    pub fn is_verified(&self) -> bool {
        self.signer.is_some()
    }

    /// `name-<first 8 of inbox id>`, the name lowercased and reduced to `[a-z0-9-]` (other
    /// characters become `-`, runs collapse, edges trimmed; `agent` when nothing is left).
    pub fn short_id(&self) -> String {
        let mut slug = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug = slug.trim_end_matches('-');
        let slug = if slug.is_empty() { "agent" } else { slug };
        format!("{slug}-{}", self.inbox_id.chars().take(8).collect::<String>())
    }

    /// `coworker://invite/<code>` where `<code>` is the same JSON bytes as `code` in base64url
    /// without padding. Whitespace is dropped; a text that already is a URI is normalised.
    pub fn uri(code: &str) -> String {
        let body = code_body(code);
        match decode_body(&body) {
            Ok(bytes) => format!("{URI_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)),
            Err(_) => {
                format!("{URI_PREFIX}{}", body.replace('+', "-").replace('/', "_").replace('=', ""))
            }
        }
    }

    /// An SVG QR code of `text` (pass the URI or the code): dark modules on white, a quiet zone
    /// of 4 modules, one user unit per module.
    pub fn qr_svg(text: &str) -> Result<String, InviteError> {
        let (cells, side) = grid(&qr(text)?);
        let mut path = String::new();
        for (y, row) in cells.chunks(side).enumerate() {
            let mut x = 0;
            while x < side {
                let run = row.iter().skip(x).take_while(|&&d| d).count();
                if run > 0 {
                    path.push_str(&format!("M{x} {y}h{run}v1h-{run}z"));
                }
                x += run.max(1);
            }
        }
        Ok(format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
             shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" \
             fill=\"#fff\"/><path fill=\"#000\" d=\"{path}\"/></svg>"
        ))
    }

    /// A QR code of `text` for a terminal: two modules per character, light modules drawn in
    /// the foreground colour (readable on the usual dark background), quiet zone included.
    pub fn qr_text(text: &str) -> Result<String, InviteError> {
        let (cells, side) = grid(&qr(text)?);
        let dark = |x: usize, y: usize| y < side && cells[y * side + x];
        let mut out = String::new();
        for y in (0..side).step_by(2) {
            for x in 0..side {
                out.push(match (dark(x, y), dark(x, y + 1)) {
                    (false, false) => '█',
                    (false, true) => '▀',
                    (true, false) => '▄',
                    (true, true) => ' ',
                });
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// An 8-bit grayscale PNG QR code of `text`: `scale` pixels per module, quiet zone 4, black
    /// on white. The side, `(modules + 8) * scale`, must be at most [`MAX_PNG_SIDE`].
    pub fn qr_png(text: &str, scale: u32) -> Result<Vec<u8>, InviteError> {
        let (cells, side) = grid(&qr(text)?);
        let px = u32::try_from(side).ok().and_then(|s| s.checked_mul(scale));
        let px = match px {
            Some(px) if scale > 0 && px <= MAX_PNG_SIDE => px,
            _ => return Err(InviteError::Qr(format!("scale {scale} out of range"))),
        };
        let mut data = Vec::with_capacity((px * px) as usize);
        for row in cells.chunks(side) {
            let line: Vec<u8> = row
                .iter()
                .flat_map(|&d| std::iter::repeat_n(if d { 0 } else { 255 }, scale as usize))
                .collect();
            for _ in 0..scale {
                data.extend_from_slice(&line);
            }
        }
        let png_err = |e: png::EncodingError| InviteError::Qr(e.to_string());
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, px, px);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_err)?;
        writer.write_image_data(&data).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::{RngCore, SeedableRng};

    const INBOX: &str = "3f861915c01c3f33807b2037ae47dee8109076d4e7abbc9522f77bd3c72d443d";
    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::generate(&mut ChaCha20Rng::seed_from_u64(42))
    }

    fn issue(name: &str, x: Option<u64>) -> String {
        let k = key();
        Invite::issue(name, INBOX, x, None, k.verifying_key().to_bytes(), |m| k.sign(m).to_bytes())
            .unwrap()
    }

    fn issue_on(network: &str) -> String {
        let k = key();
        let pk = k.verifying_key().to_bytes();
        Invite::issue("icy", INBOX, None, Some(network), pk, |m| k.sign(m).to_bytes()).unwrap()
    }

    fn json_of(code: &str) -> serde_json::Map<String, Value> {
        serde_json::from_slice(&STANDARD.decode(code).unwrap()).unwrap()
    }

    fn encode(v: &Value) -> String {
        STANDARD.encode(serde_json::to_vec(v).unwrap())
    }

    /// Re-encodes `code` after changing one JSON field (no re-signing).
    fn tamper(code: &str, key: &str, value: Value) -> String {
        let mut map = json_of(code);
        map.insert(key.into(), value);
        encode(&Value::Object(map))
    }

    #[test]
    fn round_trip() {
        let code = issue("  Icy Agent ", Some(NOW + 60));
        let inv = Invite::parse(&code, NOW).unwrap();
        assert_eq!(inv.name, "Icy Agent");
        assert_eq!(inv.inbox_id, INBOX);
        assert_eq!(inv.expires_at, Some(NOW + 60));
        assert_eq!(inv.signer, Some(key().verifying_key().to_bytes()));
        assert!(inv.signature.is_some() && inv.is_verified());
        assert_eq!(inv.short_id(), "icy-agent-3f861915");
        // Whitespace and line breaks inside the code are ignored.
        let wrapped: String = code
            .chars()
            .enumerate()
            .flat_map(|(i, c)| [c, if i % 20 == 0 { '\n' } else { ' ' }])
            .collect();
        assert_eq!(Invite::parse(&format!("  {wrapped}\r\n"), NOW).unwrap(), inv);
        // Uppercase inbox ids are lowercased on issue.
        let k = key();
        let up = Invite::issue(
            "a",
            &INBOX.to_uppercase(),
            None,
            None,
            k.verifying_key().to_bytes(),
            |m| k.sign(m).to_bytes(),
        )
        .unwrap();
        assert_eq!(Invite::parse(&up, NOW).unwrap().inbox_id, INBOX);
    }

    #[test]
    fn uri_round_trip() {
        let code = issue("icy", None);
        let uri = Invite::uri(&code);
        let body = uri.strip_prefix(URI_PREFIX).unwrap();
        assert!(!body.contains(['+', '/', '=']));
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap(), STANDARD.decode(&code).unwrap());
        assert_eq!(Invite::parse(&uri, NOW).unwrap(), Invite::parse(&code, NOW).unwrap());
        assert_eq!(Invite::uri(&uri), uri);
        let upper = format!("CoWorker://Invite/{body}/");
        assert!(Invite::parse(&upper, NOW).is_ok());
        // Both alphabets, with or without padding, in either form.
        assert!(Invite::parse(&format!("{URI_PREFIX}{code}"), NOW).is_ok());
        assert!(Invite::parse(body, NOW).is_ok());
    }

    #[test]
    fn wire_format_is_python_compatible() {
        let code = issue("icy", Some(NOW + 1));
        let map = json_of(&code);
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["i", "k", "n", "s", "v", "x"]);
        // What the Python decoder does: base64 std → json → n, i.
        assert_eq!(map["n"], "icy");
        assert_eq!(map["i"], INBOX);
        assert_eq!(map["v"], VERSION);
        assert!(is_hex(map["k"].as_str().unwrap(), 64) && is_hex(map["s"].as_str().unwrap(), 128));
        let raw = String::from_utf8(STANDARD.decode(&code).unwrap()).unwrap();
        assert!(raw.starts_with("{\"n\":\"icy\",\"i\":\"") && !raw.contains(' '));
        let keys: Vec<String> = json_of(&issue("icy", None)).keys().cloned().collect();
        assert_eq!(keys.len(), 5);
        assert!(!keys.contains(&"x".to_owned()));
    }

    #[test]
    fn signing_bytes_layout() {
        let k = [0xab; 32];
        let want = format!("CoWorker invite v1\nicy\n{INBOX}\n5\n{}", "ab".repeat(32));
        assert_eq!(Invite::signing_bytes("icy", INBOX, Some(5), None, &k), want.as_bytes());
        let want = format!("CoWorker invite v1\nicy\n{INBOX}\n\n{}", "ab".repeat(32));
        assert_eq!(Invite::signing_bytes("icy", INBOX, None, None, &k), want.as_bytes());
        let want = format!("CoWorker invite v1\nicy\n{INBOX}\n\n{}\ndev", "ab".repeat(32));
        assert_eq!(Invite::signing_bytes("icy", INBOX, None, Some("dev"), &k), want.as_bytes());
    }

    #[test]
    fn a_code_names_its_network_and_that_cannot_be_changed() {
        let code = issue_on("production");
        let invite = Invite::parse(&code, NOW).unwrap();
        assert_eq!(invite.network.as_deref(), Some("production"));
        let raw = String::from_utf8(STANDARD.decode(&code).unwrap()).unwrap();
        assert!(raw.contains("\"v\":\"coworker/1\",\"w\":\"production\",\"k\":"), "{raw}");
        // Moving the code to another network breaks its signature.
        let moved = tamper(&code, "w", Value::from("dev"));
        assert_eq!(Invite::parse(&moved, NOW).unwrap_err().code(), "invite.bad_signature");
        // Adding a network to a code that had none breaks it too.
        let added = tamper(&issue("icy", None), "w", Value::from("dev"));
        assert_eq!(Invite::parse(&added, NOW).unwrap_err().code(), "invite.bad_signature");
        // Codes issued before networks were named still parse, with no network.
        assert_eq!(Invite::parse(&issue("icy", None), NOW).unwrap().network, None);
        // An unsigned (Python) code's network is nobody's word: not kept.
        let legacy = encode(&serde_json::json!({"n": "py", "i": INBOX, "v": "0.6.1", "w": "dev"}));
        assert_eq!(Invite::parse(&legacy, NOW).unwrap().network, None);
        // Bad network names are refused on issue.
        let k = key();
        let pk = k.verifying_key().to_bytes();
        for bad in ["", "dev\nproduction", &"x".repeat(MAX_NETWORK_BYTES + 1)] {
            let issued = Invite::issue("icy", INBOX, None, Some(bad), pk, |m| k.sign(m).to_bytes());
            assert_eq!(issued.unwrap_err().code(), "invite.malformed", "{bad:?}");
        }
    }

    #[test]
    fn tampering_is_rejected() {
        let code = issue("icy", Some(NOW + 100));
        let other = SigningKey::generate(&mut ChaCha20Rng::seed_from_u64(7));
        let cases = [
            ("n", Value::from("icy2")),
            ("i", Value::from(INBOX.replace('3', "4"))),
            ("i", Value::from(INBOX.to_uppercase())),
            ("x", Value::from(NOW + 101)),
            ("k", Value::from(hex::encode(other.verifying_key().to_bytes()))),
            ("k", Value::from("ff".repeat(32))),
            ("s", Value::from("00".repeat(64))),
        ];
        for (field, value) in cases {
            let bad = tamper(&code, field, value);
            assert_eq!(Invite::parse(&bad, NOW), Err(InviteError::BadSignature), "{field}");
        }
        let mut map = json_of(&code);
        map.remove("x");
        let err = Invite::parse(&encode(&Value::Object(map)), NOW).unwrap_err();
        assert_eq!(err.code(), "invite.bad_signature");
        // A signer that signs with the wrong key cannot issue.
        let err = Invite::issue("icy", INBOX, None, None, key().verifying_key().to_bytes(), |m| {
            other.sign(m).to_bytes()
        });
        assert_eq!(err, Err(InviteError::BadSignature));
    }

    #[test]
    fn half_signed_and_unsigned_v1_are_malformed() {
        let code = issue("icy", None);
        for drop in [&["k"][..], &["s"], &["k", "s"]] {
            let mut map = json_of(&code);
            for key in drop {
                map.remove(*key);
            }
            let err = Invite::parse(&encode(&Value::Object(map)), NOW).unwrap_err();
            assert_eq!(err.code(), "invite.malformed", "{drop:?}");
        }
        for (field, value) in
            [("k", "zz".repeat(32)), ("s", "ab".repeat(63)), ("k", "ab".repeat(33))]
        {
            let err = Invite::parse(&tamper(&code, field, value.into()), NOW).unwrap_err();
            assert_eq!(err.code(), "invite.malformed");
        }
    }

    #[test]
    fn expiry() {
        let code = issue("icy", Some(NOW));
        assert_eq!(Invite::parse(&code, NOW), Err(InviteError::Expired(NOW)));
        assert_eq!(Invite::parse(&code, NOW + 5).unwrap_err().code(), "invite.expired");
        assert_eq!(Invite::parse(&code, NOW - 1).unwrap().expires_at, Some(NOW));
        assert!(Invite::parse(&issue("icy", None), u64::MAX).is_ok());
    }

    #[test]
    fn python_demo_and_legacy_forms() {
        let demo = encode(&serde_json::json!({"n": "icy", "i": INBOX, "v": "0.3.0"}));
        let inv = Invite::parse(&demo, NOW).unwrap();
        assert_eq!((inv.name.as_str(), inv.inbox_id.as_str()), ("icy", INBOX));
        assert_eq!((inv.signer, inv.signature, inv.expires_at), (None, None, None));
        assert!(!inv.is_verified());
        assert_eq!(inv.short_id(), "icy-3f861915");
        // Python's json.dumps escapes non-ASCII and may add unknown keys.
        let raw =
            format!(r#"{{"name":"Zo\u00eb\u202e  ","i":"{INBOX}","version":"0.6.1","z":[1]}}"#);
        let inv = Invite::parse(&STANDARD.encode(raw), NOW).unwrap();
        assert_eq!(inv.name, "Zoë");
        assert_eq!(inv.short_id(), "zo-3f861915");
        let long = encode(&serde_json::json!({"n": "x".repeat(100), "i": INBOX}));
        assert_eq!(Invite::parse(&long, NOW).unwrap().name.len(), 64);
        let wallet = "0x52908400098527886E0F7030069857D2E4169EE7";
        let old = encode(&serde_json::json!({"name": "icy", "wallet": wallet, "v": "0.2.0"}));
        let err = Invite::parse(&old, NOW).unwrap_err();
        assert_eq!(err, InviteError::LegacyWallet { name: "icy".into(), wallet: wallet.into() });
        assert_eq!(err.code(), "invite.legacy_wallet");
        assert!(err.to_string().contains(wallet) && err.to_string().contains("not supported"));
        let junk = encode(&serde_json::json!({"name": "icy", "wallet": "0xzz"}));
        assert_eq!(Invite::parse(&junk, NOW).unwrap_err().code(), "invite.malformed");
    }

    #[test]
    fn name_and_inbox_rules() {
        let k = key();
        let pk = k.verifying_key().to_bytes();
        let issue = |name: &str, inbox: &str| {
            Invite::issue(name, inbox, None, None, pk, |m| k.sign(m).to_bytes())
        };
        for name in ["", "   ", "a\nb", "a\u{202e}b", &"é".repeat(65)] {
            assert_eq!(issue(name, INBOX).unwrap_err().code(), "invite.malformed", "{name:?}");
        }
        assert!(issue(&"é".repeat(64), INBOX).is_ok());
        for inbox in ["", &INBOX[1..], &format!("{INBOX}0"), &INBOX.replace('f', "g")] {
            assert_eq!(issue("a", inbox).unwrap_err().code(), "invite.malformed");
        }
        // A signed code with a newline in its name verifies but is still malformed.
        let msg = Invite::signing_bytes("a\nb", INBOX, None, None, &pk);
        let v = serde_json::json!({"n": "a\nb", "i": INBOX, "v": VERSION, "k": hex::encode(pk),
            "s": hex::encode(k.sign(&msg).to_bytes())});
        assert_eq!(Invite::parse(&encode(&v), NOW).unwrap_err().code(), "invite.malformed");
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(Invite::parse(&"A".repeat(4097), NOW), Err(InviteError::TooLong(4097)));
        assert_eq!(Invite::parse(&"A".repeat(4097), NOW).unwrap_err().code(), "invite.too_long");
        let fixed = [
            "",
            " ",
            "coworker://invite/",
            "====",
            "!!!",
            "e30=",
            "W10=",
            "bnVsbA==",
            "ImEi",
            "MQ==",
            "\u{1F600}",
            "coworker://invite/\u{e9}\u{e9}",
            "coworker://inv\u{e9}",
        ];
        for text in fixed {
            assert_eq!(
                Invite::parse(text, NOW).unwrap_err().code(),
                "invite.malformed",
                "{text:?}"
            );
        }
        let shapes = [
            serde_json::json!({"n": 1, "i": INBOX}),
            serde_json::json!({"n": "a", "i": INBOX, "x": -1}),
            serde_json::json!({"n": "a", "i": INBOX, "x": 1.5}),
            serde_json::json!({"n": "a", "i": INBOX, "x": "9"}),
            serde_json::json!({"n": "a", "i": null}),
            serde_json::json!({"i": INBOX}),
            serde_json::json!({"n": "a", "i": INBOX, "v": VERSION}),
            serde_json::json!({"n": "a", "i": INBOX, "k": 5, "s": []}),
            serde_json::json!({"k": "00".repeat(32), "s": "00".repeat(64)}),
        ];
        for v in &shapes {
            assert_eq!(
                Invite::parse(&encode(v), NOW).unwrap_err().code(),
                "invite.malformed",
                "{v}"
            );
        }
        let dup = format!(r#"{{"n":"a","n":"b","i":"{INBOX}"}}"#);
        assert!(Invite::parse(&STANDARD.encode(dup), NOW).is_err());
        // Every truncation and many single-character corruptions of a valid code.
        let code = issue("icy", Some(NOW + 9));
        for end in 0..code.len() {
            let _ = Invite::parse(&code[..end], NOW);
            let _ = Invite::parse(&Invite::uri(&code)[..end.min(code.len() - 1)], NOW);
        }
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let alphabet = b"ABCxyz019+/-_= \n\"{}\\\xff";
        for _ in 0..3000 {
            let mut bytes = code.clone().into_bytes();
            let at = rng.next_u32() as usize % bytes.len();
            bytes[at] = alphabet[rng.next_u32() as usize % alphabet.len()];
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(inv) = Invite::parse(&text, NOW) {
                assert_eq!(inv.name, "icy"); // only padding-insensitive edits may survive
            }
            let mut noise = vec![0u8; (rng.next_u32() % 300) as usize];
            rng.fill_bytes(&mut noise);
            assert!(Invite::parse(&String::from_utf8_lossy(&noise), NOW).is_err());
            assert!(Invite::parse(&STANDARD.encode(&noise), NOW).is_err());
        }
    }

    fn svg_side(svg: &str) -> usize {
        let rest = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
        rest.split(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn qr_svg_matches_qrcode() {
        let uri = Invite::uri(&issue("icy", Some(NOW)));
        let svg = Invite::qr_svg(&uri).unwrap();
        let code = QrCode::new(uri.as_bytes()).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg_side(&svg), code.width() + 8);
        // The path's horizontal runs cover exactly the dark modules.
        let d = svg.split(" d=\"").nth(1).unwrap();
        let dark: usize = d
            .split('M')
            .skip(1)
            .map(|seg| {
                seg.split('h').nth(1).unwrap().split('v').next().unwrap().parse::<usize>().unwrap()
            })
            .sum();
        assert_eq!(dark, code.to_colors().iter().filter(|&&c| c == Color::Dark).count());
        // The terminal drawing has the same modules, two rows per line.
        let text = Invite::qr_text(&uri).unwrap();
        let side = code.width() + 8;
        assert_eq!(text.lines().count(), side.div_ceil(2));
        assert!(text.lines().all(|l| l.chars().count() == side));
        let dark_in_text: usize = text
            .chars()
            .map(|c| match c {
                ' ' => 2,
                '▀' | '▄' => 1,
                _ => 0,
            })
            .sum();
        assert_eq!(dark_in_text, dark);
        assert_eq!(Invite::qr_svg(&"a".repeat(4097)).unwrap_err().code(), "invite.too_long");
        assert_eq!(Invite::qr_svg(&"a".repeat(4000)).unwrap_err().code(), "invite.qr");
    }

    #[test]
    fn qr_png_header_and_size() {
        let code = issue("icy", None);
        let width = QrCode::new(code.as_bytes()).unwrap().width() as u32;
        let png = Invite::qr_png(&code, 3).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert_eq!((w, h), ((width + 8) * 3, (width + 8) * 3));
        assert_eq!((png[24], png[25]), (8, 0)); // bit depth 8, grayscale
        // Decode and check the quiet zone is white and some module is black.
        let mut reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert!(buf[..(w * 12) as usize].iter().all(|&p| p == 255));
        assert!(buf.contains(&0));
        assert_eq!(Invite::qr_png(&code, 0).unwrap_err().code(), "invite.qr");
        assert_eq!(Invite::qr_png(&code, u32::MAX).unwrap_err().code(), "invite.qr");
    }
}
