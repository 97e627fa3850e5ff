//! Each account's default network, as EC2 gives every new account one: a VPC (172.31.0.0/16),
//! one default subnet per availability zone (a /20 each, MapPublicIpOnLaunch), an attached
//! internet gateway, a main route table sending 0.0.0.0/0 to it, and the `default` security
//! group. Its ids are a hash of the account id, so every gateway on a database makes the same
//! rows and a race between two only finds them made. Made once: a deleted default VPC stays
//! deleted, as on EC2.

use sha2::{Digest, Sha256};

use super::super::{Engine, EngineError, Settings};
use crate::store::network::{
    self as rows, GatewayRow, GroupRow, RouteRow, RouteTableRow, SubnetRow, VpcRow,
};
use crate::store::DbConnection;

pub const VPC_CIDR: &str = "172.31.0.0/16";
pub const DEFAULT_GROUP_NAME: &str = "default";
pub const DEFAULT_GROUP_DESCRIPTION: &str = "default VPC security group";
/// 172.31.0.0/16 holds sixteen /20s: zones past the sixteenth get no default subnet.
const MAX_SUBNETS: usize = 16;

/// An id of this prefix, stable for the account and what it names.
pub fn derived_id(prefix: &str, account_id: &str, what: &str) -> String {
    let digest = Sha256::digest(format!("ec2gw default network\0{account_id}\0{what}"));
    let mut id = format!("{prefix}-");
    id.push_str(&hex::encode(digest)[..17]);
    id
}

/// The rows of an account's default network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRows {
    pub vpc: VpcRow,
    pub subnets: Vec<SubnetRow>,
    pub gateway: GatewayRow,
    pub table: RouteTableRow,
    pub routes: Vec<RouteRow>,
    pub group: GroupRow,
}

/// The account's default network in this gateway's region, made at `now`; `salt` tells a
/// default VPC made again by CreateDefaultVpc from the first one.
pub fn default_rows(settings: &Settings, account_id: &str, salt: &str, now: &str) -> DefaultRows {
    let id = |prefix: &str, what: &str| derived_id(prefix, account_id, &format!("{what}{salt}"));
    let vpc_id = id("vpc", "vpc");
    let subnets = settings
        .zones
        .iter()
        .take(MAX_SUBNETS)
        .enumerate()
        .map(|(i, zone)| SubnetRow {
            subnet_id: id("subnet", &zone.name),
            account_id: account_id.to_owned(),
            vpc_id: vpc_id.clone(),
            cidr_block: format!("172.31.{}.0/20", i * 16),
            availability_zone: zone.name.clone(),
            state: "available".into(),
            default_for_az: true,
            map_public_ip_on_launch: true,
            created_at: now.to_owned(),
        })
        .collect();
    let gateway_id = id("igw", "internet gateway");
    let table_id = id("rtb", "main route table");
    DefaultRows {
        vpc: VpcRow {
            vpc_id: vpc_id.clone(),
            account_id: account_id.to_owned(),
            cidr_block: VPC_CIDR.to_owned(),
            cidr_association_id: id("vpc-cidr-assoc", "vpc cidr"),
            is_default: true,
            // EC2's default VPC is there before anyone looks; instances launched before its
            // bridges are built wait for them.
            state: "available".into(),
            instance_tenancy: "default".into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
            enable_nau_metrics: false,
            created_at: now.to_owned(),
        },
        subnets,
        gateway: GatewayRow {
            gateway_id: gateway_id.clone(),
            account_id: account_id.to_owned(),
            vpc_id: Some(vpc_id.clone()),
            created_at: now.to_owned(),
        },
        table: RouteTableRow {
            route_table_id: table_id.clone(),
            account_id: account_id.to_owned(),
            vpc_id: vpc_id.clone(),
            main_association_id: Some(id("rtbassoc", "main association")),
            created_at: now.to_owned(),
        },
        routes: vec![
            local_route(&table_id, VPC_CIDR),
            RouteRow {
                route_table_id: table_id.clone(),
                destination: "0.0.0.0/0".into(),
                gateway_id: Some(gateway_id),
                network_interface_id: None,
                instance_id: None,
                origin: "CreateRoute".into(),
            },
        ],
        group: GroupRow {
            group_id: id("sg", "default group"),
            account_id: account_id.to_owned(),
            vpc_id,
            group_name: DEFAULT_GROUP_NAME.into(),
            description: DEFAULT_GROUP_DESCRIPTION.into(),
            created_at: now.to_owned(),
        },
    }
}

/// The route every table has to its VPC's own block.
pub fn local_route(table_id: &str, vpc_cidr: &str) -> RouteRow {
    RouteRow {
        route_table_id: table_id.to_owned(),
        destination: vpc_cidr.to_owned(),
        gateway_id: Some("local".into()),
        network_interface_id: None,
        instance_id: None,
        origin: "CreateRouteTable".into(),
    }
}

/// Writes the default network's rows; those already there (another gateway's) are kept.
pub fn write_default_rows(conn: &mut DbConnection, d: &DefaultRows) -> Result<(), EngineError> {
    rows::insert_vpc(conn, &d.vpc)?;
    for subnet in &d.subnets {
        rows::insert_subnet(conn, subnet)?;
    }
    rows::insert_gateway(conn, &d.gateway)?;
    rows::insert_route_table(conn, &d.table)?;
    for route in &d.routes {
        rows::insert_route(conn, route)?;
    }
    rows::insert_group(conn, &d.group)?;
    Ok(())
}

impl Engine {
    /// Makes the account's default network if it never was (once per account and process:
    /// the answer is remembered).
    pub(crate) async fn ensure_default_vpc(&self, account_id: &str) -> Result<(), EngineError> {
        if self.default_vpc_known(account_id) {
            return Ok(());
        }
        let settings = self.settings().clone();
        let account = account_id.to_owned();
        let made = self
            .store()
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| {
                    if crate::store::accounts::default_vpc_made(conn, &account)? {
                        return Ok::<bool, EngineError>(false);
                    }
                    let now = super::super::timestamp_now();
                    write_default_rows(conn, &default_rows(&settings, &account, "", &now))?;
                    crate::store::accounts::set_default_vpc_made(conn, &account)?;
                    Ok(true)
                })
            })
            .await?;
        self.remember_default_vpc(account_id);
        if made {
            self.wake_reconciler();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ids::{self, Kind};
    use crate::engine::ZoneSetting;

    fn settings() -> Settings {
        let zone = |name: &str, id: &str| ZoneSetting {
            name: name.into(),
            id: id.into(),
        };
        Settings {
            zones: vec![
                zone("us-east-1a", "use1-az1"),
                zone("us-east-1b", "use1-az2"),
            ],
            ..Settings::for_tests()
        }
    }

    #[test]
    fn the_network_is_the_same_for_an_account_and_differs_between_accounts() {
        let a = default_rows(&settings(), "111122223333", "", "t");
        assert_eq!(a, default_rows(&settings(), "111122223333", "", "t"));
        let b = default_rows(&settings(), "444455556666", "", "t");
        assert_ne!(a.vpc.vpc_id, b.vpc.vpc_id);
        let again = default_rows(&settings(), "111122223333", "1", "t");
        assert_ne!(a.vpc.vpc_id, again.vpc.vpc_id);
        assert!(ids::is_well_formed(Kind::Vpc, &a.vpc.vpc_id));
        assert!(ids::is_well_formed(Kind::SecurityGroup, &a.group.group_id));
        assert!(ids::is_well_formed(
            Kind::InternetGateway,
            &a.gateway.gateway_id
        ));
        assert!(ids::is_well_formed(
            Kind::RouteTable,
            &a.table.route_table_id
        ));
        let cidrs: Vec<&str> = a.subnets.iter().map(|s| s.cidr_block.as_str()).collect();
        assert_eq!(cidrs, ["172.31.0.0/20", "172.31.16.0/20"]);
        assert_eq!(a.routes[1].destination, "0.0.0.0/0");
        assert_eq!(a.routes[1].gateway_id.as_ref(), Some(&a.gateway.gateway_id));
        assert_eq!(a.gateway.vpc_id.as_ref(), Some(&a.vpc.vpc_id));
    }
}
