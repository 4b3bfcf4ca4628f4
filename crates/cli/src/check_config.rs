//! `rollcall check-config FILE`: validates a configuration the way `rollcall serve` would and
//! prints the effective result as TOML, with secrets masked, so it can be reviewed (or kept in
//! a deployment log) without leaking credentials.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use toml::{Table, Value};

use crate::serve::ServeArgs;

/// What replaces a secret in the output.
const MASK: &str = "<masked>";

/// Options of `rollcall check-config`.
#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The TOML file to check; without it, `--config` / `ROLLCALL_CONFIG` (or the defaults).
    file: Option<PathBuf>,

    /// Every `rollcall serve` option applies, so the output is what `serve` would run with.
    #[command(flatten)]
    serve: ServeArgs,
}

pub(crate) fn run(args: CheckConfigArgs) -> ExitCode {
    let CheckConfigArgs { file, mut serve } = args;
    if let Some(file) = file {
        serve.set_config_file(file);
    }
    let config = match serve.into_config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("rollcall: {message}");
            return ExitCode::from(2);
        }
    };
    let text = match render(&config) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("rollcall: cannot print the configuration: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth reporting: the check itself passed.
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    ExitCode::SUCCESS
}

/// The configuration as TOML, secrets masked, with a header saying what it is.
fn render(config: &rollcall_server::config::Config) -> Result<String, String> {
    let mut table = Table::try_from(config).map_err(|e| e.to_string())?;
    mask_secrets(&mut table);
    let body = toml::to_string_pretty(&table).map_err(|e| e.to_string())?;
    Ok(format!(
        "# rollcall: configuration OK. Effective settings (defaults < file < ROLLCALL_* \
         variables < flags); secrets are shown as {MASK:?}.\n\n{body}"
    ))
}

/// Replaces every secret-looking string value, at any depth: app `secret`s, `admin.token`, and
/// whatever later sections add under such names, so a new credential is masked by default.
fn mask_secrets(table: &mut Table) {
    for (key, value) in table.iter_mut() {
        mask_value(key, value);
    }
}

fn mask_value(key: &str, value: &mut Value) {
    match value {
        Value::String(text) if is_secret_key(key) => *text = MASK.to_owned(),
        Value::String(text) => *text = mask_url_password(text),
        Value::Table(table) => mask_secrets(table),
        Value::Array(items) => {
            for item in items {
                mask_value(key, item);
            }
        }
        _ => {}
    }
}

/// `redis://user:secret@host` → `redis://user:<masked>@host`: a URL may carry a password
/// (`redis.url`, webhook URLs) whatever its key is called.
fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:{MASK}@{host}{path}")
        }
        _ => text.to_owned(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "token", "password"]
        .iter()
        .any(|word| key == *word || key.ends_with(&format!("_{word}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_server::config::{AppConfig, Config};

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(
            mask_url_password("redis://app:hunter2@db:6379/0"),
            "redis://app:<masked>@db:6379/0"
        );
        assert_eq!(mask_url_password("redis://db:6379"), "redis://db:6379");
        assert_eq!(mask_url_password("http://h/p@q:r"), "http://h/p@q:r");
    }

    #[test]
    fn secrets_are_masked_and_the_rest_reads_back() {
        let mut config = Config::default();
        config.apps.push(AppConfig {
            id: "second".parse().unwrap(),
            key: "second-key".into(),
            secret: "a very secret value".into(),
            ..AppConfig::development()
        });
        config.admin.token = Some("an-admin-token-of-some-length".into());
        let text = render(&config).unwrap();
        assert!(!text.contains("a very secret value"), "{text}");
        assert!(!text.contains("dev-secret"), "{text}");
        assert!(!text.contains("an-admin-token"), "{text}");
        assert_eq!(text.matches(r#"= "<masked>""#).count(), 3, "{text}");
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back.apps.len(), 2);
        assert_eq!(back.apps[1].key, "second-key");
        assert_eq!(back.apps[1].secret, MASK);
        assert_eq!(back.shutdown, config.shutdown);
    }

    #[test]
    fn key_names_that_hold_secrets() {
        assert!(is_secret_key("secret"));
        assert!(is_secret_key("token"));
        assert!(is_secret_key("webhook_secret"));
        assert!(!is_secret_key("key"));
        assert!(!is_secret_key("tokens_per_second"));
    }
}
