//! The host network the database asks for: per VPC its subnets, the DHCP reservation and DNS
//! name of every interface, and the 1:1 NAT of public addresses that EC2 would route (the VPC
//! has an attached internet gateway and the subnet's route table sends 0.0.0.0/0 to it).

use std::collections::HashMap;

use super::{dns_address, dns_domain, host_name};
use crate::cidr::Cidr;
use crate::engine::EngineError;
use crate::hostnet::{HostLease, HostSubnet, HostVpc, NatMapping};
use crate::store::network::{self as rows, RouteTableRow, SubnetRow};
use crate::store::DbConnection;

/// Every VPC of the database as the host should have it; and the ids of the VPCs and subnets
/// in it (to mark `available` once built).
pub fn desired(conn: &mut DbConnection, region: &str) -> Result<Vec<HostVpc>, EngineError> {
    let vpcs = rows::all_vpcs(conn)?;
    let subnets = rows::all_subnets(conn)?;
    let gateways = rows::all_gateways(conn)?;
    let tables = rows::all_route_tables(conn)?;
    let routes = rows::all_routes(conn)?;
    let associations = rows::all_associations(conn)?;
    let interfaces = rows::all_interfaces(conn)?;
    let addresses = rows::all_addresses(conn)?;
    let publics = rows::all_publics(conn)?;

    let attached: HashMap<&str, &str> = gateways
        .iter()
        .filter_map(|g| g.vpc_id.as_deref().map(|v| (v, g.gateway_id.as_str())))
        .collect();
    let table_of = |subnet: &SubnetRow| -> Option<&RouteTableRow> {
        let explicit = associations
            .iter()
            .find(|a| a.subnet_id == subnet.subnet_id)
            .map(|a| a.route_table_id.as_str());
        tables.iter().find(|t| match explicit {
            Some(id) => t.route_table_id == id,
            None => t.vpc_id == subnet.vpc_id && t.main_association_id.is_some(),
        })
    };
    let public_subnet = |subnet: &SubnetRow| -> bool {
        let Some(gateway) = attached.get(subnet.vpc_id.as_str()) else {
            return false;
        };
        let Some(table) = table_of(subnet) else {
            return false;
        };
        routes.iter().any(|r| {
            r.route_table_id == table.route_table_id
                && r.destination == "0.0.0.0/0"
                && r.gateway_id.as_deref() == Some(gateway)
        })
    };
    let domain = dns_domain(region);
    let mut out = Vec::new();
    for vpc in &vpcs {
        let Some(cidr) = Cidr::parse(&vpc.cidr_block) else {
            continue;
        };
        let Some(dns) = dns_address(&cidr) else {
            continue;
        };
        let mine: Vec<&SubnetRow> = subnets.iter().filter(|s| s.vpc_id == vpc.vpc_id).collect();
        let mut host = HostVpc {
            vpc_id: vpc.vpc_id.clone(),
            cidr: (cidr.network(), cidr.prefix()),
            dns_address: dns,
            domain: domain.clone(),
            subnets: Vec::new(),
            hosts: Vec::new(),
            nat: Vec::new(),
        };
        for subnet in &mine {
            if let Some(c) = Cidr::parse(&subnet.cidr_block) {
                host.subnets.push(HostSubnet {
                    subnet_id: subnet.subnet_id.clone(),
                    cidr: (c.network(), c.prefix()),
                });
            }
        }
        for eni in interfaces.iter().filter(|i| i.vpc_id == vpc.vpc_id) {
            let Some(subnet) = mine.iter().find(|s| s.subnet_id == eni.subnet_id) else {
                continue;
            };
            let primary = addresses
                .iter()
                .find(|a| a.interface_id == eni.interface_id && a.is_primary);
            if let Some(ip) = primary.and_then(|a| a.private_ip.parse().ok()) {
                host.hosts.push(HostLease {
                    subnet_id: subnet.subnet_id.clone(),
                    mac: eni.mac_address.clone(),
                    ip,
                    hostname: host_name(&ip.to_string()),
                });
            }
            if !public_subnet(subnet) {
                continue;
            }
            for public in publics
                .iter()
                .filter(|p| p.interface_id.as_deref() == Some(&eni.interface_id))
            {
                let (Ok(public_ip), Some(Ok(private))) = (
                    public.public_ip.parse(),
                    public.private_ip.as_deref().map(str::parse),
                ) else {
                    continue;
                };
                host.nat.push(NatMapping {
                    public: public_ip,
                    private,
                });
            }
        }
        host.hosts.sort_by_key(|a| a.ip);
        host.nat.sort_by_key(|a| a.public);
        out.push(host);
    }
    Ok(out)
}
