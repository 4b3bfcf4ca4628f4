//! `rollcall serve`: configuration layering and start-up.
//!
//! Precedence, lowest to highest: built-in defaults, the `--config` TOML file, `ROLLCALL_*`
//! environment variables, command-line flags. clap resolves the last two (a flag wins over its
//! variable); the result is laid over the file's values.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rollcall_server::Server;
use rollcall_server::config::{AppConfig, Config, EngineKind};

use crate::logging::{self, LogFormatArg};
use crate::signals;

/// Options of `rollcall serve`. Each can also be set in the config file (key in brackets) or
/// with the environment variable shown.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; see docs/configuration.md. Flags and variables override it.
    #[arg(long, env = "ROLLCALL_CONFIG")]
    config: Option<PathBuf>,

    /// Address to listen on [listen]. Default 127.0.0.1:7070.
    #[arg(long, env = "ROLLCALL_LISTEN")]
    listen: Option<SocketAddr>,

    /// This node's number in connection ids [node_id]. Default: random.
    #[arg(long, env = "ROLLCALL_NODE_ID")]
    node_id: Option<u32>,

    /// Milliseconds between server pings [heartbeat.interval_ms]. Default 15000.
    #[arg(long, env = "ROLLCALL_HEARTBEAT_INTERVAL_MS")]
    heartbeat_interval_ms: Option<u64>,

    /// Milliseconds of silence after which a connection is closed and its members leave
    /// [heartbeat.timeout_ms]. Default 45000.
    #[arg(long, env = "ROLLCALL_HEARTBEAT_TIMEOUT_MS")]
    heartbeat_timeout_ms: Option<u64>,

    /// Largest WebSocket frame accepted, in bytes [limits.max_frame_bytes]. Default 65536.
    #[arg(long, env = "ROLLCALL_MAX_FRAME_BYTES")]
    max_frame_bytes: Option<usize>,

    /// Largest member data, in bytes of JSON [limits.max_member_data_bytes]. Default 2048.
    #[arg(long, env = "ROLLCALL_MAX_MEMBER_DATA_BYTES")]
    max_member_data_bytes: Option<usize>,

    /// Largest message payload, in bytes of JSON [limits.max_message_bytes]. Default 16384.
    #[arg(long, env = "ROLLCALL_MAX_MESSAGE_BYTES")]
    max_message_bytes: Option<usize>,

    /// Most channels per connection [limits.max_channels_per_connection]. Default 100.
    #[arg(long, env = "ROLLCALL_MAX_CHANNELS_PER_CONNECTION")]
    max_channels_per_connection: Option<usize>,

    /// Most members per channel [limits.max_members_per_channel]. Default 100000.
    #[arg(long, env = "ROLLCALL_MAX_MEMBERS_PER_CHANNEL")]
    max_members_per_channel: Option<usize>,

    /// Bytes of events queued for one connection before it is dropped as a slow consumer; answers
    /// to its own requests are not counted [limits.max_queue_bytes]. Default 1048576.
    #[arg(long, env = "ROLLCALL_MAX_QUEUE_BYTES")]
    max_queue_bytes: Option<usize>,

    /// publish/ephemeral/invite requests one native connection may send per second (and in a
    /// burst) [limits.max_messages_per_second]. Default 100.
    #[arg(long, env = "ROLLCALL_MAX_MESSAGES_PER_SECOND")]
    max_messages_per_second: Option<u32>,

    /// Most simultaneous connections [limits.max_connections]. Default 100000.
    #[arg(long, env = "ROLLCALL_MAX_CONNECTIONS")]
    max_connections: Option<usize>,

    /// Serve the /test/echo WebSocket endpoint, for conformance tests only
    /// [testing.echo_endpoint]. Default off.
    #[arg(long, env = "ROLLCALL_TEST_ECHO_ENDPOINT")]
    test_echo_endpoint: bool,

    /// Admin token that opens /dashboard and the /api admin endpoints, at least 16 bytes
    /// [admin.token]. Default none: both answer 403. Prefer the variable to the flag, which
    /// other users of the machine can see.
    #[arg(long, env = "ROLLCALL_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,

    /// Log format on standard error: `text` or `json` [log.format]. Default text.
    #[arg(long, env = "ROLLCALL_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormatArg>,

    /// Longest wait for connections to close on SIGTERM / SIGINT before exiting
    /// [shutdown.drain_timeout_ms]. Default 10000.
    #[arg(long, env = "ROLLCALL_DRAIN_TIMEOUT_MS")]
    drain_timeout_ms: Option<u64>,

    /// On shutdown, clients are told to reconnect after a random delay up to this many
    /// milliseconds [shutdown.reconnect_window_ms]. Default 5000.
    #[arg(long, env = "ROLLCALL_RECONNECT_WINDOW_MS")]
    reconnect_window_ms: Option<u64>,

    /// Where presence lives: `memory` (this process) or `redis` (shared by every node using the
    /// same Redis) [engine]. Default memory.
    #[arg(long, env = "ROLLCALL_ENGINE", value_enum)]
    engine: Option<EngineArg>,

    /// The Redis server for `--engine redis` [redis.url]. Default redis://127.0.0.1:6379.
    #[arg(long, env = "ROLLCALL_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,

    /// A node's liveness lease in Redis; a dead node's members leave about this long after it
    /// died [redis.node_lease_ms]. Default 10000.
    #[arg(long, env = "ROLLCALL_NODE_LEASE_MS")]
    node_lease_ms: Option<u64>,
}

/// `--engine`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum EngineArg {
    /// In this process.
    Memory,
    /// In Redis.
    Redis,
}

impl ServeArgs {
    /// Reads `path` instead of `--config` / `ROLLCALL_CONFIG` (for `rollcall check-config FILE`).
    pub(crate) fn set_config_file(&mut self, path: PathBuf) {
        self.config = Some(path);
    }

    /// The configuration these options make: defaults < file < variables < flags, validated.
    pub(crate) fn into_config(self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        let set = |slot: &mut usize, value: Option<usize>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if self.node_id.is_some() {
            config.node_id = self.node_id;
        }
        if let Some(ms) = self.heartbeat_interval_ms {
            config.heartbeat.interval_ms = ms;
        }
        if let Some(ms) = self.heartbeat_timeout_ms {
            config.heartbeat.timeout_ms = ms;
        }
        let limits = &mut config.limits;
        set(&mut limits.max_frame_bytes, self.max_frame_bytes);
        set(
            &mut limits.max_member_data_bytes,
            self.max_member_data_bytes,
        );
        set(&mut limits.max_message_bytes, self.max_message_bytes);
        set(
            &mut limits.max_channels_per_connection,
            self.max_channels_per_connection,
        );
        set(
            &mut limits.max_members_per_channel,
            self.max_members_per_channel,
        );
        set(&mut limits.max_queue_bytes, self.max_queue_bytes);
        set(&mut limits.max_connections, self.max_connections);
        if let Some(rate) = self.max_messages_per_second {
            limits.max_messages_per_second = rate;
        }
        config.testing.echo_endpoint |= self.test_echo_endpoint;
        if self.admin_token.is_some() {
            config.admin.token = self.admin_token;
        }
        if let Some(format) = self.log_format {
            config.log.format = format.into();
        }
        if let Some(ms) = self.drain_timeout_ms {
            config.shutdown.drain_timeout_ms = ms;
        }
        if let Some(ms) = self.reconnect_window_ms {
            config.shutdown.reconnect_window_ms = ms;
        }
        if let Some(engine) = self.engine {
            config.engine = match engine {
                EngineArg::Memory => EngineKind::Memory,
                EngineArg::Redis => EngineKind::Redis,
            };
        }
        if let Some(url) = self.redis_url {
            config.redis.url = url;
        }
        if let Some(ms) = self.node_lease_ms {
            config.redis.node_lease_ms = ms;
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let config = match args.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("rollcall: {message}");
            return ExitCode::from(2);
        }
    };
    // After the configuration, which may choose the format; its errors go to stderr directly.
    logging::init(config.log.format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rollcall: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let apps = config.apps.clone();
    let server = match Server::bind(config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("rollcall: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match server.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("rollcall: {e}");
            return ExitCode::FAILURE;
        }
    };
    print_banner(addr, &apps);
    let shutdown = signals::shutdown_requested();
    match server.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollcall: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints where the server listens and how to try it. Written without `println!`, which panics
/// when stdout is closed: a server whose log reader went away must keep serving.
fn print_banner(addr: SocketAddr, apps: &[AppConfig]) {
    let mut banner = format!(
        "rollcall {} listening on http://{addr}\n",
        rollcall_server::SERVER_VERSION
    );
    for app in apps {
        let access = if app.allow_anonymous {
            "anonymous clients allowed"
        } else {
            "tokens required"
        };
        banner += &format!(
            "  app {:?}: key {:?} ({access})\n",
            app.id.as_str(),
            app.key
        );
    }
    if let Some(app) = apps.iter().find(|a| a.allow_anonymous) {
        banner += &format!(
            "  try: python3 -m websockets 'ws://{addr}/ws?app={}&client_id=alice' and send {{\"op\":\"join\",\"channel\":\"lobby\"}}\n",
            app.key
        );
    }
    banner += &format!("  demo room: http://{addr}/  ·  dashboard: http://{addr}/dashboard\n");
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
}
