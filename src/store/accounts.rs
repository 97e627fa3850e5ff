//! Accounts and their access keys.

use diesel::prelude::*;

use super::schema::{access_keys, accounts};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub account_id: String,
    pub created_at: String,
}

#[derive(Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = access_keys)]
pub struct AccessKeyRow {
    pub access_key_id: String,
    pub account_id: String,
    pub secret_access_key: String,
    pub status: String,
    pub created_at: String,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("secret_access_key", &"<redacted>")
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Inserts an account; false if the id is taken.
pub fn insert_account(conn: &mut DbConnection, row: &AccountRow) -> Result<bool, StoreError> {
    super::inserted(
        diesel::insert_into(accounts::table)
            .values(row.clone())
            .execute(conn),
    )
}

pub fn list_accounts(conn: &mut DbConnection) -> Result<Vec<AccountRow>, StoreError> {
    Ok(accounts::table
        .order(accounts::account_id)
        .load::<AccountRow>(conn)?)
}

pub fn account_exists(conn: &mut DbConnection, account_id: &str) -> Result<bool, StoreError> {
    Ok(accounts::table
        .find(account_id)
        .select(accounts::account_id)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Inserts an access key; false if the id is taken.
pub fn insert_key(conn: &mut DbConnection, row: &AccessKeyRow) -> Result<bool, StoreError> {
    super::inserted(
        diesel::insert_into(access_keys::table)
            .values(row.clone())
            .execute(conn),
    )
}

pub fn find_key(
    conn: &mut DbConnection,
    access_key_id: &str,
) -> Result<Option<AccessKeyRow>, StoreError> {
    Ok(access_keys::table
        .find(access_key_id)
        .first::<AccessKeyRow>(conn)
        .optional()?)
}

pub fn list_keys(
    conn: &mut DbConnection,
    account_id: Option<&str>,
) -> Result<Vec<AccessKeyRow>, StoreError> {
    let mut query = access_keys::table.into_boxed();
    if let Some(account_id) = account_id {
        query = query.filter(access_keys::account_id.eq(account_id.to_owned()));
    }
    Ok(query
        .order((access_keys::account_id, access_keys::created_at))
        .load::<AccessKeyRow>(conn)?)
}

/// Sets a key's status; false if there is no such key.
pub fn set_key_status(
    conn: &mut DbConnection,
    access_key_id: &str,
    status: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(access_keys::table.find(access_key_id))
        .set(access_keys::status.eq(status))
        .execute(conn)?;
    Ok(n == 1)
}

/// Deletes a key; false if there is no such key.
pub fn delete_key(conn: &mut DbConnection, access_key_id: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(access_keys::table.find(access_key_id)).execute(conn)?;
    Ok(n == 1)
}

pub fn count_accounts(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(accounts::table.count().get_result(conn)?)
}
