//! Machine images and who may launch them.

use diesel::prelude::*;

use super::schema::{image_launch_permissions as perms, images};
use super::{DbConnection, MultiBackend, StoreError};
use crate::domain::ImageState;
use crate::filter::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = images)]
pub struct ImageRow {
    pub image_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub state: ImageState,
    pub architecture: String,
    pub is_public: bool,
    pub root_device_name: String,
    pub size_gib: i32,
    pub disk_path: String,
    pub disk_format: String,
    pub disk_bytes: i64,
    pub sha256: String,
    pub created_at: String,
}

/// Whose images a DescribeImages may return, beyond what the viewer may launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// `ExecutableBy=all`: public images.
    All,
    /// `ExecutableBy=<account>`: images shared with that account by launch permission.
    Account(String),
}

/// A DescribeImages query, already checked by the engine.
#[derive(Debug, Clone, Default)]
pub struct ImageQuery {
    pub viewer: String,
    pub image_ids: Vec<String>,
    /// Owner account ids; empty means any owner.
    pub owners: Vec<String>,
    pub executable_by: Vec<Launcher>,
    pub filters: Vec<Filter>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub const FILTERS: &[&str] = &[
    "architecture",
    "block-device-mapping.device-name",
    "block-device-mapping.volume-size",
    "block-device-mapping.volume-type",
    "block-device-mapping.delete-on-termination",
    "block-device-mapping.encrypted",
    "creation-date",
    "description",
    "ena-support",
    "hypervisor",
    "image-id",
    "image-type",
    "is-public",
    "kernel-id",
    "name",
    "owner-alias",
    "owner-id",
    "platform",
    "product-code",
    "ramdisk-id",
    "root-device-name",
    "root-device-type",
    "state",
    "virtualization-type",
    "tag-key",
    "tag-value",
];

pub fn insert(conn: &mut DbConnection, row: &ImageRow) -> Result<(), StoreError> {
    diesel::insert_into(images::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(())
}

/// An image by id, whatever its state and owner.
pub fn find(conn: &mut DbConnection, image_id: &str) -> Result<Option<ImageRow>, StoreError> {
    Ok(images::table
        .find(image_id)
        .first::<ImageRow>(conn)
        .optional()?)
}

/// Whether `account` may launch the image: its owner, a public image, or a granted account.
pub fn may_launch(
    conn: &mut DbConnection,
    image: &ImageRow,
    account: &str,
) -> Result<bool, StoreError> {
    if image.owner_id == account || image.is_public {
        return Ok(true);
    }
    Ok(perms::table
        .find((&image.image_id, account))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Lists images as DescribeImages does, filtered and paged in SQL.
pub fn describe(conn: &mut DbConnection, q: &ImageQuery) -> Result<Vec<ImageRow>, StoreError> {
    let granted_to = |account: String| {
        diesel::dsl::exists(
            perms::table
                .filter(perms::image_id.eq(images::image_id))
                .filter(perms::account_id.eq(account)),
        )
    };
    let mut query = images::table
        .filter(images::state.ne(ImageState::Deregistered.as_str()))
        .filter(
            images::owner_id
                .eq(q.viewer.clone())
                .or(images::is_public.eq(true))
                .or(granted_to(q.viewer.clone())),
        )
        .into_boxed::<MultiBackend>();
    if !q.image_ids.is_empty() {
        query = query.filter(images::image_id.eq_any(q.image_ids.clone()));
    }
    if !q.owners.is_empty() {
        query = query.filter(images::owner_id.eq_any(q.owners.clone()));
    }
    if !q.executable_by.is_empty() {
        let mut who = constant!(images::table, false);
        for launcher in &q.executable_by {
            who = match launcher {
                Launcher::All => Box::new(who.or(images::is_public.eq(true))),
                // Explicit launch permissions only: not owned, not public (as on AWS).
                Launcher::Account(account) => Box::new(who.or(granted_to(account.clone()))),
            };
        }
        query = query.filter(who);
    }
    for filter in &q.filters {
        let values = &filter.values;
        let holds = |constant: &str| {
            values
                .iter()
                .any(|v| crate::filter::wildcard_match(v, constant))
        };
        query = match filter.name.as_str() {
            "architecture" => {
                query.filter(text_matches!(images::table, images::architecture, values))
            }
            "block-device-mapping.device-name" | "root-device-name" => query.filter(text_matches!(
                images::table,
                images::root_device_name,
                values
            )),
            "block-device-mapping.volume-size" => {
                let sizes: Vec<i32> = values.iter().filter_map(|v| v.parse().ok()).collect();
                query.filter(images::size_gib.eq_any(sizes))
            }
            "block-device-mapping.volume-type" => {
                query.filter(constant!(images::table, holds("gp3")))
            }
            "block-device-mapping.delete-on-termination" => {
                query.filter(constant!(images::table, holds("true")))
            }
            "block-device-mapping.encrypted" | "ena-support" => {
                query.filter(constant!(images::table, holds("false")))
            }
            "creation-date" => {
                query.filter(text_matches!(images::table, images::created_at, values))
            }
            "description" => {
                query.filter(text_matches!(images::table, images::description, values))
            }
            "hypervisor" => query.filter(constant!(images::table, holds("xen"))),
            "image-id" => query.filter(text_matches!(images::table, images::image_id, values)),
            "image-type" => query.filter(constant!(images::table, holds("machine"))),
            "is-public" => {
                let wanted: Vec<bool> = values
                    .iter()
                    .filter_map(|v| match v.as_str() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    })
                    .collect();
                query.filter(images::is_public.eq_any(wanted))
            }
            "name" => query.filter(text_matches!(images::table, images::name, values)),
            "owner-id" => query.filter(text_matches!(images::table, images::owner_id, values)),
            "root-device-type" => query.filter(constant!(images::table, holds("ebs"))),
            "state" => query.filter(text_matches!(images::table, images::state, values)),
            "virtualization-type" => query.filter(constant!(images::table, holds("hvm"))),
            name if name.starts_with("tag:") || name == "tag-key" || name == "tag-value" => query
                .filter(super::filters::tag_predicate(
                    "images.image_id",
                    &q.viewer,
                    filter,
                )),
            // kernel-id, ramdisk-id, owner-alias, platform, product-code: no image here has one.
            _ => query.filter(constant!(images::table, false)),
        };
    }
    if let Some(after) = &q.after {
        query = query.filter(images::image_id.gt(after.clone()));
    }
    query = query.order(images::image_id);
    if let Some(limit) = q.limit {
        query = query.limit(limit);
    }
    Ok(query.load::<ImageRow>(conn)?)
}

pub fn set_state(
    conn: &mut DbConnection,
    image_id: &str,
    state: ImageState,
) -> Result<(), StoreError> {
    diesel::update(images::table.find(image_id))
        .set(images::state.eq(state.as_str()))
        .execute(conn)?;
    Ok(())
}

pub fn set_description(
    conn: &mut DbConnection,
    image_id: &str,
    description: &str,
) -> Result<(), StoreError> {
    diesel::update(images::table.find(image_id))
        .set(images::description.eq(description))
        .execute(conn)?;
    Ok(())
}

pub fn set_public(conn: &mut DbConnection, image_id: &str, public: bool) -> Result<(), StoreError> {
    diesel::update(images::table.find(image_id))
        .set(images::is_public.eq(public))
        .execute(conn)?;
    Ok(())
}

/// The accounts granted launch permission, in order.
pub fn launch_permissions(
    conn: &mut DbConnection,
    image_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(perms::table
        .filter(perms::image_id.eq(image_id))
        .select(perms::account_id)
        .order(perms::account_id)
        .load(conn)?)
}

pub fn grant(conn: &mut DbConnection, image_id: &str, account: &str) -> Result<(), StoreError> {
    diesel::delete(perms::table.find((image_id, account))).execute(conn)?;
    diesel::insert_into(perms::table)
        .values((perms::image_id.eq(image_id), perms::account_id.eq(account)))
        .execute(conn)?;
    Ok(())
}

pub fn revoke(conn: &mut DbConnection, image_id: &str, account: &str) -> Result<(), StoreError> {
    diesel::delete(perms::table.find((image_id, account))).execute(conn)?;
    Ok(())
}
