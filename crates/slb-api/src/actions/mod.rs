//! The SLB actions: each turns request parameters into a call on the model's state machine
//! through the store, and renders the answer with Alibaba's field names.
//!
//! Actions see parameters only through [`ParamSource`], so they do not depend on how the
//! request arrived or was signed; they return [`ModelError`]s that the server renders.

mod acls;
mod backends;
mod certificates;
mod ddos;
mod domain_extensions;
mod health;
mod http_listeners;
mod key_vault;
mod listeners;
mod load_balancers;
mod master_slave_groups;
mod regions;
mod render;
mod rules;
mod tags;
mod tls_policies;
mod vserver_groups;
mod white_list;

use std::sync::Arc;

use serde_json::Value;
use slb_model::params::ParamSource;
use slb_model::{ModelError, State};
use slb_store::{Store, StoreError};

pub use ddos::{DdosEvent, DdosSource, DdosStatus};
pub use health::{BackendHealth, HealthSource};
pub use key_vault::KeyVault;

/// The node facts actions need besides the store.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The only region this node serves (`--region`).
    pub region: String,
    /// Zones declared by the node(s), first is the default master zone.
    pub zones: Vec<String>,
    /// Instance addresses are allocated from this network (`--address-pool`).
    pub address_pool: ipnet::IpNet,
}

/// Longest a write waits for the data plane to apply it before answering anyway.
pub const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Every action of this API version that OpenSLB implements.
pub const ACTIONS: &[&str] = &[
    "DescribeRegions",
    "DescribeZones",
    "CreateLoadBalancer",
    "DeleteLoadBalancer",
    "DescribeLoadBalancers",
    "DescribeLoadBalancerAttribute",
    "SetLoadBalancerName",
    "SetLoadBalancerStatus",
    "SetLoadBalancerDeleteProtection",
    "ModifyLoadBalancerInstanceSpec",
    "ModifyLoadBalancerInternetSpec",
    "ModifyLoadBalancerPayType",
    "SetLoadBalancerModificationProtection",
    "ModifyLoadBalancerInstanceChargeType",
    "MoveResourceGroup",
    "DescribeAvailableResource",
    "DescribeLoadBalancerDdosStatus",
    "CreateLoadBalancerTCPListener",
    "SetLoadBalancerTCPListenerAttribute",
    "DescribeLoadBalancerTCPListenerAttribute",
    "CreateLoadBalancerUDPListener",
    "SetLoadBalancerUDPListenerAttribute",
    "DescribeLoadBalancerUDPListenerAttribute",
    "CreateLoadBalancerHTTPListener",
    "SetLoadBalancerHTTPListenerAttribute",
    "DescribeLoadBalancerHTTPListenerAttribute",
    "CreateLoadBalancerHTTPSListener",
    "SetLoadBalancerHTTPSListenerAttribute",
    "DescribeLoadBalancerHTTPSListenerAttribute",
    "CreateRules",
    "DeleteRules",
    "SetRule",
    "DescribeRules",
    "DescribeRuleAttribute",
    "DescribeLoadBalancerListeners",
    "StartLoadBalancerListener",
    "StopLoadBalancerListener",
    "DeleteLoadBalancerListener",
    "AddBackendServers",
    "RemoveBackendServers",
    "SetBackendServers",
    "DescribeHealthStatus",
    "CreateVServerGroup",
    "SetVServerGroupAttribute",
    "AddVServerGroupBackendServers",
    "RemoveVServerGroupBackendServers",
    "ModifyVServerGroupBackendServers",
    "DeleteVServerGroup",
    "DescribeVServerGroups",
    "DescribeVServerGroupAttribute",
    "CreateAccessControlList",
    "DeleteAccessControlList",
    "DescribeAccessControlLists",
    "DescribeAccessControlListAttribute",
    "SetAccessControlListAttribute",
    "AddAccessControlListEntry",
    "RemoveAccessControlListEntry",
    "SetListenerAccessControlStatus",
    "AddListenerWhiteListItem",
    "RemoveListenerWhiteListItem",
    "DescribeListenerAccessControlAttribute",
    "CreateMasterSlaveServerGroup",
    "DeleteMasterSlaveServerGroup",
    "DescribeMasterSlaveServerGroups",
    "DescribeMasterSlaveServerGroupAttribute",
    "UploadServerCertificate",
    "DeleteServerCertificate",
    "DescribeServerCertificates",
    "SetServerCertificateName",
    "UploadCACertificate",
    "DeleteCACertificate",
    "DescribeCACertificates",
    "SetCACertificateName",
    "CreateDomainExtension",
    "DeleteDomainExtension",
    "DescribeDomainExtensions",
    "DescribeDomainExtensionAttribute",
    "SetDomainExtensionAttribute",
    "CreateTLSCipherPolicy",
    "SetTLSCipherPolicyAttribute",
    "DeleteTLSCipherPolicy",
    "ListTLSCipherPolicies",
    "TagResources",
    "UntagResources",
    "ListTagResources",
    "AddTags",
    "RemoveTags",
    "DescribeTags",
];

/// Runs actions against a store. Shared by every request.
pub struct Actions {
    store: Arc<Store>,
    node: NodeInfo,
    health: Arc<dyn HealthSource>,
    /// The revision the data plane has applied; writes wait for it so that a listener
    /// is accepting once StartLoadBalancerListener has answered.
    applied: Option<tokio::sync::watch::Receiver<u64>>,
    /// Set when private keys live on a key server instead of in the state.
    key_vault: Option<Arc<dyn KeyVault>>,
    /// Anti-DDoS state of the data plane.
    ddos: Option<Arc<dyn DdosSource>>,
}

impl Actions {
    /// Actions over `store` for the node described by `node`; `health` reports probe results.
    pub fn new(store: Arc<Store>, node: NodeInfo, health: Arc<dyn HealthSource>) -> Self {
        Self {
            store,
            node,
            health,
            applied: None,
            key_vault: None,
            ddos: None,
        }
    }

    /// Reports anti-DDoS state from `source` (DescribeLoadBalancerDdosStatus).
    pub fn with_ddos(mut self, source: Arc<dyn DdosSource>) -> Self {
        self.ddos = Some(source);
        self
    }

    /// Sends uploaded private keys to `vault`; the state keeps certificates only.
    pub fn with_key_vault(mut self, vault: Arc<dyn KeyVault>) -> Self {
        self.key_vault = Some(vault);
        self
    }

    /// Makes every successful write wait (up to [`APPLY_WAIT`]) until the data plane reports
    /// it has applied the new revision.
    pub fn wait_for_applied(mut self, applied: tokio::sync::watch::Receiver<u64>) -> Self {
        self.applied = Some(applied);
        self
    }

    /// Runs one action. `Ok(None)` means the action name is unknown here.
    pub async fn run(
        &self,
        action: &str,
        p: &dyn ParamSource,
    ) -> Option<Result<Value, ModelError>> {
        if let Err(e) = self.check_region(p) {
            return ACTIONS.contains(&action).then_some(Err(e));
        }
        use slb_model::Protocol::{Http, Https, Tcp, Udp};
        let result = match action {
            "DescribeRegions" => regions::describe_regions(self),
            "DescribeZones" => regions::describe_zones(self),
            "DescribeAvailableResource" => regions::describe_available_resource(self, p),
            "CreateLoadBalancer" => load_balancers::create(self, p).await,
            "DeleteLoadBalancer" => load_balancers::delete(self, p).await,
            "DescribeLoadBalancers" => load_balancers::describe(self, p),
            "DescribeLoadBalancerAttribute" => load_balancers::describe_attribute(self, p),
            "SetLoadBalancerName" => load_balancers::set_name(self, p).await,
            "SetLoadBalancerStatus" => load_balancers::set_status(self, p).await,
            "ModifyLoadBalancerInstanceSpec" => load_balancers::modify_spec(self, p).await,
            "ModifyLoadBalancerInternetSpec" => load_balancers::modify_internet_spec(self, p).await,
            "ModifyLoadBalancerPayType" => load_balancers::modify_pay_type(self, p).await,
            "SetLoadBalancerModificationProtection" => {
                load_balancers::set_modification_protection(self, p).await
            }
            "ModifyLoadBalancerInstanceChargeType" => {
                load_balancers::modify_instance_charge_type(self, p).await
            }
            "MoveResourceGroup" => load_balancers::move_resource_group(self, p).await,
            "DescribeLoadBalancerDdosStatus" => ddos::describe(self, p),
            "SetLoadBalancerDeleteProtection" => {
                load_balancers::set_delete_protection(self, p).await
            }
            "CreateLoadBalancerTCPListener" => listeners::create_l4(self, p, Tcp).await,
            "SetLoadBalancerTCPListenerAttribute" => listeners::set_l4(self, p, Tcp).await,
            "DescribeLoadBalancerTCPListenerAttribute" => listeners::describe_l4(self, p, Tcp),
            "CreateLoadBalancerUDPListener" => listeners::create_l4(self, p, Udp).await,
            "SetLoadBalancerUDPListenerAttribute" => listeners::set_l4(self, p, Udp).await,
            "DescribeLoadBalancerUDPListenerAttribute" => listeners::describe_l4(self, p, Udp),
            "CreateLoadBalancerHTTPListener" => http_listeners::create(self, p, Http).await,
            "SetLoadBalancerHTTPListenerAttribute" => http_listeners::set(self, p, Http).await,
            "DescribeLoadBalancerHTTPListenerAttribute" => http_listeners::describe(self, p, Http),
            "CreateLoadBalancerHTTPSListener" => http_listeners::create(self, p, Https).await,
            "SetLoadBalancerHTTPSListenerAttribute" => http_listeners::set(self, p, Https).await,
            "DescribeLoadBalancerHTTPSListenerAttribute" => {
                http_listeners::describe(self, p, Https)
            }
            "CreateRules" => rules::create(self, p).await,
            "DeleteRules" => rules::delete(self, p).await,
            "SetRule" => rules::set(self, p).await,
            "DescribeRules" => rules::describe(self, p),
            "DescribeRuleAttribute" => rules::describe_attribute(self, p),
            "UploadServerCertificate" => certificates::upload_server(self, p).await,
            "DeleteServerCertificate" => certificates::delete_server(self, p).await,
            "DescribeServerCertificates" => certificates::describe_server(self, p),
            "SetServerCertificateName" => certificates::set_server_name(self, p).await,
            "UploadCACertificate" => certificates::upload_ca(self, p).await,
            "DeleteCACertificate" => certificates::delete_ca(self, p).await,
            "DescribeCACertificates" => certificates::describe_ca(self, p),
            "SetCACertificateName" => certificates::set_ca_name(self, p).await,
            "CreateDomainExtension" => domain_extensions::create(self, p).await,
            "DeleteDomainExtension" => domain_extensions::delete(self, p).await,
            "DescribeDomainExtensions" => domain_extensions::describe(self, p),
            "DescribeDomainExtensionAttribute" => domain_extensions::describe_attribute(self, p),
            "SetDomainExtensionAttribute" => domain_extensions::set(self, p).await,
            "CreateTLSCipherPolicy" => tls_policies::create(self, p).await,
            "SetTLSCipherPolicyAttribute" => tls_policies::set(self, p).await,
            "DeleteTLSCipherPolicy" => tls_policies::delete(self, p).await,
            "ListTLSCipherPolicies" => tls_policies::list(self, p),
            "DescribeLoadBalancerListeners" => listeners::describe_all(self, p),
            "StartLoadBalancerListener" => listeners::start(self, p).await,
            "StopLoadBalancerListener" => listeners::stop(self, p).await,
            "DeleteLoadBalancerListener" => listeners::delete(self, p).await,
            "AddBackendServers" => backends::add(self, p).await,
            "RemoveBackendServers" => backends::remove(self, p).await,
            "SetBackendServers" => backends::set(self, p).await,
            "DescribeHealthStatus" => health::describe(self, p),
            "CreateVServerGroup" => vserver_groups::create(self, p).await,
            "SetVServerGroupAttribute" => vserver_groups::set_attribute(self, p).await,
            "AddVServerGroupBackendServers" => vserver_groups::add(self, p).await,
            "RemoveVServerGroupBackendServers" => vserver_groups::remove(self, p).await,
            "ModifyVServerGroupBackendServers" => vserver_groups::modify(self, p).await,
            "DeleteVServerGroup" => vserver_groups::delete(self, p).await,
            "DescribeVServerGroups" => vserver_groups::describe(self, p),
            "DescribeVServerGroupAttribute" => vserver_groups::describe_attribute(self, p),
            "CreateAccessControlList" => acls::create(self, p).await,
            "DeleteAccessControlList" => acls::delete(self, p).await,
            "DescribeAccessControlLists" => acls::describe(self, p),
            "DescribeAccessControlListAttribute" => acls::describe_attribute(self, p),
            "SetAccessControlListAttribute" => acls::set_name(self, p).await,
            "AddAccessControlListEntry" => acls::add_entries(self, p).await,
            "RemoveAccessControlListEntry" => acls::remove_entries(self, p).await,
            "SetListenerAccessControlStatus" => white_list::set_status(self, p).await,
            "AddListenerWhiteListItem" => white_list::add_items(self, p).await,
            "RemoveListenerWhiteListItem" => white_list::remove_items(self, p).await,
            "DescribeListenerAccessControlAttribute" => white_list::describe(self, p),
            "CreateMasterSlaveServerGroup" => master_slave_groups::create(self, p).await,
            "DeleteMasterSlaveServerGroup" => master_slave_groups::delete(self, p).await,
            "DescribeMasterSlaveServerGroups" => master_slave_groups::describe(self, p),
            "DescribeMasterSlaveServerGroupAttribute" => {
                master_slave_groups::describe_attribute(self, p)
            }
            "TagResources" => tags::tag(self, p).await,
            "UntagResources" => tags::untag(self, p).await,
            "ListTagResources" => tags::list(self, p),
            "AddTags" => tags::add_tags(self, p).await,
            "RemoveTags" => tags::remove_tags(self, p).await,
            "DescribeTags" => tags::describe_tags(self, p),
            _ => return None,
        };
        Some(result)
    }

    /// `RegionId`, when given, must be this node's region.
    fn check_region(&self, p: &dyn ParamSource) -> Result<(), ModelError> {
        match slb_model::params::optional(p, "RegionId") {
            Some(r) if r != self.node.region => Err(ModelError::new(
                404,
                "InvalidRegionId.NotFound",
                format!(
                    "The specified RegionId \"{r}\" does not exist; this node serves \"{}\".",
                    self.node.region
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The latest committed state, for reads.
    fn state(&self) -> Arc<State> {
        self.store.snapshot().state
    }

    /// Applies a change durably; answers only after the store has committed it.
    async fn write<T: Send + 'static>(
        &self,
        action: &'static str,
        change: impl FnOnce(&mut State) -> Result<T, ModelError> + Send + 'static,
    ) -> Result<T, ModelError> {
        let store = self.store.clone();
        let joined = tokio::task::spawn_blocking(move || store.update(action, change)).await;
        match joined {
            Ok(Ok(v)) => {
                if let Some(applied) = &self.applied {
                    let revision = self.store.snapshot().revision;
                    let mut applied = applied.clone();
                    let waited =
                        tokio::time::timeout(APPLY_WAIT, applied.wait_for(|r| *r >= revision))
                            .await;
                    if waited.is_err() {
                        tracing::warn!(action, revision, "data plane is slow to apply a change");
                    }
                }
                Ok(v)
            }
            Ok(Err(StoreError::Model(e))) => Err(e),
            Ok(Err(StoreError::Database(e))) => {
                tracing::error!(action, error = %e, "store write failed");
                Err(internal())
            }
            Err(e) => {
                tracing::error!(action, error = %e, "store write task failed");
                Err(internal())
            }
        }
    }
}

fn internal() -> ModelError {
    ModelError::new(
        500,
        "InternalError",
        "The request processing has failed due to some unknown error.",
    )
}

impl crate::ActionHandler for Actions {
    fn handle<'a>(
        &'a self,
        action: &'a str,
        params: &'a crate::Params,
        _req: &'a crate::RequestContext,
    ) -> crate::BoxFuture<'a, Result<Value, crate::ApiError>> {
        Box::pin(async move {
            match self.run(action, params).await {
                Some(result) => result.map_err(crate::ApiError::from),
                None => Err(crate::ApiError::invalid_action(action)),
            }
        })
    }
}
