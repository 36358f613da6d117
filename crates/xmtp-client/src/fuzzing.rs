//! Entry points for the fuzz target `mls` (`tests/fuzz`): the client's own handling of hostile
//! MLS input — group messages (commits, proposals, application messages) and welcomes — on a
//! real conversation's state, every change rolled back afterwards so each input starts from the
//! same state. A panic is not contained here, so the fuzzer sees it. Not for the product.

use openmls::prelude::{KeyPackageBundle, KeyPackageRef, MlsMessageBodyIn, MlsMessageIn};
use tls_codec::{Deserialize as _, Serialize as _};
use xmtp_proto::mls_api as api;

use crate::client::Client;
use crate::content::{self, EncodedContent};
use crate::conversation::ConversationId;
use crate::error::ClientError;
use crate::mls::welcome;
use crate::store::Write;

impl Client {
    /// Processes `data` as a group message of `conversation` from the network, then forgets
    /// everything it changed.
    ///
    /// # Panics
    /// When processing panicked (that is the finding).
    pub async fn fuzz_group_message(&self, conversation: &ConversationId, data: &[u8]) {
        let mut state = self.inner.state.lock().await;
        let v1 = api::group_message::V1 {
            id: 1 << 40,
            created_ns: 1,
            group_id: conversation.0.clone().into(),
            data: data.to_vec().into(),
            ..Default::default()
        };
        let (mut write, mut events) = (Write::default(), Vec::new());
        let processed = self
            .process_envelope(&mut state, &conversation.0, &v1, None, &mut write, &mut events)
            .await;
        // Bytes that are no MLS message changed nothing (processing stops there); skipping the
        // reload keeps the target fast.
        if MlsMessageIn::tls_deserialize_exact(data).is_ok() {
            state.recover_group(&conversation.0);
        }
        assert!(!matches!(processed, Err(ClientError::Panicked(_))), "processing panicked");
    }

    /// Seals `payload` (an application message's plaintext) as our next message in
    /// `conversation`, without sending it or keeping the ratchet step.
    pub async fn fuzz_seal(
        &self,
        conversation: &ConversationId,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let mut state = self.inner.state.lock().await;
        let signer = self.signer();
        let crate::client::State { provider, groups, .. } = &mut *state;
        let sealed = groups
            .get_mut(&conversation.0)?
            .create_message(provider, &signer, payload)
            .ok()
            .and_then(|out| out.tls_serialize_detached().ok());
        state.recover_group(&conversation.0);
        sealed
    }

    /// The plaintext of an application message carrying `content` (a seed for [`Self::fuzz_seal`]).
    pub fn fuzz_plaintext(content: &EncodedContent) -> Vec<u8> {
        use prost::Message as _;
        content::seal_envelope(&content.encode_to_vec(), "1")
    }

    /// Processes `data` as an MLS Welcome wrapped for our newest key package, as anyone who
    /// reads the key package can do, then forgets everything it changed.
    ///
    /// # Panics
    /// When processing panicked, or we have no key package.
    pub async fn fuzz_welcome(&self, data: &[u8]) {
        let init_key = self.inner.store.newest_init_key().await.ok().flatten();
        let init_key = init_key.expect("a key package");
        let Ok((wrapped, metadata)) = welcome::wrap(&init_key, data, 1) else { return };
        let v1 = api::welcome_message::V1 {
            id: 1 << 40,
            created_ns: 1,
            installation_key: self.inner.installation_key.to_vec().into(),
            data: wrapped.into(),
            hpke_public_key: init_key.into(),
            wrapper_algorithm: welcome::CURVE25519,
            welcome_metadata: metadata.into(),
        };
        let mut state = self.inner.state.lock().await;
        let joined = self.join(&mut state, &v1).await;
        if MlsMessageIn::tls_deserialize_exact(data).is_ok() {
            state.recover();
        }
        assert!(!matches!(joined, Err(ClientError::Panicked(_))), "joining panicked");
    }

    /// Seeds for the fuzz target, from what the node holds for us: the group messages of
    /// `conversation` as sent, and the welcomes addressed to us, unwrapped.
    pub async fn fuzz_seeds(&self, conversation: &ConversationId) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mls = self.inner.api.mls.clone();
        let from = crate::cursor::Cursor::default();
        let mut messages = Vec::new();
        if let Ok(page) = mls.group_messages(&conversation.0, &from, 1_000).await {
            messages.extend(page.items.into_iter().map(|(_, v1)| v1.data.to_vec()));
        }
        let mut welcomes = Vec::new();
        let state = self.inner.state.lock().await;
        if let Ok(page) = mls.welcomes(&from, 1_000).await {
            for (_, message) in page.items {
                let Some(api::welcome_message::Version::V1(v1)) = message.version else { continue };
                let Ok(Some(hash_ref)) =
                    self.inner.store.key_package_ref(&v1.hpke_public_key).await
                else {
                    continue;
                };
                let Ok(reference) = KeyPackageRef::tls_deserialize_exact(hash_ref.as_slice())
                else {
                    continue;
                };
                let storage = openmls_traits::OpenMlsProvider::storage(&state.provider);
                let bundle: Option<KeyPackageBundle> =
                    openmls_traits::storage::StorageProvider::key_package(storage, &reference)
                        .ok()
                        .flatten();
                let Some(bundle) = bundle else { continue };
                if let Ok((bytes, _)) =
                    welcome::unwrap(bundle.init_private_key(), &v1.data, &v1.welcome_metadata)
                    && MlsMessageIn::tls_deserialize_exact(bytes.as_slice())
                        .is_ok_and(|m| matches!(m.extract(), MlsMessageBodyIn::Welcome(_)))
                {
                    welcomes.push(bytes);
                }
            }
        }
        (messages, welcomes)
    }
}
