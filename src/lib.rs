//! ec2gw: an EC2-compatible Query API gateway. See DESIGN.md for how a request flows.

pub mod auth;
pub mod protocol;
pub mod store;
pub mod engine;
pub mod api;
pub mod server;
pub mod config;
