//! Outbound HTTP for plugins: only to hosts on the plugin's allow-list.
//! Anything else fails inside the plugin with `HttpRequestDenied` and a
//! warning naming the plugin and the host.

use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The hosts one plugin may reach.
#[derive(Clone, Debug)]
pub struct EgressPolicy {
    plugin: Arc<str>,
    allowed: Arc<[String]>,
}

impl EgressPolicy {
    /// A policy for `plugin` allowing `allowed` (`host` or `host:port`).
    pub fn new(plugin: &str, allowed: &[String]) -> Self {
        Self {
            plugin: plugin.into(),
            allowed: allowed.iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether `host` (no port) at `port` is allowed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        self.allowed
            .iter()
            .any(|entry| *entry == host || *entry == with_port)
    }
}

impl WasiHttpHooks for EgressPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        if !self.allows(&host, port) {
            tracing::warn!(plugin = %self.plugin, host = %host, port, "plugin egress denied: host not on allow-list");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        tracing::debug!(plugin = %self.plugin, host = %host, port, "plugin egress");
        drop(fut);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_host_or_host_and_port() {
        let policy = EgressPolicy::new("p", &["Idp.Example.com".into(), "127.0.0.1:9000".into()]);
        assert!(policy.allows("idp.example.com", 443));
        assert!(policy.allows("127.0.0.1", 9000));
        assert!(!policy.allows("127.0.0.1", 9001));
        assert!(!policy.allows("evil.example.com", 443));
        assert!(!policy.allows("idp.example.com.evil.com", 443));
    }
}
