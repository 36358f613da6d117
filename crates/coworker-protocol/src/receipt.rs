//! Metering receipts: every call yields one, signed by the provider's XMTP installation key,
//! sent to and verified by the caller; both sides keep it. Export as JSON or CSV.
//!
//! The signature is Ed25519 over `"CoWorker receipt v1\n"` followed by the receipt's JSON with
//! its fields in declaration order (the form [`Receipt::signing_bytes`] produces).

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"CoWorker receipt v1\n";

/// What one call cost, as the provider attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Unique id (UUID).
    pub id: String,
    /// The task (UUID).
    pub task_id: String,
    /// The caller's inbox id.
    pub caller: String,
    /// The provider's inbox id.
    pub provider: String,
    /// The skill called.
    pub skill: String,
    /// Hex SHA-256 of the input's JSON text.
    pub input_sha256: String,
    /// Hex SHA-256 of the output's JSON text (empty on failure).
    pub output_sha256: String,
    /// When execution started, Unix milliseconds.
    pub started: u64,
    /// How long it ran.
    pub duration_ms: u64,
    /// `completed` or `failed:<CODE>`.
    pub status: String,
    /// Metered units (1 per call unless the skill reports more).
    pub units: u64,
}

/// A receipt with the provider installation's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReceipt {
    /// The attested facts.
    pub receipt: Receipt,
    /// The signing installation's Ed25519 public key, hex.
    pub signer: String,
    /// The Ed25519 signature, hex.
    pub signature: String,
}

/// Why a receipt is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not signed by the installation that sent it.
    #[error("receipt signed by another key than the sending installation's")]
    WrongSigner,
    /// The signature does not verify.
    #[error("receipt signature does not verify")]
    BadSignature,
    /// It describes another call than the one it answers.
    #[error("receipt does not match the call: {0}")]
    Mismatch(&'static str),
}

impl ReceiptError {
    /// A stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongSigner => "receipt.wrong_signer",
            Self::BadSignature => "receipt.bad_signature",
            Self::Mismatch(_) => "receipt.mismatch",
        }
    }
}

/// Hex SHA-256 of a JSON value's text.
pub fn digest(value: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

impl Receipt {
    /// The bytes the provider signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = DOMAIN.to_vec();
        // A struct of strings and integers always serialises.
        bytes.extend(serde_json::to_vec(self).unwrap_or_default());
        bytes
    }

    /// Signs with the provider's installation key (`sign` holds it; `signer` is its public key).
    pub fn sign(self, signer: [u8; 32], sign: impl FnOnce(&[u8]) -> [u8; 64]) -> SignedReceipt {
        let signature = sign(&self.signing_bytes());
        SignedReceipt {
            receipt: self,
            signer: hex::encode(signer),
            signature: hex::encode(signature),
        }
    }
}

impl SignedReceipt {
    /// Verifies the signature and that the signer is `installation`, the XMTP-authenticated
    /// installation that sent it.
    pub fn verify(&self, installation: &[u8; 32]) -> Result<(), ReceiptError> {
        if self.signer != hex::encode(installation) {
            return Err(ReceiptError::WrongSigner);
        }
        let key = VerifyingKey::from_bytes(installation).map_err(|_| ReceiptError::WrongSigner)?;
        let signature: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(ReceiptError::BadSignature)?;
        key.verify(&self.receipt.signing_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| ReceiptError::BadSignature)
    }

    /// Checks that it is about the call we made: our task, us as caller, the peer as provider,
    /// the skill and input we sent.
    pub fn matches(
        &self,
        task_id: &str,
        caller: &str,
        provider: &str,
        skill: &str,
        input_sha256: &str,
    ) -> Result<(), ReceiptError> {
        let r = &self.receipt;
        let checks = [
            (r.task_id == task_id, "task id"),
            (r.caller == caller, "caller"),
            (r.provider == provider, "provider"),
            (r.skill == skill, "skill"),
            (r.input_sha256 == input_sha256, "input digest"),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(ReceiptError::Mismatch(what)),
            None => Ok(()),
        }
    }

    /// Checks that it attests the answer we got: the same outcome (`completed` or
    /// `failed:<CODE>`), the digest of the output we received (empty on failure), and one unit
    /// (a call is metered as one unit). A provider cannot bill for another outcome than the one
    /// it delivered.
    pub fn attests(&self, status: &str, output_sha256: &str) -> Result<(), ReceiptError> {
        let r = &self.receipt;
        let checks = [
            (r.status == status, "status"),
            (r.output_sha256 == output_sha256, "output digest"),
            (r.units == 1, "units"),
        ];
        match checks.into_iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(ReceiptError::Mismatch(what)),
            None => Ok(()),
        }
    }
}

/// CSV with a header row; fields quoted where needed. Text a peer chose (a skill name, an id)
/// that a spreadsheet would read as a formula (`= + - @`, tab, carriage return first) is
/// prefixed with `'`, so opening the export runs nothing.
pub fn to_csv<'a>(receipts: impl IntoIterator<Item = &'a SignedReceipt>) -> String {
    fn field(text: &str) -> String {
        let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{text}")
        } else {
            text.to_owned()
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    }
    let mut out = String::from(
        "id,task_id,caller,provider,skill,input_sha256,output_sha256,started,duration_ms,status,units,signer,signature\n",
    );
    for s in receipts {
        let r = &s.receipt;
        let row = [
            field(&r.id),
            field(&r.task_id),
            field(&r.caller),
            field(&r.provider),
            field(&r.skill),
            field(&r.input_sha256),
            field(&r.output_sha256),
            r.started.to_string(),
            r.duration_ms.to_string(),
            field(&r.status),
            r.units.to_string(),
            field(&s.signer),
            field(&s.signature),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn receipt() -> Receipt {
        Receipt {
            id: "r1".into(),
            task_id: "t1".into(),
            caller: "aa".into(),
            provider: "bb".into(),
            skill: "translate".into(),
            input_sha256: digest(&serde_json::json!({"text": "hi"})),
            output_sha256: String::new(),
            started: 1,
            duration_ms: 2,
            status: "completed".into(),
            units: 1,
        }
    }

    #[test]
    fn signed_receipts_verify_and_tampering_is_detected() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = key.verifying_key().to_bytes();
        let signed = receipt().sign(public, |bytes| key.sign(bytes).to_bytes());
        signed.verify(&public).unwrap();
        let wire: SignedReceipt =
            serde_json::from_str(&serde_json::to_string(&signed).unwrap()).unwrap();
        wire.verify(&public).unwrap();

        let mut tampered = signed.clone();
        tampered.receipt.units = 100;
        assert_eq!(tampered.verify(&public).unwrap_err().code(), "receipt.bad_signature");
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert_eq!(signed.verify(&other).unwrap_err().code(), "receipt.wrong_signer");

        let input = digest(&serde_json::json!({"text": "hi"}));
        signed.matches("t1", "aa", "bb", "translate", &input).unwrap();
        assert_eq!(
            signed.matches("t1", "aa", "cc", "translate", &input).unwrap_err(),
            ReceiptError::Mismatch("provider")
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut r = receipt();
        r.skill = "a,\"b\"".into();
        let signed = r.sign([0; 32], |bytes| key.sign(bytes).to_bytes());
        let csv = to_csv([&signed]);
        assert!(csv.starts_with("id,task_id,"));
        assert!(csv.contains(",\"a,\"\"b\"\"\","), "{csv}");
        assert_eq!(csv.lines().count(), 2);
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        let key = SigningKey::from_bytes(&[7; 32]);
        for evil in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            let mut r = receipt();
            r.skill = evil.into();
            r.task_id = evil.into();
            let csv = to_csv([&r.sign([0; 32], |bytes| key.sign(bytes).to_bytes())]);
            let row = csv.lines().nth(1).unwrap();
            for cell in row.split(',') {
                let cell = cell.trim_start_matches('"');
                assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{evil:?}: {row}");
            }
        }
    }

    #[test]
    fn a_receipt_must_attest_the_answer_received() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut r = receipt();
        r.output_sha256 = digest(&serde_json::json!({"ok": 1}));
        let signed = r.sign([0; 32], |bytes| key.sign(bytes).to_bytes());
        let out = digest(&serde_json::json!({"ok": 1}));
        signed.attests("completed", &out).unwrap();
        assert_eq!(
            signed.attests("failed:TIMEOUT", "").unwrap_err(),
            ReceiptError::Mismatch("status")
        );
        let other = digest(&serde_json::json!({"ok": 2}));
        assert_eq!(
            signed.attests("completed", &other).unwrap_err(),
            ReceiptError::Mismatch("output digest")
        );
        let mut billed = signed.receipt;
        billed.units = 1000;
        let billed = billed.sign([0; 32], |bytes| key.sign(bytes).to_bytes());
        assert_eq!(billed.attests("completed", &out).unwrap_err(), ReceiptError::Mismatch("units"));
    }
}
