//! Tags on any taggable resource: CreateTags, DeleteTags, DescribeTags, TagSpecification on
//! create calls, with AWS's limits.

use std::collections::HashMap;

use super::filter::{first_unknown, Filter};
use super::ids::{self, Kind};
use super::network::{default_network, DefaultNetwork};
use super::paging::Page;
use super::{Engine, EngineError};
use crate::store::tags::{self as rows, TagRow};
use crate::store::{images, key_pairs, DbConnection};

pub const MAX_TAGS: usize = 50;
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// `TagSpecification.N`: tags for the resource a create call makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpecification {
    pub resource_type: String,
    pub tags: Vec<Tag>,
}

/// One tag as DescribeTags lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDescription {
    pub resource_id: String,
    pub resource_type: String,
    pub key: String,
    pub value: String,
}

const FILTERS: &[&str] = &["key", "value", "resource-id", "resource-type"];

/// AWS's rules for one tag: 1 to 128 characters of key, up to 256 of value, no `aws:` prefix.
pub fn check_tag(tag: &Tag) -> Result<(), EngineError> {
    if tag.key.starts_with("aws:") {
        return Err(EngineError::InvalidParameterValue(format!(
            "Value ( {} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use",
            tag.key
        )));
    }
    let key_chars = tag.key.chars().count();
    if key_chars == 0 || key_chars > MAX_KEY_CHARS {
        return Err(EngineError::InvalidParameterValue(
            "Tag keys must be between 1 and 128 characters in length.".into(),
        ));
    }
    if tag.value.chars().count() > MAX_VALUE_CHARS {
        return Err(EngineError::InvalidParameterValue(
            "Tag values must be no longer than 256 characters.".into(),
        ));
    }
    Ok(())
}

/// The tags of the specifications for `resource_type`, checked; any other type is refused,
/// as AWS refuses a type the action cannot tag.
pub fn tags_for(specs: &[TagSpecification], resource_type: &str) -> Result<Vec<Tag>, EngineError> {
    let mut tags: Vec<Tag> = Vec::new();
    for spec in specs {
        if spec.resource_type != resource_type {
            return Err(EngineError::InvalidParameterValue(format!(
                "'{}' is not a valid taggable resource type for this operation.",
                spec.resource_type
            )));
        }
        for tag in &spec.tags {
            check_tag(tag)?;
            tags.retain(|t| t.key != tag.key);
            tags.push(tag.clone());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(EngineError::TagLimitExceeded);
    }
    Ok(tags)
}

/// Rows for the tags of one new resource.
pub fn rows_for(account_id: &str, kind: Kind, resource_id: &str, tags: &[Tag]) -> Vec<TagRow> {
    tags.iter()
        .map(|t| TagRow {
            resource_id: resource_id.to_owned(),
            tag_key: t.key.clone(),
            tag_value: t.value.clone(),
            account_id: account_id.to_owned(),
            resource_type: kind.resource_type().to_owned(),
        })
        .collect()
}

/// The tags an account put on each of the given resources, keyed by id, in key order.
pub fn tag_sets(
    conn: &mut DbConnection,
    account_id: &str,
    ids: &[String],
) -> Result<HashMap<String, Vec<Tag>>, EngineError> {
    let mut sets: HashMap<String, Vec<Tag>> = HashMap::new();
    for row in rows::of_resources(conn, account_id, ids)? {
        sets.entry(row.resource_id).or_default().push(Tag {
            key: row.tag_key,
            value: row.tag_value,
        });
    }
    Ok(sets)
}

/// The kind of a resource the caller may tag (its own, or an image shared with it), or why
/// it cannot be tagged.
fn taggable(
    conn: &mut DbConnection,
    account_id: &str,
    network: &DefaultNetwork,
    id: &str,
) -> Result<Kind, EngineError> {
    let kind = Kind::of(id).ok_or_else(|| EngineError::InvalidId(id.to_owned()))?;
    if !ids::is_well_formed(kind, id) {
        return Err(EngineError::InvalidId(id.to_owned()));
    }
    let allowed = match kind {
        Kind::Image => match images::find(conn, id)?.filter(|i| i.state != "deregistered") {
            Some(image) => images::may_launch(conn, &image, account_id)?,
            None => false,
        },
        Kind::KeyPair => key_pairs::find(conn, id)?.is_some_and(|k| k.account_id == account_id),
        Kind::Instance => crate::store::instances::find(conn, id)?
            .is_some_and(|i| i.account_id == account_id && i.state != "terminated"),
        Kind::Volume => crate::store::volumes::find(conn, id)?
            .is_some_and(|v| v.account_id == account_id && v.state != "deleted"),
        Kind::Vpc | Kind::Subnet | Kind::SecurityGroup => network.contains(id),
        Kind::Reservation => false,
    };
    if allowed {
        Ok(kind)
    } else {
        Err(EngineError::NotFound {
            kind,
            ids: vec![id.to_owned()],
        })
    }
}

impl Engine {
    /// CreateTags: all or nothing, across every resource named.
    pub async fn create_tags(
        &self,
        account_id: &str,
        resource_ids: Vec<String>,
        tags: Vec<Tag>,
    ) -> Result<(), EngineError> {
        for tag in &tags {
            check_tag(tag)?;
        }
        let network = default_network(self.settings(), account_id);
        let account_id = account_id.to_owned();
        self.store()
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| {
                    for id in &resource_ids {
                        let kind = taggable(conn, &account_id, &network, id)?;
                        let mut keys = rows::keys_of(conn, &account_id, id)?;
                        keys.extend(tags.iter().map(|t| t.key.clone()));
                        keys.sort_unstable();
                        keys.dedup();
                        if keys.len() > MAX_TAGS {
                            return Err(EngineError::TagLimitExceeded);
                        }
                        rows::put(conn, &rows_for(&account_id, kind, id, &tags))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// DeleteTags: each (key, optional value) from every resource named; no keys means every
    /// tag of those resources.
    pub async fn delete_tags(
        &self,
        account_id: &str,
        resource_ids: Vec<String>,
        tags: Vec<(String, Option<String>)>,
    ) -> Result<(), EngineError> {
        let network = default_network(self.settings(), account_id);
        let account_id = account_id.to_owned();
        self.store()
            .run(move |conn| {
                crate::store::write_transaction(conn, |conn| {
                    for id in &resource_ids {
                        taggable(conn, &account_id, &network, id)?;
                        if tags.is_empty() {
                            rows::delete(conn, &account_id, id, None, None)?;
                        }
                        for (key, value) in &tags {
                            rows::delete(conn, &account_id, id, Some(key), value.as_deref())?;
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    /// DescribeTags: the caller's tags, filtered and paged in the database.
    pub async fn describe_tags(
        &self,
        account_id: &str,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<TagDescription>, Option<String>), EngineError> {
        let tag_filter = |f: &Filter| f.name.starts_with("tag:");
        let plain: Vec<Filter> = filters.iter().filter(|f| !tag_filter(f)).cloned().collect();
        if let Some(name) = first_unknown(&plain, FILTERS) {
            return Err(EngineError::UnknownFilter(name.to_owned()));
        }
        let scope = format!("DescribeTags/{account_id}");
        let (after, limit) = self.pager().start(&scope, &page)?;
        let after = after
            .map(|p| {
                p.split_once('\n')
                    .map(|(id, key)| (id.to_owned(), key.to_owned()))
                    .ok_or(EngineError::InvalidNextToken)
            })
            .transpose()?;
        let account = account_id.to_owned();
        let rows = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                Ok(rows::describe(conn, &account, &filters, after, limit)?)
            })
            .await?;
        let (rows, token) = self.pager().finish(&scope, &page, rows, |r| {
            format!("{}\n{}", r.resource_id, r.tag_key)
        });
        Ok((
            rows.into_iter()
                .map(|r| TagDescription {
                    resource_id: r.resource_id,
                    resource_type: r.resource_type,
                    key: r.tag_key,
                    value: r.tag_value,
                })
                .collect(),
            token,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn limits_are_awss() {
        assert!(check_tag(&tag(&"k".repeat(128), &"v".repeat(256))).is_ok());
        assert!(check_tag(&tag(&"k".repeat(129), "")).is_err());
        assert!(check_tag(&tag("", "v")).is_err());
        assert!(check_tag(&tag("k", &"v".repeat(257))).is_err());
        let err = check_tag(&tag("aws:owner", "x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Value ( aws:owner ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"
        );
    }

    #[test]
    fn specifications_merge_and_count() {
        let spec = |tags: Vec<Tag>| TagSpecification {
            resource_type: "key-pair".into(),
            tags,
        };
        let merged = tags_for(&[spec(vec![tag("a", "1"), tag("a", "2")])], "key-pair").unwrap();
        assert_eq!(merged, vec![tag("a", "2")]);
        let fifty_one: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "")).collect();
        assert!(matches!(
            tags_for(&[spec(fifty_one)], "key-pair"),
            Err(EngineError::TagLimitExceeded)
        ));
        assert_eq!(
            tags_for(&[spec(vec![])], "instance")
                .unwrap_err()
                .to_string(),
            "'key-pair' is not a valid taggable resource type for this operation."
        );
    }
}
