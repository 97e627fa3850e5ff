//! The EC2 API: typed requests in, engine calls, XML out. Handlers never see the raw parameter
//! map, HTTP, libvirt or the database.

pub mod action;
pub mod error;
pub mod params;
pub mod regions;

pub use action::Action;
pub use error::ApiError;

use crate::engine::Engine;
use crate::protocol::xml::render_response;

/// The account a verified request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub access_key_id: String,
}

/// Runs one action and renders its XML answer.
pub async fn handle(
    engine: &Engine,
    _principal: &Principal,
    action: &Action,
    request_id: &str,
) -> Result<String, ApiError> {
    let name = action.name();
    let xml = match action {
        Action::DescribeRegions(req) => {
            render_response(name, request_id, &regions::describe_regions(engine, req)?)
        }
        Action::DescribeAvailabilityZones(req) => render_response(
            name,
            request_id,
            &regions::describe_availability_zones(engine, req)?,
        ),
        Action::DescribeAccountAttributes(req) => render_response(
            name,
            request_id,
            &regions::describe_account_attributes(engine, req)?,
        ),
    };
    xml.map_err(|e| ApiError::Internal(e.to_string()))
}
