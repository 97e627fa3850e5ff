//! Accounts and access keys: created by the admin commands, looked up on every request.

use rand::Rng;
use zeroize::Zeroizing;

use super::{timestamp_now, Engine, EngineError};
use crate::store::accounts::{self as rows, AccessKeyRow, AccountRow};
use crate::store::keyring::{self, KeySource, Keys, MasterKey};
use crate::store::{DbConnection, Store, StoreError};

/// A secret access key: never shown in Debug output, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

/// An access key as the verifier and the admin commands see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub account_id: String,
    pub secret: Secret,
    pub status: KeyStatus,
    pub created_at: String,
}

/// An access key without its secret, as `admin key list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub access_key_id: String,
    pub account_id: String,
    pub status: KeyStatus,
    pub created_at: String,
}

fn status_of(row: &AccessKeyRow) -> KeyStatus {
    if row.status == "Active" {
        KeyStatus::Active
    } else {
        KeyStatus::Inactive
    }
}

impl From<AccessKeyRow> for KeyInfo {
    fn from(row: AccessKeyRow) -> KeyInfo {
        KeyInfo {
            status: status_of(&row),
            access_key_id: row.access_key_id,
            account_id: row.account_id,
            created_at: row.created_at,
        }
    }
}

fn with_secret(row: AccessKeyRow, secret: Zeroizing<String>) -> AccessKey {
    AccessKey {
        status: status_of(&row),
        access_key_id: row.access_key_id,
        account_id: row.account_id,
        secret: Secret(secret),
        created_at: row.created_at,
    }
}

/// What `admin secrets rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key every secret is sealed under now.
    pub key_id: String,
    /// Keys no secret is sealed under any more (dropped from the key file; to be dropped from
    /// EC2GW_SECRET_KEY).
    pub retired: Vec<String>,
    /// How many secrets were sealed again.
    pub resealed: usize,
    /// The key file written, if the keys come from one.
    pub key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub account_id: String,
    pub created_at: String,
}

/// A 12-digit account id, as AWS's.
pub fn new_account_id(rng: &mut impl Rng) -> String {
    (0..12)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// `AKIA` and 16 characters of base32's alphabet: 20 in all, as AWS's long-term keys.
pub fn new_access_key_id(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::with_capacity(20);
    id.push_str("AKIA");
    id.extend((0..16).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])));
    id
}

/// 40 characters of base64's alphabet, as AWS's secrets.
pub fn new_secret(rng: &mut impl Rng) -> Secret {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Secret(Zeroizing::new(
        (0..40)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect(),
    ))
}

fn create_account_with(conn: &mut DbConnection) -> Result<Account, EngineError> {
    loop {
        let row = AccountRow {
            account_id: new_account_id(&mut rand::thread_rng()),
            created_at: timestamp_now(),
            default_vpc_made: false,
        };
        if rows::insert_account(conn, &row)? {
            return Ok(Account {
                account_id: row.account_id,
                created_at: row.created_at,
            });
        }
    }
}

fn create_key_with(
    keys: &Keys,
    conn: &mut DbConnection,
    account_id: &str,
) -> Result<AccessKey, EngineError> {
    if !rows::account_exists(conn, account_id)? {
        return Err(EngineError::NoSuchAccount(account_id.to_owned()));
    }
    let ring = keys.ring(conn)?;
    loop {
        let mut rng = rand::thread_rng();
        let secret = new_secret(&mut rng);
        let row = rows::sealed_row(
            &ring,
            &new_access_key_id(&mut rng),
            account_id,
            secret.expose(),
            KeyStatus::Active.as_str(),
            &timestamp_now(),
        );
        if rows::insert_key(conn, &row)? {
            return Ok(with_secret(row, secret.0));
        }
    }
}

/// Seals every key under a new key (kept beside the old ones in the key file until every row
/// is sealed again, so a crash halfway loses nothing), or, for keys from EC2GW_SECRET_KEY,
/// under the first of them.
fn rotate_with(keys: &Keys, conn: &mut DbConnection) -> Result<Rotation, EngineError> {
    let ring = keys.reload(conn)?;
    let (target, key_file) = match keys.source() {
        KeySource::File(path) => {
            let next = ring.led_by(MasterKey::generate());
            keyring::replace_key_file(path, &next).map_err(StoreError::from)?;
            (keys.remember(next), Some(path.clone()))
        }
        KeySource::Environment(_) => (ring, None),
    };
    let resealed = rows::reseal_secrets(conn, &target)?;
    let primary = target.primary().id().to_owned();
    let elsewhere: i64 = rows::count_by_key(conn)?
        .into_iter()
        .filter(|(id, _)| id.as_deref() != Some(primary.as_str()))
        .map(|(_, n)| n)
        .sum();
    if elsewhere > 0 {
        // A key made meanwhile by another process, under a key it had loaded before: keep
        // every key, and let the operator run the rotation again.
        return Err(EngineError::Io(format!(
            "{elsewhere} access keys were made under another key during the rotation; \
             every key is kept in {}: run the rotation again",
            keys.source().origin()
        )));
    }
    let retired: Vec<String> = target
        .ids()
        .into_iter()
        .filter(|id| *id != primary)
        .collect();
    if let Some(path) = &key_file {
        let only = target.primary_only();
        keyring::replace_key_file(path, &only).map_err(StoreError::from)?;
        keys.remember(only);
    }
    Ok(Rotation {
        key_id: primary,
        retired,
        resealed,
        key_file,
    })
}

/// Blocking account administration, for the `admin` commands and start-up.
pub struct Admin<'a> {
    pub store: &'a Store,
}

impl Admin<'_> {
    /// The name of this database's host network objects (see `Engine::deployment`).
    pub fn deployment(&self) -> Result<String, EngineError> {
        self.store.run_now::<_, EngineError>(|conn| {
            let fresh = hex::encode(rand::random::<[u8; 2]>());
            Ok(crate::store::network::setting_or_init(
                conn,
                "deployment",
                &fresh,
            )?)
        })
    }

    pub fn create_account(&self) -> Result<Account, EngineError> {
        self.store.run_now(create_account_with)
    }

    pub fn list_accounts(&self) -> Result<Vec<Account>, EngineError> {
        let rows = self
            .store
            .run_now::<_, EngineError>(|conn| Ok(rows::list_accounts(conn)?))?;
        Ok(rows
            .into_iter()
            .map(|r| Account {
                account_id: r.account_id,
                created_at: r.created_at,
            })
            .collect())
    }

    pub fn create_key(&self, account_id: &str) -> Result<AccessKey, EngineError> {
        let keys = self.store.keys();
        self.store
            .run_now(|conn| create_key_with(keys, conn, account_id))
    }

    pub fn list_keys(&self, account_id: Option<&str>) -> Result<Vec<KeyInfo>, EngineError> {
        let rows = self
            .store
            .run_now::<_, EngineError>(|conn| Ok(rows::list_keys(conn, account_id)?))?;
        Ok(rows.into_iter().map(KeyInfo::from).collect())
    }

    /// Loads the keys (making the key file on a database with nothing sealed yet), refuses
    /// keys that cannot open what the database holds, and seals the secrets of rows from
    /// before secrets were sealed; returns how many. For start-up: running it again seals none.
    pub fn seal_secrets(&self) -> Result<usize, EngineError> {
        let keys = self.store.keys();
        self.store.run_now::<_, EngineError>(|conn| {
            let ring = keys.reload(conn)?;
            Ok(rows::seal_plain_secrets(conn, &ring)?)
        })
    }

    /// Re-seals every access key's secret under a new key; see [`Rotation`].
    pub fn rotate_secrets(&self) -> Result<Rotation, EngineError> {
        let keys = self.store.keys();
        self.store.run_now(|conn| rotate_with(keys, conn))
    }

    pub fn set_key_status(
        &self,
        access_key_id: &str,
        status: KeyStatus,
    ) -> Result<(), EngineError> {
        let found = self.store.run_now::<_, EngineError>(|conn| {
            Ok(rows::set_key_status(conn, access_key_id, status.as_str())?)
        })?;
        found
            .then_some(())
            .ok_or_else(|| EngineError::NoSuchAccessKey(access_key_id.to_owned()))
    }

    pub fn delete_key(&self, access_key_id: &str) -> Result<(), EngineError> {
        let found = self
            .store
            .run_now::<_, EngineError>(|conn| Ok(rows::delete_key(conn, access_key_id)?))?;
        found
            .then_some(())
            .ok_or_else(|| EngineError::NoSuchAccessKey(access_key_id.to_owned()))
    }

    /// On an empty database, creates a first account with one key, and returns the key.
    pub fn ensure_default_account(&self) -> Result<Option<AccessKey>, EngineError> {
        if self
            .store
            .run_now::<_, EngineError>(|c| Ok(rows::count_accounts(c)?))?
            > 0
        {
            return Ok(None);
        }
        let account = self.create_account()?;
        self.create_key(&account.account_id).map(Some)
    }
}

impl Engine {
    /// The access key a request claims to be signed with; None if unknown.
    pub async fn find_access_key(
        &self,
        access_key_id: &str,
    ) -> Result<Option<AccessKey>, EngineError> {
        let id = access_key_id.to_owned();
        let keys = self.store.keys().clone();
        self.store
            .run::<_, EngineError, _>(move |conn| {
                let Some(row) = rows::find_key(conn, &id)? else {
                    return Ok(None);
                };
                let secret = rows::open_secret(&keys, conn, &row)?;
                Ok(Some(with_secret(row, secret)))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shaped_like_aws() {
        let mut rng = rand::thread_rng();
        let account = new_account_id(&mut rng);
        assert_eq!(account.len(), 12);
        assert!(account.bytes().all(|b| b.is_ascii_digit()));
        let key = new_access_key_id(&mut rng);
        assert_eq!(key.len(), 20);
        assert!(key.starts_with("AKIA"));
        assert!(key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        let secret = new_secret(&mut rng);
        assert_eq!(secret.expose().len(), 40);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_ne!(new_access_key_id(&mut rng), key);
    }
}
