//! Tags as every resource carries them: the tag type, AWS's limits, TagSpecification on
//! create calls, and the tag sets read with a resource. The actions on tags are tagging.rs.

use std::collections::HashMap;

use super::ids::Kind;
use super::EngineError;
use crate::store::tags::{self as rows, TagRow};
use crate::store::DbConnection;

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
