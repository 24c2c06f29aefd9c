//! The console's assets, compiled into the binary and served by the service itself: the
//! service often has no internet, and nothing from elsewhere may run in an admin's page.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use fuda_keyd::service::Service;

/// The stylesheet of every page.
const CSS: &str = include_str!("console.css");

/// The assets' routes.
pub fn routes() -> Router<Service> {
    Router::new().route("/console/assets/console.css", get(css))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}
