//! Who a new connection is: from its token, or self-asserted where the app allows it.

use rollcall_core::{ChannelName, ClientId, MemberData};
use rollcall_proto::ErrorCode;
use serde_json::Value;

use crate::auth::{Action, Grants, TokenError, verify_token};
use crate::config::AppConfig;

/// The query parameters of a native connection URL.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub(crate) struct ConnectParams {
    /// The app key. Optional when the server has a single app.
    pub(crate) app: Option<String>,
    /// A token signed with the app secret.
    pub(crate) token: Option<String>,
    /// A self-asserted client id (apps that allow anonymous clients only).
    pub(crate) client_id: Option<String>,
}

/// The identity and rights of a connection.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) client_id: Option<ClientId>,
    /// Member data from the token, applied over anything the client sends.
    pub(crate) token_data: Option<Value>,
    /// `None`: everything allowed.
    pub(crate) grants: Option<Grants>,
}

/// Why a connection was refused.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Identity {
    /// Authenticates a connection to `app`.
    pub(crate) fn establish(
        app: &AppConfig,
        params: &ConnectParams,
        max_data_bytes: usize,
        now_secs: u64,
    ) -> Result<Self, Refusal> {
        let refuse = |code, message: String| Err(Refusal { code, message });
        let Some(token) = &params.token else {
            if !app.allow_anonymous {
                return refuse(
                    ErrorCode::AnonymousNotAllowed,
                    "this app requires a token (?token=...)".into(),
                );
            }
            let client_id = match params.client_id.as_deref() {
                None => None,
                Some(raw) => match ClientId::parse(raw) {
                    Ok(id) => Some(id),
                    Err(e) => return refuse(ErrorCode::BadRequest, format!("client_id: {e}")),
                },
            };
            return Ok(Self {
                client_id,
                token_data: None,
                grants: None,
            });
        };
        if params.client_id.is_some() {
            return refuse(
                ErrorCode::BadRequest,
                "give either token or client_id, not both: the token names the client".into(),
            );
        }
        let claims = verify_token(token, app.secret.as_bytes(), app.id.as_str(), now_secs)
            .map_err(|e| Refusal {
                code: match e {
                    TokenError::Expired => ErrorCode::TokenExpired,
                    _ => ErrorCode::InvalidToken,
                },
                message: e.to_string(),
            })?;
        let client_id = ClientId::parse(&claims.sub).map_err(|e| Refusal {
            code: ErrorCode::InvalidToken,
            message: format!("token sub: {e}"),
        })?;
        if let Some(data) = &claims.data {
            MemberData::from_value(data, max_data_bytes).map_err(|e| Refusal {
                code: ErrorCode::InvalidToken,
                message: format!("token data: {e}"),
            })?;
        }
        Ok(Self {
            client_id: Some(client_id),
            token_data: claims.data,
            grants: claims.grants,
        })
    }

    /// Whether the connection may do `action` on `channel`.
    pub(crate) fn allows(&self, action: Action, channel: &ChannelName) -> bool {
        self.grants
            .as_ref()
            .is_none_or(|grants| grants.allows(action, channel))
    }
}
