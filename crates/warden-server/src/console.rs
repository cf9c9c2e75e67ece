//! The web console: the static files of `console/ui/` (plain JavaScript, nothing built at
//! compile time), embedded in the binary and served at `/` and `/ui/`. Every page and
//! asset carries a strict Content-Security-Policy: scripts and styles from the server
//! only (no inline script), nothing framed but sandboxed result frames, no form posts
//! elsewhere, never framed itself.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../console/ui/"]
struct Assets;

/// The policy of every console response. `frame-src blob:` lets the console show HTML
/// results in `sandbox`ed frames (no scripts, no same-origin); `img-src data: blob:`
/// shows figures.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-src blob: data:; \
font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's routes, to merge beside the API.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers, false)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    // Client-side routes (`/ui/sessions/…`) get the page; files have an extension.
    if !path.contains('.') {
        return serve("index.html", &headers, false);
    }
    serve(&path, &headers, true)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json" | "map") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// For work on the console itself: `WARDEN_CONSOLE_DIR=console/ui warden serve` serves
/// the files of that directory, read at each request, instead of the embedded ones, so
/// that a change shows without a rebuild. Nothing is cached then.
const DEV_DIR_VAR: &str = "WARDEN_CONSOLE_DIR";

/// A file of the console and its entity tag.
fn load(path: &str) -> Option<(Vec<u8>, String)> {
    if let Some(dir) = std::env::var_os(DEV_DIR_VAR) {
        let rel = std::path::Path::new(path);
        // Only plain names below the directory: no `..`, no root, no prefix.
        if !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            return None;
        }
        let full = std::path::Path::new(&dir).join(rel);
        let meta = std::fs::metadata(&full).ok().filter(|m| m.is_file())?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let data = std::fs::read(&full).ok()?;
        return Some((data, format!("\"dev-{:x}-{modified:x}\"", meta.len())));
    }
    let file = Assets::get(path)?;
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    Some((file.data.into_owned(), etag))
}

fn serve(path: &str, request: &HeaderMap, cacheable: bool) -> Response {
    let Some((data, etag)) = load(path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    };
    let cacheable = cacheable && std::env::var_os(DEV_DIR_VAR).is_none();
    let mut response = if request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type(path))], data).into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // The page is revalidated every time (it names the assets); assets for an hour.
    let cache = if cacheable {
        "public, max-age=3600"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
