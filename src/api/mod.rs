//! The EC2 API: typed requests in, engine calls, typed answers out. The wire (request keys,
//! element names, the Action enum and its dispatch) is generated into `generated/` from the
//! botocore model and ec2-spec/actions.toml; the modules here are the handlers, one per
//! resource family, each a plain function per action. Handlers never see the raw parameter
//! map, HTTP, libvirt or the database.

pub mod action;
pub mod addresses;
pub mod error;
pub mod gateways;
pub mod generated;
pub mod images;
pub mod instance_types;
pub mod instances;
pub mod interfaces;
pub mod key_pairs;
pub mod network;
pub mod params;
pub mod regions;
pub mod routes;
pub mod tags;
pub mod volumes;
pub mod vpcs;
pub mod wire;

pub use error::ApiError;
pub use generated::actions::Action;

use crate::engine::Engine;

/// The account a verified request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub access_key_id: String,
}

/// Runs one action and renders its XML answer.
pub async fn handle(
    engine: &Engine,
    who: &Principal,
    action: Action,
    request_id: &str,
) -> Result<String, ApiError> {
    let mut out = String::with_capacity(4096);
    generated::actions::dispatch(engine, who, action, request_id, &mut out).await?;
    Ok(out)
}
