"""aliyun-python-sdk-slb (V1) drives the layer-4 features with its own parameter names:
UDP listeners (healthCheckReq / healthCheckExp), master/slave server groups, access
control lists and listener bandwidth within a pay-by-bandwidth instance."""

import json
import socket

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException
from aliyunsdkslb.request.v20140515 import (
    AddAccessControlListEntryRequest,
    CreateAccessControlListRequest,
    CreateLoadBalancerRequest,
    CreateLoadBalancerTCPListenerRequest,
    CreateLoadBalancerUDPListenerRequest,
    CreateMasterSlaveServerGroupRequest,
    DescribeAccessControlListAttributeRequest,
    DescribeLoadBalancerUDPListenerAttributeRequest,
    DescribeMasterSlaveServerGroupAttributeRequest,
    DescribeMasterSlaveServerGroupsRequest,
    StartLoadBalancerListenerRequest,
)


def cls(module):
    return getattr(module, module.__name__.rsplit(".", 1)[1])


def test_udp_listener_serves_datagrams(v1):
    backend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    backend.bind(("127.0.0.1", 0))
    backend.settimeout(5)
    lb = v1(cls(CreateLoadBalancerRequest), LoadBalancerName="sdk-udp")
    v1(
        cls(CreateLoadBalancerUDPListenerRequest),
        LoadBalancerId=lb["LoadBalancerId"],
        ListenerPort=5353,
        BackendServerPort=backend.getsockname()[1],
        Bandwidth=-1,
        Scheduler="rr",
        HealthCheckSwitch="off",
        healthCheckReq="ping",
        healthCheckExp="pong",
    )
    attr = v1(cls(DescribeLoadBalancerUDPListenerAttributeRequest), LoadBalancerId=lb["LoadBalancerId"], ListenerPort=5353)
    assert attr["HealthCheckReq"] == "ping" and attr["HealthCheckExp"] == "pong"
    # BackendServerPort applies to the instance's default server group: add 127.0.0.1.
    v1_add_member(v1, lb["LoadBalancerId"])
    v1(cls(StartLoadBalancerListenerRequest), LoadBalancerId=lb["LoadBalancerId"], ListenerPort=5353, ListenerProtocol="udp")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    client.sendto(b"hello", (lb["Address"], 5353))
    data, peer = backend.recvfrom(64)
    assert data == b"hello"
    backend.sendto(b"world", peer)
    reply, source = client.recvfrom(64)
    assert reply == b"world" and source == (lb["Address"], 5353)


def v1_add_member(v1, lb_id):
    from aliyunsdkslb.request.v20140515 import AddBackendServersRequest

    v1(
        cls(AddBackendServersRequest),
        LoadBalancerId=lb_id,
        BackendServers=json.dumps([{"ServerId": "127.0.0.1", "Type": "ip", "Weight": "100"}]),
    )


def test_master_slave_group_on_a_tcp_listener(v1):
    lb_id = v1(cls(CreateLoadBalancerRequest))["LoadBalancerId"]
    servers = [
        {"ServerId": "127.0.0.1", "Type": "ip", "Port": 8081, "Weight": 100, "ServerType": "Master"},
        {"ServerId": "127.0.0.1", "Type": "ip", "Port": 8082, "Weight": 100, "ServerType": "Slave"},
    ]
    group = v1(
        cls(CreateMasterSlaveServerGroupRequest),
        LoadBalancerId=lb_id,
        MasterSlaveServerGroupName="pair",
        MasterSlaveBackendServers=json.dumps(servers),
    )
    gid = group["MasterSlaveServerGroupId"]
    v1(
        cls(CreateLoadBalancerTCPListenerRequest),
        LoadBalancerId=lb_id,
        ListenerPort=7300,
        Bandwidth=-1,
        MasterSlaveServerGroupId=gid,
        ProxyProtocolV2Enabled=True,
    )
    attr = v1(cls(DescribeMasterSlaveServerGroupAttributeRequest), MasterSlaveServerGroupId=gid)
    roles = [s["ServerType"] for s in attr["MasterSlaveBackendServers"]["MasterSlaveBackendServer"]]
    assert roles == ["Master", "Slave"]
    listed = v1(cls(DescribeMasterSlaveServerGroupsRequest), LoadBalancerId=lb_id, IncludeListener=True)
    group = listed["MasterSlaveServerGroups"]["MasterSlaveServerGroup"][0]
    assert group["AssociatedObjects"]["Listeners"]["Listener"][0]["Port"] == 7300


def test_access_control_list_and_bandwidth(v1):
    acl = v1(cls(CreateAccessControlListRequest), AclName="sdk-acl", AddressIPVersion="ipv4")["AclId"]
    v1(
        cls(AddAccessControlListEntryRequest),
        AclId=acl,
        AclEntrys=json.dumps([{"entry": "10.0.0.0/8", "comment": "office"}]),
    )
    lb_id = v1(
        cls(CreateLoadBalancerRequest), InternetChargeType="paybybandwidth", Bandwidth=10
    )["LoadBalancerId"]
    v1(
        cls(CreateLoadBalancerTCPListenerRequest),
        LoadBalancerId=lb_id,
        ListenerPort=7400,
        BackendServerPort=80,
        Bandwidth=6,
        AclStatus="on",
        AclType="white",
        AclId=acl,
    )
    attr = v1(cls(DescribeAccessControlListAttributeRequest), AclId=acl)
    assert attr["AclEntrys"]["AclEntry"][0]["AclEntryIP"] == "10.0.0.0/8"
    assert attr["RelatedListeners"]["RelatedListener"][0]["ListenerPort"] == 7400
    with pytest.raises(ServerException) as e:
        v1(
            cls(CreateLoadBalancerTCPListenerRequest),
            LoadBalancerId=lb_id,
            ListenerPort=7401,
            BackendServerPort=80,
            Bandwidth=5,
        )
    assert e.value.get_error_code() == "InvalidParameter"
