//! Secrets shared by every gateway on one database.

use diesel::prelude::*;

use super::schema::gateway_secrets;
use super::{DbConnection, StoreError};

/// The secret called `name`, made by `fresh` the first time any gateway asks.
pub fn get_or_create(
    conn: &mut DbConnection,
    name: &str,
    fresh: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    // Whether this call or another gateway's made it, the stored one is the one to use.
    super::inserted(
        diesel::insert_into(gateway_secrets::table)
            .values((
                gateway_secrets::name.eq(name),
                gateway_secrets::value.eq(fresh()),
            ))
            .execute(conn),
    )?;
    Ok(gateway_secrets::table
        .find(name)
        .select(gateway_secrets::value)
        .first(conn)?)
}
