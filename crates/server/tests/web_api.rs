//! The web pages and the admin HTTP API: refusals (403 without an admin token configured, 401
//! without the right one), JSON shapes, paging, the watch token, and how pages and assets are
//! served (content types, cache headers, 304s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
mod common;

use std::net::SocketAddr;

use common::{Client, PATIENCE, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "web-api-test-admin-token";

/// An HTTP/1.1 response, read to the end (`Connection: close`).
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    request_with_body(addr, method, path, headers, "").await
}

async fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text += &format!("{name}: {value}\r\n");
    }
    text += "\r\n";
    text += body;
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the response arrives in time")
        .unwrap();
    let raw = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[]).await
}

async fn admin_get(addr: SocketAddr, path: &str) -> Response {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    request(addr, "GET", path, &[("Authorization", &auth)]).await
}

async fn start_with_admin() -> TestServer {
    let mut config = common::config();
    config.admin.token = Some(ADMIN_TOKEN.into());
    common::start(config).await
}

const ADMIN_PATHS: [(&str, &str); 4] = [
    ("GET", "/api/stats"),
    ("GET", "/api/apps/dev/channels"),
    ("GET", "/api/apps/dev/channels/lobby/members"),
    ("POST", "/api/apps/dev/channels/lobby/watch-token"),
];

#[tokio::test]
async fn without_an_admin_token_configured_the_api_and_dashboard_answer_403_saying_how_to_set_one()
{
    let server = common::start_default().await;
    for (method, path) in ADMIN_PATHS {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let response = request(server.addr, method, path, &[("Authorization", &auth)]).await;
        assert_eq!(response.status, 403, "{method} {path}");
        let body = response.json();
        assert_eq!(body["error"], "admin_disabled");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("ROLLCALL_ADMIN_TOKEN"), "{message}");
        assert!(message.contains("--admin-token"), "{message}");
    }
    let page = get(server.addr, "/dashboard").await;
    assert_eq!(page.status, 403);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.body.contains("ROLLCALL_ADMIN_TOKEN"));
    let login = request_with_body(
        server.addr,
        "POST",
        "/dashboard/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "token=anything-at-all-123",
    )
    .await;
    assert_eq!(login.status, 403);
    assert!(login.header("set-cookie").is_none());
}

#[tokio::test]
async fn a_missing_or_wrong_admin_token_gets_401() {
    let server = start_with_admin().await;
    let wrong = "Bearer web-api-test-admin-tokeX";
    let short = "Bearer web";
    let cases: [&[(&str, &str)]; 5] = [
        &[],
        &[("Authorization", wrong)],
        &[("Authorization", short)],
        &[("Authorization", "Basic d2ViOmFwaQ==")],
        &[("Cookie", "rollcall_admin=web-api-test-admin-token")],
    ];
    for (method, path) in ADMIN_PATHS {
        for headers in cases {
            let response = request(server.addr, method, path, headers).await;
            assert_eq!(response.status, 401, "{method} {path} {headers:?}");
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer realm=\"rollcall\"")
            );
            assert_eq!(response.header("cache-control"), Some("no-store"));
            assert_eq!(response.json()["error"], "unauthorized");
        }
    }
    let page = get(server.addr, "/dashboard").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("name=\"token\""), "the sign-in form");
    assert!(!page.body.contains("dashboard.js"));
}

#[tokio::test]
async fn stats_count_connections_channels_subscriptions_and_members() {
    let server = start_with_admin().await;
    let mut ann = Client::anon(&server, "ann").await;
    let mut bob = Client::anon(&server, "bob").await;
    let mut eve = Client::anon(&server, "eve").await;
    ann.ok(
        1,
        json!({"op": "join", "channel": "lobby", "data": {"name": "Ann"}}),
    )
    .await;
    bob.ok(1, json!({"op": "join", "channel": "lobby"})).await;
    bob.ok(2, json!({"op": "join", "channel": "room-2"})).await;
    eve.ok(1, json!({"op": "watch", "channel": "lobby"})).await;

    let response = admin_get(server.addr, "/api/stats").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let stats = response.json();
    assert_eq!(stats["server_version"], rollcall_server::SERVER_VERSION);
    assert!(stats["node_id"].is_u64());
    assert!(stats["uptime_s"].is_u64());
    assert_eq!(stats["connections"], 3);
    let apps = stats["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(
        apps[0],
        json!({"id": "dev", "key": "dev-key", "allow_anonymous": true,
               "channels": 2, "subscriptions": 4, "members": 3})
    );
    assert_eq!(
        apps[1],
        json!({"id": "secure", "key": "secure-key", "allow_anonymous": false,
               "channels": 0, "subscriptions": 0, "members": 0})
    );
}

#[tokio::test]
async fn channels_are_listed_busiest_first_with_a_prefix_filter_and_a_limit() {
    let server = start_with_admin().await;
    let mut clients = Vec::new();
    for (name, channels) in [
        ("a", &["big", "room-1"][..]),
        ("b", &["big", "room-2"][..]),
        ("c", &["big"][..]),
    ] {
        let mut client = Client::anon(&server, name).await;
        for (id, channel) in channels.iter().enumerate() {
            client
                .ok(id as u64, json!({"op": "join", "channel": channel}))
                .await;
        }
        clients.push(client);
    }

    let all = admin_get(server.addr, "/api/apps/dev/channels")
        .await
        .json();
    assert_eq!(
        all,
        json!({"app": "dev", "total": 3, "channels": [
            {"name": "big", "members": 3, "subscriptions": 3},
            {"name": "room-1", "members": 1, "subscriptions": 1},
            {"name": "room-2", "members": 1, "subscriptions": 1},
        ]})
    );
    let rooms = admin_get(server.addr, "/api/apps/dev/channels?prefix=room-&limit=1")
        .await
        .json();
    assert_eq!(
        rooms,
        json!({"app": "dev", "total": 2, "channels": [
            {"name": "room-1", "members": 1, "subscriptions": 1},
        ]})
    );

    let unknown = admin_get(server.addr, "/api/apps/nope/channels").await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "unknown_app");
    for bad in ["limit=0", "limit=1001", "limit=ten", "colour=red"] {
        let response = admin_get(server.addr, &format!("/api/apps/dev/channels?{bad}")).await;
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(response.json()["error"], "invalid_query", "{bad}");
    }
}

#[tokio::test]
async fn members_come_with_their_connections_and_data_a_page_at_a_time() {
    let server = start_with_admin().await;
    let mut ann_phone = Client::anon(&server, "ann").await;
    let mut ann_laptop = Client::anon(&server, "ann").await;
    let mut bob = Client::anon(&server, "bob").await;
    let mut cat = Client::anon(&server, "cat").await;
    ann_phone
        .ok(
            1,
            json!({"op": "join", "channel": "lobby", "data": {"name": "Ann", "status": "online"}}),
        )
        .await;
    ann_laptop
        .ok(1, json!({"op": "join", "channel": "lobby"}))
        .await;
    cat.ok(
        1,
        json!({"op": "join", "channel": "lobby", "data": {"name": "Cat"}}),
    )
    .await;
    bob.ok(1, json!({"op": "join", "channel": "lobby"})).await;

    let page = admin_get(server.addr, "/api/apps/dev/channels/lobby/members").await;
    assert_eq!(page.status, 200);
    let page = page.json();
    assert_eq!(page["app"], "dev");
    assert_eq!(page["channel"], "lobby");
    assert_eq!(page["seq"], 4);
    assert_eq!(page["count"], 3);
    assert_eq!(page["next"], Value::Null);
    let members = page["members"].as_array().unwrap();
    let ids: Vec<&str> = members
        .iter()
        .map(|m| m["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ann", "bob", "cat"]);
    let ann = &members[0];
    assert_eq!(ann["data"], json!({"name": "Ann", "status": "online"}));
    assert!(ann["joined_at"].is_u64() && ann["updated_at"].is_u64());
    let connections: Vec<&str> = ann["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap())
        .collect();
    let phone = ann_phone.session["connection_id"].as_str().unwrap();
    let laptop = ann_laptop.session["connection_id"].as_str().unwrap();
    assert_eq!(connections, [phone, laptop]);
    assert_eq!(members[1]["data"], json!({}));

    let first = admin_get(server.addr, "/api/apps/dev/channels/lobby/members?limit=2")
        .await
        .json();
    assert_eq!(first["count"], 3);
    assert_eq!(first["members"].as_array().unwrap().len(), 2);
    assert_eq!(first["next"], "bob");
    let rest = admin_get(
        server.addr,
        "/api/apps/dev/channels/lobby/members?limit=2&after=bob",
    )
    .await
    .json();
    assert_eq!(rest["members"][0]["client_id"], "cat");
    assert_eq!(rest["members"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next"], Value::Null);

    let empty = admin_get(server.addr, "/api/apps/dev/channels/nobody-here/members")
        .await
        .json();
    assert_eq!(
        empty,
        json!({"app": "dev", "channel": "nobody-here", "seq": 0, "count": 0, "members": [], "next": null})
    );
    let bad = admin_get(server.addr, "/api/apps/dev/channels/no%20spaces/members").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "invalid_channel");
}

#[tokio::test]
async fn a_watch_token_watches_its_channel_only_even_on_a_token_only_app() {
    let server = start_with_admin().await;
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let minted = request(
        server.addr,
        "POST",
        "/api/apps/secure/channels/ops/watch-token",
        &[("Authorization", &auth)],
    )
    .await;
    assert_eq!(minted.status, 200);
    let minted = minted.json();
    assert_eq!(minted["app_key"], "secure-key");
    assert_eq!(minted["channel"], "ops");
    assert_eq!(minted["client_id"], "rollcall-dashboard");
    assert!(minted["expires_at"].is_u64());
    let token = minted["token"].as_str().unwrap();

    let mut watcher = Client::connect(&server, &format!("app=secure-key&token={token}")).await;
    assert_eq!(watcher.session["client_id"], "rollcall-dashboard");
    watcher
        .ok(1, json!({"op": "watch", "channel": "ops"}))
        .await;
    for (id, refused) in [
        json!({"op": "join", "channel": "ops"}),
        json!({"op": "publish", "channel": "ops", "data": "hi"}),
        json!({"op": "watch", "channel": "other"}),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(watcher.err(id as u64 + 2, refused).await, "forbidden");
    }
}

#[tokio::test]
async fn signing_in_sets_a_session_cookie_that_opens_the_dashboard_and_the_api() {
    let server = start_with_admin().await;
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let wrong =
        request_with_body(server.addr, "POST", "/dashboard/login", &form, "token=nope").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert!(wrong.body.contains("not the admin token"));

    let body = format!("token={ADMIN_TOKEN}");
    let signed_in = request_with_body(server.addr, "POST", "/dashboard/login", &form, &body).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header("location"), Some("/dashboard"));
    let cookie = signed_in.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the cookie is not the token itself"
    );
    let pair = cookie.split(';').next().unwrap();

    let page = request(server.addr, "GET", "/dashboard", &[("Cookie", pair)]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("dashboard.js"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let stats = request(server.addr, "GET", "/api/stats", &[("Cookie", pair)]).await;
    assert_eq!(stats.status, 200);

    let signed_out = request(server.addr, "POST", "/dashboard/logout", &[]).await;
    assert_eq!(signed_out.status, 303);
    assert!(
        signed_out
            .header("set-cookie")
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn pages_and_assets_are_served_with_their_types_and_cache_headers() {
    let server = common::start_default().await;
    for path in ["/", "/r/lobby", "/?room=lobby"] {
        let page = get(server.addr, path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("script-src 'self'")
        );
        assert!(
            page.body
                .contains("name=\"rollcall-app-key\" content=\"dev-key\"")
        );
    }
    let page = get(server.addr, "/").await;
    let base = page
        .body
        .split("src=\"")
        .find_map(|rest| rest.split_once("/demo.js\"").map(|(base, _)| base))
        .expect("the page names its script")
        .to_owned();
    assert!(base.starts_with("/assets/"), "{base}");

    for (file, content_type) in [
        ("demo.js", "text/javascript; charset=utf-8"),
        ("sdk/index.js", "text/javascript; charset=utf-8"),
        ("demo.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let asset = get(server.addr, &format!("{base}/{file}")).await;
        assert_eq!(asset.status, 200, "{file}");
        assert_eq!(asset.header("content-type"), Some(content_type), "{file}");
        assert_eq!(
            asset.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
        let etag = asset.header("etag").unwrap().to_owned();
        let again = request(
            server.addr,
            "GET",
            &format!("{base}/{file}"),
            &[("If-None-Match", &etag)],
        )
        .await;
        assert_eq!(again.status, 304, "{file}");
        assert!(again.body.is_empty());
    }
    // The demo's script imports the SDK by relative path, which the server serves.
    let script = get(server.addr, &format!("{base}/demo.js")).await;
    assert!(script.body.contains("from \"./sdk/index.js\""));

    assert_eq!(
        get(server.addr, &format!("{base}/nope.js")).await.status,
        404
    );
    assert_eq!(
        get(server.addr, &format!("{base}/../Cargo.toml"))
            .await
            .status,
        404
    );
    assert_eq!(
        get(server.addr, "/assets/000000000000/demo.js")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn without_an_anonymous_app_the_demo_page_has_no_app_to_use() {
    let mut config = common::config();
    config.apps.retain(|a| !a.allow_anonymous);
    let server = common::start(config).await;
    let page = get(server.addr, "/").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"rollcall-app-key\" content=\"\""));
}
