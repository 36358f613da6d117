//! `xmtp.identity.api.v1.IdentityApi`: inbox identity logs and identifier lookup.

use prost::Message;
use tonic::{Request, Response, Status};
use xmtp_identity::MemberIdentifier;
use xmtp_proto::associations::IdentifierKind;
use xmtp_proto::identity_api::{self as api, identity_api_server::IdentityApi};

use crate::Shared;
use crate::error::storage_status;
use crate::store::IdentityWriteError;

pub(crate) struct IdentityService {
    shared: Shared,
}

impl IdentityService {
    pub(crate) fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Verifies and stores an identity update (V3 and d14n publishing).
    pub(crate) async fn publish(
        &self,
        update: xmtp_proto::associations::IdentityUpdate,
    ) -> Result<(), Status> {
        let size = update.encoded_len();
        let max = self.shared.limits.max_identity_update_bytes;
        if size > max {
            return Err(Status::invalid_argument(format!(
                "identity update of {size} bytes is over the {max}-byte limit"
            )));
        }
        if update.inbox_id.is_empty() {
            return Err(Status::invalid_argument("identity update has no inbox id"));
        }
        let inbox = update.inbox_id.clone();
        if !self.shared.quotas.identity_updates.take(&inbox, 1.0, std::time::Instant::now()) {
            return Err(crate::rate_limit::over_quota("identity updates for one inbox"));
        }
        match self
            .shared
            .store
            .append_identity_update(update, self.shared.limits.max_inbox_log_entries)
            .await
        {
            Ok(()) => {
                tracing::debug!(%inbox, "identity update stored");
                Ok(())
            }
            Err(IdentityWriteError::Invalid(error)) => {
                tracing::info!(%inbox, code = error.code(), %error, "identity update rejected");
                Err(Status::invalid_argument(format!(
                    "invalid identity update ({}): {error}",
                    error.code()
                )))
            }
            Err(IdentityWriteError::LogFull(max)) => Err(Status::resource_exhausted(format!(
                "the identity log of inbox {inbox} is full ({max} entries)"
            ))),
            Err(IdentityWriteError::Storage(error)) => Err(storage_status(&error)),
        }
    }

    fn check_count(&self, what: &str, count: usize) -> Result<(), Status> {
        let max = self.shared.limits.max_items_per_request;
        if count > max {
            return Err(Status::invalid_argument(format!(
                "too many {what} in one request: {count} (at most {max})"
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl IdentityApi for IdentityService {
    async fn publish_identity_update(
        &self,
        request: Request<api::PublishIdentityUpdateRequest>,
    ) -> Result<Response<api::PublishIdentityUpdateResponse>, Status> {
        self.shared.v3_writes_open()?;
        let update = request
            .into_inner()
            .identity_update
            .ok_or_else(|| Status::invalid_argument("no identity update"))?;
        self.publish(update).await?;
        Ok(Response::new(api::PublishIdentityUpdateResponse {}))
    }

    async fn get_identity_updates(
        &self,
        request: Request<api::GetIdentityUpdatesRequest>,
    ) -> Result<Response<api::GetIdentityUpdatesResponse>, Status> {
        let requests = request.into_inner().requests;
        self.check_count("inbox ids", requests.len())?;
        // The answer is built in memory: bound it like any response.
        let budget = self.shared.limits.page_budget();
        let mut size = 0usize;
        let mut responses = Vec::with_capacity(requests.len());
        for request in requests {
            let rows = self
                .shared
                .store
                .identity_updates(&request.inbox_id, request.sequence_id)
                .await
                .map_err(|e| storage_status(&e))?;
            let updates = rows
                .into_iter()
                .map(|row| api::get_identity_updates_response::IdentityUpdateLog {
                    sequence_id: row.sequence_id,
                    server_timestamp_ns: row.server_timestamp_ns,
                    update: Some(row.update),
                })
                .collect();
            let response = api::get_identity_updates_response::Response {
                inbox_id: request.inbox_id,
                updates,
            };
            size = size.saturating_add(response.encoded_len());
            if size > budget {
                return Err(Status::resource_exhausted(format!(
                    "the identity logs asked for exceed {budget} bytes; ask for fewer inboxes at once"
                )));
            }
            responses.push(response);
        }
        Ok(Response::new(api::GetIdentityUpdatesResponse { responses }))
    }

    async fn get_inbox_ids(
        &self,
        request: Request<api::GetInboxIdsRequest>,
    ) -> Result<Response<api::GetInboxIdsResponse>, Status> {
        let requests = request.into_inner().requests;
        self.check_count("identifiers", requests.len())?;
        let mut responses = Vec::with_capacity(requests.len());
        for request in requests {
            let ethereum = matches!(
                IdentifierKind::try_from(request.identifier_kind),
                Ok(IdentifierKind::Ethereum | IdentifierKind::Unspecified)
            );
            // Only verified Ethereum addresses are indexed; anything else has no inbox here.
            let inbox_id = match MemberIdentifier::ethereum(&request.identifier) {
                Ok(MemberIdentifier::Ethereum(address)) if ethereum => {
                    self.shared.store.inbox_for(&address).await.map_err(|e| storage_status(&e))?
                }
                _ => None,
            };
            responses.push(api::get_inbox_ids_response::Response {
                identifier: request.identifier,
                inbox_id,
                identifier_kind: request.identifier_kind,
            });
        }
        Ok(Response::new(api::GetInboxIdsResponse { responses }))
    }

    async fn verify_smart_contract_wallet_signatures(
        &self,
        request: Request<api::VerifySmartContractWalletSignaturesRequest>,
    ) -> Result<Response<api::VerifySmartContractWalletSignaturesResponse>, Status> {
        let signatures = request.into_inner().signatures;
        self.check_count("signatures", signatures.len())?;
        // This node has no chain access, so it cannot verify ERC-1271/6492 signatures, and it must
        // never claim that one is valid.
        let responses = signatures
            .iter()
            .map(|_| api::verify_smart_contract_wallet_signatures_response::ValidationResponse {
                is_valid: false,
                block_number: None,
                error: Some(
                    "smart contract wallet signatures are not supported by this node".into(),
                ),
            })
            .collect();
        Ok(Response::new(api::VerifySmartContractWalletSignaturesResponse { responses }))
    }
}
