//! Instances and the reservations that launched them.

use diesel::prelude::*;

use super::schema::{
    host_capacity, instance_options, instance_security_groups, instances, reservations,
};
use super::{DbConnection, MultiBackend, StoreError};
use crate::domain::{InstanceState, ShutdownBehavior, StopMode};
use crate::filter::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = reservations)]
pub struct ReservationRow {
    pub reservation_id: String,
    pub account_id: String,
    pub client_token: Option<String>,
    pub request_hash: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = instances)]
pub struct InstanceRow {
    pub instance_id: String,
    pub account_id: String,
    pub reservation_id: String,
    pub launch_index: i32,
    pub image_id: String,
    pub instance_type: String,
    pub vcpus: i32,
    pub memory_mib: i64,
    pub key_name: Option<String>,
    pub availability_zone: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub state: InstanceState,
    pub state_reason_code: Option<String>,
    pub state_reason_message: Option<String>,
    pub transition_reason: String,
    pub launch_time: String,
    pub state_changed_at: String,
    pub user_data: String,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub shutdown_behavior: ShutdownBehavior,
    pub subnet_id: Option<String>,
    pub root_volume_id: String,
    pub root_size_gib: i32,
    pub root_delete_on_termination: bool,
    pub ebs_optimized: bool,
    pub monitoring: bool,
    pub cpu_credits: String,
    pub client_token: String,
    /// When RebootInstances was asked and the guest has not yet rebooted.
    pub reboot_requested_at: Option<String>,
    pub hibernation_configured: bool,
    /// How the stop under way (or the last one) ends.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub stop_mode: StopMode,
    /// The VPC of its subnet at launch (None for rows from before VPCs were stored).
    pub vpc_id: Option<String>,
}

/// What an instance was launched with beyond its row: MetadataOptions as resolved, and
/// Placement.Tenancy (`default`, `dedicated` or `host`), in EC2's spelling.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = instance_options)]
pub struct InstanceOptionsRow {
    pub instance_id: String,
    pub metadata_http_tokens: String,
    pub metadata_http_endpoint: String,
    pub metadata_hop_limit: i32,
    pub metadata_tags: String,
    pub metadata_protocol_ipv6: String,
    pub tenancy: String,
}

/// A DescribeInstances query, already checked by the engine.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub account_id: String,
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    /// Terminated instances changed before this are no longer described.
    pub terminated_since: String,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// The engine's own filter on the credit option (no EC2 filter has it, so no caller can
/// name it: callers' filters are checked against `FILTERS`).
pub const CPU_CREDITS_FILTER: &str = "ec2gw:cpu-credits";

/// The instance filters answered in SQL (and the tag filters).
pub const FILTERS: &[&str] = &[
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "image-id",
    "instance-type",
    "key-name",
    "availability-zone",
    "launch-time",
    "reservation-id",
    "subnet-id",
    "instance.group-id",
    "owner-id",
    "tag-key",
    "tag-value",
];

pub fn insert_reservation(
    conn: &mut DbConnection,
    row: &ReservationRow,
) -> Result<bool, StoreError> {
    super::inserted(
        diesel::insert_into(reservations::table)
            .values(row.clone())
            .execute(conn),
    )
}

pub fn find_reservation_by_token(
    conn: &mut DbConnection,
    account_id: &str,
    client_token: &str,
) -> Result<Option<ReservationRow>, StoreError> {
    Ok(reservations::table
        .filter(reservations::account_id.eq(account_id))
        .filter(reservations::client_token.eq(client_token))
        .first::<ReservationRow>(conn)
        .optional()?)
}

pub fn insert(conn: &mut DbConnection, rows: &[InstanceRow]) -> Result<(), StoreError> {
    for row in rows {
        diesel::insert_into(instances::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// An instance's security groups (ids, or names as older rows sent them), in order.
/// Replaces an instance's groups (its primary interface's changed).
pub fn set_groups(
    conn: &mut DbConnection,
    instance_id: &str,
    groups: &[String],
) -> Result<(), StoreError> {
    diesel::delete(
        instance_security_groups::table
            .filter(instance_security_groups::instance_id.eq(instance_id)),
    )
    .execute(conn)?;
    insert_groups(conn, instance_id, groups)
}

pub fn insert_groups(
    conn: &mut DbConnection,
    instance_id: &str,
    groups: &[String],
) -> Result<(), StoreError> {
    for (position, group) in groups.iter().enumerate() {
        diesel::insert_into(instance_security_groups::table)
            .values((
                instance_security_groups::instance_id.eq(instance_id),
                instance_security_groups::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
                instance_security_groups::group_ref.eq(group),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The security groups of each of the instances, by instance id, in their order.
pub fn groups_of(
    conn: &mut DbConnection,
    instance_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
    let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
    // One query per thousand ids keeps under every backend's limit on bound parameters.
    for chunk in instance_ids.chunks(1000) {
        let rows: Vec<(String, String)> = instance_security_groups::table
            .filter(instance_security_groups::instance_id.eq_any(chunk))
            .order((
                instance_security_groups::instance_id,
                instance_security_groups::position,
            ))
            .select((
                instance_security_groups::instance_id,
                instance_security_groups::group_ref,
            ))
            .load(conn)?;
        for (instance_id, group) in rows {
            out.entry(instance_id).or_default().push(group);
        }
    }
    Ok(out)
}

pub fn insert_options(
    conn: &mut DbConnection,
    rows: &[InstanceOptionsRow],
) -> Result<(), StoreError> {
    for row in rows {
        diesel::insert_into(instance_options::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// The launch options of these instances; an instance without a row has none recorded.
pub fn options_of(
    conn: &mut DbConnection,
    instance_ids: &[String],
) -> Result<Vec<InstanceOptionsRow>, StoreError> {
    Ok(instance_options::table
        .filter(instance_options::instance_id.eq_any(instance_ids))
        .load(conn)?)
}

pub fn find(conn: &mut DbConnection, instance_id: &str) -> Result<Option<InstanceRow>, StoreError> {
    Ok(instances::table
        .find(instance_id)
        .first::<InstanceRow>(conn)
        .optional()?)
}

pub fn of_reservation(
    conn: &mut DbConnection,
    reservation_id: &str,
) -> Result<Vec<InstanceRow>, StoreError> {
    Ok(instances::table
        .filter(instances::reservation_id.eq(reservation_id))
        .order(instances::launch_index)
        .load(conn)?)
}

/// Instances that run or are about to, as the partial index `instances_live` says it word for
/// word (diesel/*/2026-12-04-020000_reconciler_indexes): the planner takes a partial index only
/// for literal SQL that repeats its predicate, never for bound parameters.
fn is_live() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(LIVE)
}

/// `InstanceState::IN_MOTION`, as the partial index spells it (a test holds them together).
const LIVE: &str = "instances.state IN ('pending', 'running', 'stopping', 'shutting-down')";

pub(crate) fn live_query() -> diesel::dsl::Order<
    diesel::dsl::Filter<instances::table, diesel::expression::SqlLiteral<diesel::sql_types::Bool>>,
    instances::instance_id,
> {
    instances::table
        .filter(is_live())
        .order(instances::instance_id)
}

/// The instances the reconciler must look at: those in motion, and those running (a guest may
/// power itself off). Stopped ones need nothing, and there may be very many of them.
pub fn live(conn: &mut DbConnection) -> Result<Vec<InstanceRow>, StoreError> {
    Ok(live_query().load(conn)?)
}

/// The capacity pool every launch and start on this database draws on.
const HOST: &str = "local";

/// Locks the host's capacity until the transaction ends, so that what `committed` counts
/// cannot change under the caller before it writes: PostgreSQL runs concurrent transactions
/// side by side (READ COMMITTED), and two gateways would otherwise both see the last slot
/// free. SQLite needs nothing: a write transaction there (`BEGIN IMMEDIATE`) is serial.
/// Call inside `write_transaction`, before `committed`.
pub fn lock_capacity(conn: &mut DbConnection) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        // The row is made by the migration; if it was deleted, the insert recreates it (a
        // concurrent inserter waits on the unique key, then finds it) so the lock still holds.
        diesel::insert_into(host_capacity::table)
            .values(host_capacity::host_id.eq(HOST))
            .on_conflict_do_nothing()
            .execute(pg)?;
        host_capacity::table
            .find(HOST)
            .select(host_capacity::host_id)
            .for_update()
            .first::<String>(pg)?;
    }
    Ok(())
}

/// vCPUs and MiB held by instances that run or are about to.
pub fn committed(conn: &mut DbConnection) -> Result<(i64, i64), StoreError> {
    let rows: Vec<(i32, i64)> = instances::table
        .filter(is_live())
        .select((instances::vcpus, instances::memory_mib))
        .load(conn)?;
    Ok(rows.iter().fold((0, 0), |(v, m), (vcpus, mib)| {
        (v + i64::from(*vcpus), m + mib)
    }))
}

/// How many instances are in each state; every state is listed, with 0 if it has none.
pub fn count_by_state(conn: &mut DbConnection) -> Result<Vec<(&'static str, i64)>, StoreError> {
    let found: Vec<(String, i64)> = instances::table
        .group_by(instances::state)
        .select((instances::state, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(InstanceState::ALL
        .iter()
        .map(|state| {
            let n = found
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            (state.as_str(), n)
        })
        .collect())
}

/// Moves an instance to `to` if its state is one of `from`; false if it was not (someone
/// else moved it first). The reason fields are set as given.
#[allow(clippy::too_many_arguments)]
pub fn transition(
    conn: &mut DbConnection,
    instance_id: &str,
    from: &[InstanceState],
    to: InstanceState,
    reason_code: Option<&str>,
    reason_message: Option<&str>,
    transition_reason: &str,
    now: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        instances::table
            .filter(instances::instance_id.eq(instance_id))
            .filter(instances::state.eq_any(from.iter().map(|s| s.as_str()).collect::<Vec<_>>())),
    )
    .set((
        instances::state.eq(to.as_str()),
        instances::state_reason_code.eq(reason_code),
        instances::state_reason_message.eq(reason_message),
        instances::transition_reason.eq(transition_reason),
        instances::state_changed_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// How the stop under way ends.
pub fn set_stop_mode(
    conn: &mut DbConnection,
    instance_id: &str,
    mode: StopMode,
) -> Result<(), StoreError> {
    diesel::update(instances::table.find(instance_id))
        .set(instances::stop_mode.eq(mode.as_str()))
        .execute(conn)?;
    Ok(())
}

/// Marks a reboot owed (Some(when asked)) or done (None).
pub fn set_reboot_requested(
    conn: &mut DbConnection,
    instance_id: &str,
    at: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(instances::table.find(instance_id))
        .set(instances::reboot_requested_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// ModifyInstanceAttribute's changes; None leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = instances)]
pub struct InstanceChanges {
    pub instance_type: Option<String>,
    pub vcpus: Option<i32>,
    pub memory_mib: Option<i64>,
    pub user_data: Option<String>,
    pub disable_api_termination: Option<bool>,
    pub disable_api_stop: Option<bool>,
    pub shutdown_behavior: Option<String>,
    pub ebs_optimized: Option<bool>,
    pub cpu_credits: Option<String>,
}

pub fn update(
    conn: &mut DbConnection,
    instance_id: &str,
    changes: &InstanceChanges,
) -> Result<(), StoreError> {
    diesel::update(instances::table.find(instance_id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// DescribeInstances: an account's instances, filtered and paged in SQL, by instance id.
pub fn describe(
    conn: &mut DbConnection,
    q: &InstanceQuery,
) -> Result<Vec<InstanceRow>, StoreError> {
    let mut query = instances::table
        .filter(instances::account_id.eq(q.account_id.clone()))
        .into_boxed::<MultiBackend>();
    // Terminated instances stay listed for a while, as on EC2.
    query = query.filter(
        instances::state
            .ne(InstanceState::Terminated.as_str())
            .or(instances::state_changed_at.ge(q.terminated_since.clone())),
    );
    if !q.instance_ids.is_empty() {
        query = query.filter(instances::instance_id.eq_any(q.instance_ids.clone()));
    }
    for filter in &q.filters {
        let values = &filter.values;
        query = match filter.name.as_str() {
            "instance-id" => query.filter(text_matches!(
                instances::table,
                instances::instance_id,
                values
            )),
            "instance-state-name" => {
                query.filter(text_matches!(instances::table, instances::state, values))
            }
            "instance-state-code" => {
                let names: Vec<&str> = values
                    .iter()
                    .filter_map(|v| v.parse().ok().and_then(InstanceState::from_code))
                    .map(InstanceState::as_str)
                    .collect();
                query.filter(instances::state.eq_any(names))
            }
            "image-id" => {
                query.filter(text_matches!(instances::table, instances::image_id, values))
            }
            "instance-type" => query.filter(text_matches!(
                instances::table,
                instances::instance_type,
                values
            )),
            "key-name" => query.filter(text_matches!(
                instances::table,
                instances::key_name.assume_not_null(),
                values
            )),
            "availability-zone" => query.filter(text_matches!(
                instances::table,
                instances::availability_zone,
                values
            )),
            "launch-time" => query.filter(text_matches!(
                instances::table,
                instances::launch_time,
                values
            )),
            "reservation-id" => query.filter(text_matches!(
                instances::table,
                instances::reservation_id,
                values
            )),
            "subnet-id" => query.filter(text_matches!(
                instances::table,
                instances::subnet_id.assume_not_null(),
                values
            )),
            CPU_CREDITS_FILTER => query.filter(text_matches!(
                instances::table,
                instances::cpu_credits,
                values
            )),
            "owner-id" => query.filter(text_matches!(
                instances::table,
                instances::account_id,
                values
            )),
            // Instances are in one group (the engine turns names and VPCs into ids and subnets).
            "instance.group-id" => query.filter(super::filters::member_predicate(
                "instances.instance_id",
                "SELECT instance_id FROM instance_security_groups WHERE group_ref",
                values,
            )),
            _ => query.filter(super::filters::tag_predicate(
                "instances.instance_id",
                &q.account_id,
                filter,
            )),
        };
    }
    if let Some(after) = &q.after {
        query = query.filter(instances::instance_id.gt(after.clone()));
    }
    query = query.order(instances::instance_id);
    if let Some(limit) = q.limit {
        query = query.limit(limit);
    }
    Ok(query.load::<InstanceRow>(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_predicate_names_the_states_in_motion() {
        let names: Vec<String> = InstanceState::IN_MOTION
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        assert_eq!(LIVE, format!("instances.state IN ({})", names.join(", ")));
    }
}
