//! CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::shapes::{tag_set, TagItem};
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::key_pairs::KeyPair;
use crate::engine::tags::{tags_for, TagSpecification};
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyPair {
    pub dry_run: bool,
    pub key_name: String,
    pub key_type: String,
    pub key_format: String,
    pub tag_specifications: Vec<TagSpecification>,
}

impl CreateKeyPair {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(CreateKeyPair {
            key_name: p.required("KeyName")?,
            key_type: p.string("KeyType").unwrap_or_else(|| "rsa".into()),
            key_format: p.string("KeyFormat").unwrap_or_else(|| "pem".into()),
            tag_specifications: p.tag_specifications()?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKeyPair {
    pub dry_run: bool,
    pub key_name: String,
    /// The public key itself, decoded from the base64 botocore sends.
    pub material: Vec<u8>,
    pub tag_specifications: Vec<TagSpecification>,
}

impl ImportKeyPair {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let key_name = p.required("KeyName")?;
        let encoded = p.required("PublicKeyMaterial")?;
        // SDKs base64 the blob; a client that sent the key text itself still gets it read.
        let material = STANDARD
            .decode(encoded.trim())
            .unwrap_or_else(|_| encoded.into_bytes());
        Ok(ImportKeyPair {
            key_name,
            material,
            tag_specifications: p.tag_specifications()?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeKeyPairs {
    pub dry_run: bool,
    pub key_names: Vec<String>,
    pub key_pair_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub include_public_key: bool,
}

impl DescribeKeyPairs {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeKeyPairs {
            key_names: p.list("KeyName"),
            key_pair_ids: p.list("KeyPairId"),
            filters: p.filters()?,
            include_public_key: p.bool("IncludePublicKey")?.unwrap_or(false),
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteKeyPair {
    pub dry_run: bool,
    pub key_name: Option<String>,
    pub key_pair_id: Option<String>,
}

impl DeleteKeyPair {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DeleteKeyPair {
            key_name: p.string("KeyName"),
            key_pair_id: p.string("KeyPairId"),
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct CreateKeyPairResult {
    #[serde(rename = "keyPairId")]
    key_pair_id: String,
    #[serde(rename = "keyName")]
    key_name: String,
    #[serde(rename = "keyFingerprint")]
    key_fingerprint: String,
    #[serde(rename = "keyMaterial")]
    key_material: String,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
}

#[derive(Debug, Serialize)]
pub struct ImportKeyPairResult {
    #[serde(rename = "keyFingerprint")]
    key_fingerprint: String,
    #[serde(rename = "keyName")]
    key_name: String,
    #[serde(rename = "keyPairId")]
    key_pair_id: String,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
}

#[derive(Debug, Serialize)]
pub struct DescribeKeyPairsResult {
    #[serde(rename = "keySet")]
    key_set: Items<KeyPairItem>,
}

#[derive(Debug, Serialize)]
struct KeyPairItem {
    #[serde(rename = "keyPairId")]
    key_pair_id: String,
    #[serde(rename = "keyType")]
    key_type: String,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(rename = "createTime")]
    create_time: String,
    #[serde(rename = "keyName")]
    key_name: String,
    #[serde(rename = "keyFingerprint")]
    key_fingerprint: String,
}

#[derive(Debug, Serialize)]
pub struct DeleteKeyPairResult {
    #[serde(rename = "return")]
    value: bool,
    #[serde(rename = "keyPairId", skip_serializing_if = "Option::is_none")]
    key_pair_id: Option<String>,
}

pub async fn create_key_pair(
    engine: &Engine,
    who: &Principal,
    req: CreateKeyPair,
) -> Result<CreateKeyPairResult, ApiError> {
    let tags = tags_for(&req.tag_specifications, "key-pair")?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    let created = engine
        .create_key_pair(
            &who.account_id,
            &req.key_name,
            &req.key_type,
            &req.key_format,
            tags,
        )
        .await?;
    let key_pair = created.key_pair;
    Ok(CreateKeyPairResult {
        key_pair_id: key_pair.row.key_pair_id,
        key_name: key_pair.row.key_name,
        key_fingerprint: key_pair.row.fingerprint,
        key_material: created.private_pem.trim_end().to_owned(),
        tag_set: tag_set(key_pair.tags),
    })
}

pub async fn import_key_pair(
    engine: &Engine,
    who: &Principal,
    req: ImportKeyPair,
) -> Result<ImportKeyPairResult, ApiError> {
    let tags = tags_for(&req.tag_specifications, "key-pair")?;
    if req.dry_run {
        crate::engine::keys::parse_public_key(&req.material)
            .map_err(crate::engine::EngineError::from)?;
        return Err(ApiError::DryRunOperation);
    }
    let key_pair = engine
        .import_key_pair(&who.account_id, &req.key_name, &req.material, tags)
        .await?;
    Ok(ImportKeyPairResult {
        key_fingerprint: key_pair.row.fingerprint,
        key_name: key_pair.row.key_name,
        key_pair_id: key_pair.row.key_pair_id,
        tag_set: tag_set(key_pair.tags),
    })
}

fn key_pair_item(key_pair: KeyPair, include_public_key: bool) -> KeyPairItem {
    let row = key_pair.row;
    KeyPairItem {
        key_pair_id: row.key_pair_id,
        key_type: row.key_type,
        tag_set: tag_set(key_pair.tags),
        public_key: include_public_key.then_some(row.public_key),
        create_time: row.created_at,
        key_name: row.key_name,
        key_fingerprint: row.fingerprint,
    }
}

pub async fn describe_key_pairs(
    engine: &Engine,
    who: &Principal,
    req: DescribeKeyPairs,
) -> Result<DescribeKeyPairsResult, ApiError> {
    let key_pairs = engine
        .describe_key_pairs(
            &who.account_id,
            req.key_names,
            req.key_pair_ids,
            req.filters,
        )
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeKeyPairsResult {
        key_set: key_pairs
            .into_iter()
            .map(|k| key_pair_item(k, req.include_public_key))
            .collect::<Vec<_>>()
            .into(),
    })
}

pub async fn delete_key_pair(
    engine: &Engine,
    who: &Principal,
    req: DeleteKeyPair,
) -> Result<DeleteKeyPairResult, ApiError> {
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    let key_pair_id = engine
        .delete_key_pair(&who.account_id, req.key_name, req.key_pair_id)
        .await?;
    Ok(DeleteKeyPairResult {
        value: true,
        key_pair_id,
    })
}
