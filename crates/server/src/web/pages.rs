//! The HTML pages: the demo room, the dashboard, and the dashboard's sign-in and sign-out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::WebState;
use super::admin::{self, AdminError, COOKIE, SESSION_MAX_AGE_S};
use super::assets::{base_path, escape_html, render, templates};

/// What the pages may load: their own files, and WebSockets to this server.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An HTML page with the headers every page gets: never stored (`no-store`, they may hold live
/// or private data and are tiny), a content security policy, no sniffing, no referrer.
fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /` and `GET /r/{room}`: the demo room. The page connects to the first app that allows
/// anonymous clients (it has no way to get tokens); without one it says so.
pub(super) async fn demo(State(web): State<WebState>) -> Response {
    let app_key = web
        .server
        .apps()
        .iter()
        .find(|a| a.config.allow_anonymous)
        .map(|a| a.config.key.as_str())
        .unwrap_or_default();
    let html = render(
        templates::DEMO,
        &[
            ("assets", &base_path()),
            ("app_key", &escape_html(app_key)),
            ("version", crate::SERVER_VERSION),
        ],
    );
    page(StatusCode::OK, html)
}

/// `GET /dashboard`: the dashboard (200) with the admin token; the sign-in form (401)
/// without; an explanation (403) when no admin token is configured.
pub(super) async fn dashboard(State(web): State<WebState>, headers: HeaderMap) -> Response {
    match admin::check(&web.server.config.admin, &headers) {
        Ok(()) => page(
            StatusCode::OK,
            render(
                templates::DASHBOARD,
                &[("assets", &base_path()), ("version", crate::SERVER_VERSION)],
            ),
        ),
        Err(AdminError::Disabled) => disabled(),
        Err(AdminError::Unauthorized) => login_form(None),
    }
}

/// `POST /dashboard/login` with the form field `token`: sets the session cookie and goes back
/// to the dashboard, or shows the form again (401).
pub(super) async fn login(State(web): State<WebState>, body: Bytes) -> Response {
    let token = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    let config = &web.server.config.admin;
    match admin::token_matches(config, &token) {
        Err(AdminError::Disabled) => disabled(),
        Ok(false) | Err(AdminError::Unauthorized) => login_form(Some(if token.is_empty() {
            "Enter the admin token."
        } else {
            "That is not the admin token."
        })),
        Ok(true) => {
            let value = config
                .token
                .as_deref()
                .map(admin::session_value)
                .unwrap_or_default();
            let cookie = format!(
                "{COOKIE}={value}; Path=/; Max-Age={SESSION_MAX_AGE_S}; HttpOnly; SameSite=Strict"
            );
            redirect_to_dashboard(&cookie)
        }
    }
}

/// `POST /dashboard/logout`: forgets the session cookie.
pub(super) async fn logout() -> Response {
    redirect_to_dashboard(&format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    ))
}

fn redirect_to_dashboard(cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/dashboard"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(cookie) {
        h.insert(header::SET_COOKIE, value);
    }
    response
}

fn login_form(error: Option<&str>) -> Response {
    let error = error.map_or_else(String::new, |e| {
        format!(
            "<p class=\"form-error\" role=\"alert\">{}</p>",
            escape_html(e)
        )
    });
    let mut response = page(
        StatusCode::UNAUTHORIZED,
        render(
            templates::LOGIN,
            &[
                ("assets", &base_path()),
                ("version", crate::SERVER_VERSION),
                ("error", &error),
            ],
        ),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"rollcall\""),
    );
    response
}

fn disabled() -> Response {
    page(
        StatusCode::FORBIDDEN,
        render(
            templates::ADMIN_DISABLED,
            &[("assets", &base_path()), ("version", crate::SERVER_VERSION)],
        ),
    )
}
