//! Network interfaces: Create, Delete, Describe, Attach, Detach, their attributes and private
//! addresses; and how an interface is answered (here and inside DescribeInstances).

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{attribute_flag, attribute_value, filters, page, tag_set, tag_specifications};
use super::Principal;
use crate::engine::network::interfaces::{InterfaceAttribute, InterfaceChange};
use crate::engine::network::NetworkInterface;
use crate::engine::tags::tags_for;
use crate::engine::{Engine, EngineError};

fn groups(i: &NetworkInterface) -> Option<Vec<output::GroupIdentifier>> {
    Some(
        i.groups
            .iter()
            .map(|(id, name)| output::GroupIdentifier {
                group_id: Some(id.clone()),
                group_name: Some(name.clone()),
            })
            .collect(),
    )
}

fn association(
    i: &NetworkInterface,
    p: &crate::store::network::PublicAddressRow,
) -> output::NetworkInterfaceAssociation {
    output::NetworkInterfaceAssociation {
        allocation_id: p.allocation_id.clone(),
        association_id: p.association_id.clone(),
        ip_owner_id: Some(if p.allocation_id.is_some() {
            i.row.account_id.clone()
        } else {
            "amazon".into()
        }),
        public_dns_name: Some(String::new()),
        public_ip: Some(p.public_ip.clone()),
        ..Default::default()
    }
}

pub(super) fn network_interface(i: NetworkInterface) -> output::NetworkInterface {
    output::NetworkInterface {
        association: i
            .private_ips
            .first()
            .and_then(|p| p.public.as_ref())
            .map(|p| association(&i, p)),
        attachment: i
            .row
            .attachment_id
            .as_ref()
            .map(|id| output::NetworkInterfaceAttachment {
                attach_time: i.row.attach_time.clone(),
                attachment_id: Some(id.clone()),
                delete_on_termination: Some(i.row.delete_on_termination),
                device_index: i.row.device_index,
                network_card_index: Some(0),
                instance_id: i.row.instance_id.clone(),
                instance_owner_id: Some(i.row.account_id.clone()),
                status: i.row.attachment_status.clone(),
                ..Default::default()
            }),
        availability_zone: Some(i.row.availability_zone.clone()),
        description: Some(i.row.description.clone()),
        groups: groups(&i),
        interface_type: Some(i.row.interface_type.clone()),
        ipv6_addresses: Some(Vec::new()),
        mac_address: Some(i.row.mac_address.clone()),
        network_interface_id: Some(i.row.interface_id.clone()),
        owner_id: Some(i.row.account_id.clone()),
        private_dns_name: Some(i.private_dns_name.clone()),
        private_ip_address: i.private_ip().map(str::to_owned),
        private_ip_addresses: Some(
            i.private_ips
                .iter()
                .map(|p| output::NetworkInterfacePrivateIpAddress {
                    association: p.public.as_ref().map(|pub_| association(&i, pub_)),
                    primary: Some(p.primary),
                    private_dns_name: Some(p.private_dns_name.clone()),
                    private_ip_address: Some(p.address.clone()),
                })
                .collect(),
        ),
        requester_managed: Some(false),
        source_dest_check: Some(i.row.source_dest_check),
        status: Some(i.status().into()),
        subnet_id: Some(i.row.subnet_id.clone()),
        vpc_id: Some(i.row.vpc_id.clone()),
        tag_set: tag_set(i.tags.clone()),
        ..Default::default()
    }
}

/// The interface as DescribeInstances nests it.
pub(super) fn instance_interface(i: NetworkInterface) -> output::InstanceNetworkInterface {
    let assoc =
        |p: &crate::store::network::PublicAddressRow| output::InstanceNetworkInterfaceAssociation {
            ip_owner_id: Some(if p.allocation_id.is_some() {
                i.row.account_id.clone()
            } else {
                "amazon".into()
            }),
            public_dns_name: Some(String::new()),
            public_ip: Some(p.public_ip.clone()),
            ..Default::default()
        };
    output::InstanceNetworkInterface {
        association: i
            .private_ips
            .first()
            .and_then(|p| p.public.as_ref())
            .map(assoc),
        attachment: i.row.attachment_id.as_ref().map(|id| {
            output::InstanceNetworkInterfaceAttachment {
                attach_time: i.row.attach_time.clone(),
                attachment_id: Some(id.clone()),
                delete_on_termination: Some(i.row.delete_on_termination),
                device_index: i.row.device_index,
                status: i.row.attachment_status.clone(),
                network_card_index: Some(0),
                ..Default::default()
            }
        }),
        description: Some(i.row.description.clone()),
        groups: groups(&i),
        ipv6_addresses: Some(Vec::new()),
        mac_address: Some(i.row.mac_address.clone()),
        network_interface_id: Some(i.row.interface_id.clone()),
        owner_id: Some(i.row.account_id.clone()),
        private_dns_name: Some(i.private_dns_name.clone()),
        private_ip_address: i.private_ip().map(str::to_owned),
        private_ip_addresses: Some(
            i.private_ips
                .iter()
                .map(|p| output::InstancePrivateIpAddress {
                    association: p.public.as_ref().map(assoc),
                    primary: Some(p.primary),
                    private_dns_name: Some(p.private_dns_name.clone()),
                    private_ip_address: Some(p.address.clone()),
                })
                .collect(),
        ),
        source_dest_check: Some(i.row.source_dest_check),
        status: Some(i.status().into()),
        subnet_id: Some(i.row.subnet_id.clone()),
        vpc_id: Some(i.row.vpc_id.clone()),
        interface_type: Some(i.row.interface_type.clone()),
        ..Default::default()
    }
}

pub async fn describe_network_interfaces(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeNetworkInterfacesRequest,
) -> Result<output::DescribeNetworkInterfacesResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (found, next_token) = engine
        .describe_network_interfaces(
            &who.account_id,
            &req.network_interface_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeNetworkInterfacesResult {
        network_interfaces: Some(found.into_iter().map(network_interface).collect()),
        next_token,
    })
}

pub async fn create_network_interface(
    engine: &Engine,
    who: &Principal,
    req: input::CreateNetworkInterfaceRequest,
) -> Result<output::CreateNetworkInterfaceResult, ApiError> {
    let tags = tags_for(
        &tag_specifications(req.tag_specifications)?,
        "network-interface",
    )?;
    // PrivateIpAddresses.N: the one marked Primary (or the first) is the primary address, the
    // others secondary; PrivateIpAddress names the primary as well.
    let mut primary = req.private_ip_address.filter(|v| !v.is_empty());
    let mut secondary = Vec::new();
    let listed: Vec<(String, bool)> = req
        .private_ip_addresses
        .into_iter()
        .filter_map(|a| {
            a.private_ip_address
                .map(|ip| (ip, a.primary.unwrap_or(false)))
        })
        .collect();
    if listed.iter().filter(|(_, p)| *p).count() > 1 {
        return Err(EngineError::InvalidParameterValue(
            "Only one private IP address can be designated as primary.".into(),
        )
        .into());
    }
    let first_primary = listed.iter().position(|(_, p)| *p).unwrap_or(0);
    for (i, (ip, _)) in listed.into_iter().enumerate() {
        if i == first_primary && primary.is_none() {
            primary = Some(ip);
        } else if Some(&ip) != primary.as_ref() {
            secondary.push(ip);
        }
    }
    let made = engine
        .create_network_interface(
            &who.account_id,
            &req.subnet_id,
            req.description,
            primary,
            secondary,
            req.groups,
            req.secondary_private_ip_address_count,
            tags,
        )
        .await?;
    Ok(output::CreateNetworkInterfaceResult {
        network_interface: Some(network_interface(made)),
        client_token: req.client_token,
    })
}

pub async fn delete_network_interface(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteNetworkInterfaceRequest,
) -> Result<(), ApiError> {
    engine
        .delete_network_interface(&who.account_id, &req.network_interface_id)
        .await?;
    Ok(())
}

pub async fn attach_network_interface(
    engine: &Engine,
    who: &Principal,
    req: input::AttachNetworkInterfaceRequest,
) -> Result<output::AttachNetworkInterfaceResult, ApiError> {
    let attachment_id = engine
        .attach_network_interface(
            &who.account_id,
            &req.network_interface_id,
            &req.instance_id,
            req.device_index,
        )
        .await?;
    Ok(output::AttachNetworkInterfaceResult {
        attachment_id: Some(attachment_id),
        network_card_index: Some(0),
    })
}

pub async fn detach_network_interface(
    engine: &Engine,
    who: &Principal,
    req: input::DetachNetworkInterfaceRequest,
) -> Result<(), ApiError> {
    engine
        .detach_network_interface(&who.account_id, &req.attachment_id)
        .await?;
    Ok(())
}

pub async fn describe_network_interface_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeNetworkInterfaceAttributeRequest,
) -> Result<output::DescribeNetworkInterfaceAttributeResult, ApiError> {
    let name = req
        .attribute
        .ok_or_else(|| ApiError::MissingParameter("Attribute".into()))?;
    let attribute = InterfaceAttribute::parse(&name).ok_or_else(|| {
        EngineError::InvalidParameterValue(format!(
            "Value ({name}) for parameter attribute is invalid. Valid values are description, groupSet, sourceDestCheck, attachment."
        ))
    })?;
    let eni = engine
        .network_interface(&who.account_id, &req.network_interface_id)
        .await?;
    let mut answer = output::DescribeNetworkInterfaceAttributeResult {
        network_interface_id: Some(eni.row.interface_id.clone()),
        ..Default::default()
    };
    match attribute {
        InterfaceAttribute::Description => {
            answer.description = attribute_value(eni.row.description.clone())
        }
        InterfaceAttribute::GroupSet => answer.groups = groups(&eni),
        InterfaceAttribute::SourceDestCheck => {
            answer.source_dest_check = attribute_flag(eni.row.source_dest_check)
        }
        InterfaceAttribute::Attachment => {
            answer.attachment = network_interface(eni).attachment;
        }
    }
    Ok(answer)
}

pub async fn modify_network_interface_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::ModifyNetworkInterfaceAttributeRequest,
) -> Result<(), ApiError> {
    let delete_on_termination = match req.attachment {
        Some(a) => match (a.attachment_id, a.delete_on_termination) {
            (Some(id), Some(v)) => Some((id, v)),
            _ => {
                return Err(ApiError::MissingParameter(
                    "Attachment.AttachmentId and Attachment.DeleteOnTermination".into(),
                ))
            }
        },
        None => None,
    };
    engine
        .modify_network_interface(
            &who.account_id,
            &req.network_interface_id,
            InterfaceChange {
                description: req.description.and_then(|d| d.value),
                source_dest_check: req.source_dest_check.and_then(|v| v.value),
                group_ids: req.groups,
                delete_on_termination,
            },
        )
        .await?;
    Ok(())
}

pub async fn assign_private_ip_addresses(
    engine: &Engine,
    who: &Principal,
    req: input::AssignPrivateIpAddressesRequest,
) -> Result<output::AssignPrivateIpAddressesResult, ApiError> {
    let assigned = engine
        .assign_private_ips(
            &who.account_id,
            &req.network_interface_id,
            req.private_ip_addresses,
            req.secondary_private_ip_address_count,
        )
        .await?;
    Ok(output::AssignPrivateIpAddressesResult {
        network_interface_id: Some(req.network_interface_id),
        assigned_private_ip_addresses: Some(
            assigned
                .into_iter()
                .map(|ip| output::AssignedPrivateIpAddress {
                    private_ip_address: Some(ip),
                })
                .collect(),
        ),
        ..Default::default()
    })
}

pub async fn unassign_private_ip_addresses(
    engine: &Engine,
    who: &Principal,
    req: input::UnassignPrivateIpAddressesRequest,
) -> Result<(), ApiError> {
    engine
        .unassign_private_ips(
            &who.account_id,
            &req.network_interface_id,
            req.private_ip_addresses,
        )
        .await?;
    Ok(())
}
