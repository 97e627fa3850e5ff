//! ec2gw: an EC2-compatible Query API gateway. See DESIGN.md for how a request flows.

pub mod api;
pub mod auth;
pub mod cidr;
pub mod config;
pub mod domain;
pub mod engine;
pub mod filter;
pub mod hostnet;
pub mod hypervisor;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod store;
