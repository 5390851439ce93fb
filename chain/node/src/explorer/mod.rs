//! The block explorer: HTML pages served by the node under `/`, beside the
//! JSON API (whose paths keep working). Pages are rendered on the server
//! with `maud`, whose templates are Rust checked at compile time and which
//! escapes every interpolated value; no page writes raw HTML. It reads the
//! chain only through [`ChainReader`], like `rpc`.
//!
//! - this file: the routes, the page shell, the 404/400/500 pages;
//! - `format`: human units with the exact integer on hover, links;
//! - `home`: the home page (status, totals, authorities, latest blocks and
//!   transactions, charts);
//! - `charts`: server-side SVG charts;
//! - `blocks`: a block and a transaction;
//! - `accounts`: an account or device, a provider–consumer session;
//! - `inventory`: the devices and the evidence;
//! - `search`: the search box's target.
//!
//! Paths: `/`, `/block/{height|hash}`, `/tx/{hash}`, `/account/{hex}`,
//! `/session/{provider}/{consumer}/{session}`, `/inventory`,
//! `/equivocations`, `/search?q=`, `/style.css`. (The JSON API uses plural
//! names: `/blocks/...`, `/txs/...`, `/accounts/...`.)

mod accounts;
mod blocks;
mod charts;
mod format;
mod home;
mod inventory;
mod search;

use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};

use crate::rpc::Backend;
use crate::store::StoreError;

/// The one stylesheet, embedded in the binary.
const STYLESHEET: &str = include_str!("style.css");

/// The explorer's routes (state: the API's backend).
pub(crate) fn routes() -> Router<Backend> {
    Router::new()
        .route("/", get(home::home))
        .route("/style.css", get(stylesheet))
        .route("/search", get(search::search))
        .route("/block/{id}", get(blocks::block))
        .route("/tx/{hash}", get(blocks::tx))
        .route("/account/{account}", get(accounts::account))
        .route(
            "/session/{provider}/{consumer}/{session}",
            get(accounts::session),
        )
        .route("/inventory", get(inventory::devices))
        .route("/equivocations", get(inventory::evidence))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// A rendered page: its title, body and status, and when rendering began
/// (the answer carries the render time in `Server-Timing`).
pub(crate) struct Page {
    title: String,
    body: Markup,
    status: StatusCode,
    started: Instant,
    /// Seconds after which the browser reloads the page (the home page).
    refresh: Option<u32>,
}

impl Page {
    fn new(started: Instant, title: impl Into<String>, body: Markup) -> Self {
        Self {
            title: title.into(),
            body,
            status: StatusCode::OK,
            started,
            refresh: None,
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if let Some(seconds) = self.refresh {
                        meta http-equiv="refresh" content=(seconds);
                    }
                    title { (self.title) " · bwchain explorer" }
                    link rel="stylesheet" href="/style.css";
                }
                body {
                    header {
                        a.brand href="/" { "bwchain" }
                        nav {
                            a href="/" { "home" }
                            a href="/inventory" { "devices" }
                            a href="/equivocations" { "evidence" }
                        }
                        form action="/search" method="get" role="search" {
                            input type="search" name="q" aria-label="search"
                                placeholder="height, hash, account or dev:NAME";
                            button type="submit" { "search" }
                        }
                    }
                    main {
                        h1 { (self.title) }
                        (self.body)
                    }
                    footer {
                        "bwchain node · "
                        a href="/status" { "JSON API" }
                    }
                }
            }
        };
        let micros = self.started.elapsed().as_micros();
        let timing = format!("render;dur={}.{:03}", micros / 1000, micros % 1000);
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            markup.into_string(),
        )
            .into_response();
        if let Ok(value) = HeaderValue::from_str(&timing) {
            response.headers_mut().insert("server-timing", value);
        }
        response
    }
}

/// Why a page could not be shown; rendered as an HTML page with its status.
#[derive(Debug)]
pub(crate) enum PageError {
    /// 404: nothing by that name.
    NotFound(String),
    /// 400: the request itself is malformed.
    BadRequest(String),
    /// 500: the store is broken.
    Store(StoreError),
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        PageError::Store(err)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let started = Instant::now();
        let (status, title, message) = match self {
            PageError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            PageError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", message),
            PageError::Store(err) => {
                tracing::error!(error = %err, "explorer page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Storage error",
                    err.to_string(),
                )
            }
        };
        let body = html! {
            p.notice { (message) }
            p { "Try the search box above, or go back to the " a href="/" { "home page" } "." }
        };
        let mut page = Page::new(started, title, body);
        page.status = status;
        page.into_response()
    }
}

type PageResult = Result<Page, PageError>;

/// The HTML 404 page for an unknown path (the API's fallback, for browsers).
pub(crate) fn not_found_page(path: &str) -> Response {
    PageError::NotFound(format!("There is no page at {path}.")).into_response()
}
