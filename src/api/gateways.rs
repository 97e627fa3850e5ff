//! Internet gateways: Create, Delete, Describe, Attach, Detach.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, page, tag_set, tag_specifications};
use super::Principal;
use crate::engine::network::InternetGateway;
use crate::engine::tags::tags_for;
use crate::engine::Engine;

fn gateway(g: InternetGateway) -> output::InternetGateway {
    output::InternetGateway {
        attachments: Some(
            g.row
                .vpc_id
                .into_iter()
                .map(|vpc_id| output::InternetGatewayAttachment {
                    state: Some("available".into()),
                    vpc_id: Some(vpc_id),
                })
                .collect(),
        ),
        internet_gateway_id: Some(g.row.gateway_id),
        owner_id: Some(g.row.account_id),
        tags: tag_set(g.tags),
    }
}

pub async fn create_internet_gateway(
    engine: &Engine,
    who: &Principal,
    req: input::CreateInternetGatewayRequest,
) -> Result<output::CreateInternetGatewayResult, ApiError> {
    let tags = tags_for(
        &tag_specifications(req.tag_specifications)?,
        "internet-gateway",
    )?;
    let created = engine
        .create_internet_gateway(&who.account_id, tags)
        .await?;
    Ok(output::CreateInternetGatewayResult {
        internet_gateway: Some(gateway(created)),
    })
}

pub async fn delete_internet_gateway(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteInternetGatewayRequest,
) -> Result<(), ApiError> {
    engine
        .delete_internet_gateway(&who.account_id, &req.internet_gateway_id)
        .await?;
    Ok(())
}

pub async fn describe_internet_gateways(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeInternetGatewaysRequest,
) -> Result<output::DescribeInternetGatewaysResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (found, next_token) = engine
        .describe_internet_gateways(
            &who.account_id,
            &req.internet_gateway_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeInternetGatewaysResult {
        internet_gateways: Some(found.into_iter().map(gateway).collect()),
        next_token,
    })
}

pub async fn attach_internet_gateway(
    engine: &Engine,
    who: &Principal,
    req: input::AttachInternetGatewayRequest,
) -> Result<(), ApiError> {
    engine
        .attach_internet_gateway(&who.account_id, &req.internet_gateway_id, &req.vpc_id, true)
        .await?;
    Ok(())
}

pub async fn detach_internet_gateway(
    engine: &Engine,
    who: &Principal,
    req: input::DetachInternetGatewayRequest,
) -> Result<(), ApiError> {
    engine
        .attach_internet_gateway(
            &who.account_id,
            &req.internet_gateway_id,
            &req.vpc_id,
            false,
        )
        .await?;
    Ok(())
}
