//! The calls that change VPC networking: VPCs, subnets, internet gateways, route tables,
//! routes and Elastic IPs. Each is one write transaction; the reconciler then makes the host
//! network match (namespaces, bridges, DHCP, NAT).

use std::net::Ipv4Addr;

use rand::Rng;

use super::default_vpc::local_route;
use super::{
    AccountNetwork, Address, InternetGateway, RouteTable, Subnet, Vpc, DEFAULT_GROUP_DESCRIPTION,
    DEFAULT_GROUP_NAME,
};
use crate::cidr::Cidr;
use crate::engine::ids::{self, Kind};
use crate::engine::tags::{rows_for, Tag};
use crate::engine::{timestamp_now, transact, Engine, EngineError};
use crate::store::network::{
    self as rows, AssociationRow, GatewayRow, GroupRow, PublicAddressRow, RouteRow, RouteTableRow,
    SubnetRow, VpcRow,
};
use crate::store::tags as tag_rows;
use crate::store::DbConnection;

/// Why a networking call is refused; EC2's words for each are in api/error.rs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkFault {
    /// Not an IPv4 CIDR block (the parameter named).
    InvalidCidr {
        parameter: &'static str,
        value: String,
    },
    /// A VPC block outside /16../28.
    VpcRange(String),
    /// A subnet block outside its VPC's or /16../28.
    SubnetRange(String),
    /// A subnet block overlapping another subnet of the VPC.
    SubnetConflict(String),
    /// A resource others still depend on (its kind and id).
    DependencyViolation {
        kind: Kind,
        id: String,
    },
    VpcLimitExceeded,
    AddressLimitExceeded,
    /// The pool has no free address (or not the one asked for).
    NoFreePublicAddress,
    /// An internet gateway attached already (to the VPC named).
    GatewayAttached {
        gateway_id: String,
        vpc_id: String,
    },
    /// A VPC that has an internet gateway already.
    VpcHasGateway {
        vpc_id: String,
    },
    GatewayNotAttached {
        gateway_id: String,
        vpc_id: String,
    },
    /// A subnet with an explicit route table association already.
    SubnetAssociated {
        subnet_id: String,
    },
    RouteExists {
        route_table_id: String,
        destination: String,
    },
    RouteNotFound {
        route_table_id: String,
        destination: String,
    },
    /// The local route cannot be changed.
    LocalRoute {
        route_table_id: String,
        destination: String,
    },
    /// The main association cannot be disassociated.
    MainAssociation(String),
    /// A route target or subnet of another VPC.
    DifferentVpc {
        id: String,
        vpc_id: String,
    },
    /// An Elastic IP associated already (unless AllowReassociation).
    AddressAssociated(String),
    /// ReleaseAddress of an associated address.
    AddressInUse(String),
    /// An instance with no network interface (launched before interfaces existed).
    NoInterface(String),
    /// A private address the interface does not have.
    NotInterfaceAddress {
        interface_id: String,
        address: String,
    },
    /// A route needs exactly one target.
    RouteTarget,
    /// A default VPC there is already.
    DefaultVpcExists,
    /// An interface attached already, or still attached (DeleteNetworkInterface).
    InterfaceInUse(String),
    /// More groups on an interface than EC2's limit (5).
    TooManyGroups,
    /// RunInstances with no subnet in an account whose default VPC was deleted.
    NoDefaultVpc,
    /// A private address outside the subnet or reserved in it.
    AddressOutsideSubnet {
        address: String,
        subnet_id: String,
    },
    /// A private address another interface of the subnet has.
    PrivateAddressInUse(String),
    /// No private address left in the subnet.
    SubnetFull(String),
}

/// What a route sends its traffic to, as CreateRoute names it: exactly one is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTarget {
    pub gateway_id: Option<String>,
    pub instance_id: Option<String>,
    pub interface_id: Option<String>,
}

impl From<NetworkFault> for EngineError {
    fn from(f: NetworkFault) -> Self {
        EngineError::Network(f)
    }
}

fn parse_cidr(parameter: &'static str, value: &str) -> Result<Cidr, EngineError> {
    Cidr::parse(value).ok_or_else(|| {
        NetworkFault::InvalidCidr {
            parameter,
            value: value.to_owned(),
        }
        .into()
    })
}

fn not_found(kind: Kind, id: &str) -> EngineError {
    EngineError::NotFound {
        kind,
        ids: vec![id.to_owned()],
    }
}

/// The caller's resource of this kind, or NotFound (MalformedId for a misshapen id).
fn owned<T>(
    kind: Kind,
    id: &str,
    found: Option<T>,
    owner: impl Fn(&T) -> &str,
    account_id: &str,
) -> Result<T, EngineError> {
    ids::check_well_formed(kind, &[id.to_owned()])?;
    found
        .filter(|r| owner(r) == account_id)
        .ok_or_else(|| not_found(kind, id))
}

fn put_tags(
    conn: &mut DbConnection,
    account_id: &str,
    kind: Kind,
    id: &str,
    tags: &[Tag],
) -> Result<(), EngineError> {
    tag_rows::put(conn, &rows_for(account_id, kind, id, tags))?;
    Ok(())
}

/// A free address of the pool: `wanted` if given and free, else a random free one.
pub(crate) fn take_public_address(
    conn: &mut DbConnection,
    pool: &Cidr,
    row: PublicAddressRow,
    wanted: Option<Ipv4Addr>,
) -> Result<PublicAddressRow, EngineError> {
    // The pool's first addresses are the host's side of every VPC's uplink.
    let usable = |a: Ipv4Addr| {
        pool.index_of(a)
            .is_some_and(|i| i >= 2 && i + 1 < pool.size())
    };
    if let Some(addr) = wanted {
        if !usable(addr) {
            return Err(NetworkFault::NoFreePublicAddress.into());
        }
        let row = PublicAddressRow {
            public_ip: addr.to_string(),
            ..row
        };
        return if rows::insert_public(conn, &row)? {
            Ok(row)
        } else {
            Err(NetworkFault::NoFreePublicAddress.into())
        };
    }
    let mut rng = rand::thread_rng();
    // Random picks find a free address at once while the pool is mostly free; a full scan
    // settles the rest.
    for _ in 0..32 {
        let Some(addr) = pool.nth(rng.gen_range(2..pool.size().saturating_sub(1).max(3))) else {
            continue;
        };
        let candidate = PublicAddressRow {
            public_ip: addr.to_string(),
            ..row.clone()
        };
        if rows::insert_public(conn, &candidate)? {
            return Ok(candidate);
        }
    }
    let taken: std::collections::HashSet<String> = rows::all_publics(conn)?
        .into_iter()
        .map(|p| p.public_ip)
        .collect();
    for i in 2..pool.size().saturating_sub(1) {
        let Some(addr) = pool.nth(i) else { break };
        let text = addr.to_string();
        if taken.contains(&text) {
            continue;
        }
        let candidate = PublicAddressRow {
            public_ip: text,
            ..row.clone()
        };
        if rows::insert_public(conn, &candidate)? {
            return Ok(candidate);
        }
    }
    Err(NetworkFault::NoFreePublicAddress.into())
}

impl Engine {
    /// Runs `work` on the account's network in one write transaction (rolled back in DryRun
    /// mode), then wakes the reconciler.
    pub(crate) async fn change_network<T: Send + 'static>(
        &self,
        account_id: &str,
        work: impl FnOnce(&Engine, &mut DbConnection, &AccountNetwork) -> Result<T, EngineError>
            + Send
            + 'static,
    ) -> Result<T, EngineError> {
        self.ensure_default_vpc(account_id).await?;
        let account = account_id.to_owned();
        let engine = self.clone();
        let mode = self.mode();
        let region = self.settings().region.clone();
        let done = self
            .store()
            .run(move |conn| {
                transact(conn, mode, |conn| {
                    let net = AccountNetwork::load(conn, &account, &region)?;
                    work(&engine, conn, &net)
                })
            })
            .await?;
        self.wake_reconciler();
        Ok(done)
    }

    /// CreateVpc: the VPC with its main route table and default group, `pending` until the
    /// reconciler has built its namespace.
    pub async fn create_vpc(
        &self,
        account_id: &str,
        cidr_block: &str,
        tenancy: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Vpc, EngineError> {
        let cidr = parse_cidr("cidrBlock", cidr_block)?;
        if !(16..=28).contains(&cidr.prefix()) {
            return Err(NetworkFault::VpcRange(cidr_block.to_owned()).into());
        }
        match tenancy {
            None | Some("default") => {}
            Some("dedicated") | Some("host") => {
                return Err(EngineError::UnsupportedOperation(
                    "The tenancy value dedicated is not supported for VPCs here: instances run on one shared host.".into(),
                ))
            }
            Some(other) => {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ({other}) for parameter instanceTenancy is invalid. Valid values are default, dedicated, host."
                )))
            }
        }
        let max_vpcs = self.settings().max_vpcs;
        let account = account_id.to_owned();
        self.change_network(account_id, move |engine, conn, net| {
            if i64::try_from(net.vpcs.len()).unwrap_or(i64::MAX) >= max_vpcs {
                return Err(NetworkFault::VpcLimitExceeded.into());
            }
            let now = timestamp_now();
            let vpc = VpcRow {
                vpc_id: ids::new_id(Kind::Vpc),
                account_id: account.clone(),
                cidr_block: cidr.to_string(),
                cidr_association_id: ids::new_id(Kind::VpcCidrAssociation),
                is_default: false,
                state: "pending".into(),
                instance_tenancy: "default".into(),
                enable_dns_support: true,
                enable_dns_hostnames: false,
                enable_nau_metrics: false,
                created_at: now.clone(),
            };
            write_vpc_parts(conn, &vpc, &now)?;
            put_tags(conn, &account, Kind::Vpc, &vpc.vpc_id, &tags)?;
            let mut net = net.clone();
            net.tags.insert(vpc.vpc_id.clone(), tags.clone());
            Ok(engine.vpc_view(&net, &vpc))
        })
        .await
    }

    /// DeleteVpc: only an empty VPC (its main route table and default group go with it).
    pub async fn delete_vpc(&self, account_id: &str, vpc_id: &str) -> Result<(), EngineError> {
        let account = account_id.to_owned();
        let vpc_id = vpc_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let vpc = owned(
                Kind::Vpc,
                &vpc_id,
                net.vpc(&vpc_id).cloned(),
                |v| &v.account_id,
                &account,
            )?;
            let busy = net.subnets.iter().any(|s| s.vpc_id == vpc.vpc_id)
                || net
                    .gateways
                    .iter()
                    .any(|g| g.vpc_id.as_deref() == Some(&vpc.vpc_id))
                || net.interfaces.iter().any(|i| i.vpc_id == vpc.vpc_id)
                || net
                    .route_tables
                    .iter()
                    .any(|t| t.vpc_id == vpc.vpc_id && t.main_association_id.is_none());
            if busy {
                return Err(NetworkFault::DependencyViolation {
                    kind: Kind::Vpc,
                    id: vpc_id.clone(),
                }
                .into());
            }
            rows::delete_vpc(conn, &vpc.vpc_id)?;
            tag_rows::delete_everyones(conn, &vpc.vpc_id)?;
            Ok(())
        })
        .await
    }

    /// ModifyVpcAttribute: one attribute per call, as on EC2.
    pub async fn modify_vpc_attribute(
        &self,
        account_id: &str,
        vpc_id: &str,
        dns_support: Option<bool>,
        dns_hostnames: Option<bool>,
        nau_metrics: Option<bool>,
    ) -> Result<(), EngineError> {
        let given = [dns_support, dns_hostnames, nau_metrics]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if given != 1 {
            return Err(EngineError::InvalidParameterCombination(
                "Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames, enableNetworkAddressUsageMetrics".into(),
            ));
        }
        let account = account_id.to_owned();
        let vpc_id = vpc_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let mut vpc = owned(
                Kind::Vpc,
                &vpc_id,
                net.vpc(&vpc_id).cloned(),
                |v| &v.account_id,
                &account,
            )?;
            if let Some(v) = dns_support {
                vpc.enable_dns_support = v;
            }
            if let Some(v) = dns_hostnames {
                vpc.enable_dns_hostnames = v;
            }
            if let Some(v) = nau_metrics {
                vpc.enable_nau_metrics = v;
            }
            rows::update_vpc(conn, &vpc)?;
            Ok(())
        })
        .await
    }

    /// CreateSubnet: a block inside the VPC's, overlapping none of its other subnets.
    pub async fn create_subnet(
        &self,
        account_id: &str,
        vpc_id: &str,
        cidr_block: &str,
        zone: Option<&str>,
        zone_id: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Subnet, EngineError> {
        let cidr = parse_cidr("cidrBlock", cidr_block)?;
        let zones = &self.settings().zones;
        let zone = match (zone, zone_id) {
            (Some(name), _) => zones
                .iter()
                .find(|z| z.name == name)
                .ok_or_else(|| EngineError::UnknownZone(name.to_owned()))?,
            (None, Some(id)) => zones
                .iter()
                .find(|z| z.id == id)
                .ok_or_else(|| EngineError::UnknownZoneId(id.to_owned()))?,
            (None, None) => zones
                .first()
                .ok_or_else(|| EngineError::UnknownZone(String::new()))?,
        }
        .name
        .clone();
        let account = account_id.to_owned();
        let vpc_id = vpc_id.to_owned();
        let cidr_text = cidr_block.to_owned();
        self.change_network(account_id, move |engine, conn, net| {
            let vpc = owned(
                Kind::Vpc,
                &vpc_id,
                net.vpc(&vpc_id).cloned(),
                |v| &v.account_id,
                &account,
            )?;
            let vpc_cidr = parse_cidr("cidrBlock", &vpc.cidr_block)?;
            if !(16..=28).contains(&cidr.prefix()) || !vpc_cidr.covers(&cidr) {
                return Err(NetworkFault::SubnetRange(cidr_text.clone()).into());
            }
            let conflict = net
                .subnets
                .iter()
                .filter(|s| s.vpc_id == vpc.vpc_id)
                .any(|s| Cidr::parse(&s.cidr_block).is_some_and(|other| other.overlaps(&cidr)));
            if conflict {
                return Err(NetworkFault::SubnetConflict(cidr_text.clone()).into());
            }
            let row = SubnetRow {
                subnet_id: ids::new_id(Kind::Subnet),
                account_id: account.clone(),
                vpc_id: vpc.vpc_id.clone(),
                cidr_block: cidr.to_string(),
                availability_zone: zone.clone(),
                state: "pending".into(),
                default_for_az: false,
                map_public_ip_on_launch: false,
                created_at: timestamp_now(),
            };
            rows::insert_subnet(conn, &row)?;
            put_tags(conn, &account, Kind::Subnet, &row.subnet_id, &tags)?;
            let mut net = net.clone();
            net.tags.insert(row.subnet_id.clone(), tags.clone());
            Ok(engine.subnet_view(&net, &row))
        })
        .await
    }

    /// DeleteSubnet: only one no interface is in.
    pub async fn delete_subnet(
        &self,
        account_id: &str,
        subnet_id: &str,
    ) -> Result<(), EngineError> {
        let account = account_id.to_owned();
        let subnet_id = subnet_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let subnet = owned(
                Kind::Subnet,
                &subnet_id,
                net.subnet(&subnet_id).cloned(),
                |s| &s.account_id,
                &account,
            )?;
            if net
                .interfaces
                .iter()
                .any(|i| i.subnet_id == subnet.subnet_id)
            {
                return Err(NetworkFault::DependencyViolation {
                    kind: Kind::Subnet,
                    id: subnet_id.clone(),
                }
                .into());
            }
            rows::delete_subnet(conn, &subnet.subnet_id)?;
            tag_rows::delete_everyones(conn, &subnet.subnet_id)?;
            Ok(())
        })
        .await
    }

    /// ModifySubnetAttribute: MapPublicIpOnLaunch; the IPv6, DNS64 and customer-owned
    /// attributes only as they are (false).
    pub async fn modify_subnet_attribute(
        &self,
        account_id: &str,
        subnet_id: &str,
        map_public_ip_on_launch: Option<bool>,
        unsupported_set: bool,
    ) -> Result<(), EngineError> {
        if unsupported_set {
            return Err(EngineError::UnsupportedOperation(
                "IPv6, DNS64 and customer-owned addresses are not supported here.".into(),
            ));
        }
        let account = account_id.to_owned();
        let subnet_id = subnet_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let subnet = owned(
                Kind::Subnet,
                &subnet_id,
                net.subnet(&subnet_id).cloned(),
                |s| &s.account_id,
                &account,
            )?;
            if let Some(v) = map_public_ip_on_launch {
                rows::set_subnet_public_ip(conn, &subnet.subnet_id, v)?;
            }
            Ok(())
        })
        .await
    }

    /// CreateInternetGateway: detached.
    pub async fn create_internet_gateway(
        &self,
        account_id: &str,
        tags: Vec<Tag>,
    ) -> Result<InternetGateway, EngineError> {
        let account = account_id.to_owned();
        self.change_network(account_id, move |_, conn, _| {
            let row = GatewayRow {
                gateway_id: ids::new_id(Kind::InternetGateway),
                account_id: account.clone(),
                vpc_id: None,
                created_at: timestamp_now(),
            };
            rows::insert_gateway(conn, &row)?;
            put_tags(
                conn,
                &account,
                Kind::InternetGateway,
                &row.gateway_id,
                &tags,
            )?;
            Ok(InternetGateway { row, tags })
        })
        .await
    }

    /// DeleteInternetGateway: only a detached one.
    pub async fn delete_internet_gateway(
        &self,
        account_id: &str,
        gateway_id: &str,
    ) -> Result<(), EngineError> {
        let account = account_id.to_owned();
        let gateway_id = gateway_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let gw = owned(
                Kind::InternetGateway,
                &gateway_id,
                net.gateways
                    .iter()
                    .find(|g| g.gateway_id == gateway_id)
                    .cloned(),
                |g| &g.account_id,
                &account,
            )?;
            if gw.vpc_id.is_some() {
                return Err(NetworkFault::DependencyViolation {
                    kind: Kind::InternetGateway,
                    id: gateway_id.clone(),
                }
                .into());
            }
            rows::delete_gateway(conn, &gw.gateway_id)?;
            tag_rows::delete_everyones(conn, &gw.gateway_id)?;
            Ok(())
        })
        .await
    }

    /// AttachInternetGateway / DetachInternetGateway (`attach` false).
    pub async fn attach_internet_gateway(
        &self,
        account_id: &str,
        gateway_id: &str,
        vpc_id: &str,
        attach: bool,
    ) -> Result<(), EngineError> {
        let account = account_id.to_owned();
        let gateway_id = gateway_id.to_owned();
        let vpc_id = vpc_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let gw = owned(
                Kind::InternetGateway,
                &gateway_id,
                net.gateways
                    .iter()
                    .find(|g| g.gateway_id == gateway_id)
                    .cloned(),
                |g| &g.account_id,
                &account,
            )?;
            let vpc = owned(
                Kind::Vpc,
                &vpc_id,
                net.vpc(&vpc_id).cloned(),
                |v| &v.account_id,
                &account,
            )?;
            if attach {
                if let Some(other) = &gw.vpc_id {
                    return Err(NetworkFault::GatewayAttached {
                        gateway_id: gateway_id.clone(),
                        vpc_id: other.clone(),
                    }
                    .into());
                }
                if net
                    .gateways
                    .iter()
                    .any(|g| g.vpc_id.as_deref() == Some(&vpc.vpc_id))
                {
                    return Err(NetworkFault::VpcHasGateway {
                        vpc_id: vpc_id.clone(),
                    }
                    .into());
                }
                rows::set_gateway_vpc(conn, &gw.gateway_id, Some(&vpc.vpc_id))?;
            } else {
                if gw.vpc_id.as_deref() != Some(&vpc.vpc_id) {
                    return Err(NetworkFault::GatewayNotAttached {
                        gateway_id: gateway_id.clone(),
                        vpc_id: vpc_id.clone(),
                    }
                    .into());
                }
                // EC2 refuses while public addresses in the VPC are mapped through it.
                let mapped = net.publics.iter().any(|p| {
                    p.allocation_id.is_some()
                        && p.interface_id.as_deref().is_some_and(|i| {
                            net.interfaces
                                .iter()
                                .any(|n| n.interface_id == i && n.vpc_id == vpc.vpc_id)
                        })
                });
                if mapped {
                    return Err(NetworkFault::DependencyViolation {
                        kind: Kind::InternetGateway,
                        id: gateway_id.clone(),
                    }
                    .into());
                }
                rows::set_gateway_vpc(conn, &gw.gateway_id, None)?;
            }
            Ok(())
        })
        .await
    }

    /// CreateRouteTable: with the local route.
    pub async fn create_route_table(
        &self,
        account_id: &str,
        vpc_id: &str,
        tags: Vec<Tag>,
    ) -> Result<RouteTable, EngineError> {
        let account = account_id.to_owned();
        let vpc_id = vpc_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let vpc = owned(
                Kind::Vpc,
                &vpc_id,
                net.vpc(&vpc_id).cloned(),
                |v| &v.account_id,
                &account,
            )?;
            let row = RouteTableRow {
                route_table_id: ids::new_id(Kind::RouteTable),
                account_id: account.clone(),
                vpc_id: vpc.vpc_id.clone(),
                main_association_id: None,
                created_at: timestamp_now(),
            };
            rows::insert_route_table(conn, &row)?;
            let local = local_route(&row.route_table_id, &vpc.cidr_block);
            rows::insert_route(conn, &local)?;
            put_tags(conn, &account, Kind::RouteTable, &row.route_table_id, &tags)?;
            Ok(RouteTable {
                row,
                routes: vec![(local, true)],
                associations: Vec::new(),
                tags,
            })
        })
        .await
    }

    /// DeleteRouteTable: not the main one, nor one subnets use.
    pub async fn delete_route_table(
        &self,
        account_id: &str,
        table_id: &str,
    ) -> Result<(), EngineError> {
        let account = account_id.to_owned();
        let table_id = table_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let table = owned(
                Kind::RouteTable,
                &table_id,
                net.route_tables
                    .iter()
                    .find(|t| t.route_table_id == table_id)
                    .cloned(),
                |t| &t.account_id,
                &account,
            )?;
            if table.main_association_id.is_some()
                || net
                    .associations
                    .iter()
                    .any(|a| a.route_table_id == table.route_table_id)
            {
                return Err(NetworkFault::DependencyViolation {
                    kind: Kind::RouteTable,
                    id: table_id.clone(),
                }
                .into());
            }
            rows::delete_route_table(conn, &table.route_table_id)?;
            tag_rows::delete_everyones(conn, &table.route_table_id)?;
            Ok(())
        })
        .await
    }

    /// AssociateRouteTable: a subnet of the table's VPC with no explicit association yet.
    pub async fn associate_route_table(
        &self,
        account_id: &str,
        table_id: &str,
        subnet_id: &str,
    ) -> Result<String, EngineError> {
        let account = account_id.to_owned();
        let table_id = table_id.to_owned();
        let subnet_id = subnet_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let table = owned(
                Kind::RouteTable,
                &table_id,
                net.route_tables
                    .iter()
                    .find(|t| t.route_table_id == table_id)
                    .cloned(),
                |t| &t.account_id,
                &account,
            )?;
            let subnet = owned(
                Kind::Subnet,
                &subnet_id,
                net.subnet(&subnet_id).cloned(),
                |s| &s.account_id,
                &account,
            )?;
            if subnet.vpc_id != table.vpc_id {
                return Err(NetworkFault::DifferentVpc {
                    id: subnet_id.clone(),
                    vpc_id: table.vpc_id.clone(),
                }
                .into());
            }
            if net
                .associations
                .iter()
                .any(|a| a.subnet_id == subnet.subnet_id)
            {
                return Err(NetworkFault::SubnetAssociated {
                    subnet_id: subnet_id.clone(),
                }
                .into());
            }
            let row = AssociationRow {
                association_id: ids::new_id(Kind::RouteTableAssociation),
                route_table_id: table.route_table_id.clone(),
                subnet_id: subnet.subnet_id.clone(),
            };
            rows::insert_association(conn, &row)?;
            Ok(row.association_id)
        })
        .await
    }

    /// DisassociateRouteTable: the subnet goes back to the main table.
    pub async fn disassociate_route_table(
        &self,
        account_id: &str,
        association_id: &str,
    ) -> Result<(), EngineError> {
        let association_id = association_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            ids::check_well_formed(
                Kind::RouteTableAssociation,
                std::slice::from_ref(&association_id),
            )?;
            if net
                .route_tables
                .iter()
                .any(|t| t.main_association_id.as_deref() == Some(&association_id))
            {
                return Err(NetworkFault::MainAssociation(association_id.clone()).into());
            }
            let found = net
                .associations
                .iter()
                .find(|a| a.association_id == association_id);
            if found.is_none() {
                return Err(not_found(Kind::RouteTableAssociation, &association_id));
            }
            rows::delete_association(conn, &association_id)?;
            Ok(())
        })
        .await
    }

    /// CreateRoute / ReplaceRoute (`replace`): one target, of the table's VPC.
    pub async fn put_route(
        &self,
        account_id: &str,
        table_id: &str,
        destination: &str,
        target: RouteTarget,
        replace: bool,
    ) -> Result<(), EngineError> {
        let RouteTarget {
            gateway_id,
            instance_id,
            interface_id,
        } = target;
        let dest = parse_cidr("destinationCidrBlock", destination)?;
        let account = account_id.to_owned();
        let table_id = table_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let table = owned(
                Kind::RouteTable,
                &table_id,
                net.route_tables
                    .iter()
                    .find(|t| t.route_table_id == table_id)
                    .cloned(),
                |t| &t.account_id,
                &account,
            )?;
            let mut row = RouteRow {
                route_table_id: table.route_table_id.clone(),
                destination: dest.to_string(),
                gateway_id: None,
                network_interface_id: None,
                instance_id: None,
                origin: "CreateRoute".into(),
            };
            match (gateway_id, instance_id, interface_id) {
                (Some(g), None, None) => {
                    let gw = owned(
                        Kind::InternetGateway,
                        &g,
                        net.gateways.iter().find(|x| x.gateway_id == g).cloned(),
                        |x| &x.account_id,
                        &account,
                    )?;
                    if gw.vpc_id.as_deref() != Some(&table.vpc_id) {
                        return Err(NetworkFault::GatewayNotAttached {
                            gateway_id: g.clone(),
                            vpc_id: table.vpc_id.clone(),
                        }
                        .into());
                    }
                    row.gateway_id = Some(g);
                }
                (None, Some(i), None) => {
                    ids::check_well_formed(Kind::Instance, std::slice::from_ref(&i))?;
                    let primary = net
                        .interfaces
                        .iter()
                        .find(|n| n.instance_id.as_deref() == Some(&i) && n.device_index == Some(0))
                        .ok_or_else(|| not_found(Kind::Instance, &i))?;
                    if primary.vpc_id != table.vpc_id {
                        return Err(NetworkFault::DifferentVpc {
                            id: i.clone(),
                            vpc_id: table.vpc_id.clone(),
                        }
                        .into());
                    }
                    row.network_interface_id = Some(primary.interface_id.clone());
                    row.instance_id = Some(i);
                }
                (None, None, Some(n)) => {
                    let eni = owned(
                        Kind::NetworkInterface,
                        &n,
                        net.interfaces.iter().find(|x| x.interface_id == n).cloned(),
                        |x| &x.account_id,
                        &account,
                    )?;
                    if eni.vpc_id != table.vpc_id {
                        return Err(NetworkFault::DifferentVpc {
                            id: n.clone(),
                            vpc_id: table.vpc_id.clone(),
                        }
                        .into());
                    }
                    row.instance_id = eni.instance_id.clone();
                    row.network_interface_id = Some(n);
                }
                _ => return Err(NetworkFault::RouteTarget.into()),
            }
            let existing = net.routes.iter().find(|r| {
                r.route_table_id == table.route_table_id && r.destination == row.destination
            });
            if existing.is_some_and(|r| r.gateway_id.as_deref() == Some("local")) {
                return Err(NetworkFault::LocalRoute {
                    route_table_id: table_id.clone(),
                    destination: row.destination.clone(),
                }
                .into());
            }
            match (existing, replace) {
                (Some(_), false) => {
                    return Err(NetworkFault::RouteExists {
                        route_table_id: table_id.clone(),
                        destination: row.destination.clone(),
                    }
                    .into())
                }
                (None, true) => {
                    return Err(NetworkFault::RouteNotFound {
                        route_table_id: table_id.clone(),
                        destination: row.destination.clone(),
                    }
                    .into())
                }
                (Some(_), true) => {
                    rows::delete_route(conn, &table.route_table_id, &row.destination)?;
                }
                (None, false) => {}
            }
            rows::insert_route(conn, &row)?;
            Ok(())
        })
        .await
    }

    /// DeleteRoute: not the local route.
    pub async fn delete_route(
        &self,
        account_id: &str,
        table_id: &str,
        destination: &str,
    ) -> Result<(), EngineError> {
        let dest = parse_cidr("destinationCidrBlock", destination)?.to_string();
        let account = account_id.to_owned();
        let table_id = table_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let table = owned(
                Kind::RouteTable,
                &table_id,
                net.route_tables
                    .iter()
                    .find(|t| t.route_table_id == table_id)
                    .cloned(),
                |t| &t.account_id,
                &account,
            )?;
            let existing = net
                .routes
                .iter()
                .find(|r| r.route_table_id == table.route_table_id && r.destination == dest)
                .ok_or_else(|| NetworkFault::RouteNotFound {
                    route_table_id: table_id.clone(),
                    destination: dest.clone(),
                })?;
            if existing.gateway_id.as_deref() == Some("local") {
                return Err(NetworkFault::LocalRoute {
                    route_table_id: table_id.clone(),
                    destination: dest.clone(),
                }
                .into());
            }
            rows::delete_route(conn, &table.route_table_id, &dest)?;
            Ok(())
        })
        .await
    }

    /// AllocateAddress: an Elastic IP from the pool (the one asked for, if free).
    pub async fn allocate_address(
        &self,
        account_id: &str,
        address: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Address, EngineError> {
        let wanted = match address {
            Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                EngineError::InvalidParameterValue(format!("Invalid IPv4 address: {text}"))
            })?),
            None => None,
        };
        let account = account_id.to_owned();
        let pool = self.settings().public_pool;
        let max = self.settings().max_addresses;
        self.change_network(account_id, move |engine, conn, net| {
            let held = net
                .publics
                .iter()
                .filter(|p| p.allocation_id.is_some())
                .count();
            if i64::try_from(held).unwrap_or(i64::MAX) >= max {
                return Err(NetworkFault::AddressLimitExceeded.into());
            }
            let allocation_id = ids::new_id(Kind::Allocation);
            let row = take_public_address(
                conn,
                &pool,
                PublicAddressRow {
                    public_ip: String::new(),
                    account_id: account.clone(),
                    allocation_id: Some(allocation_id.clone()),
                    association_id: None,
                    interface_id: None,
                    private_ip: None,
                    created_at: timestamp_now(),
                },
                wanted,
            )?;
            put_tags(conn, &account, Kind::Allocation, &allocation_id, &tags)?;
            let mut net = net.clone();
            net.tags.insert(allocation_id, tags.clone());
            Ok(engine.address_view(&net, &row))
        })
        .await
    }

    /// AssociateAddress: an Elastic IP onto an instance's primary interface or an interface
    /// (its primary address unless another of its addresses is named).
    #[allow(clippy::too_many_arguments)]
    pub async fn associate_address(
        &self,
        account_id: &str,
        allocation_id: Option<String>,
        public_ip: Option<String>,
        instance_id: Option<String>,
        interface_id: Option<String>,
        private_ip: Option<String>,
        allow_reassociation: bool,
    ) -> Result<String, EngineError> {
        if instance_id.is_none() && interface_id.is_none() {
            return Err(EngineError::MissingParameter(
                "Either instance ID or network interface id must be specified".into(),
            ));
        }
        let account = account_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let eip = find_eip(net, allocation_id.as_deref(), public_ip.as_deref())?;
            let eni = match (&instance_id, &interface_id) {
                (_, Some(n)) => owned(
                    Kind::NetworkInterface,
                    n,
                    net.interfaces
                        .iter()
                        .find(|x| &x.interface_id == n)
                        .cloned(),
                    |x| &x.account_id,
                    &account,
                )?,
                (Some(i), None) => {
                    ids::check_well_formed(Kind::Instance, std::slice::from_ref(i))?;
                    net.interfaces
                        .iter()
                        .find(|x| x.instance_id.as_deref() == Some(i) && x.device_index == Some(0))
                        .cloned()
                        .ok_or_else(|| match crate::store::instances::find(conn, i) {
                            Ok(Some(row)) if row.account_id == account => {
                                NetworkFault::NoInterface(i.clone()).into()
                            }
                            _ => not_found(Kind::Instance, i),
                        })?
                }
                (None, None) => {
                    return Err(EngineError::MissingParameter(
                        "Either instance ID or network interface id must be specified".into(),
                    ))
                }
            };
            let addresses = net.addresses_of(&eni.interface_id);
            let private = match &private_ip {
                Some(p) => addresses
                    .iter()
                    .find(|a| &a.private_ip == p)
                    .map(|a| a.private_ip.clone())
                    .ok_or_else(|| NetworkFault::NotInterfaceAddress {
                        interface_id: eni.interface_id.clone(),
                        address: p.clone(),
                    })?,
                None => addresses
                    .iter()
                    .find(|a| a.is_primary)
                    .map(|a| a.private_ip.clone())
                    .ok_or_else(|| NetworkFault::NoInterface(eni.interface_id.clone()))?,
            };
            if eip.association_id.is_some()
                && !allow_reassociation
                && eip.interface_id.as_deref() != Some(&eni.interface_id)
            {
                return Err(NetworkFault::AddressAssociated(
                    eip.allocation_id.clone().unwrap_or_default(),
                )
                .into());
            }
            // Whatever public address the private one had goes: a launch-given one back to
            // the pool, another Elastic IP is disassociated (EC2 does the same).
            if let Some(other) = net.public_of(&eni.interface_id, &private) {
                if other.public_ip != eip.public_ip {
                    if other.allocation_id.is_none() {
                        rows::delete_public(conn, &other.public_ip)?;
                    } else if allow_reassociation {
                        rows::update_public(
                            conn,
                            &PublicAddressRow {
                                association_id: None,
                                interface_id: None,
                                private_ip: None,
                                ..other.clone()
                            },
                        )?;
                    } else {
                        return Err(NetworkFault::AddressAssociated(
                            other.allocation_id.clone().unwrap_or_default(),
                        )
                        .into());
                    }
                }
            }
            let association_id = ids::new_id(Kind::AddressAssociation);
            rows::update_public(
                conn,
                &PublicAddressRow {
                    association_id: Some(association_id.clone()),
                    interface_id: Some(eni.interface_id.clone()),
                    private_ip: Some(private),
                    ..eip
                },
            )?;
            Ok(association_id)
        })
        .await
    }

    /// DisassociateAddress, by association id (or address).
    pub async fn disassociate_address(
        &self,
        account_id: &str,
        association_id: Option<String>,
        public_ip: Option<String>,
    ) -> Result<(), EngineError> {
        let settings = self.settings().clone();
        self.change_network(account_id, move |_, conn, net| {
            let eip = match (&association_id, &public_ip) {
                (Some(a), _) => {
                    ids::check_well_formed(Kind::AddressAssociation, std::slice::from_ref(a))?;
                    net.publics
                        .iter()
                        .find(|p| p.association_id.as_deref() == Some(a))
                        .cloned()
                        .ok_or_else(|| not_found(Kind::AddressAssociation, a))?
                }
                (None, Some(ip)) => net
                    .publics
                    .iter()
                    .find(|p| &p.public_ip == ip && p.allocation_id.is_some())
                    .cloned()
                    .ok_or_else(|| EngineError::AddressNotFound(ip.clone()))?,
                (None, None) => {
                    return Err(EngineError::MissingParameter(
                        "Either public IP or association id must be specified".into(),
                    ))
                }
            };
            let interface_id = eip.interface_id.clone();
            rows::update_public(
                conn,
                &PublicAddressRow {
                    association_id: None,
                    interface_id: None,
                    private_ip: None,
                    ..eip
                },
            )?;
            // EC2 gives an instance with one interface, in a subnet that maps public addresses,
            // a new public address once its Elastic IP leaves it.
            let eni =
                interface_id.and_then(|id| net.interfaces.iter().find(|i| i.interface_id == id));
            if let Some(instance_id) = eni
                .filter(|i| i.device_index == Some(0))
                .and_then(|i| i.instance_id.as_deref())
            {
                let interfaces = net
                    .interfaces
                    .iter()
                    .filter(|i| i.instance_id.as_deref() == Some(instance_id))
                    .count();
                if interfaces == 1 {
                    super::interfaces::renew_launch_public(conn, &settings, instance_id)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// ReleaseAddress: only an Elastic IP no longer associated.
    pub async fn release_address(
        &self,
        account_id: &str,
        allocation_id: Option<String>,
        public_ip: Option<String>,
    ) -> Result<(), EngineError> {
        self.change_network(account_id, move |_, conn, net| {
            let eip = find_eip(net, allocation_id.as_deref(), public_ip.as_deref())?;
            if eip.association_id.is_some() {
                return Err(NetworkFault::AddressInUse(
                    eip.allocation_id.clone().unwrap_or_default(),
                )
                .into());
            }
            rows::delete_public(conn, &eip.public_ip)?;
            if let Some(a) = &eip.allocation_id {
                tag_rows::delete_everyones(conn, a)?;
            }
            Ok(())
        })
        .await
    }

    /// ReplaceRouteTableAssociation: a subnet's association, or the VPC's main one, moves to
    /// another table of the VPC under a new id.
    pub async fn replace_route_table_association(
        &self,
        account_id: &str,
        association_id: &str,
        table_id: &str,
    ) -> Result<String, EngineError> {
        let account = account_id.to_owned();
        let association_id = association_id.to_owned();
        let table_id = table_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            ids::check_well_formed(
                Kind::RouteTableAssociation,
                std::slice::from_ref(&association_id),
            )?;
            let table = owned(
                Kind::RouteTable,
                &table_id,
                net.route_tables
                    .iter()
                    .find(|t| t.route_table_id == table_id)
                    .cloned(),
                |t| &t.account_id,
                &account,
            )?;
            let new_id = ids::new_id(Kind::RouteTableAssociation);
            if let Some(main) = net
                .route_tables
                .iter()
                .find(|t| t.main_association_id.as_deref() == Some(&association_id))
            {
                if main.vpc_id != table.vpc_id {
                    return Err(NetworkFault::DifferentVpc {
                        id: table_id.clone(),
                        vpc_id: main.vpc_id.clone(),
                    }
                    .into());
                }
                rows::set_main_association(conn, &main.route_table_id, None)?;
                rows::set_main_association(conn, &table.route_table_id, Some(&new_id))?;
                return Ok(new_id);
            }
            let assoc = net
                .associations
                .iter()
                .find(|a| a.association_id == association_id)
                .ok_or_else(|| not_found(Kind::RouteTableAssociation, &association_id))?;
            let subnet_vpc = net
                .subnet(&assoc.subnet_id)
                .map(|s| s.vpc_id.clone())
                .unwrap_or_default();
            if subnet_vpc != table.vpc_id {
                return Err(NetworkFault::DifferentVpc {
                    id: table_id.clone(),
                    vpc_id: subnet_vpc,
                }
                .into());
            }
            rows::move_association(conn, &association_id, &new_id, &table.route_table_id)?;
            Ok(new_id)
        })
        .await
    }

    /// CreateDefaultVpc: a default VPC for an account that has none (it was deleted), made as
    /// the first one was, under new ids.
    pub async fn create_default_vpc(&self, account_id: &str) -> Result<Vpc, EngineError> {
        let account = account_id.to_owned();
        let settings = self.settings().clone();
        let max_vpcs = self.settings().max_vpcs;
        self.change_network(account_id, move |engine, conn, net| {
            if net.default_vpc().is_some() {
                return Err(NetworkFault::DefaultVpcExists.into());
            }
            if i64::try_from(net.vpcs.len()).unwrap_or(i64::MAX) >= max_vpcs {
                return Err(NetworkFault::VpcLimitExceeded.into());
            }
            let now = timestamp_now();
            let made = super::default_vpc::default_rows(&settings, &account, &now, &now);
            super::default_vpc::write_default_rows(conn, &made)?;
            Ok(engine.vpc_view(net, &made.vpc))
        })
        .await
    }
}

/// A new VPC's main route table (the local route) and `default` group.
fn write_vpc_parts(conn: &mut DbConnection, vpc: &VpcRow, now: &str) -> Result<(), EngineError> {
    rows::insert_vpc(conn, vpc)?;
    let table_id = ids::new_id(Kind::RouteTable);
    rows::insert_route_table(
        conn,
        &RouteTableRow {
            route_table_id: table_id.clone(),
            account_id: vpc.account_id.clone(),
            vpc_id: vpc.vpc_id.clone(),
            main_association_id: Some(ids::new_id(Kind::RouteTableAssociation)),
            created_at: now.to_owned(),
        },
    )?;
    rows::insert_route(conn, &local_route(&table_id, &vpc.cidr_block))?;
    rows::insert_group(
        conn,
        &GroupRow {
            group_id: ids::new_id(Kind::SecurityGroup),
            account_id: vpc.account_id.clone(),
            vpc_id: vpc.vpc_id.clone(),
            group_name: DEFAULT_GROUP_NAME.into(),
            description: DEFAULT_GROUP_DESCRIPTION.into(),
            created_at: now.to_owned(),
        },
    )?;
    Ok(())
}

/// The caller's Elastic IP by allocation id or by address.
fn find_eip(
    net: &AccountNetwork,
    allocation_id: Option<&str>,
    public_ip: Option<&str>,
) -> Result<PublicAddressRow, EngineError> {
    match (allocation_id, public_ip) {
        (Some(a), _) => {
            ids::check_well_formed(Kind::Allocation, &[a.to_owned()])?;
            net.publics
                .iter()
                .find(|p| p.allocation_id.as_deref() == Some(a))
                .cloned()
                .ok_or_else(|| not_found(Kind::Allocation, a))
        }
        (None, Some(ip)) => net
            .publics
            .iter()
            .find(|p| p.public_ip == ip && p.allocation_id.is_some())
            .cloned()
            .ok_or_else(|| EngineError::AddressNotFound(ip.to_owned())),
        (None, None) => Err(EngineError::MissingParameter(
            "Either public IP or allocation id must be specified".into(),
        )),
    }
}
