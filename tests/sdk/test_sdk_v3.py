"""alibabacloud-slb20140515 (V3 ACS3-HMAC-SHA256 signatures) drives the API unchanged."""

import json
import socket

import pytest
from alibabacloud_slb20140515 import models
from Tea.exceptions import TeaException


def test_v3_tcp_listener_flow(v3, backend):
    lb = v3.create_load_balancer(models.CreateLoadBalancerRequest(region_id="local", load_balancer_name="sdk-v3")).body
    assert lb.load_balancer_id.startswith("lb-")
    group = v3.create_vserver_group(
        models.CreateVServerGroupRequest(
            region_id="local",
            load_balancer_id=lb.load_balancer_id,
            vserver_group_name="v3",
            backend_servers=json.dumps([{"ServerId": "127.0.0.1", "Type": "ip", "Port": backend, "Weight": 100}]),
        )
    ).body
    v3.create_load_balancer_tcplistener(
        models.CreateLoadBalancerTCPListenerRequest(
            region_id="local",
            load_balancer_id=lb.load_balancer_id,
            listener_port=7200,
            vserver_group_id=group.vserver_group_id,
            bandwidth=-1,
        )
    )
    v3.start_load_balancer_listener(
        models.StartLoadBalancerListenerRequest(region_id="local", load_balancer_id=lb.load_balancer_id, listener_port=7200)
    )
    with socket.create_connection((lb.address, 7200), timeout=5) as s:
        assert s.recv(64) == b"sdk-backend\n"
    attr = v3.describe_load_balancer_tcplistener_attribute(
        models.DescribeLoadBalancerTCPListenerAttributeRequest(region_id="local", load_balancer_id=lb.load_balancer_id, listener_port=7200)
    ).body
    assert attr.status == "running"
    assert attr.vserver_group_id == group.vserver_group_id
    found = v3.describe_load_balancers(models.DescribeLoadBalancersRequest(region_id="local", load_balancer_id=lb.load_balancer_id)).body
    assert found.total_count == 1
    assert found.load_balancers.load_balancer[0].address == lb.address
    listeners = v3.describe_load_balancer_listeners(
        models.DescribeLoadBalancerListenersRequest(region_id="local", load_balancer_id=[lb.load_balancer_id])
    ).body
    assert listeners.listeners[0].listener_port == 7200
    zones = v3.describe_zones(models.DescribeZonesRequest(region_id="local")).body
    assert zones.zones.zone[0].zone_id == "local-a"


def test_v3_errors(v3):
    with pytest.raises(TeaException) as e:
        v3.describe_load_balancer_attribute(models.DescribeLoadBalancerAttributeRequest(region_id="local", load_balancer_id="lb-missing"))
    assert e.value.code == "InvalidLoadBalancerId.NotFound"
    with pytest.raises(TeaException) as e:
        v3.describe_load_balancers(models.DescribeLoadBalancersRequest(region_id="elsewhere"))
    assert e.value.code == "InvalidRegionId.NotFound"


def _http_backend():
    """An HTTP server on 127.0.0.1 answering b'sdk-http' to every GET."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"sdk-http " + self.headers.get("X-Forwarded-For", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_v3_http_listener_with_rules(v3):
    import urllib.request

    server = _http_backend()
    try:
        port = server.server_address[1]
        lb = v3.create_load_balancer(models.CreateLoadBalancerRequest(region_id="local", load_balancer_name="sdk-http")).body
        group = v3.create_vserver_group(
            models.CreateVServerGroupRequest(
                region_id="local",
                load_balancer_id=lb.load_balancer_id,
                backend_servers=json.dumps([{"ServerId": "127.0.0.1", "Type": "ip", "Port": port}]),
            )
        ).body
        v3.create_load_balancer_httplistener(
            models.CreateLoadBalancerHTTPListenerRequest(
                region_id="local",
                load_balancer_id=lb.load_balancer_id,
                listener_port=7300,
                backend_server_port=port,
                bandwidth=-1,
                sticky_session="off",
                health_check="off",
            )
        )
        v3.create_rules(
            models.CreateRulesRequest(
                region_id="local",
                load_balancer_id=lb.load_balancer_id,
                listener_port=7300,
                rule_list=json.dumps([{"RuleName": "api", "Url": "/api", "VServerGroupId": group.vserver_group_id}]),
            )
        )
        rules = v3.describe_rules(
            models.DescribeRulesRequest(region_id="local", load_balancer_id=lb.load_balancer_id, listener_port=7300)
        ).body
        assert rules.rules.rule[0].url == "/api"
        v3.start_load_balancer_listener(
            models.StartLoadBalancerListenerRequest(region_id="local", load_balancer_id=lb.load_balancer_id, listener_port=7300)
        )
        with urllib.request.urlopen(f"http://{lb.address}:7300/api/x", timeout=5) as r:
            assert r.read().startswith(b"sdk-http 127.0.0.1")
        attr = v3.describe_load_balancer_httplistener_attribute(
            models.DescribeLoadBalancerHTTPListenerAttributeRequest(
                region_id="local", load_balancer_id=lb.load_balancer_id, listener_port=7300
            )
        ).body
        assert attr.status == "running" and attr.sticky_session == "off"
    finally:
        server.shutdown()


def test_v3_tags(v3):
    """Tags as Terraform's provider uses them: set at creation, TagResources, ListTagResources,
    DescribeLoadBalancers by tag, UntagResources."""
    lb = v3.create_load_balancer(
        models.CreateLoadBalancerRequest(
            region_id="local",
            load_balancer_name="sdk-v3-tags",
            tag=[models.CreateLoadBalancerRequestTag(key="team", value="sdk")],
        )
    ).body.load_balancer_id
    v3.tag_resources(
        models.TagResourcesRequest(
            region_id="local",
            resource_type="instance",
            resource_id=[lb],
            tag=[models.TagResourcesRequestTag(key="env", value="test")],
        )
    )
    listed = v3.list_tag_resources(
        models.ListTagResourcesRequest(region_id="local", resource_type="instance", resource_id=[lb])
    ).body
    assert [(t.resource_id, t.tag_key, t.tag_value) for t in listed.tag_resources.tag_resource] == [
        (lb, "team", "sdk"),
        (lb, "env", "test"),
    ]
    found = v3.describe_load_balancers(
        models.DescribeLoadBalancersRequest(
            region_id="local", tag=[models.DescribeLoadBalancersRequestTag(key="team", value="sdk")]
        )
    ).body
    assert [x.load_balancer_id for x in found.load_balancers.load_balancer] == [lb]
    assert {(t.tag_key, t.tag_value) for t in found.load_balancers.load_balancer[0].tags.tag} == {
        ("team", "sdk"),
        ("env", "test"),
    }
    v3.untag_resources(
        models.UntagResourcesRequest(region_id="local", resource_type="instance", resource_id=[lb], all=True)
    )
    listed = v3.list_tag_resources(
        models.ListTagResourcesRequest(region_id="local", resource_type="instance", resource_id=[lb])
    ).body
    assert not listed.tag_resources.tag_resource
    with pytest.raises(TeaException) as e:
        v3.tag_resources(
            models.TagResourcesRequest(
                region_id="local",
                resource_type="instance",
                resource_id=["lb-missing"],
                tag=[models.TagResourcesRequestTag(key="k", value="v")],
            )
        )
    assert e.value.code == "InvalidLoadBalancerId.NotFound"


def test_v3_instance_billing_and_protection(v3):
    lb = v3.create_load_balancer(
        models.CreateLoadBalancerRequest(region_id="local", internet_charge_type="paybybandwidth", bandwidth=20)
    ).body.load_balancer_id
    v3.modify_load_balancer_internet_spec(
        models.ModifyLoadBalancerInternetSpecRequest(region_id="local", load_balancer_id=lb, bandwidth=40, auto_pay=True)
    )
    v3.modify_load_balancer_pay_type(models.ModifyLoadBalancerPayTypeRequest(region_id="local", load_balancer_id=lb, pay_type="PrePay"))
    v3.set_load_balancer_modification_protection(
        models.SetLoadBalancerModificationProtectionRequest(
            region_id="local",
            load_balancer_id=lb,
            modification_protection_status="ConsoleProtection",
            modification_protection_reason="sdk",
        )
    )
    attr = v3.describe_load_balancer_attribute(models.DescribeLoadBalancerAttributeRequest(region_id="local", load_balancer_id=lb)).body
    assert (attr.bandwidth, attr.pay_type, attr.modification_protection_status, attr.modification_protection_reason) == (
        40,
        "PrePay",
        "ConsoleProtection",
        "sdk",
    )


def test_v3_tls_cipher_policies(v3):
    created = v3.create_tlscipher_policy(
        models.CreateTLSCipherPolicyRequest(
            region_id="local", name="sdk-policy", tlsversions=["TLSv1.2", "TLSv1.3"], ciphers=["ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"]
        )
    ).body
    listed = v3.list_tlscipher_policies(
        models.ListTLSCipherPoliciesRequest(region_id="local", tlscipher_policy_id=created.tlscipher_policy_id, include_listener=True)
    ).body
    p = listed.tlscipher_policies[0]
    assert (p.name, p.tlsversions, p.ciphers, p.status) == ("sdk-policy", ["TLSv1.2", "TLSv1.3"], ["ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384"], "normal")
    v3.set_tlscipher_policy_attribute(
        models.SetTLSCipherPolicyAttributeRequest(region_id="local", tlscipher_policy_id=created.tlscipher_policy_id, name="renamed")
    )
    v3.delete_tlscipher_policy(models.DeleteTLSCipherPolicyRequest(region_id="local", tlscipher_policy_id=created.tlscipher_policy_id))
    assert v3.list_tlscipher_policies(models.ListTLSCipherPoliciesRequest(region_id="local")).body.total_count == 0
