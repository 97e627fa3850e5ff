//! Key pairs: public keys an account registered, by name.

use diesel::prelude::*;

use super::schema::key_pairs;
use super::{DbConnection, MultiBackend, StoreError};
use crate::filter::Filter;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = key_pairs)]
pub struct KeyPairRow {
    pub key_pair_id: String,
    pub account_id: String,
    pub key_name: String,
    pub key_type: String,
    pub fingerprint: String,
    pub public_key: String,
    pub created_at: String,
}

pub const FILTERS: &[&str] = &[
    "key-pair-id",
    "key-name",
    "fingerprint",
    "key-type",
    "tag-key",
    "tag-value",
];

/// Inserts a key pair; false if the account already has one by that name.
pub fn insert(conn: &mut DbConnection, row: &KeyPairRow) -> Result<bool, StoreError> {
    super::inserted(
        diesel::insert_into(key_pairs::table)
            .values(row.clone())
            .execute(conn),
    )
}

/// An account's key pairs, by names and ids (any, when both are empty), filtered in SQL.
pub fn describe(
    conn: &mut DbConnection,
    account_id: &str,
    names: &[String],
    ids: &[String],
    filters: &[Filter],
) -> Result<Vec<KeyPairRow>, StoreError> {
    let mut query = key_pairs::table
        .filter(key_pairs::account_id.eq(account_id.to_owned()))
        .into_boxed::<MultiBackend>();
    if !names.is_empty() {
        query = query.filter(key_pairs::key_name.eq_any(names.to_vec()));
    }
    if !ids.is_empty() {
        query = query.filter(key_pairs::key_pair_id.eq_any(ids.to_vec()));
    }
    for filter in filters {
        let values = &filter.values;
        query = match filter.name.as_str() {
            "key-pair-id" => query.filter(text_matches!(
                key_pairs::table,
                key_pairs::key_pair_id,
                values
            )),
            "key-name" => {
                query.filter(text_matches!(key_pairs::table, key_pairs::key_name, values))
            }
            "fingerprint" => query.filter(text_matches!(
                key_pairs::table,
                key_pairs::fingerprint,
                values
            )),
            "key-type" => {
                query.filter(text_matches!(key_pairs::table, key_pairs::key_type, values))
            }
            _ => query.filter(super::filters::tag_predicate(
                "key_pairs.key_pair_id",
                account_id,
                filter,
            )),
        };
    }
    Ok(query.order(key_pairs::key_name).load::<KeyPairRow>(conn)?)
}

/// Deletes by name or id; the row deleted, if any.
pub fn delete(
    conn: &mut DbConnection,
    account_id: &str,
    name: Option<&str>,
    id: Option<&str>,
) -> Result<Option<KeyPairRow>, StoreError> {
    let mut query = key_pairs::table
        .filter(key_pairs::account_id.eq(account_id.to_owned()))
        .into_boxed::<MultiBackend>();
    if let Some(name) = name {
        query = query.filter(key_pairs::key_name.eq(name.to_owned()));
    }
    if let Some(id) = id {
        query = query.filter(key_pairs::key_pair_id.eq(id.to_owned()));
    }
    let Some(row) = query.first::<KeyPairRow>(conn).optional()? else {
        return Ok(None);
    };
    diesel::delete(key_pairs::table.find(&row.key_pair_id)).execute(conn)?;
    Ok(Some(row))
}

/// A key pair by id, whatever its account, for tagging checks.
pub fn find(conn: &mut DbConnection, key_pair_id: &str) -> Result<Option<KeyPairRow>, StoreError> {
    Ok(key_pairs::table
        .find(key_pair_id)
        .first::<KeyPairRow>(conn)
        .optional()?)
}
