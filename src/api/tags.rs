//! CreateTags, DeleteTags, DescribeTags.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, page, tags};
use super::Principal;
use crate::engine::tags::{Tag, TagDescription};
use crate::engine::Engine;

fn tag_description(t: TagDescription) -> output::TagDescription {
    output::TagDescription {
        resource_id: Some(t.resource_id),
        resource_type: Some(t.resource_type),
        key: Some(t.key),
        value: Some(t.value),
    }
}

pub async fn create_tags(
    engine: &Engine,
    who: &Principal,
    req: input::CreateTagsRequest,
) -> Result<(), ApiError> {
    let tags: Vec<Tag> = tags(req.tags)?
        .into_iter()
        .map(|(key, value)| Tag {
            key,
            value: value.unwrap_or_default(),
        })
        .collect();
    for tag in &tags {
        crate::engine::tags::check_tag(tag)?;
    }
    Ok(engine
        .create_tags(&who.account_id, req.resources, tags)
        .await?)
}

pub async fn delete_tags(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteTagsRequest,
) -> Result<(), ApiError> {
    let tags = tags(req.tags)?;
    Ok(engine
        .delete_tags(&who.account_id, req.resources, tags)
        .await?)
}

pub async fn describe_tags(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeTagsRequest,
) -> Result<output::DescribeTagsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (tags, next_token) = engine
        .describe_tags(&who.account_id, filters(req.filters)?, page)
        .await?;
    Ok(output::DescribeTagsResult {
        tags: Some(tags.into_iter().map(tag_description).collect()),
        next_token,
    })
}
