//! The files the web pages load, embedded in the binary from `crates/server/assets/`.
//!
//! They are served under `/assets/{version}/…`, where `version` is a digest of all of them: a
//! page always names the files of the binary that served it, so the files can be cached for a
//! year (`immutable`) and a new binary is never mixed with an old one's scripts. The SDK's
//! modules (`assets/sdk/`) are the TypeScript SDK compiled by `scripts/build-web-assets`, which
//! the browser test suite checks are current.

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug)]
pub(super) struct Asset {
    /// Its path under `assets/` and under `/assets/{version}/`.
    pub(super) path: &'static str,
    /// Its `Content-Type`.
    pub(super) content_type: &'static str,
    /// Its content.
    pub(super) bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }
    };
}

/// Every file served under `/assets/{version}/`. A unit test checks that this list and the
/// `assets/` folder (less the page templates) agree.
pub(super) static ASSETS: &[Asset] = &[
    asset!("base.css", CSS),
    asset!("demo.css", CSS),
    asset!("demo.js", JS),
    asset!("dashboard.css", CSS),
    asset!("dashboard.js", JS),
    asset!("favicon.svg", SVG),
    asset!("shared.js", JS),
    asset!("sdk/backoff.js", JS),
    asset!("sdk/channel.js", JS),
    asset!("sdk/client.js", JS),
    asset!("sdk/emitter.js", JS),
    asset!("sdk/errors.js", JS),
    asset!("sdk/index.js", JS),
    asset!("sdk/invitation.js", JS),
    asset!("sdk/link.js", JS),
    asset!("sdk/members.js", JS),
    asset!("sdk/merge-patch.js", JS),
    asset!("sdk/protocol.js", JS),
    asset!("sdk/sequence.js", JS),
    asset!("sdk/socket.js", JS),
    asset!("sdk/types.js", JS),
    asset!("sdk/typing.js", JS),
];

/// Page templates: HTML with `{{name}}` placeholders, filled by [`render`]. Not served as files.
pub(super) mod templates {
    /// The demo room.
    pub(in crate::web) const DEMO: &str = include_str!("../../assets/demo.html");
    /// The dashboard, once signed in.
    pub(in crate::web) const DASHBOARD: &str = include_str!("../../assets/dashboard.html");
    /// The dashboard's sign-in form (answered with 401).
    pub(in crate::web) const LOGIN: &str = include_str!("../../assets/login.html");
    /// The dashboard without an admin token configured (answered with 403).
    pub(in crate::web) const ADMIN_DISABLED: &str =
        include_str!("../../assets/admin-disabled.html");
}

/// The digest of every asset: the `{version}` in their URLs.
pub(super) static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for asset in ASSETS {
        digest.update(asset.path.as_bytes());
        digest.update([0]);
        digest.update((asset.bytes.len() as u64).to_le_bytes());
        digest.update(asset.bytes);
    }
    hex(&digest.finalize()[..6])
});

/// Each asset's `ETag`, in [`ASSETS`] order.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", hex(&Sha256::digest(a.bytes)[..8])))
        .collect()
});

/// Where the assets of this binary are: `/assets/{version}`.
pub(super) fn base_path() -> String {
    format!("/assets/{}", *VERSION)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `GET /assets/{version}/{*path}`: an embedded file, cached for a year; 304 when the
/// browser's copy is current; 404 for another binary's version or an unknown file.
pub(super) async fn serve(
    Path((version, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if version != *VERSION {
        return (
            StatusCode::NOT_FOUND,
            "these files belong to another version of the server: reload the page\n",
        )
            .into_response();
    }
    let Some(index) = ASSETS.iter().position(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let asset = &ASSETS[index];
    let etag = &ETAGS[index];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(value) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /favicon.ico`, for clients that ask before reading the page's `<link rel="icon">`.
pub(super) async fn favicon() -> Response {
    let icon = ASSETS.iter().find(|a| a.path == "favicon.svg");
    let bytes: &'static [u8] = icon.map_or(&[], |a| a.bytes);
    (
        [
            (header::CONTENT_TYPE, SVG),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

/// Fills `{{name}}` placeholders of `template`. Values are inserted as they are: escape them
/// with [`escape_html`] first.
pub(super) fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every file in `assets/` is embedded (or is a template), and nothing embedded is missing:
    /// adding a file to the folder without listing it here fails.
    #[test]
    fn the_embedded_list_matches_the_assets_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        for dir in [root.clone(), root.join("sdk")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    let relative = path.strip_prefix(&root).unwrap();
                    on_disk.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let templates = [
            "demo.html",
            "dashboard.html",
            "login.html",
            "admin-disabled.html",
        ];
        on_disk.retain(|p| !templates.contains(&p.as_str()));
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for asset in ASSETS {
            let file = std::fs::read(root.join(asset.path)).unwrap();
            assert_eq!(file, asset.bytes, "{}", asset.path);
        }
    }

    #[test]
    fn templates_are_filled_and_values_escaped() {
        let page = render(
            "<a href=\"{{x}}\">{{x}}</a>",
            &[("x", &escape_html("<\"&'>"))],
        );
        assert_eq!(
            page,
            "<a href=\"&lt;&quot;&amp;&#39;&gt;\">&lt;&quot;&amp;&#39;&gt;</a>"
        );
        assert_eq!(VERSION.len(), 12);
        assert!(base_path().starts_with("/assets/"));
    }
}
