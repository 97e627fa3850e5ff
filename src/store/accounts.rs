//! Accounts and their access keys.

use diesel::prelude::*;

use zeroize::Zeroizing;

use super::keyring::{Keyring, KeyringError, Keys};
use super::schema::{access_keys, accounts};
use super::{DbConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub account_id: String,
    pub created_at: String,
    /// Whether the account's default VPC was made (once; see engine::network::default_vpc).
    pub default_vpc_made: bool,
}

/// An access key's row. Its secret is sealed under the key `secret_key_id` names (see
/// [`keyring`](super::keyring)); a NULL key id marks a row from before secrets were sealed,
/// still in plain text until [`seal_plain_secrets`] runs.
#[derive(Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = access_keys)]
pub struct AccessKeyRow {
    pub access_key_id: String,
    pub account_id: String,
    pub secret_sealed: String,
    pub status: String,
    pub created_at: String,
    pub secret_key_id: Option<String>,
}

impl std::fmt::Debug for AccessKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRow")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("secret_sealed", &"<redacted>")
            .field("status", &self.status)
            .field("created_at", &self.created_at)
            .field("secret_key_id", &self.secret_key_id)
            .finish()
    }
}

/// What a sealed secret is bound to: it opens for this key id of this account only, so a row's
/// value moved to another row, or a key moved to another account, is refused.
pub fn secret_context(access_key_id: &str, account_id: &str) -> Vec<u8> {
    format!("ec2gw access key\0{access_key_id}\0{account_id}").into_bytes()
}

/// A new access key's row, its secret sealed under the keyring's primary key.
pub fn sealed_row(
    ring: &Keyring,
    access_key_id: &str,
    account_id: &str,
    secret: &str,
    status: &str,
    created_at: &str,
) -> AccessKeyRow {
    let sealed = ring.seal(
        &secret_context(access_key_id, account_id),
        secret.as_bytes(),
    );
    AccessKeyRow {
        access_key_id: access_key_id.to_owned(),
        account_id: account_id.to_owned(),
        secret_sealed: sealed.text,
        status: status.to_owned(),
        created_at: created_at.to_owned(),
        secret_key_id: Some(sealed.key_id),
    }
}

/// The secret of a row, opened with `ring`. A row in plain text is refused: every row is
/// sealed at start-up, so one in plain text now was written behind the gateway's back.
pub fn open_row(ring: &Keyring, row: &AccessKeyRow) -> Result<Zeroizing<String>, KeyringError> {
    let Some(key_id) = row.secret_key_id.as_deref() else {
        return Err(KeyringError::Unsealed(row.access_key_id.clone()));
    };
    let corrupt = || KeyringError::Corrupt {
        access_key_id: row.access_key_id.clone(),
        key_id: key_id.to_owned(),
    };
    let context = secret_context(&row.access_key_id, &row.account_id);
    let bytes = ring
        .open(key_id, &context, &row.secret_sealed)
        .ok_or_else(corrupt)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt())?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// The secret of a row, opened with the store's keys, read again first if they lack the
/// row's key (another process rotated it).
pub fn open_secret(
    keys: &Keys,
    conn: &mut DbConnection,
    row: &AccessKeyRow,
) -> Result<Zeroizing<String>, StoreError> {
    let mut ring = keys.ring(conn)?;
    if let Some(id) = row.secret_key_id.as_deref().filter(|id| !ring.holds(id)) {
        tracing::info!(
            key = id,
            "an access key is sealed under a key not loaded; reading the keys again"
        );
        ring = keys.reload(conn)?;
    }
    Ok(open_row(&ring, row)?)
}

/// The ids of the keys rows are sealed under.
pub fn sealed_key_ids(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    Ok(access_keys::table
        .filter(access_keys::secret_key_id.is_not_null())
        .select(access_keys::secret_key_id.assume_not_null())
        .distinct()
        .order(access_keys::secret_key_id)
        .load(conn)?)
}

/// Seals every row still in plain text under the keyring's primary key, in one transaction;
/// returns how many. Running it again finds none.
pub fn seal_plain_secrets(conn: &mut DbConnection, ring: &Keyring) -> Result<usize, StoreError> {
    super::write_transaction(conn, |conn| {
        let plain: Vec<AccessKeyRow> = access_keys::table
            .filter(access_keys::secret_key_id.is_null())
            .load(conn)?;
        for row in &plain {
            let sealed = sealed_row(
                ring,
                &row.access_key_id,
                &row.account_id,
                &row.secret_sealed,
                &row.status,
                &row.created_at,
            );
            diesel::update(
                access_keys::table
                    .find(&row.access_key_id)
                    .filter(access_keys::secret_key_id.is_null()),
            )
            .set((
                access_keys::secret_sealed.eq(&sealed.secret_sealed),
                access_keys::secret_key_id.eq(&sealed.secret_key_id),
            ))
            .execute(conn)?;
        }
        Ok(plain.len())
    })
}

/// Re-seals, in one transaction, every row not sealed under the keyring's primary key (rows in
/// plain text too); returns how many. The keyring must hold every key the rows name.
pub fn reseal_secrets(conn: &mut DbConnection, ring: &Keyring) -> Result<usize, StoreError> {
    let primary = ring.primary().id().to_owned();
    super::write_transaction(conn, |conn| {
        let stale: Vec<AccessKeyRow> = access_keys::table
            .filter(
                access_keys::secret_key_id
                    .ne(&primary)
                    .or(access_keys::secret_key_id.is_null()),
            )
            .load(conn)?;
        for row in &stale {
            let secret = match row.secret_key_id {
                None => Zeroizing::new(row.secret_sealed.clone()),
                Some(_) => open_row(ring, row)?,
            };
            let sealed = sealed_row(
                ring,
                &row.access_key_id,
                &row.account_id,
                &secret,
                &row.status,
                &row.created_at,
            );
            diesel::update(access_keys::table.find(&row.access_key_id))
                .set((
                    access_keys::secret_sealed.eq(&sealed.secret_sealed),
                    access_keys::secret_key_id.eq(&sealed.secret_key_id),
                ))
                .execute(conn)?;
        }
        Ok(stale.len())
    })
}

/// How many rows are sealed under each key (None: in plain text).
pub fn count_by_key(conn: &mut DbConnection) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    Ok(access_keys::table
        .group_by(access_keys::secret_key_id)
        .select((access_keys::secret_key_id, diesel::dsl::count_star()))
        .order(access_keys::secret_key_id)
        .load(conn)?)
}

/// Inserts an account; false if the id is taken.
pub fn insert_account(conn: &mut DbConnection, row: &AccountRow) -> Result<bool, StoreError> {
    super::inserted(
        diesel::insert_into(accounts::table)
            .values(row.clone())
            .execute(conn),
    )
}

pub fn default_vpc_made(conn: &mut DbConnection, account_id: &str) -> Result<bool, StoreError> {
    Ok(accounts::table
        .find(account_id)
        .select(accounts::default_vpc_made)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(true))
}

pub fn set_default_vpc_made(conn: &mut DbConnection, account_id: &str) -> Result<(), StoreError> {
    diesel::update(accounts::table.find(account_id))
        .set(accounts::default_vpc_made.eq(true))
        .execute(conn)?;
    Ok(())
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
