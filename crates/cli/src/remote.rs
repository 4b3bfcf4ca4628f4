//! What the client commands share: where and as whom to connect, and how failures are told.

use std::process::ExitCode;

use clap::Args;
use rollcall_client::{ChannelName, Client, ClientId, ConnectOptions, Error, ErrorCode};

/// Connection options of the client commands.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server's native WebSocket endpoint.
    #[arg(long, env = "ROLLCALL_URL", default_value = "ws://127.0.0.1:7070/ws")]
    pub(crate) url: String,

    /// Client id to assert, for apps that allow anonymous clients (the development app does).
    #[arg(long = "as", value_name = "CLIENT_ID")]
    pub(crate) client_id: Option<String>,

    /// A token signed with the app secret (mint one with `rollcall token`).
    #[arg(long, env = "ROLLCALL_TOKEN", conflicts_with = "client_id")]
    pub(crate) token: Option<String>,

    /// The app key, needed when the server hosts several apps.
    #[arg(long, env = "ROLLCALL_APP_KEY")]
    pub(crate) app_key: Option<String>,

    /// Print one JSON object per line instead of readable text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A command that could not do its job, with the exit code to report it by.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad arguments (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Runtime(String),
}

impl Failure {
    pub(crate) fn report(self) -> ExitCode {
        let (message, code) = match self {
            Self::Usage(message) => (message, 2),
            Self::Runtime(message) => (message, 1),
        };
        eprintln!("rollcall: {message}");
        ExitCode::from(code)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Runtime(explain(&error))
    }
}

impl From<std::io::Error> for Failure {
    // Writing to stdout fails when the reader went away (`| head`): nothing left to tell.
    fn from(error: std::io::Error) -> Self {
        Self::Runtime(format!("cannot write output: {error}"))
    }
}

/// A sentence a person at a terminal can act on.
pub(crate) fn explain(error: &Error) -> String {
    match error {
        Error::Unreachable { url, source } => format!(
            "cannot reach the server at {url}: {source}\n  is it running? `rollcall serve` starts one; --url picks another"
        ),
        Error::Rejected(refusal) => match refusal.code {
            ErrorCode::InvalidToken => {
                format!("the server rejected the token: {}", refusal.message)
            }
            ErrorCode::TokenExpired => {
                "the token has expired: mint a new one (`rollcall token`)".to_owned()
            }
            ErrorCode::AnonymousNotAllowed => {
                "this app requires a token: pass --token (`rollcall token` mints one)".to_owned()
            }
            ErrorCode::UnknownApp => format!("{} (pass --app-key)", refusal.message),
            _ => format!("the server refused the connection: {refusal}"),
        },
        Error::Server(e) => format!("the server refused: {e}"),
        other => other.to_string(),
    }
}

/// Validates a channel name before anything touches the network.
pub(crate) fn channel(name: &str) -> Result<ChannelName, Failure> {
    ChannelName::parse(name)
        .map_err(|e| Failure::Usage(format!("invalid channel name {name:?}: {e}")))
}

/// Parses a JSON argument.
pub(crate) fn json_arg(flag: &str, text: &str) -> Result<serde_json::Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Usage(format!("{flag} is not valid JSON: {e}")))
}

impl ConnectArgs {
    fn options(&self) -> Result<ConnectOptions, Failure> {
        let mut options = match (&self.token, &self.client_id) {
            (Some(token), _) => ConnectOptions::token(token.clone()),
            (None, Some(id)) => {
                let id = ClientId::parse(id)
                    .map_err(|e| Failure::Usage(format!("invalid client id {id:?}: {e}")))?;
                ConnectOptions::anonymous(id)
            }
            (None, None) => ConnectOptions::default(),
        };
        options.app_key.clone_from(&self.app_key);
        Ok(options)
    }

    /// Whether the connection will have a client id (and so can join).
    pub(crate) fn has_identity(&self) -> bool {
        self.token.is_some() || self.client_id.is_some()
    }

    pub(crate) async fn connect(&self) -> Result<Client, Failure> {
        let options = self.options()?;
        Client::connect(&self.url, options)
            .await
            .map_err(|error| match error {
                Error::InvalidUrl { .. } => Failure::Usage(error.to_string()),
                other => other.into(),
            })
    }
}

/// Runs `work` on a fresh single-threaded runtime; a terminal client needs no more.
pub(crate) fn run<F: Future<Output = Result<(), Failure>>>(work: F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::Runtime(format!("cannot start the async runtime: {e}")).report(),
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
