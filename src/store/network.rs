//! VPC networking rows: VPCs, subnets, internet gateways, route tables, routes and their
//! associations, security groups, network interfaces with their addresses and groups, and
//! public addresses. Listings are per account and small (EC2's limits keep them so); the
//! engine filters them in memory.

use diesel::prelude::*;

use super::schema::{
    gateway_settings, interface_addresses, interface_security_groups, internet_gateways,
    network_interfaces, public_addresses, route_table_associations, route_tables, routes,
    security_groups, subnets, vpcs,
};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = vpcs)]
pub struct VpcRow {
    pub vpc_id: String,
    pub account_id: String,
    pub cidr_block: String,
    pub cidr_association_id: String,
    pub is_default: bool,
    pub state: String,
    pub instance_tenancy: String,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub enable_nau_metrics: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = subnets)]
pub struct SubnetRow {
    pub subnet_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    pub state: String,
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = internet_gateways)]
pub struct GatewayRow {
    pub gateway_id: String,
    pub account_id: String,
    pub vpc_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = route_tables)]
pub struct RouteTableRow {
    pub route_table_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub main_association_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = routes)]
pub struct RouteRow {
    pub route_table_id: String,
    pub destination: String,
    pub gateway_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub instance_id: Option<String>,
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = route_table_associations)]
pub struct AssociationRow {
    pub association_id: String,
    pub route_table_id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = security_groups)]
pub struct GroupRow {
    pub group_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub group_name: String,
    pub description: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = network_interfaces, treat_none_as_null = true)]
pub struct InterfaceRow {
    pub interface_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub availability_zone: String,
    pub mac_address: String,
    pub description: String,
    pub source_dest_check: bool,
    pub interface_type: String,
    pub created_at: String,
    pub instance_id: Option<String>,
    pub device_index: Option<i32>,
    pub attachment_id: Option<String>,
    pub attach_time: Option<String>,
    pub attachment_status: Option<String>,
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = interface_addresses)]
pub struct InterfaceAddressRow {
    pub interface_id: String,
    pub private_ip: String,
    pub subnet_id: String,
    pub is_primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = public_addresses, treat_none_as_null = true)]
pub struct PublicAddressRow {
    pub public_ip: String,
    pub account_id: String,
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    pub interface_id: Option<String>,
    pub private_ip: Option<String>,
    pub created_at: String,
}

/// An insert that may hit a unique key, the caller meaning to try another value then. On
/// PostgreSQL it runs in a savepoint (the write transaction is Diesel's there), since a failed
/// statement aborts the whole transaction; SQLite's write transaction is begun by hand
/// (`BEGIN IMMEDIATE`), and a failed statement there undoes only itself.
fn try_insert(
    conn: &mut DbConnection,
    insert: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<usize>,
) -> Result<bool, StoreError> {
    match conn {
        DbConnection::Postgres(_) => super::inserted(conn.transaction(insert)),
        DbConnection::Sqlite(_) => super::inserted(insert(conn)),
    }
}

/// A setting of this database, made with `value` the first time it is asked for.
pub fn setting_or_init(
    conn: &mut DbConnection,
    name: &str,
    value: &str,
) -> Result<String, StoreError> {
    // Taken already (by another gateway, or before) is as good: the stored value wins.
    super::inserted(
        diesel::insert_into(gateway_settings::table)
            .values((
                gateway_settings::name.eq(name),
                gateway_settings::value.eq(value),
            ))
            .execute(conn),
    )?;
    Ok(gateway_settings::table
        .find(name)
        .select(gateway_settings::value)
        .first(conn)?)
}

// --- VPCs ---------------------------------------------------------------------------------

pub fn insert_vpc(conn: &mut DbConnection, row: &VpcRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(vpcs::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn vpcs_of(conn: &mut DbConnection, account_id: &str) -> Result<Vec<VpcRow>, StoreError> {
    Ok(vpcs::table
        .filter(vpcs::account_id.eq(account_id))
        .order(vpcs::vpc_id)
        .load(conn)?)
}

pub fn all_vpcs(conn: &mut DbConnection) -> Result<Vec<VpcRow>, StoreError> {
    Ok(vpcs::table.order(vpcs::vpc_id).load(conn)?)
}

pub fn find_vpc(conn: &mut DbConnection, vpc_id: &str) -> Result<Option<VpcRow>, StoreError> {
    Ok(vpcs::table.find(vpc_id).first(conn).optional()?)
}

pub fn update_vpc(conn: &mut DbConnection, row: &VpcRow) -> Result<(), StoreError> {
    diesel::update(vpcs::table.find(&row.vpc_id))
        .set((
            vpcs::state.eq(&row.state),
            vpcs::enable_dns_support.eq(row.enable_dns_support),
            vpcs::enable_dns_hostnames.eq(row.enable_dns_hostnames),
            vpcs::enable_nau_metrics.eq(row.enable_nau_metrics),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks `pending` VPCs and subnets `available` (their host network is built).
pub fn mark_available(
    conn: &mut DbConnection,
    vpc_ids: &[String],
    subnet_ids: &[String],
) -> Result<(), StoreError> {
    diesel::update(
        vpcs::table
            .filter(vpcs::vpc_id.eq_any(vpc_ids))
            .filter(vpcs::state.eq("pending")),
    )
    .set(vpcs::state.eq("available"))
    .execute(conn)?;
    diesel::update(
        subnets::table
            .filter(subnets::subnet_id.eq_any(subnet_ids))
            .filter(subnets::state.eq("pending")),
    )
    .set(subnets::state.eq("available"))
    .execute(conn)?;
    Ok(())
}

/// Deletes a VPC with what goes with it (main route table, default group); the caller has
/// checked it holds nothing else.
pub fn delete_vpc(conn: &mut DbConnection, vpc_id: &str) -> Result<(), StoreError> {
    let tables: Vec<String> = route_tables::table
        .filter(route_tables::vpc_id.eq(vpc_id))
        .select(route_tables::route_table_id)
        .load(conn)?;
    diesel::delete(routes::table.filter(routes::route_table_id.eq_any(&tables))).execute(conn)?;
    diesel::delete(route_tables::table.filter(route_tables::vpc_id.eq(vpc_id))).execute(conn)?;
    diesel::delete(security_groups::table.filter(security_groups::vpc_id.eq(vpc_id)))
        .execute(conn)?;
    diesel::delete(vpcs::table.find(vpc_id)).execute(conn)?;
    Ok(())
}

pub fn count_vpcs(conn: &mut DbConnection, account_id: &str) -> Result<i64, StoreError> {
    Ok(vpcs::table
        .filter(vpcs::account_id.eq(account_id))
        .count()
        .get_result(conn)?)
}

// --- subnets ------------------------------------------------------------------------------

pub fn insert_subnet(conn: &mut DbConnection, row: &SubnetRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(subnets::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn subnets_of(conn: &mut DbConnection, account_id: &str) -> Result<Vec<SubnetRow>, StoreError> {
    Ok(subnets::table
        .filter(subnets::account_id.eq(account_id))
        .order(subnets::subnet_id)
        .load(conn)?)
}

pub fn subnets_in(conn: &mut DbConnection, vpc_id: &str) -> Result<Vec<SubnetRow>, StoreError> {
    Ok(subnets::table
        .filter(subnets::vpc_id.eq(vpc_id))
        .order(subnets::subnet_id)
        .load(conn)?)
}

pub fn all_subnets(conn: &mut DbConnection) -> Result<Vec<SubnetRow>, StoreError> {
    Ok(subnets::table.order(subnets::subnet_id).load(conn)?)
}

pub fn find_subnet(
    conn: &mut DbConnection,
    subnet_id: &str,
) -> Result<Option<SubnetRow>, StoreError> {
    Ok(subnets::table.find(subnet_id).first(conn).optional()?)
}

pub fn set_subnet_public_ip(
    conn: &mut DbConnection,
    subnet_id: &str,
    map_public_ip_on_launch: bool,
) -> Result<(), StoreError> {
    diesel::update(subnets::table.find(subnet_id))
        .set(subnets::map_public_ip_on_launch.eq(map_public_ip_on_launch))
        .execute(conn)?;
    Ok(())
}

pub fn delete_subnet(conn: &mut DbConnection, subnet_id: &str) -> Result<(), StoreError> {
    diesel::delete(
        route_table_associations::table.filter(route_table_associations::subnet_id.eq(subnet_id)),
    )
    .execute(conn)?;
    diesel::delete(subnets::table.find(subnet_id)).execute(conn)?;
    Ok(())
}

// --- internet gateways --------------------------------------------------------------------

pub fn insert_gateway(conn: &mut DbConnection, row: &GatewayRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(internet_gateways::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn gateways_of(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<GatewayRow>, StoreError> {
    Ok(internet_gateways::table
        .filter(internet_gateways::account_id.eq(account_id))
        .order(internet_gateways::gateway_id)
        .load(conn)?)
}

pub fn all_gateways(conn: &mut DbConnection) -> Result<Vec<GatewayRow>, StoreError> {
    Ok(internet_gateways::table.load(conn)?)
}

pub fn find_gateway(
    conn: &mut DbConnection,
    gateway_id: &str,
) -> Result<Option<GatewayRow>, StoreError> {
    Ok(internet_gateways::table
        .find(gateway_id)
        .first(conn)
        .optional()?)
}

/// Attaches (Some) or detaches (None) a gateway.
pub fn set_gateway_vpc(
    conn: &mut DbConnection,
    gateway_id: &str,
    vpc_id: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(internet_gateways::table.find(gateway_id))
        .set(internet_gateways::vpc_id.eq(vpc_id))
        .execute(conn)?;
    Ok(())
}

pub fn delete_gateway(conn: &mut DbConnection, gateway_id: &str) -> Result<(), StoreError> {
    diesel::delete(internet_gateways::table.find(gateway_id)).execute(conn)?;
    Ok(())
}

// --- route tables -------------------------------------------------------------------------

pub fn insert_route_table(
    conn: &mut DbConnection,
    row: &RouteTableRow,
) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(route_tables::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn route_tables_of(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<RouteTableRow>, StoreError> {
    Ok(route_tables::table
        .filter(route_tables::account_id.eq(account_id))
        .order(route_tables::route_table_id)
        .load(conn)?)
}

pub fn all_route_tables(conn: &mut DbConnection) -> Result<Vec<RouteTableRow>, StoreError> {
    Ok(route_tables::table.load(conn)?)
}

pub fn find_route_table(
    conn: &mut DbConnection,
    route_table_id: &str,
) -> Result<Option<RouteTableRow>, StoreError> {
    Ok(route_tables::table
        .find(route_table_id)
        .first(conn)
        .optional()?)
}

/// Moves the main association (its id) from one table to another.
pub fn set_main_association(
    conn: &mut DbConnection,
    route_table_id: &str,
    association_id: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(route_tables::table.find(route_table_id))
        .set(route_tables::main_association_id.eq(association_id))
        .execute(conn)?;
    Ok(())
}

pub fn delete_route_table(conn: &mut DbConnection, route_table_id: &str) -> Result<(), StoreError> {
    diesel::delete(routes::table.filter(routes::route_table_id.eq(route_table_id)))
        .execute(conn)?;
    diesel::delete(route_tables::table.find(route_table_id)).execute(conn)?;
    Ok(())
}

pub fn routes_of(
    conn: &mut DbConnection,
    route_table_ids: &[String],
) -> Result<Vec<RouteRow>, StoreError> {
    Ok(routes::table
        .filter(routes::route_table_id.eq_any(route_table_ids))
        .order((routes::route_table_id, routes::destination))
        .load(conn)?)
}

pub fn all_routes(conn: &mut DbConnection) -> Result<Vec<RouteRow>, StoreError> {
    Ok(routes::table.load(conn)?)
}

/// Inserts a route; false if the table has one to that destination.
pub fn insert_route(conn: &mut DbConnection, row: &RouteRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(routes::table)
            .values(row.clone())
            .execute(conn)
    })
}

/// Deletes a route; false if there was none.
pub fn delete_route(
    conn: &mut DbConnection,
    route_table_id: &str,
    destination: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(routes::table.find((route_table_id, destination))).execute(conn)? == 1)
}

/// Routes whose target is this gateway or interface: they become blackholes when it goes.
pub fn routes_to(conn: &mut DbConnection, target: &str) -> Result<Vec<RouteRow>, StoreError> {
    Ok(routes::table
        .filter(
            routes::gateway_id
                .eq(target)
                .or(routes::network_interface_id.eq(target)),
        )
        .load(conn)?)
}

pub fn insert_association(
    conn: &mut DbConnection,
    row: &AssociationRow,
) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(route_table_associations::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn associations_of(
    conn: &mut DbConnection,
    route_table_ids: &[String],
) -> Result<Vec<AssociationRow>, StoreError> {
    Ok(route_table_associations::table
        .filter(route_table_associations::route_table_id.eq_any(route_table_ids))
        .order(route_table_associations::association_id)
        .load(conn)?)
}

pub fn all_associations(conn: &mut DbConnection) -> Result<Vec<AssociationRow>, StoreError> {
    Ok(route_table_associations::table.load(conn)?)
}

pub fn find_association(
    conn: &mut DbConnection,
    association_id: &str,
) -> Result<Option<AssociationRow>, StoreError> {
    Ok(route_table_associations::table
        .find(association_id)
        .first(conn)
        .optional()?)
}

pub fn delete_association(conn: &mut DbConnection, association_id: &str) -> Result<(), StoreError> {
    diesel::delete(route_table_associations::table.find(association_id)).execute(conn)?;
    Ok(())
}

pub fn move_association(
    conn: &mut DbConnection,
    association_id: &str,
    new_association_id: &str,
    route_table_id: &str,
) -> Result<(), StoreError> {
    diesel::update(route_table_associations::table.find(association_id))
        .set((
            route_table_associations::association_id.eq(new_association_id),
            route_table_associations::route_table_id.eq(route_table_id),
        ))
        .execute(conn)?;
    Ok(())
}

// --- security groups ----------------------------------------------------------------------

pub fn insert_group(conn: &mut DbConnection, row: &GroupRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(security_groups::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn groups_of(conn: &mut DbConnection, account_id: &str) -> Result<Vec<GroupRow>, StoreError> {
    Ok(security_groups::table
        .filter(security_groups::account_id.eq(account_id))
        .order(security_groups::group_id)
        .load(conn)?)
}

pub fn groups_in(conn: &mut DbConnection, vpc_id: &str) -> Result<Vec<GroupRow>, StoreError> {
    Ok(security_groups::table
        .filter(security_groups::vpc_id.eq(vpc_id))
        .order(security_groups::group_id)
        .load(conn)?)
}

// --- network interfaces -------------------------------------------------------------------

pub fn insert_interface(conn: &mut DbConnection, row: &InterfaceRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(network_interfaces::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn update_interface(conn: &mut DbConnection, row: &InterfaceRow) -> Result<(), StoreError> {
    diesel::update(network_interfaces::table.find(&row.interface_id))
        .set(row.clone())
        .execute(conn)?;
    Ok(())
}

/// Records an attachment's end state, only if the row is still as it was read (a detach asked
/// meanwhile is not lost).
pub fn settle_attachment(
    conn: &mut DbConnection,
    was: &InterfaceRow,
    now: &InterfaceRow,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        network_interfaces::table
            .find(&was.interface_id)
            .filter(
                network_interfaces::attachment_id.eq(was.attachment_id.clone().unwrap_or_default()),
            )
            .filter(
                network_interfaces::attachment_status
                    .eq(was.attachment_status.clone().unwrap_or_default()),
            ),
    )
    .set(now.clone())
    .execute(conn)?;
    Ok(n == 1)
}

pub fn interfaces_of(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .filter(network_interfaces::account_id.eq(account_id))
        .order(network_interfaces::interface_id)
        .load(conn)?)
}

pub fn all_interfaces(conn: &mut DbConnection) -> Result<Vec<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .order(network_interfaces::interface_id)
        .load(conn)?)
}

pub fn interfaces_in_vpc(
    conn: &mut DbConnection,
    vpc_id: &str,
) -> Result<Vec<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .filter(network_interfaces::vpc_id.eq(vpc_id))
        .load(conn)?)
}

pub fn interfaces_of_instances(
    conn: &mut DbConnection,
    instance_ids: &[String],
) -> Result<Vec<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .filter(network_interfaces::instance_id.eq_any(instance_ids))
        .order((
            network_interfaces::instance_id,
            network_interfaces::device_index,
        ))
        .load(conn)?)
}

pub fn find_interface(
    conn: &mut DbConnection,
    interface_id: &str,
) -> Result<Option<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .find(interface_id)
        .first(conn)
        .optional()?)
}

pub fn find_attachment(
    conn: &mut DbConnection,
    attachment_id: &str,
) -> Result<Option<InterfaceRow>, StoreError> {
    Ok(network_interfaces::table
        .filter(network_interfaces::attachment_id.eq(attachment_id))
        .first(conn)
        .optional()?)
}

/// Deletes an interface with its addresses and groups; a public address it had goes back to
/// the pool, an Elastic IP on it is disassociated.
pub fn delete_interface(conn: &mut DbConnection, interface_id: &str) -> Result<(), StoreError> {
    diesel::delete(
        interface_addresses::table.filter(interface_addresses::interface_id.eq(interface_id)),
    )
    .execute(conn)?;
    diesel::delete(
        interface_security_groups::table
            .filter(interface_security_groups::interface_id.eq(interface_id)),
    )
    .execute(conn)?;
    release_public_ips_of(conn, interface_id)?;
    diesel::delete(network_interfaces::table.find(interface_id)).execute(conn)?;
    Ok(())
}

pub fn insert_address(
    conn: &mut DbConnection,
    row: &InterfaceAddressRow,
) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(interface_addresses::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn delete_address(
    conn: &mut DbConnection,
    interface_id: &str,
    private_ip: &str,
) -> Result<(), StoreError> {
    diesel::delete(interface_addresses::table.find((interface_id, private_ip))).execute(conn)?;
    Ok(())
}

/// The private addresses of these interfaces (all of them for an empty list), primary first.
pub fn addresses_of(
    conn: &mut DbConnection,
    interface_ids: &[String],
) -> Result<Vec<InterfaceAddressRow>, StoreError> {
    Ok(interface_addresses::table
        .filter(interface_addresses::interface_id.eq_any(interface_ids))
        .order((
            interface_addresses::interface_id,
            interface_addresses::is_primary.desc(),
            interface_addresses::private_ip,
        ))
        .load(conn)?)
}

pub fn all_addresses(conn: &mut DbConnection) -> Result<Vec<InterfaceAddressRow>, StoreError> {
    Ok(interface_addresses::table.load(conn)?)
}

/// The addresses taken in a subnet.
pub fn used_in_subnet(conn: &mut DbConnection, subnet_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(interface_addresses::table
        .filter(interface_addresses::subnet_id.eq(subnet_id))
        .select(interface_addresses::private_ip)
        .load(conn)?)
}

/// How many addresses each subnet has taken.
pub fn used_counts(conn: &mut DbConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(interface_addresses::table
        .group_by(interface_addresses::subnet_id)
        .select((interface_addresses::subnet_id, diesel::dsl::count_star()))
        .load(conn)?)
}

pub fn set_interface_groups(
    conn: &mut DbConnection,
    interface_id: &str,
    group_ids: &[String],
) -> Result<(), StoreError> {
    diesel::delete(
        interface_security_groups::table
            .filter(interface_security_groups::interface_id.eq(interface_id)),
    )
    .execute(conn)?;
    for (position, group_id) in group_ids.iter().enumerate() {
        diesel::insert_into(interface_security_groups::table)
            .values((
                interface_security_groups::interface_id.eq(interface_id),
                interface_security_groups::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                interface_security_groups::group_id.eq(group_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// (interface, group) pairs of these interfaces, in their order.
pub fn groups_of_interfaces(
    conn: &mut DbConnection,
    interface_ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(interface_security_groups::table
        .filter(interface_security_groups::interface_id.eq_any(interface_ids))
        .order((
            interface_security_groups::interface_id,
            interface_security_groups::position,
        ))
        .select((
            interface_security_groups::interface_id,
            interface_security_groups::group_id,
        ))
        .load(conn)?)
}

pub fn interfaces_using_group(conn: &mut DbConnection, group_id: &str) -> Result<i64, StoreError> {
    Ok(interface_security_groups::table
        .filter(interface_security_groups::group_id.eq(group_id))
        .count()
        .get_result(conn)?)
}

// --- public addresses ---------------------------------------------------------------------

/// Inserts a public address; false if it is taken (by any account).
pub fn insert_public(conn: &mut DbConnection, row: &PublicAddressRow) -> Result<bool, StoreError> {
    try_insert(conn, |conn| {
        diesel::insert_into(public_addresses::table)
            .values(row.clone())
            .execute(conn)
    })
}

pub fn update_public(conn: &mut DbConnection, row: &PublicAddressRow) -> Result<(), StoreError> {
    diesel::update(public_addresses::table.find(&row.public_ip))
        .set(row.clone())
        .execute(conn)?;
    Ok(())
}

pub fn publics_of(
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<Vec<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table
        .filter(public_addresses::account_id.eq(account_id))
        .order(public_addresses::public_ip)
        .load(conn)?)
}

pub fn all_publics(conn: &mut DbConnection) -> Result<Vec<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table.load(conn)?)
}

pub fn publics_of_interfaces(
    conn: &mut DbConnection,
    interface_ids: &[String],
) -> Result<Vec<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table
        .filter(public_addresses::interface_id.eq_any(interface_ids))
        .load(conn)?)
}

pub fn find_public(
    conn: &mut DbConnection,
    public_ip: &str,
) -> Result<Option<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table
        .find(public_ip)
        .first(conn)
        .optional()?)
}

pub fn find_allocation(
    conn: &mut DbConnection,
    allocation_id: &str,
) -> Result<Option<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table
        .filter(public_addresses::allocation_id.eq(allocation_id))
        .first(conn)
        .optional()?)
}

pub fn find_address_association(
    conn: &mut DbConnection,
    association_id: &str,
) -> Result<Option<PublicAddressRow>, StoreError> {
    Ok(public_addresses::table
        .filter(public_addresses::association_id.eq(association_id))
        .first(conn)
        .optional()?)
}

pub fn delete_public(conn: &mut DbConnection, public_ip: &str) -> Result<(), StoreError> {
    diesel::delete(public_addresses::table.find(public_ip)).execute(conn)?;
    Ok(())
}

pub fn count_allocations(conn: &mut DbConnection, account_id: &str) -> Result<i64, StoreError> {
    Ok(public_addresses::table
        .filter(public_addresses::account_id.eq(account_id))
        .filter(public_addresses::allocation_id.is_not_null())
        .count()
        .get_result(conn)?)
}

/// An interface's auto-assigned public address goes back to the pool; an Elastic IP on it is
/// disassociated and stays allocated.
pub fn release_public_ips_of(
    conn: &mut DbConnection,
    interface_id: &str,
) -> Result<(), StoreError> {
    diesel::delete(
        public_addresses::table
            .filter(public_addresses::interface_id.eq(interface_id))
            .filter(public_addresses::allocation_id.is_null()),
    )
    .execute(conn)?;
    diesel::update(public_addresses::table.filter(public_addresses::interface_id.eq(interface_id)))
        .set((
            public_addresses::interface_id.eq(None::<String>),
            public_addresses::private_ip.eq(None::<String>),
            public_addresses::association_id.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Only the auto-assigned public address of an interface (StopInstances gives it back).
pub fn release_auto_public_of(
    conn: &mut DbConnection,
    interface_id: &str,
) -> Result<(), StoreError> {
    diesel::delete(
        public_addresses::table
            .filter(public_addresses::interface_id.eq(interface_id))
            .filter(public_addresses::allocation_id.is_null()),
    )
    .execute(conn)?;
    Ok(())
}
