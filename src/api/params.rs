//! The checks many actions share, from generated requests to the engine's values: filters,
//! pages, tag specifications, DryRun.

use super::error::ApiError;
use super::generated::{input, output};
use crate::engine::paging::Page;
use crate::engine::tags::{Tag, TagSpecification};
use crate::filter::Filter;

/// `Filter.N.Name` with `Filter.N.Value.M`; a filter without its name is missing it.
pub fn filters(filters: Vec<input::Filter>) -> Result<Vec<Filter>, ApiError> {
    filters
        .into_iter()
        .enumerate()
        .map(|(i, f)| match f.name {
            Some(name) => Ok(Filter {
                name,
                values: f.values,
            }),
            None => Err(ApiError::MissingParameter(format!("Filter.{}.Name", i + 1))),
        })
        .collect()
}

/// `MaxResults` (within AWS's bounds for the action) and `NextToken`.
pub fn page(
    max_results: Option<i32>,
    next_token: Option<String>,
    min: i64,
    max: i64,
) -> Result<Page, ApiError> {
    let max_results = max_results.map(i64::from);
    if let Some(n) = max_results {
        if n < min {
            return Err(ApiError::InvalidParameterValue(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Expecting a value greater than {min}."
            )));
        }
        if n > max {
            return Err(ApiError::InvalidParameterValue(format!(
                "Value ( {n} ) for parameter maxResults is invalid. Expecting a value less than {max}."
            )));
        }
    }
    Ok(Page {
        max_results,
        next_token: next_token.filter(|t| !t.is_empty()),
    })
}

/// EC2 answers for named ids or pages a listing, not both: MaxResults beside ids is refused,
/// naming the id list as EC2's message does (`instancesSet`).
pub fn refuse_ids_with_max_results(ids: &[String], page: &Page, set: &str) -> Result<(), ApiError> {
    if !ids.is_empty() && page.max_results.is_some() {
        return Err(ApiError::InvalidParameterCombination(format!(
            "The parameter {set} cannot be used with the parameter maxResults"
        )));
    }
    Ok(())
}

/// `TagSpecification.N` with `ResourceType` and `Tag.M.Key` / `Tag.M.Value` (empty if absent).
pub fn tag_specifications(
    specs: Vec<input::TagSpecification>,
) -> Result<Vec<TagSpecification>, ApiError> {
    let mut out = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let n = i + 1;
        let mut tags = Vec::with_capacity(spec.tags.len());
        for (j, tag) in spec.tags.into_iter().enumerate() {
            let key = tag.key.ok_or_else(|| {
                ApiError::MissingParameter(format!("TagSpecification.{n}.Tag.{}.Key", j + 1))
            })?;
            tags.push(Tag {
                key,
                value: tag.value.unwrap_or_default(),
            });
        }
        let resource_type = spec.resource_type.ok_or_else(|| {
            ApiError::MissingParameter(format!("TagSpecification.{n}.ResourceType"))
        })?;
        out.push(TagSpecification {
            resource_type,
            tags,
        });
    }
    Ok(out)
}

/// `Tag.N.Key` / `Tag.N.Value`; the value is None when not sent, which DeleteTags tells apart
/// from empty.
pub fn tags(tags: Vec<input::Tag>) -> Result<Vec<(String, Option<String>)>, ApiError> {
    tags.into_iter()
        .enumerate()
        .map(|(i, t)| match t.key {
            Some(key) => Ok((key, t.value)),
            None => Err(ApiError::MissingParameter(format!("Tag.{}.Key", i + 1))),
        })
        .collect()
}

/// A `tagSet`.
pub fn tag_set(tags: Vec<Tag>) -> Option<Vec<output::Tag>> {
    Some(
        tags.into_iter()
            .map(|t| output::Tag {
                key: Some(t.key),
                value: Some(t.value),
            })
            .collect(),
    )
}

/// An attribute answer's `<x><value>..</value></x>`.
pub fn attribute_value(v: impl Into<String>) -> Option<output::AttributeValue> {
    Some(output::AttributeValue {
        value: Some(v.into()),
    })
}

/// `<x><value>true</value></x>`.
pub fn attribute_flag(v: bool) -> Option<output::AttributeBooleanValue> {
    Some(output::AttributeBooleanValue { value: Some(v) })
}

/// An attribute element with nothing in it: the resource has no such value.
pub fn empty_attribute() -> Option<output::AttributeValue> {
    Some(output::AttributeValue::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_without_a_name_is_missing_its_name() {
        let got = filters(vec![
            input::Filter {
                name: Some("a".into()),
                values: vec!["x".into()],
            },
            input::Filter {
                name: None,
                values: vec!["y".into()],
            },
        ]);
        assert_eq!(
            got.unwrap_err().message(),
            "The request must contain the parameter Filter.2.Name"
        );
    }

    #[test]
    fn max_results_has_bounds() {
        assert_eq!(
            page(Some(4), Some("t".into()), 5, 1000)
                .unwrap_err()
                .message(),
            "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."
        );
        assert_eq!(
            page(Some(5), Some("t".into()), 5, 1000).unwrap(),
            Page {
                max_results: Some(5),
                next_token: Some("t".into())
            }
        );
        assert!(page(Some(1001), None, 5, 1000).is_err());
        assert_eq!(
            page(None, Some(String::new()), 5, 1000).unwrap(),
            Page::default()
        );
    }

    #[test]
    fn tag_specifications_need_their_resource_type_and_keys() {
        let spec = |resource_type: Option<&str>, key: Option<&str>| input::TagSpecification {
            resource_type: resource_type.map(str::to_owned),
            tags: vec![input::Tag {
                key: key.map(str::to_owned),
                value: None,
            }],
        };
        assert_eq!(
            tag_specifications(vec![spec(Some("key-pair"), Some("Name"))]).unwrap(),
            vec![TagSpecification {
                resource_type: "key-pair".into(),
                tags: vec![Tag {
                    key: "Name".into(),
                    value: String::new()
                }]
            }]
        );
        assert_eq!(
            tag_specifications(vec![spec(None, Some("Name"))])
                .unwrap_err()
                .message(),
            "The request must contain the parameter TagSpecification.1.ResourceType"
        );
        assert_eq!(
            tag_specifications(vec![spec(Some("key-pair"), None)])
                .unwrap_err()
                .message(),
            "The request must contain the parameter TagSpecification.1.Tag.1.Key"
        );
    }
}
