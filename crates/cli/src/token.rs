//! `rollcall token`: mints a connection token with an app's secret, for development and tests.
//! Production backends mint tokens themselves (see docs/protocol.md, "Tokens and grants").

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use rollcall_client::ClientId;
use rollcall_server::auth::{ChannelPattern, Grants, TokenClaims, mint_token};
use rollcall_server::config::Config;
use serde_json::{Value, json};

use crate::output::Printer;
use crate::remote::{Failure, json_arg};

/// Options of `rollcall token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The app's id (not its key). Default: the built-in development app.
    #[arg(long, default_value = "dev")]
    app: String,

    /// The client id the token asserts.
    #[arg(long = "client", value_name = "CLIENT_ID")]
    client: String,

    /// Channel grants: JSON ('{"join":["room-*"],"publish":["room-*"]}') or the short form
    /// 'join=room-*,lobby;publish=room-*'. Default: every channel, every action.
    #[arg(long)]
    grants: Option<String>,

    /// Member data the server applies over the client's own, a JSON object.
    #[arg(long)]
    data: Option<String>,

    /// Lifetime in seconds; 0 for a token that never expires.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,

    /// The server configuration holding the app's secret. Default: the built-in configuration.
    #[arg(long, env = "ROLLCALL_CONFIG")]
    config: Option<PathBuf>,

    /// Print {"token": ..., "claims": ...} instead of the bare token.
    #[arg(long)]
    json: bool,
}

/// Reads `join=a,b;publish=c`.
fn short_grants(text: &str) -> Result<Grants, Failure> {
    let mut grants = Grants::default();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (action, patterns) = part.split_once('=').ok_or_else(|| {
            Failure::Usage(format!("--grants: expected ACTION=PATTERNS, got {part:?}"))
        })?;
        let list = match action.trim() {
            "join" => &mut grants.join,
            "watch" => &mut grants.watch,
            "publish" => &mut grants.publish,
            other => {
                return Err(Failure::Usage(format!(
                    "--grants: unknown action {other:?} (join, watch or publish)"
                )));
            }
        };
        list.extend(patterns.split(',').map(|p| ChannelPattern::new(p.trim())));
    }
    Ok(grants)
}

fn grants(text: &str) -> Result<Grants, Failure> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Failure::Usage(format!("--grants: {e}")))
    } else {
        short_grants(text)
    }
}

fn mint(args: &TokenArgs) -> Result<(String, TokenClaims), Failure> {
    ClientId::parse(&args.client)
        .map_err(|e| Failure::Usage(format!("invalid client id {:?}: {e}", args.client)))?;
    let config = match &args.config {
        Some(path) => Config::from_file(path).map_err(|e| Failure::Usage(e.to_string()))?,
        None => Config::default(),
    };
    let app = config
        .apps
        .iter()
        .find(|a| a.id.as_str() == args.app)
        .ok_or_else(|| {
            let known: Vec<&str> = config.apps.iter().map(|a| a.id.as_str()).collect();
            Failure::Usage(format!(
                "no app {:?} in the configuration (apps: {})",
                args.app,
                known.join(", ")
            ))
        })?;
    let data = args
        .data
        .as_deref()
        .map(|d| json_arg("--data", d))
        .transpose()?;
    if data.as_ref().is_some_and(|d| !d.is_object()) {
        return Err(Failure::Usage("--data must be a JSON object".into()));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = TokenClaims {
        sub: args.client.clone(),
        exp: (args.ttl > 0).then(|| now + args.ttl),
        nbf: None,
        iat: Some(now),
        app: Some(app.id.as_str().to_owned()),
        data,
        grants: args.grants.as_deref().map(grants).transpose()?,
    };
    Ok((mint_token(&claims, app.secret.as_bytes()), claims))
}

pub(crate) fn run(args: &TokenArgs) -> ExitCode {
    let (token, claims) = match mint(args) {
        Ok(minted) => minted,
        Err(failure) => return failure.report(),
    };
    let printer = Printer::new(args.json);
    let claims: Value = serde_json::to_value(&claims).unwrap_or(Value::Null);
    match printer.either(&json!({"token": token, "claims": claims}), &token) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => Failure::from(e).report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_grant_form_matches_the_json_form() {
        let short = grants("join=room-*, lobby; publish=room-*").unwrap();
        let long = grants(r#"{"join":["room-*","lobby"],"publish":["room-*"]}"#).unwrap();
        assert_eq!(short, long);
        assert!(grants("dance=x").is_err());
        assert!(grants(r#"{"jion":["x"]}"#).is_err());
    }
}
