//! Alibaba's response shapes for resources, shared by the actions that return them.

use serde_json::{json, Value};
use slb_model::params::on_off_str;
use slb_model::{BackendServer, Listener, LoadBalancer, Rule, StickySession, Tag};

/// A member of a server group as Alibaba lists it (`Port` only for VServer group members).
pub fn backend(s: &BackendServer) -> Value {
    let mut v = json!({
        "ServerId": s.server_id,
        "Weight": s.weight,
        "Type": type_name(s),
        "ServerIp": s.server_ip.to_string(),
        "Description": s.description,
    });
    if let Some(port) = s.port {
        v["Port"] = json!(port);
    }
    v
}

fn type_name(s: &BackendServer) -> &'static str {
    match s.server_type {
        slb_model::ServerType::Ecs => "ecs",
        slb_model::ServerType::Eni => "eni",
        slb_model::ServerType::Eci => "eci",
        slb_model::ServerType::Ip => "ip",
    }
}

/// `{"BackendServer":[...]}`, Alibaba's list wrapper.
pub fn backends(list: &[BackendServer]) -> Value {
    json!({ "BackendServer": list.iter().map(backend).collect::<Vec<_>>() })
}

/// `{"Tag":[{"TagKey":…,"TagValue":…}]}`, as describe actions list a resource's tags.
pub fn tags(list: &[Tag]) -> Value {
    json!({ "Tag": tag_list(list) })
}

/// `[{"TagKey":…,"TagValue":…}]`, the unwrapped list DescribeLoadBalancerListeners uses.
pub fn tag_list(list: &[Tag]) -> Value {
    list.iter()
        .map(|t| json!({ "TagKey": t.key, "TagValue": t.value }))
        .collect()
}

/// The fields DescribeLoadBalancers and DescribeLoadBalancerAttribute share.
pub fn load_balancer_summary(lb: &LoadBalancer) -> Value {
    json!({
        "LoadBalancerId": lb.id,
        "LoadBalancerName": lb.name,
        "LoadBalancerStatus": lb.status.as_str(),
        "Address": lb.address.to_string(),
        "AddressType": lb.address_type,
        "AddressIPVersion": if lb.address.is_ipv4() { "ipv4" } else { "ipv6" },
        "RegionId": lb.region_id,
        "RegionIdAlias": lb.region_id,
        "NetworkType": lb.network_type,
        "VpcId": lb.vpc_id,
        "VSwitchId": lb.vswitch_id,
        "MasterZoneId": lb.master_zone_id,
        "SlaveZoneId": lb.slave_zone_id,
        "LoadBalancerSpec": lb.spec,
        "Bandwidth": lb.bandwidth,
        "InternetChargeType": lb.internet_charge_type,
        "InternetChargeTypeAlias": lb.internet_charge_type,
        "PayType": lb.pay_type,
        "InstanceChargeType": if lb.pay_by_clcu { "PayByCLCU" } else { "PayBySpec" },
        "ResourceGroupId": lb.resource_group_id,
        "CreateTime": lb.create_time,
        "CreateTimeStamp": lb.create_time_stamp,
        "DeleteProtection": on_off_str(lb.delete_protection),
        "ModificationProtectionStatus": if lb.modification_protection.is_some() { "ConsoleProtection" } else { "NonProtection" },
        "ModificationProtectionReason": lb.modification_protection.as_deref().unwrap_or(""),
        "Tags": tags(&lb.tags),
    })
}

/// `AclType` and `AclId` when set (`AclStatus` is in every listener answer).
fn put_acl(v: &mut Value, l: &Listener) {
    if !l.acl_type.is_empty() {
        v["AclType"] = json!(l.acl_type);
    }
    if let Some(id) = &l.acl_id {
        v["AclId"] = json!(id);
        v["AclIds"] = json!([id]);
    }
}

/// The TCP listener fields, flat, as DescribeLoadBalancerTCPListenerAttribute returns them.
pub fn tcp_listener(l: &Listener) -> Value {
    let hc = &l.health_check;
    let mut v = json!({
        "LoadBalancerId": l.key.load_balancer_id,
        "ListenerPort": l.key.port,
        "Status": l.status.as_str(),
        "Scheduler": l.scheduler,
        "Bandwidth": l.bandwidth,
        "PersistenceTimeout": l.persistence_timeout,
        "EstablishedTimeout": l.established_timeout,
        "ConnectionDrain": on_off_str(l.connection_drain),
        "ConnectionDrainTimeout": l.connection_drain_timeout,
        "ProxyProtocolV2Enabled": l.proxy_protocol_v2,
        "Description": l.description,
        "AclStatus": on_off_str(l.acl_status),
        "SynProxy": "disable",
        "HealthCheck": on_off_str(hc.enabled),
        "HealthCheckSwitch": on_off_str(hc.enabled),
        "HealthCheckType": hc.kind,
        "HealthCheckConnectTimeout": hc.timeout,
        "HealthCheckInterval": hc.interval,
        "HealthyThreshold": hc.healthy_threshold,
        "UnhealthyThreshold": hc.unhealthy_threshold,
        "HealthCheckHttpCode": hc.http_code,
        "HealthCheckMethod": hc.method,
    });
    if let Some(port) = l.backend_server_port {
        v["BackendServerPort"] = json!(port);
    }
    if let Some(g) = &l.vserver_group_id {
        v["VServerGroupId"] = json!(g);
    }
    if let Some(g) = &l.master_slave_server_group_id {
        v["MasterSlaveServerGroupId"] = json!(g);
    }
    if let Some(port) = hc.connect_port {
        v["HealthCheckConnectPort"] = json!(port);
    }
    if !hc.uri.is_empty() {
        v["HealthCheckURI"] = json!(hc.uri);
    }
    if !hc.domain.is_empty() {
        v["HealthCheckDomain"] = json!(hc.domain);
    }
    put_acl(&mut v, l);
    v["Tags"] = tags(&l.tags);
    v
}

/// The UDP listener fields, flat, as DescribeLoadBalancerUDPListenerAttribute returns them.
pub fn udp_listener(l: &Listener) -> Value {
    let hc = &l.health_check;
    let mut v = tcp_listener(l);
    if let Some(o) = v.as_object_mut() {
        for k in [
            "EstablishedTimeout",
            "SynProxy",
            "HealthCheckType",
            "HealthCheckHttpCode",
            "HealthCheckMethod",
            "HealthCheckURI",
            "HealthCheckDomain",
        ] {
            o.remove(k);
        }
    }
    v["HealthCheckReq"] = json!(hc.udp_request);
    v["HealthCheckExp"] = json!(hc.udp_expect);
    v
}

/// A forwarding rule as DescribeRules and DescribeLoadBalancerHTTPListenerAttribute list it.
pub fn rule(r: &Rule) -> Value {
    let mut v = json!({
        "RuleId": r.id,
        "RuleName": r.name,
        "LoadBalancerId": r.load_balancer_id,
        "ListenerPort": r.listener_port.to_string(),
        "VServerGroupId": r.vserver_group_id,
        "ListenerSync": on_off_str(r.own_settings.is_none()),
    });
    if let Some(own) = &r.own_settings {
        v["Scheduler"] = json!(own.scheduler);
        put_sticky(&mut v, &own.sticky_session);
        put_http_health(&mut v, &own.health_check);
    }
    if let Some(d) = &r.domain {
        v["Domain"] = json!(d);
    }
    if let Some(u) = &r.url {
        v["Url"] = json!(u);
    }
    v
}

/// The HTTP listener fields, flat, as DescribeLoadBalancerHTTPListenerAttribute returns
/// them (without `Rules`, which the action adds).
pub fn http_listener(l: &Listener) -> Value {
    let hc = &l.health_check;
    let http = l.http.clone().unwrap_or_default();
    let mut v = json!({
        "LoadBalancerId": l.key.load_balancer_id,
        "ListenerPort": l.key.port,
        "Status": l.status.as_str(),
        "Scheduler": l.scheduler,
        "Bandwidth": l.bandwidth,
        "Description": l.description,
        "AclStatus": on_off_str(l.acl_status),
        "SecurityStatus": "normal",
        "XForwardedFor": on_off_str(http.x_forwarded_for),
        "XForwardedFor_SLBIP": on_off_str(http.x_forwarded_for_slb_ip),
        "XForwardedFor_SLBID": on_off_str(http.x_forwarded_for_slb_id),
        "XForwardedFor_proto": on_off_str(http.x_forwarded_for_proto),
        "XForwardedFor_SLBPORT": on_off_str(http.x_forwarded_for_slb_port),
        "XForwardedFor_ClientSrcPort": on_off_str(http.x_forwarded_for_client_src_port),
        "Gzip": on_off_str(http.gzip),
        "IdleTimeout": http.idle_timeout,
        "RequestTimeout": http.request_timeout,
        "ListenerForward": on_off_str(http.forward_port.is_some()),
    });
    put_http_health(&mut v, hc);
    if let Some(h) = &l.https {
        v["ServerCertificateId"] = json!(h.server_certificate_id);
        v["TLSCipherPolicy"] = json!(h.tls_cipher_policy);
        v["EnableHttp2"] = json!(on_off_str(h.enable_http2));
        v["TLSSessionResumption"] = json!(on_off_str(h.session_resumption));
        if let Some(ca) = &h.ca_certificate_id {
            v["CACertificateId"] = json!(ca);
        }
    }
    put_sticky(&mut v, &http.sticky_session);
    if let Some(port) = http.forward_port {
        v["ForwardPort"] = json!(port);
    }
    if let Some(port) = l.backend_server_port {
        v["BackendServerPort"] = json!(port);
    }
    if let Some(g) = &l.vserver_group_id {
        v["VServerGroupId"] = json!(g);
    }
    put_acl(&mut v, l);
    v["Tags"] = tags(&l.tags);
    v
}

/// `StickySession` and, when on, its type and cookie fields.
fn put_sticky(v: &mut Value, sticky: &StickySession) {
    v["StickySession"] = json!(on_off_str(*sticky != StickySession::Off));
    match sticky {
        StickySession::Off => {}
        StickySession::Insert { cookie_timeout } => {
            v["StickySessionType"] = json!("insert");
            v["CookieTimeout"] = json!(cookie_timeout);
        }
        StickySession::Server { cookie } => {
            v["StickySessionType"] = json!("server");
            v["Cookie"] = json!(cookie);
        }
    }
}

/// The HTTP health-check fields of a layer-7 listener or rule.
fn put_http_health(v: &mut Value, hc: &slb_model::HealthCheck) {
    v["HealthCheck"] = json!(on_off_str(hc.enabled));
    v["HealthCheckType"] = json!("http");
    v["HealthCheckURI"] = json!(hc.uri);
    v["HealthCheckTimeout"] = json!(hc.timeout);
    v["HealthCheckInterval"] = json!(hc.interval);
    v["HealthyThreshold"] = json!(hc.healthy_threshold);
    v["UnhealthyThreshold"] = json!(hc.unhealthy_threshold);
    v["HealthCheckHttpCode"] = json!(hc.http_code);
    v["HealthCheckMethod"] = json!(hc.method);
    if let Some(port) = hc.connect_port {
        v["HealthCheckConnectPort"] = json!(port);
    }
    if !hc.domain.is_empty() {
        v["HealthCheckDomain"] = json!(hc.domain);
    }
}

/// Keys of the `HTTPListenerConfig` block of DescribeLoadBalancerListeners.
const HTTP_CONFIG_KEYS: &[&str] = &[
    "XForwardedFor",
    "XForwardedFor_SLBIP",
    "XForwardedFor_SLBID",
    "XForwardedFor_proto",
    "XForwardedFor_SLBPORT",
    "XForwardedFor_ClientSrcPort",
    "StickySession",
    "StickySessionType",
    "CookieTimeout",
    "Cookie",
    "Gzip",
    "IdleTimeout",
    "RequestTimeout",
    "ListenerForward",
    "ForwardPort",
    "HealthCheck",
    "HealthCheckType",
    "HealthCheckURI",
    "HealthCheckDomain",
    "HealthCheckConnectPort",
    "HealthCheckTimeout",
    "HealthCheckInterval",
    "HealthyThreshold",
    "UnhealthyThreshold",
    "HealthCheckHttpCode",
    "HealthCheckMethod",
];

/// One entry of DescribeLoadBalancerListeners, with the protocol block nested as Alibaba does.
pub fn listener_entry(l: &Listener) -> Value {
    if l.key.protocol.is_layer7() {
        return http_listener_entry(l);
    }
    let udp = l.key.protocol == slb_model::Protocol::Udp;
    let flat = if udp {
        udp_listener(l)
    } else {
        tcp_listener(l)
    };
    let mut config = serde_json::Map::new();
    for key in [
        "HealthCheckReq",
        "HealthCheckExp",
        "ProxyProtocolV2Enabled",
        "HealthCheck",
        "HealthCheckType",
        "HealthCheckConnectTimeout",
        "HealthCheckInterval",
        "HealthyThreshold",
        "UnhealthyThreshold",
        "HealthCheckHttpCode",
        "HealthCheckConnectPort",
        "HealthCheckURI",
        "HealthCheckDomain",
        "PersistenceTimeout",
        "EstablishedTimeout",
        "ConnectionDrain",
        "ConnectionDrainTimeout",
        "MasterSlaveServerGroupId",
    ] {
        if let Some(v) = flat.get(key) {
            config.insert(key.to_string(), v.clone());
        }
    }
    let mut v = json!({
        "LoadBalancerId": l.key.load_balancer_id,
        "ListenerPort": l.key.port,
        "ListenerProtocol": l.key.protocol.as_str(),
        "Status": l.status.as_str(),
        "Scheduler": l.scheduler,
        "Bandwidth": l.bandwidth,
        "Description": l.description,
        "AclStatus": on_off_str(l.acl_status),
    });
    v[if udp {
        "UDPListenerConfig"
    } else {
        "TCPListenerConfig"
    }] = Value::Object(config);
    if let Some(port) = l.backend_server_port {
        v["BackendServerPort"] = json!(port);
    }
    if let Some(g) = &l.vserver_group_id {
        v["VServerGroupId"] = json!(g);
    }
    put_acl(&mut v, l);
    v["Tags"] = tag_list(&l.tags);
    v
}

fn http_listener_entry(l: &Listener) -> Value {
    let flat = http_listener(l);
    let mut config: serde_json::Map<String, Value> = HTTP_CONFIG_KEYS
        .iter()
        .filter_map(|k| flat.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let mut v = json!({
        "LoadBalancerId": l.key.load_balancer_id,
        "ListenerPort": l.key.port,
        "ListenerProtocol": l.key.protocol.as_str(),
        "Status": l.status.as_str(),
        "Scheduler": l.scheduler,
        "Bandwidth": l.bandwidth,
        "Description": l.description,
        "AclStatus": on_off_str(l.acl_status),
    });
    let block = if l.https.is_some() {
        for k in [
            "ServerCertificateId",
            "CACertificateId",
            "TLSCipherPolicy",
            "EnableHttp2",
            "TLSSessionResumption",
        ] {
            if let Some(x) = flat.get(k) {
                config.insert(k.to_string(), x.clone());
            }
        }
        "HTTPSListenerConfig"
    } else {
        "HTTPListenerConfig"
    };
    v[block] = Value::Object(config);
    if let Some(port) = l.backend_server_port {
        v["BackendServerPort"] = json!(port);
    }
    if let Some(g) = &l.vserver_group_id {
        v["VServerGroupId"] = json!(g);
    }
    put_acl(&mut v, l);
    v["Tags"] = tag_list(&l.tags);
    v
}
