//! VServer groups: named sets of backends with their own ports, used by listeners instead of
//! the instance's default server group.

use serde::{Deserialize, Serialize};

use crate::BackendServer;

/// A server group of one instance; every member carries its own port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VServerGroup {
    pub id: String,
    pub name: String,
    pub load_balancer_id: String,
    pub backend_servers: Vec<BackendServer>,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
}
