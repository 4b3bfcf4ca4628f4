//! Failures come back typed, with the server's code when the server is the one refusing.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Node, any_port, connect, options};
use rollcall_client::{Client, ConnectOptions, Error, ErrorCode};
use rollcall_server::auth::{TokenClaims, mint_token};
use rollcall_server::config::{AppConfig, Config};
use serde_json::json;

#[tokio::test]
async fn an_unreachable_server_and_a_bad_url_are_told_apart() {
    let node = Node::start_async(any_port()).await;
    let url = node.url();
    drop(node);
    let error = Client::connect(&url, options("a")).await.unwrap_err();
    assert!(matches!(error, Error::Unreachable { .. }), "{error}");
    assert!(
        !error.to_string().contains("client_id"),
        "the query stays out: {error}"
    );
    let error = Client::connect("http://example/ws", options("a"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InvalidUrl { .. }), "{error}");
}

#[tokio::test]
async fn tokens_are_checked_and_refusals_carry_the_code() {
    let mut app = AppConfig::development();
    app.id = "secure".parse().unwrap();
    app.key = "secure-key".into();
    app.secret = "secure-secret".into();
    app.allow_anonymous = false;
    let config = Config {
        listen: any_port(),
        apps: vec![app],
        ..Config::default()
    };
    let node = tokio::task::spawn_blocking(move || Node::start_with(config))
        .await
        .unwrap();
    let claims = |sub: &str| TokenClaims {
        sub: sub.into(),
        exp: None,
        nbf: None,
        iat: None,
        app: None,
        data: Some(json!({"role": "admin"})),
        grants: None,
    };
    let forged = mint_token(&claims("ann"), b"not-the-secret");
    let error = Client::connect(&node.url(), ConnectOptions::token(forged))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::InvalidToken), "{error}");
    let error = Client::connect(&node.url(), options("ann"))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(ErrorCode::AnonymousNotAllowed),
        "{error}"
    );

    let token = mint_token(&claims("ann"), b"secure-secret");
    let client = Client::connect(&node.url(), ConnectOptions::token(token))
        .await
        .unwrap();
    assert_eq!(client.session().client_id.unwrap().as_str(), "ann");
    let room = client.join("room", json!({"role": "guest"})).await.unwrap();
    assert_eq!(
        room.member("ann").unwrap().data,
        json!({"role": "admin"}),
        "the token's data wins"
    );
}

#[tokio::test]
async fn request_errors_carry_the_server_code() {
    let node = Node::start_async(any_port()).await;
    let client = connect(&node.url(), "ann").await;
    assert!(matches!(
        client.join("a b", json!({})).await,
        Err(Error::InvalidChannel(_))
    ));
    let watching = client.watch("room").await.unwrap();
    let error = watching.update(json!({"x": 1})).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::NotJoined));
    let error = client.join("room", json!({})).await.unwrap_err();
    assert!(matches!(error, Error::AlreadySubscribed(_)), "{error}");
    let lobby = client.join("lobby", json!({})).await.unwrap();
    let error = lobby.update(json!([1])).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::InvalidData));

    let anonymous = Client::connect(&node.url(), ConnectOptions::default())
        .await
        .unwrap();
    let error = anonymous.join("room", json!({})).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::IdentityRequired));
    // The refused join left nothing behind: the same channel can be watched.
    anonymous.watch("room").await.unwrap();
}
