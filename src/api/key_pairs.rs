//! CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, tag_set, tag_specifications};
use super::Principal;
use crate::engine::key_pairs::KeyPair;
use crate::engine::tags::tags_for;
use crate::engine::Engine;

pub async fn create_key_pair(
    engine: &Engine,
    who: &Principal,
    req: input::CreateKeyPairRequest,
) -> Result<output::KeyPair, ApiError> {
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "key-pair")?;
    let key_type = req.key_type.unwrap_or_else(|| "rsa".into());
    let key_format = req.key_format.unwrap_or_else(|| "pem".into());
    let created = engine
        .create_key_pair(&who.account_id, &req.key_name, &key_type, &key_format, tags)
        .await?;
    let key_pair = created.key_pair;
    Ok(output::KeyPair {
        key_pair_id: Some(key_pair.row.key_pair_id),
        key_name: Some(key_pair.row.key_name),
        key_fingerprint: Some(key_pair.row.fingerprint),
        key_material: Some(created.private_pem.trim_end().to_owned()),
        tags: tag_set(key_pair.tags),
    })
}

pub async fn import_key_pair(
    engine: &Engine,
    who: &Principal,
    req: input::ImportKeyPairRequest,
) -> Result<output::ImportKeyPairResult, ApiError> {
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "key-pair")?;
    // SDKs base64 the blob; a client that sent the key text itself still gets it read.
    let encoded = req.public_key_material;
    let material = STANDARD
        .decode(encoded.trim())
        .unwrap_or_else(|_| encoded.into_bytes());
    let key_pair = engine
        .import_key_pair(&who.account_id, &req.key_name, &material, tags)
        .await?;
    Ok(output::ImportKeyPairResult {
        key_fingerprint: Some(key_pair.row.fingerprint),
        key_name: Some(key_pair.row.key_name),
        key_pair_id: Some(key_pair.row.key_pair_id),
        tags: tag_set(key_pair.tags),
    })
}

fn key_pair_info(key_pair: KeyPair, include_public_key: bool) -> output::KeyPairInfo {
    let row = key_pair.row;
    output::KeyPairInfo {
        key_pair_id: Some(row.key_pair_id),
        key_type: Some(row.key_type),
        tags: tag_set(key_pair.tags),
        public_key: include_public_key.then_some(row.public_key),
        create_time: Some(row.created_at),
        key_name: Some(row.key_name),
        key_fingerprint: Some(row.fingerprint),
    }
}

pub async fn describe_key_pairs(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeKeyPairsRequest,
) -> Result<output::DescribeKeyPairsResult, ApiError> {
    let include_public_key = req.include_public_key.unwrap_or(false);
    let key_pairs = engine
        .describe_key_pairs(
            &who.account_id,
            req.key_names,
            req.key_pair_ids,
            filters(req.filters)?,
        )
        .await?;
    Ok(output::DescribeKeyPairsResult {
        key_pairs: Some(
            key_pairs
                .into_iter()
                .map(|k| key_pair_info(k, include_public_key))
                .collect(),
        ),
    })
}

pub async fn delete_key_pair(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteKeyPairRequest,
) -> Result<output::DeleteKeyPairResult, ApiError> {
    let key_pair_id = engine
        .delete_key_pair(&who.account_id, req.key_name, req.key_pair_id)
        .await?;
    Ok(output::DeleteKeyPairResult {
        return_: Some(true),
        key_pair_id,
    })
}
