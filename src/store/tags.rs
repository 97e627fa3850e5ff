//! Tags of every taggable resource.

use diesel::prelude::*;

use super::schema::tags;
use super::{DbConnection, MultiBackend, StoreError};
use crate::filter::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = tags)]
pub struct TagRow {
    pub account_id: String,
    pub resource_id: String,
    pub tag_key: String,
    pub tag_value: String,
    pub resource_type: String,
}

/// Sets each tag, replacing the value of a key the resource already has.
pub fn put(conn: &mut DbConnection, rows: &[TagRow]) -> Result<(), StoreError> {
    for row in rows {
        diesel::delete(tags::table.find((&row.account_id, &row.resource_id, &row.tag_key)))
            .execute(conn)?;
        diesel::insert_into(tags::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// The keys an account put on a resource.
pub fn keys_of(
    conn: &mut DbConnection,
    account_id: &str,
    resource_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(tags::table
        .filter(tags::account_id.eq(account_id))
        .filter(tags::resource_id.eq(resource_id))
        .select(tags::tag_key)
        .load(conn)?)
}

/// Deletes an account's tag `key` on a resource (only if its value is `value`, when given),
/// or every tag it put on the resource when `key` is None.
pub fn delete(
    conn: &mut DbConnection,
    account_id: &str,
    resource_id: &str,
    key: Option<&str>,
    value: Option<&str>,
) -> Result<(), StoreError> {
    let mut query = diesel::delete(tags::table)
        .filter(tags::account_id.eq(account_id.to_owned()))
        .filter(tags::resource_id.eq(resource_id.to_owned()))
        .into_boxed();
    if let Some(key) = key {
        query = query.filter(tags::tag_key.eq(key.to_owned()));
    }
    if let Some(value) = value {
        query = query.filter(tags::tag_value.eq(value.to_owned()));
    }
    query.execute(conn)?;
    Ok(())
}

/// Every account's tags on a resource that is going away.
pub fn delete_everyones(conn: &mut DbConnection, resource_id: &str) -> Result<(), StoreError> {
    diesel::delete(tags::table.filter(tags::resource_id.eq(resource_id))).execute(conn)?;
    Ok(())
}

/// An account's tags on the given resources, for rendering their tagSet.
pub fn of_resources(
    conn: &mut DbConnection,
    account_id: &str,
    ids: &[String],
) -> Result<Vec<TagRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    // Bounded IN lists: SQLite caps bound parameters per statement.
    for chunk in ids.chunks(500) {
        rows.extend(
            tags::table
                .filter(tags::account_id.eq(account_id))
                .filter(tags::resource_id.eq_any(chunk))
                .order((tags::resource_id, tags::tag_key))
                .load::<TagRow>(conn)?,
        );
    }
    Ok(rows)
}

/// DescribeTags: an account's tags, filtered in SQL, ordered by (resource id, key), after the
/// given position, at most `limit`.
pub fn describe(
    conn: &mut DbConnection,
    account_id: &str,
    filters: &[Filter],
    after: Option<(String, String)>,
    limit: Option<i64>,
) -> Result<Vec<TagRow>, StoreError> {
    let mut query = tags::table
        .filter(tags::account_id.eq(account_id.to_owned()))
        .into_boxed::<MultiBackend>();
    for filter in filters {
        query = match filter.name.as_str() {
            "key" => query.filter(text_matches!(tags::table, tags::tag_key, filter.values)),
            "value" => query.filter(text_matches!(tags::table, tags::tag_value, filter.values)),
            "resource-id" => {
                query.filter(text_matches!(tags::table, tags::resource_id, filter.values))
            }
            "resource-type" => query.filter(text_matches!(
                tags::table,
                tags::resource_type,
                filter.values
            )),
            name => match name.strip_prefix("tag:") {
                Some(key) => query
                    .filter(tags::tag_key.eq(key.to_owned()))
                    .filter(text_matches!(tags::table, tags::tag_value, filter.values)),
                None => query,
            },
        };
    }
    if let Some((resource_id, key)) = after {
        query = query.filter(
            tags::resource_id
                .gt(resource_id.clone())
                .or(tags::resource_id.eq(resource_id).and(tags::tag_key.gt(key))),
        );
    }
    query = query.order((tags::resource_id, tags::tag_key));
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    Ok(query.load::<TagRow>(conn)?)
}
