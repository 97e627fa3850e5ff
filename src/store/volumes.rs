//! Volumes: each instance's root volume, and those kept after their instance.

use diesel::prelude::*;

use super::schema::volumes;
use super::{DbConnection, MultiBackend, StoreError};
use crate::domain::VolumeState;
use crate::filter::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = volumes)]
pub struct VolumeRow {
    pub volume_id: String,
    pub account_id: String,
    pub availability_zone: String,
    pub size_gib: i32,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub state: VolumeState,
    pub created_at: String,
    pub state_changed_at: String,
    /// The attachment: instance, device and time, all None when detached.
    pub instance_id: Option<String>,
    pub device: Option<String>,
    pub attach_time: Option<String>,
    pub delete_on_termination: bool,
}

/// A DescribeVolumes query, already checked by the engine.
#[derive(Debug, Clone, Default)]
pub struct VolumeQuery {
    pub account_id: String,
    pub volume_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// The volume filters answered in SQL (and the tag filters).
pub const FILTERS: &[&str] = &[
    "volume-id",
    "status",
    "size",
    "availability-zone",
    "create-time",
    "attachment.instance-id",
    "attachment.device",
    "attachment.attach-time",
    "attachment.delete-on-termination",
    "tag-key",
    "tag-value",
];

pub fn insert(conn: &mut DbConnection, rows: &[VolumeRow]) -> Result<(), StoreError> {
    // One statement per row: a MultiConnection cannot batch inserts across backends.
    for row in rows {
        diesel::insert_into(volumes::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, volume_id: &str) -> Result<Option<VolumeRow>, StoreError> {
    Ok(volumes::table
        .find(volume_id)
        .first::<VolumeRow>(conn)
        .optional()?)
}

pub(crate) fn deleting_query() -> diesel::dsl::Order<
    diesel::dsl::Filter<volumes::table, diesel::expression::SqlLiteral<diesel::sql_types::Bool>>,
    volumes::volume_id,
> {
    volumes::table
        .filter(diesel::dsl::sql("volumes.state = 'deleting'"))
        .order(volumes::volume_id)
}

/// Volumes DeleteVolume marked `deleting`, for the reconciler's every pass. Literal SQL, word for
/// word the predicate of the partial index `volumes_deleting`, which the planner takes for
/// nothing else (see diesel/*/2026-12-04-020000_reconciler_indexes).
pub fn deleting(conn: &mut DbConnection) -> Result<Vec<VolumeRow>, StoreError> {
    Ok(deleting_query().load(conn)?)
}

/// Moves a volume to `to` if it is in `from`; false if it was not.
pub fn transition(
    conn: &mut DbConnection,
    volume_id: &str,
    from: VolumeState,
    to: VolumeState,
    now: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        volumes::table
            .filter(volumes::volume_id.eq(volume_id))
            .filter(volumes::state.eq(from.as_str())),
    )
    .set((
        volumes::state.eq(to.as_str()),
        volumes::state_changed_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends a volume's attachment with its instance's termination: `available` (kept) or
/// `deleted`. Idempotent: the reconciler may do it again after a crash.
pub fn release(
    conn: &mut DbConnection,
    volume_id: &str,
    kept: bool,
    now: &str,
) -> Result<(), StoreError> {
    diesel::update(
        volumes::table
            .find(volume_id)
            .filter(volumes::state.eq(VolumeState::InUse.as_str())),
    )
    .set((
        volumes::state.eq(if kept {
            VolumeState::Available
        } else {
            VolumeState::Deleted
        }
        .as_str()),
        volumes::state_changed_at.eq(now),
        volumes::instance_id.eq(None::<String>),
        volumes::device.eq(None::<String>),
        volumes::attach_time.eq(None::<String>),
    ))
    .execute(conn)?;
    Ok(())
}

/// DescribeVolumes: an account's volumes but the deleted, filtered and paged in SQL.
pub fn describe(conn: &mut DbConnection, q: &VolumeQuery) -> Result<Vec<VolumeRow>, StoreError> {
    let mut query = volumes::table
        .filter(volumes::account_id.eq(q.account_id.clone()))
        .filter(volumes::state.ne(VolumeState::Deleted.as_str()))
        .into_boxed::<MultiBackend>();
    if !q.volume_ids.is_empty() {
        query = query.filter(volumes::volume_id.eq_any(q.volume_ids.clone()));
    }
    for filter in &q.filters {
        let values = &filter.values;
        query = match filter.name.as_str() {
            "volume-id" => query.filter(text_matches!(volumes::table, volumes::volume_id, values)),
            "status" => query.filter(text_matches!(volumes::table, volumes::state, values)),
            "size" => {
                let sizes: Vec<i32> = values.iter().filter_map(|v| v.parse().ok()).collect();
                query.filter(volumes::size_gib.eq_any(sizes))
            }
            "availability-zone" => query.filter(text_matches!(
                volumes::table,
                volumes::availability_zone,
                values
            )),
            "create-time" => {
                query.filter(text_matches!(volumes::table, volumes::created_at, values))
            }
            "attachment.instance-id" => query.filter(text_matches!(
                volumes::table,
                volumes::instance_id.assume_not_null(),
                values
            )),
            "attachment.device" => query.filter(text_matches!(
                volumes::table,
                volumes::device.assume_not_null(),
                values
            )),
            "attachment.attach-time" => query.filter(text_matches!(
                volumes::table,
                volumes::attach_time.assume_not_null(),
                values
            )),
            "attachment.delete-on-termination" => {
                let wanted: Vec<bool> = values.iter().filter_map(|v| v.parse().ok()).collect();
                query.filter(
                    volumes::delete_on_termination
                        .eq_any(wanted)
                        .and(volumes::instance_id.is_not_null()),
                )
            }
            _ => query.filter(super::filters::tag_predicate(
                "volumes.volume_id",
                &q.account_id,
                filter,
            )),
        };
    }
    if let Some(after) = &q.after {
        query = query.filter(volumes::volume_id.gt(after.clone()));
    }
    query = query.order(volumes::volume_id);
    if let Some(limit) = q.limit {
        query = query.limit(limit);
    }
    Ok(query.load::<VolumeRow>(conn)?)
}
