//! CreateTags, DeleteTags, DescribeTags.

use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::paging::Page;
use crate::engine::tags::{Tag, TagDescription};
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTags {
    pub dry_run: bool,
    pub resource_ids: Vec<String>,
    pub tags: Vec<Tag>,
}

impl CreateTags {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let resource_ids = p.list("ResourceId");
        if resource_ids.is_empty() {
            return Err(ApiError::MissingParameter("ResourceId".into()));
        }
        let tags: Vec<Tag> = p
            .tags("Tag")?
            .into_iter()
            .map(|(key, value)| Tag {
                key,
                value: value.unwrap_or_default(),
            })
            .collect();
        if tags.is_empty() {
            return Err(ApiError::MissingParameter("Tag".into()));
        }
        Ok(CreateTags {
            dry_run: p.dry_run()?,
            resource_ids,
            tags,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTags {
    pub dry_run: bool,
    pub resource_ids: Vec<String>,
    pub tags: Vec<(String, Option<String>)>,
}

impl DeleteTags {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let resource_ids = p.list("ResourceId");
        if resource_ids.is_empty() {
            return Err(ApiError::MissingParameter("ResourceId".into()));
        }
        Ok(DeleteTags {
            dry_run: p.dry_run()?,
            resource_ids,
            tags: p.tags("Tag")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeTags {
    pub dry_run: bool,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeTags {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeTags {
            dry_run: p.dry_run()?,
            filters: p.filters()?,
            page: p.page(5, 1000)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeTagsResult {
    #[serde(rename = "tagSet")]
    tag_set: Items<TagDescriptionItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct TagDescriptionItem {
    #[serde(rename = "resourceId")]
    resource_id: String,
    #[serde(rename = "resourceType")]
    resource_type: String,
    key: String,
    value: String,
}

impl From<TagDescription> for TagDescriptionItem {
    fn from(t: TagDescription) -> Self {
        TagDescriptionItem {
            resource_id: t.resource_id,
            resource_type: t.resource_type,
            key: t.key,
            value: t.value,
        }
    }
}

pub async fn create_tags(
    engine: &Engine,
    who: &Principal,
    req: CreateTags,
) -> Result<(), ApiError> {
    for tag in &req.tags {
        crate::engine::tags::check_tag(tag)?;
    }
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(engine
        .create_tags(&who.account_id, req.resource_ids, req.tags)
        .await?)
}

pub async fn delete_tags(
    engine: &Engine,
    who: &Principal,
    req: DeleteTags,
) -> Result<(), ApiError> {
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(engine
        .delete_tags(&who.account_id, req.resource_ids, req.tags)
        .await?)
}

pub async fn describe_tags(
    engine: &Engine,
    who: &Principal,
    req: DescribeTags,
) -> Result<DescribeTagsResult, ApiError> {
    let (tags, next_token) = engine
        .describe_tags(&who.account_id, req.filters, req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeTagsResult {
        tag_set: tags
            .into_iter()
            .map(TagDescriptionItem::from)
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}
