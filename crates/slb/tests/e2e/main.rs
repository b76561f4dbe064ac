//! End-to-end tests: each starts the real `slb serve` binary on a private loopback address
//! pool, real TCP backends on 127.0.0.1, and drives everything through the management API.

mod kit;

mod access_keys;
mod acl;
mod api_errors;
mod api_tls;
mod capacity;
mod cli;
mod ddos;
mod durability;
mod health;
mod http;
mod https;
mod keyserver;
mod live_changes;
mod master_slave;
mod proxy_protocol;
mod resources;
mod scheduling;
mod tags;
mod tls_policies;
mod udp;
