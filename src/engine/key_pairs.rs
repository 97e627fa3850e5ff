//! Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use zeroize::Zeroizing;

use super::ids::{self, Kind};
use super::keys::{self, KeyError, KeyType};
use super::tags::{rows_for, tag_sets, Tag};
use super::{timestamp_now, Engine, EngineError};
use crate::filter::{first_unknown, Filter};
use crate::store::key_pairs::{self as rows, KeyPairRow};
use crate::store::tags as tag_rows;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub row: KeyPairRow,
    pub tags: Vec<Tag>,
}

/// A key pair made here, with its private key, which is shown once and never stored.
#[derive(Debug)]
pub struct CreatedKeyPair {
    pub key_pair: KeyPair,
    pub private_pem: Zeroizing<String>,
}

impl From<KeyError> for EngineError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::InvalidFormat(detail) => EngineError::InvalidKeyFormat(detail),
            KeyError::UnsupportedType(t) => EngineError::InvalidParameterValue(format!(
                "Value ({t}) for parameter keyType is invalid. Valid values are rsa, ed25519."
            )),
            KeyError::Generate(detail) => EngineError::Io(detail),
        }
    }
}

/// AWS's rule for key names: 1 to 255 ASCII characters.
fn check_name(name: &str) -> Result<(), EngineError> {
    if name.is_empty() || name.len() > 255 || !name.is_ascii() {
        return Err(EngineError::InvalidParameterValue(format!(
            "Value ({name}) for parameter keyName is invalid. Key names must be 1 to 255 ASCII characters."
        )));
    }
    Ok(())
}

impl Engine {
    async fn insert_key_pair(
        &self,
        account_id: &str,
        name: &str,
        key_type: KeyType,
        public: keys::PublicKey,
        tags: Vec<Tag>,
    ) -> Result<KeyPair, EngineError> {
        let mode = self.mode();
        let row = KeyPairRow {
            key_pair_id: ids::new_id(Kind::KeyPair),
            account_id: account_id.to_owned(),
            key_name: name.to_owned(),
            key_type: key_type.as_str().to_owned(),
            fingerprint: public.fingerprint,
            public_key: public.openssh,
            created_at: timestamp_now(),
        };
        let stored = row.clone();
        let tag_list = tags.clone();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    if !rows::insert(conn, &stored)? {
                        return Err(EngineError::KeyPairDuplicate(stored.key_name.clone()));
                    }
                    let tag_rows = rows_for(
                        &stored.account_id,
                        Kind::KeyPair,
                        &stored.key_pair_id,
                        &tag_list,
                    );
                    tag_rows::put(conn, &tag_rows)?;
                    Ok(())
                })
            })
            .await?;
        Ok(KeyPair { row, tags })
    }

    /// CreateKeyPair: a new key made here; its private half goes to the caller only.
    pub async fn create_key_pair(
        &self,
        account_id: &str,
        name: &str,
        key_type: &str,
        key_format: &str,
        tags: Vec<Tag>,
    ) -> Result<CreatedKeyPair, EngineError> {
        check_name(name)?;
        let key_type: KeyType = key_type.parse()?;
        if key_format != "pem" {
            return Err(EngineError::InvalidParameterValue(format!(
                "Value ({key_format}) for parameter keyFormat is invalid. This gateway makes pem keys only."
            )));
        }
        // Refuse a taken name before spending the CPU on an RSA key.
        if !self
            .describe_key_pairs_rows(account_id, vec![name.to_owned()])
            .await?
            .is_empty()
        {
            return Err(EngineError::KeyPairDuplicate(name.to_owned()));
        }
        let generated = tokio::task::spawn_blocking(move || keys::generate(key_type))
            .await
            .map_err(|e| EngineError::Io(format!("key generation: {e}")))??;
        let key_pair = self
            .insert_key_pair(account_id, name, key_type, generated.public, tags)
            .await?;
        Ok(CreatedKeyPair {
            key_pair,
            private_pem: generated.private_pem,
        })
    }

    /// ImportKeyPair: an OpenSSH (or RFC 4716, or PEM RSA) public key.
    pub async fn import_key_pair(
        &self,
        account_id: &str,
        name: &str,
        material: &[u8],
        tags: Vec<Tag>,
    ) -> Result<KeyPair, EngineError> {
        check_name(name)?;
        let public = keys::parse_public_key(material)?;
        let key_type = public.key_type;
        self.insert_key_pair(account_id, name, key_type, public, tags)
            .await
    }

    async fn describe_key_pairs_rows(
        &self,
        account_id: &str,
        names: Vec<String>,
    ) -> Result<Vec<KeyPairRow>, EngineError> {
        let account_id = account_id.to_owned();
        self.store()
            .run::<_, EngineError, _>(move |conn| {
                Ok(rows::describe(conn, &account_id, &names, &[], &[])?)
            })
            .await
    }

    /// DescribeKeyPairs: every name and id asked for must exist.
    pub async fn describe_key_pairs(
        &self,
        account_id: &str,
        names: Vec<String>,
        key_pair_ids: Vec<String>,
        filters: Vec<Filter>,
    ) -> Result<Vec<KeyPair>, EngineError> {
        ids::check_well_formed(Kind::KeyPair, &key_pair_ids)?;
        let plain: Vec<Filter> = filters
            .iter()
            .filter(|f| !f.name.starts_with("tag:"))
            .cloned()
            .collect();
        if let Some(name) = first_unknown(&plain, rows::FILTERS) {
            return Err(EngineError::UnknownFilter(name.to_owned()));
        }
        let account = account_id.to_owned();
        let (wanted_names, wanted_ids) = (names.clone(), key_pair_ids.clone());
        let (found, mut sets) = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                let found = rows::describe(conn, &account, &wanted_names, &wanted_ids, &filters)?;
                let ids: Vec<String> = found.iter().map(|k| k.key_pair_id.clone()).collect();
                Ok((found, tag_sets(conn, &account, &ids)?))
            })
            .await?;
        // A name or id asked for but absent is an error, unless a filter removed it: only
        // when something asked for is not in the answer is the table asked again, unfiltered.
        let all_answered = names.iter().all(|n| found.iter().any(|k| &k.key_name == n))
            && key_pair_ids
                .iter()
                .all(|i| found.iter().any(|k| &k.key_pair_id == i));
        let unfiltered;
        let all: &[KeyPairRow] = if all_answered {
            &found
        } else {
            let account = account_id.to_owned();
            let (n, i) = (names.clone(), key_pair_ids.clone());
            unfiltered = self
                .store()
                .run::<_, EngineError, _>(move |conn| {
                    Ok(rows::describe(conn, &account, &n, &i, &[])?)
                })
                .await?;
            &unfiltered
        };
        if let Some(missing) = names
            .iter()
            .find(|n| !all.iter().any(|k| &k.key_name == *n))
        {
            return Err(EngineError::KeyPairNotFound(missing.clone()));
        }
        if let Some(missing) = key_pair_ids
            .iter()
            .find(|i| !all.iter().any(|k| &k.key_pair_id == *i))
        {
            return Err(EngineError::KeyPairNotFound(missing.clone()));
        }
        Ok(found
            .into_iter()
            .map(|row| KeyPair {
                tags: sets.remove(&row.key_pair_id).unwrap_or_default(),
                row,
            })
            .collect())
    }

    /// DeleteKeyPair: by name or id; deleting what is not there succeeds, as on AWS. Returns
    /// the id of the key pair deleted.
    pub async fn delete_key_pair(
        &self,
        account_id: &str,
        name: Option<String>,
        key_pair_id: Option<String>,
    ) -> Result<Option<String>, EngineError> {
        let mode = self.mode();
        if name.is_none() && key_pair_id.is_none() {
            return Err(EngineError::InvalidParameterCombination(
                "Either KeyName or KeyPairId must be specified.".into(),
            ));
        }
        let account = account_id.to_owned();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    let deleted =
                        rows::delete(conn, &account, name.as_deref(), key_pair_id.as_deref())?;
                    if let Some(row) = &deleted {
                        tag_rows::delete_everyones(conn, &row.key_pair_id)?;
                    }
                    Ok::<_, EngineError>(deleted.map(|r| r.key_pair_id))
                })
            })
            .await
    }
}
