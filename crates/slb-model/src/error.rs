//! Errors carry Alibaba's error code and HTTP status so every layer reports them the same way.

use std::fmt;

/// A rejected change: Alibaba's `Code`, a human `Message` and the HTTP status Alibaba uses.
///
/// The model is the one place that decides whether a change is allowed, so it also decides
/// how the refusal is named; the API only serialises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ModelError {
    /// Any error with an explicit status and code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `InvalidParameter` (400): a value outside its allowed range or shape.
    pub fn invalid_parameter(name: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{name}\" is not valid: {detail}"),
        )
    }

    /// `InvalidLoadBalancerId.NotFound` (404).
    pub fn load_balancer_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidLoadBalancerId.NotFound",
            format!("The specified LoadBalancerId \"{id}\" does not exist."),
        )
    }

    /// `InvalidParameter` for an unknown listener, which is how Alibaba reports it.
    pub fn listener_not_found(lb: &str, port: u16) -> Self {
        Self::new(
            404,
            "InvalidListener.NotFound",
            format!(
                "The specified listener on port {port} of load balancer \"{lb}\" does not exist."
            ),
        )
    }

    /// `InvalidParameter.VServerGroupId` style not-found for server groups.
    pub fn vserver_group_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidParameter.VServerGroupId",
            format!("The specified VServerGroupId \"{id}\" does not exist."),
        )
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ModelError {}
