//! `/metrics`: Prometheus text exposition of the data plane and the store revision.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use slb_dataplane::DataPlane;
use slb_store::Store;

/// A router serving `GET /metrics`.
pub fn router(dataplane: DataPlane, store: Arc<Store>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let dataplane = dataplane.clone();
            let store = store.clone();
            async move {
                let mut out = String::with_capacity(4096);
                out.push_str("# HELP slb_store_revision Revision of the last committed configuration change.\n");
                out.push_str("# TYPE slb_store_revision gauge\n");
                out.push_str(&format!("slb_store_revision {}\n", store.snapshot().revision));
                dataplane.render_metrics(&mut out);
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    out,
                )
                    .into_response()
            }
        }),
    )
}
