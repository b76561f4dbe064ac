//! `/metrics`: Prometheus text exposition of the data plane and the store revision.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use slb_dataplane::DataPlane;
use slb_keyserver::KeyServerClient;
use slb_store::Store;

/// A router serving `GET /metrics`.
pub fn router(
    dataplane: DataPlane,
    store: Arc<Store>,
    keys: Option<Arc<KeyServerClient>>,
) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let dataplane = dataplane.clone();
            let store = store.clone();
            let keys = keys.clone();
            async move {
                let mut out = String::with_capacity(4096);
                out.push_str("# HELP slb_store_revision Revision of the last committed configuration change.\n");
                out.push_str("# TYPE slb_store_revision gauge\n");
                out.push_str(&format!("slb_store_revision {}\n", store.snapshot().revision));
                dataplane.render_metrics(&mut out);
                if let Some(k) = &keys {
                    render_keyserver(&mut out, k);
                }
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    out,
                )
                    .into_response()
            }
        }),
    )
}

/// The key server client's counters: remote signatures, their failures and time spent.
fn render_keyserver(out: &mut String, k: &KeyServerClient) {
    use std::fmt::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let s = &k.stats;
    let _ = write!(
        out,
        "# HELP slb_keyserver_signatures_total TLS handshake signatures computed by the key server.\n\
         # TYPE slb_keyserver_signatures_total counter\n\
         slb_keyserver_signatures_total {}\n\
         # HELP slb_keyserver_sign_failures_total Handshakes that got no signature: refused with an alert while the key server was unreachable, or whose signing request failed.\n\
         # TYPE slb_keyserver_sign_failures_total counter\n\
         slb_keyserver_sign_failures_total {}\n\
         # HELP slb_keyserver_sign_seconds_total Time spent in successful signing requests.\n\
         # TYPE slb_keyserver_sign_seconds_total counter\n\
         slb_keyserver_sign_seconds_total {:.6}\n",
        s.signatures.load(Relaxed),
        s.failures.load(Relaxed),
        s.sign_nanos.load(Relaxed) as f64 / 1e9,
    );
}
