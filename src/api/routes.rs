//! Route tables, their associations and routes.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, page, tag_set, tag_specifications};
use super::Principal;
use crate::engine::network::actions::RouteTarget;
use crate::engine::network::{DhcpOptions, NetworkAcl, RouteTable};
use crate::engine::tags::tags_for;
use crate::engine::Engine;

fn associated() -> Option<output::RouteTableAssociationState> {
    Some(output::RouteTableAssociationState {
        state: Some("associated".into()),
        status_message: None,
    })
}

pub(super) fn route_table(t: RouteTable) -> output::RouteTable {
    let mut associations: Vec<output::RouteTableAssociation> = t
        .row
        .main_association_id
        .iter()
        .map(|id| output::RouteTableAssociation {
            main: Some(true),
            route_table_association_id: Some(id.clone()),
            route_table_id: Some(t.row.route_table_id.clone()),
            association_state: associated(),
            ..Default::default()
        })
        .collect();
    associations.extend(
        t.associations
            .into_iter()
            .map(|a| output::RouteTableAssociation {
                main: Some(false),
                route_table_association_id: Some(a.association_id),
                route_table_id: Some(a.route_table_id),
                subnet_id: Some(a.subnet_id),
                association_state: associated(),
                ..Default::default()
            }),
    );
    output::RouteTable {
        associations: Some(associations),
        propagating_vgws: Some(Vec::new()),
        routes: Some(
            t.routes
                .into_iter()
                .map(|(r, active)| output::Route {
                    destination_cidr_block: Some(r.destination),
                    gateway_id: r.gateway_id,
                    instance_id: r.instance_id.clone(),
                    instance_owner_id: r.instance_id.map(|_| t.row.account_id.clone()),
                    network_interface_id: r.network_interface_id,
                    origin: Some(r.origin),
                    state: Some(if active { "active" } else { "blackhole" }.into()),
                    ..Default::default()
                })
                .collect(),
        ),
        route_table_id: Some(t.row.route_table_id),
        tags: tag_set(t.tags),
        vpc_id: Some(t.row.vpc_id),
        owner_id: Some(t.row.account_id),
    }
}

pub async fn create_route_table(
    engine: &Engine,
    who: &Principal,
    req: input::CreateRouteTableRequest,
) -> Result<output::CreateRouteTableResult, ApiError> {
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "route-table")?;
    let created = engine
        .create_route_table(&who.account_id, &req.vpc_id, tags)
        .await?;
    Ok(output::CreateRouteTableResult {
        route_table: Some(route_table(created)),
        client_token: req.client_token,
    })
}

pub async fn delete_route_table(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteRouteTableRequest,
) -> Result<(), ApiError> {
    engine
        .delete_route_table(&who.account_id, &req.route_table_id)
        .await?;
    Ok(())
}

pub async fn describe_route_tables(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeRouteTablesRequest,
) -> Result<output::DescribeRouteTablesResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 100)?;
    let (found, next_token) = engine
        .describe_route_tables(
            &who.account_id,
            &req.route_table_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeRouteTablesResult {
        route_tables: Some(found.into_iter().map(route_table).collect()),
        next_token,
    })
}

pub async fn associate_route_table(
    engine: &Engine,
    who: &Principal,
    req: input::AssociateRouteTableRequest,
) -> Result<output::AssociateRouteTableResult, ApiError> {
    let subnet_id = req
        .subnet_id
        .ok_or_else(|| ApiError::MissingParameter("SubnetId".into()))?;
    let association_id = engine
        .associate_route_table(&who.account_id, &req.route_table_id, &subnet_id)
        .await?;
    Ok(output::AssociateRouteTableResult {
        association_id: Some(association_id),
        association_state: associated(),
    })
}

pub async fn disassociate_route_table(
    engine: &Engine,
    who: &Principal,
    req: input::DisassociateRouteTableRequest,
) -> Result<(), ApiError> {
    engine
        .disassociate_route_table(&who.account_id, &req.association_id)
        .await?;
    Ok(())
}

pub async fn create_route(
    engine: &Engine,
    who: &Principal,
    req: input::CreateRouteRequest,
) -> Result<output::CreateRouteResult, ApiError> {
    let destination = req
        .destination_cidr_block
        .ok_or_else(|| ApiError::MissingParameter("DestinationCidrBlock".into()))?;
    engine
        .put_route(
            &who.account_id,
            &req.route_table_id,
            &destination,
            RouteTarget {
                gateway_id: req.gateway_id.filter(|v| !v.is_empty()),
                instance_id: req.instance_id.filter(|v| !v.is_empty()),
                interface_id: req.network_interface_id.filter(|v| !v.is_empty()),
            },
            false,
        )
        .await?;
    Ok(output::CreateRouteResult {
        return_: Some(true),
    })
}

pub async fn delete_route(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteRouteRequest,
) -> Result<(), ApiError> {
    let destination = req
        .destination_cidr_block
        .ok_or_else(|| ApiError::MissingParameter("DestinationCidrBlock".into()))?;
    engine
        .delete_route(&who.account_id, &req.route_table_id, &destination)
        .await?;
    Ok(())
}

pub async fn replace_route(
    engine: &Engine,
    who: &Principal,
    req: input::ReplaceRouteRequest,
) -> Result<(), ApiError> {
    let destination = req
        .destination_cidr_block
        .ok_or_else(|| ApiError::MissingParameter("DestinationCidrBlock".into()))?;
    engine
        .put_route(
            &who.account_id,
            &req.route_table_id,
            &destination,
            RouteTarget {
                gateway_id: req.gateway_id.filter(|v| !v.is_empty()),
                instance_id: req.instance_id.filter(|v| !v.is_empty()),
                interface_id: req.network_interface_id.filter(|v| !v.is_empty()),
            },
            true,
        )
        .await?;
    Ok(())
}

pub async fn replace_route_table_association(
    engine: &Engine,
    who: &Principal,
    req: input::ReplaceRouteTableAssociationRequest,
) -> Result<output::ReplaceRouteTableAssociationResult, ApiError> {
    let new_id = engine
        .replace_route_table_association(&who.account_id, &req.association_id, &req.route_table_id)
        .await?;
    Ok(output::ReplaceRouteTableAssociationResult {
        new_association_id: Some(new_id),
        association_state: associated(),
    })
}

fn network_acl(a: NetworkAcl) -> output::NetworkAcl {
    let entry = |egress: bool, rule_number: i32, rule_action: &str| output::NetworkAclEntry {
        cidr_block: Some("0.0.0.0/0".into()),
        egress: Some(egress),
        protocol: Some("-1".into()),
        rule_action: Some(rule_action.into()),
        rule_number: Some(rule_number),
        ..Default::default()
    };
    output::NetworkAcl {
        associations: Some(
            a.associations
                .into_iter()
                .map(|(id, subnet_id)| output::NetworkAclAssociation {
                    network_acl_association_id: Some(id),
                    network_acl_id: Some(a.acl_id.clone()),
                    subnet_id: Some(subnet_id),
                })
                .collect(),
        ),
        entries: Some(vec![
            entry(true, 100, "allow"),
            entry(true, 32767, "deny"),
            entry(false, 100, "allow"),
            entry(false, 32767, "deny"),
        ]),
        is_default: Some(true),
        network_acl_id: Some(a.acl_id),
        tags: tag_set(a.tags),
        vpc_id: Some(a.vpc_id),
        owner_id: Some(a.owner_id),
    }
}

pub async fn describe_network_acls(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeNetworkAclsRequest,
) -> Result<output::DescribeNetworkAclsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 100)?;
    let (found, next_token) = engine
        .describe_network_acls(
            &who.account_id,
            &req.network_acl_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeNetworkAclsResult {
        network_acls: Some(found.into_iter().map(network_acl).collect()),
        next_token,
    })
}

fn dhcp_options(d: DhcpOptions) -> output::DhcpOptions {
    output::DhcpOptions {
        owner_id: Some(d.owner_id),
        tags: tag_set(d.tags),
        dhcp_options_id: Some(d.options_id),
        dhcp_configurations: Some(
            d.configurations
                .into_iter()
                .map(|(key, values)| output::DhcpConfiguration {
                    key: Some(key),
                    values: Some(
                        values
                            .into_iter()
                            .map(|v| output::AttributeValue { value: Some(v) })
                            .collect(),
                    ),
                })
                .collect(),
        ),
    }
}

pub async fn describe_dhcp_options(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeDhcpOptionsRequest,
) -> Result<output::DescribeDhcpOptionsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (found, next_token) = engine
        .describe_dhcp_options(
            &who.account_id,
            &req.dhcp_options_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeDhcpOptionsResult {
        dhcp_options: Some(found.into_iter().map(dhcp_options).collect()),
        next_token,
    })
}
