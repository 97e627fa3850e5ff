//! Instances and the reservations that launched them.

use diesel::prelude::*;

use super::filters::Filter;
use super::schema::{instances, reservations};
use super::{DbConnection, MultiBackend, StoreError};

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
    pub state: String,
    pub state_reason_code: Option<String>,
    pub state_reason_message: Option<String>,
    pub transition_reason: String,
    pub launch_time: String,
    pub state_changed_at: String,
    pub user_data: String,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub shutdown_behavior: String,
    pub security_groups: String,
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
    /// How the stop under way (or the last one) ends: `shutdown`, `force` or `hibernate`.
    pub stop_mode: String,
}

/// A DescribeInstances query, already checked by the engine.
#[derive(Debug, Clone, Default)]
pub struct InstanceQuery {
    pub account_id: String,
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    /// Terminated instances changed before this are no longer described.
    pub terminated_since: String,
    pub include_terminated: bool,
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

/// Every state an instance can be in.
pub const STATES: [&str; 6] = [
    "pending",
    "running",
    "shutting-down",
    "terminated",
    "stopping",
    "stopped",
];

fn state_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "0" => "pending",
        "16" => "running",
        "32" => "shutting-down",
        "48" => "terminated",
        "64" => "stopping",
        "80" => "stopped",
        _ => return None,
    })
}

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
/// word (diesel/*/2026-12-04-000000_reconciler_indexes): the planner takes a partial index only
/// for literal SQL that repeats its predicate, never for bound parameters.
fn is_live() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("instances.state IN ('pending', 'running', 'stopping', 'shutting-down')")
}

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
    Ok(STATES
        .iter()
        .map(|state| {
            let n = found
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            (*state, n)
        })
        .collect())
}

/// Moves an instance to `to` if its state is one of `from`; false if it was not (someone
/// else moved it first). The reason fields are set as given.
#[allow(clippy::too_many_arguments)]
pub fn transition(
    conn: &mut DbConnection,
    instance_id: &str,
    from: &[&str],
    to: &str,
    reason_code: Option<&str>,
    reason_message: Option<&str>,
    transition_reason: &str,
    now: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        instances::table
            .filter(instances::instance_id.eq(instance_id))
            .filter(
                instances::state.eq_any(from.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            ),
    )
    .set((
        instances::state.eq(to),
        instances::state_reason_code.eq(reason_code),
        instances::state_reason_message.eq(reason_message),
        instances::transition_reason.eq(transition_reason),
        instances::state_changed_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// How the stop under way ends: `shutdown` (ACPI), `force` (powered off at once) or
/// `hibernate` (memory saved).
pub fn set_stop_mode(
    conn: &mut DbConnection,
    instance_id: &str,
    mode: &str,
) -> Result<(), StoreError> {
    diesel::update(instances::table.find(instance_id))
        .set(instances::stop_mode.eq(mode))
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
    if !q.include_terminated {
        query = query.filter(instances::state.ne("terminated"));
    } else {
        query = query.filter(
            instances::state
                .ne("terminated")
                .or(instances::state_changed_at.ge(q.terminated_since.clone())),
        );
    }
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
                let names: Vec<String> = values
                    .iter()
                    .filter_map(|v| state_name(v))
                    .map(str::to_owned)
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
            "instance.group-id" => query.filter(text_matches!(
                instances::table,
                instances::security_groups,
                values
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
