//! The EC2 API: typed requests in, engine calls, XML out. Handlers never see the raw parameter
//! map, HTTP, libvirt or the database.

pub mod action;
pub mod error;
pub mod images;
pub mod instance_types;
pub mod instances;
pub mod key_pairs;
pub mod network;
pub mod params;
pub mod regions;
pub mod shapes;
pub mod tags;
pub mod volumes;

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
    who: &Principal,
    action: Action,
    request_id: &str,
) -> Result<String, ApiError> {
    let name = action.name();
    let xml = match action {
        Action::DescribeRegions(req) => {
            render_response(name, request_id, &regions::describe_regions(engine, &req)?)
        }
        Action::DescribeAvailabilityZones(req) => render_response(
            name,
            request_id,
            &regions::describe_availability_zones(engine, &req)?,
        ),
        Action::DescribeAccountAttributes(req) => render_response(
            name,
            request_id,
            &regions::describe_account_attributes(engine, who, &req)?,
        ),
        Action::DescribeImages(req) => render_response(
            name,
            request_id,
            &images::describe_images(engine, who, req).await?,
        ),
        Action::DeregisterImage(req) => {
            images::deregister_image(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DescribeImageAttribute(req) => render_response(
            name,
            request_id,
            &images::describe_image_attribute(engine, who, req).await?,
        ),
        Action::ModifyImageAttribute(req) => {
            images::modify_image_attribute(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DescribeInstanceTypes(req) => render_response(
            name,
            request_id,
            &instance_types::describe_instance_types(engine, req)?,
        ),
        Action::DescribeInstanceTypeOfferings(req) => render_response(
            name,
            request_id,
            &instance_types::describe_instance_type_offerings(engine, req)?,
        ),
        Action::CreateKeyPair(req) => render_response(
            name,
            request_id,
            &key_pairs::create_key_pair(engine, who, req).await?,
        ),
        Action::ImportKeyPair(req) => render_response(
            name,
            request_id,
            &key_pairs::import_key_pair(engine, who, req).await?,
        ),
        Action::DescribeKeyPairs(req) => render_response(
            name,
            request_id,
            &key_pairs::describe_key_pairs(engine, who, req).await?,
        ),
        Action::DeleteKeyPair(req) => render_response(
            name,
            request_id,
            &key_pairs::delete_key_pair(engine, who, req).await?,
        ),
        Action::CreateTags(req) => {
            tags::create_tags(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DeleteTags(req) => {
            tags::delete_tags(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DescribeTags(req) => render_response(
            name,
            request_id,
            &tags::describe_tags(engine, who, req).await?,
        ),
        Action::RunInstances(req) => render_response(
            name,
            request_id,
            &instances::run_instances(engine, who, req).await?,
        ),
        Action::DescribeInstances(req) => render_response(
            name,
            request_id,
            &instances::describe_instances(engine, who, req).await?,
        ),
        Action::StartInstances(req) => render_response(
            name,
            request_id,
            &instances::start_instances(engine, who, req).await?,
        ),
        Action::StopInstances(req) => render_response(
            name,
            request_id,
            &instances::stop_instances(engine, who, req).await?,
        ),
        Action::RebootInstances(req) => {
            instances::reboot_instances(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::TerminateInstances(req) => render_response(
            name,
            request_id,
            &instances::terminate_instances(engine, who, req).await?,
        ),
        Action::GetConsoleOutput(req) => render_response(
            name,
            request_id,
            &instances::get_console_output(engine, who, req).await?,
        ),
        Action::DescribeInstanceAttribute(req) => render_response(
            name,
            request_id,
            &instances::describe_instance_attribute(engine, who, req).await?,
        ),
        Action::ModifyInstanceAttribute(req) => {
            instances::modify_instance_attribute(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DescribeInstanceStatus(req) => render_response(
            name,
            request_id,
            &instances::describe_instance_status(engine, who, req).await?,
        ),
        Action::DescribeInstanceCreditSpecifications(req) => render_response(
            name,
            request_id,
            &instances::describe_instance_credit_specifications(engine, who, req).await?,
        ),
        Action::DescribeVolumes(req) => render_response(
            name,
            request_id,
            &volumes::describe_volumes(engine, who, req).await?,
        ),
        Action::DeleteVolume(req) => {
            volumes::delete_volume(engine, who, req).await?;
            render_response(name, request_id, &shapes::RETURN_TRUE)
        }
        Action::DescribeVpcs(req) => render_response(
            name,
            request_id,
            &network::describe_vpcs(engine, who, req).await?,
        ),
        Action::DescribeSubnets(req) => render_response(
            name,
            request_id,
            &network::describe_subnets(engine, who, req).await?,
        ),
        Action::DescribeSecurityGroups(req) => render_response(
            name,
            request_id,
            &network::describe_security_groups(engine, who, req).await?,
        ),
    };
    xml.map_err(|e| ApiError::Internal(e.to_string()))
}
