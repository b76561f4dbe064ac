"""aliyun-python-sdk-slb (V1 signatures) drives a whole TCP load balancer unchanged."""

import json
import socket
import time

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkslb.request.v20140515 import (
    AddBackendServersRequest,
    AddTagsRequest,
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    CreateVServerGroupRequest,
    DeleteLoadBalancerRequest,
    DescribeHealthStatusRequest,
    DescribeLoadBalancerAttributeRequest,
    DescribeLoadBalancerListenersRequest,
    DescribeLoadBalancersRequest,
    DescribeLoadBalancerTCPListenerAttributeRequest,
    DescribeRegionsRequest,
    DescribeTagsRequest,
    DescribeVServerGroupAttributeRequest,
    DescribeVServerGroupsRequest,
    DescribeZonesRequest,
    ListTagResourcesRequest,
    SetLoadBalancerNameRequest,
    SetLoadBalancerTCPListenerAttributeRequest,
    StartLoadBalancerListenerRequest,
    StopLoadBalancerListenerRequest,
    TagResourcesRequest,
    UntagResourcesRequest,
)


def cls(module):
    return getattr(module, module.__name__.rsplit(".", 1)[1])


def test_regions_and_zones(v1):
    regions = v1(cls(DescribeRegionsRequest))
    assert regions["Regions"]["Region"][0]["RegionId"] == "local"
    assert "RequestId" in regions
    zones = v1(cls(DescribeZonesRequest))
    assert [z["ZoneId"] for z in zones["Zones"]["Zone"]] == ["local-a", "local-b"]


def test_tcp_load_balancer_end_to_end(v1, backend):
    lb = v1(cls(CreateLoadBalancerRequest), LoadBalancerName="sdk-v1", MasterZoneId="local-a", SlaveZoneId="local-b")
    lb_id, address = lb["LoadBalancerId"], lb["Address"]
    v1(cls(SetLoadBalancerNameRequest), LoadBalancerId=lb_id, LoadBalancerName="sdk-v1-renamed")
    v1(
        cls(AddBackendServersRequest),
        LoadBalancerId=lb_id,
        BackendServers=json.dumps([{"ServerId": "127.0.0.1", "Type": "ip", "Weight": "100"}]),
    )
    v1(
        cls(CreateLoadBalancerTCPListenerRequest),
        LoadBalancerId=lb_id,
        ListenerPort=7100,
        BackendServerPort=backend,
        Bandwidth=-1,
        Scheduler="wrr",
        healthCheckInterval=1,
        HealthyThreshold=2,
        UnhealthyThreshold=2,
    )
    attr = v1(cls(DescribeLoadBalancerTCPListenerAttributeRequest), LoadBalancerId=lb_id, ListenerPort=7100)
    assert attr["Status"] == "stopped" and attr["HealthCheckInterval"] == 1
    v1(cls(StartLoadBalancerListenerRequest), LoadBalancerId=lb_id, ListenerPort=7100)
    with socket.create_connection((address, 7100), timeout=5) as s:
        assert s.recv(64) == b"sdk-backend\n"
    deadline = time.time() + 6
    status = None
    while time.time() < deadline:
        health = v1(cls(DescribeHealthStatusRequest), LoadBalancerId=lb_id)
        status = health["BackendServers"]["BackendServer"][0]["ServerHealthStatus"]
        if status == "normal":
            break
        time.sleep(0.2)
    assert status == "normal"
    v1(cls(SetLoadBalancerTCPListenerAttributeRequest), LoadBalancerId=lb_id, ListenerPort=7100, Scheduler="rr")
    listeners = v1(cls(DescribeLoadBalancerListenersRequest), LoadBalancerIds=[lb_id])
    assert listeners["Listeners"][0]["Scheduler"] == "rr"
    assert v1(cls(DescribeLoadBalancerAttributeRequest), LoadBalancerId=lb_id)["LoadBalancerName"] == "sdk-v1-renamed"
    found = v1(cls(DescribeLoadBalancersRequest), LoadBalancerId=lb_id)
    assert found["TotalCount"] == 1
    v1(cls(StopLoadBalancerListenerRequest), LoadBalancerId=lb_id, ListenerPort=7100)
    with pytest.raises(OSError):
        socket.create_connection((address, 7100), timeout=2)
    v1(cls(DeleteLoadBalancerRequest), LoadBalancerId=lb_id)


def test_vserver_groups(v1):
    lb_id = v1(cls(CreateLoadBalancerRequest))["LoadBalancerId"]
    group = v1(
        cls(CreateVServerGroupRequest),
        LoadBalancerId=lb_id,
        VServerGroupName="g",
        BackendServers=json.dumps([{"ServerId": "127.0.0.1", "Type": "ip", "Port": 8080, "Weight": 10}]),
    )
    gid = group["VServerGroupId"]
    assert v1(cls(DescribeVServerGroupAttributeRequest), VServerGroupId=gid)["BackendServers"]["BackendServer"][0]["Port"] == 8080
    assert v1(cls(DescribeVServerGroupsRequest), LoadBalancerId=lb_id)["VServerGroups"]["VServerGroup"][0]["VServerGroupId"] == gid


def test_errors_raise_server_exception_with_alibaba_codes(v1):
    with pytest.raises(ServerException) as e:
        v1(cls(DescribeLoadBalancerAttributeRequest), LoadBalancerId="lb-missing")
    assert e.value.get_error_code() == "InvalidLoadBalancerId.NotFound"
    assert e.value.get_http_status() == 404
    lb_id = v1(cls(CreateLoadBalancerRequest))["LoadBalancerId"]
    with pytest.raises(ServerException) as e:
        v1(cls(CreateLoadBalancerTCPListenerRequest), LoadBalancerId=lb_id, ListenerPort=7101, BackendServerPort=80, HealthyThreshold=11)
    assert e.value.get_error_code() == "InvalidParameter"


def test_server_certificate_upload_describe_delete(v1):
    """A PEM chain and key in the query string, as the V1 SDK sends them; a fixed RSA-2048
    certificate valid until 2036 (crates/slb-tls/testdata); an HTTPS listener using it."""
    from pathlib import Path

    from aliyunsdkslb.request.v20140515 import (
        CreateLoadBalancerHTTPSListenerRequest,
        DeleteServerCertificateRequest,
        DescribeLoadBalancerHTTPSListenerAttributeRequest,
        DescribeServerCertificatesRequest,
        UploadServerCertificateRequest,
    )

    data = Path(__file__).resolve().parents[2] / "crates" / "slb-tls" / "testdata"
    up = v1(
        cls(UploadServerCertificateRequest),
        ServerCertificate=(data / "rsa.crt").read_text(),
        PrivateKey=(data / "rsa.key").read_text(),
        ServerCertificateName="sdk-rsa",
    )
    cert_id = up["ServerCertificateId"]
    assert up["CommonName"] == "rsa.test"
    assert up["EncryptionAlgorithm"] == "RSA"
    listed = v1(cls(DescribeServerCertificatesRequest), ServerCertificateId=cert_id)
    entry = listed["ServerCertificates"]["ServerCertificate"][0]
    assert entry["ServerCertificateName"] == "sdk-rsa"
    assert "PRIVATE KEY" not in json.dumps(listed)
    with pytest.raises(ServerException) as refused:
        v1(
            cls(UploadServerCertificateRequest),
            ServerCertificate=(data / "rsa.crt").read_text(),
            PrivateKey="not a key",
        )
    assert refused.value.get_error_code() == "InvalidParameter.PrivateKey"

    lb_id = v1(cls(CreateLoadBalancerRequest), LoadBalancerName="sdk-https")["LoadBalancerId"]
    v1(
        cls(CreateLoadBalancerHTTPSListenerRequest),
        LoadBalancerId=lb_id,
        ListenerPort=7443,
        BackendServerPort=80,
        Bandwidth=-1,
        HealthCheck="off",
        StickySession="off",
        ServerCertificateId=cert_id,
        TLSCipherPolicy="tls_cipher_policy_1_2_strict_with_1_3",
        EnableHttp2="off",
    )
    attr = v1(cls(DescribeLoadBalancerHTTPSListenerAttributeRequest), LoadBalancerId=lb_id, ListenerPort=7443)
    assert attr["ServerCertificateId"] == cert_id
    assert attr["TLSCipherPolicy"] == "tls_cipher_policy_1_2_strict_with_1_3"
    assert attr["EnableHttp2"] == "off"
    with pytest.raises(ServerException) as in_use:
        v1(cls(DeleteServerCertificateRequest), ServerCertificateId=cert_id)
    assert in_use.value.get_error_code() == "ResourceInUse.Certificate"
    v1(cls(DeleteLoadBalancerRequest), LoadBalancerId=lb_id)
    v1(cls(DeleteServerCertificateRequest), ServerCertificateId=cert_id)


def test_tags(v1):
    lb_id = v1(cls(CreateLoadBalancerRequest), Tags=[{"Key": "team", "Value": "v1"}])["LoadBalancerId"]
    v1(cls(TagResourcesRequest), ResourceType="instance", ResourceIds=[lb_id], Tags=[{"Key": "env", "Value": "ci"}])
    listed = v1(cls(ListTagResourcesRequest), ResourceType="instance", ResourceIds=[lb_id])
    assert [(t["TagKey"], t["TagValue"]) for t in listed["TagResources"]["TagResource"]] == [("team", "v1"), ("env", "ci")]
    # This SDK's set_Tags on DescribeLoadBalancers is the JSON-string `Tags` (its RepeatList
    # setter of the same name is shadowed).
    found = v1(cls(DescribeLoadBalancersRequest), Tags=json.dumps([{"TagKey": "env", "TagValue": "ci"}]))
    assert [x["LoadBalancerId"] for x in found["LoadBalancers"]["LoadBalancer"]] == [lb_id]
    v1(cls(AddTagsRequest), LoadBalancerId=lb_id, Tags=json.dumps([{"TagKey": "owner", "TagValue": "ops"}]))
    sets = v1(cls(DescribeTagsRequest), LoadBalancerId=lb_id)["TagSets"]["TagSet"]
    assert {(t["TagKey"], t["TagValue"], t["InstanceCount"]) for t in sets} == {("team", "v1", 1), ("env", "ci", 1), ("owner", "ops", 1)}
    v1(cls(UntagResourcesRequest), ResourceType="instance", ResourceIds=[lb_id], TagKeys=["team", "owner"])
    listed = v1(cls(ListTagResourcesRequest), ResourceType="instance", ResourceIds=[lb_id])
    assert [t["TagKey"] for t in listed["TagResources"]["TagResource"]] == ["env"]
    with pytest.raises(ServerException) as e:
        v1(cls(TagResourcesRequest), ResourceType="instance", ResourceIds=[lb_id], Tags=[{"Key": "acs:x", "Value": "v"}])
    assert e.value.get_error_code() == "InvalidParameter"
