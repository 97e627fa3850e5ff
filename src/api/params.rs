//! Typed reads of an action's parameters. Every read marks its keys, so that whatever no
//! read asked for is answered with `UnknownParameter`, as EC2 does.

use super::error::ApiError;
use crate::engine::filter::Filter;
use crate::engine::paging::Page;
use crate::engine::tags::{Tag, TagSpecification};

pub struct Params {
    pairs: Vec<(String, String)>,
    used: Vec<bool>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        let used = vec![false; pairs.len()];
        Params { pairs, used }
    }

    /// The value of `name`, if sent; the first wins if sent twice.
    pub fn string(&mut self, name: &str) -> Option<String> {
        let mut found = None;
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if key == name {
                self.used[i] = true;
                if found.is_none() {
                    found = Some(value.clone());
                }
            }
        }
        found
    }

    pub fn required(&mut self, name: &str) -> Result<String, ApiError> {
        self.string(name)
            .ok_or_else(|| ApiError::MissingParameter(name.to_owned()))
    }

    /// `true` or `false`, in any case.
    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::InvalidParameterValue(format!(
                "Invalid value '{v}' for {name}. Expected a boolean: 'true' or 'false'."
            ))),
        }
    }

    pub fn int(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.string(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::InvalidParameterValue(format!(
                    "Invalid value '{v}' for {name}. Expected an integer."
                ))
            }),
        }
    }

    /// `Name.1`, `Name.2`, ... in index order.
    pub fn list(&mut self, name: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = Vec::new();
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            if let Some(index) = key
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|n| n.parse::<u32>().ok())
            {
                self.used[i] = true;
                items.push((index, value.clone()));
            }
        }
        items.sort_by_key(|(index, _)| *index);
        items.into_iter().map(|(_, value)| value).collect()
    }

    /// `Filter.N.Name` with `Filter.N.Value.M`, in index order.
    pub fn filters(&mut self) -> Result<Vec<Filter>, ApiError> {
        let mut names: Vec<(u32, String)> = Vec::new();
        let mut values: Vec<(u32, u32, String)> = Vec::new();
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            let Some(rest) = key.strip_prefix("Filter.") else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            if field == "Name" {
                self.used[i] = true;
                names.push((n, value.clone()));
            } else if let Some(m) = field
                .strip_prefix("Value.")
                .and_then(|m| m.parse::<u32>().ok())
            {
                self.used[i] = true;
                values.push((n, m, value.clone()));
            }
        }
        names.sort_by_key(|(n, _)| *n);
        values.sort_by_key(|(n, m, _)| (*n, *m));
        if let Some((n, _, _)) = values
            .iter()
            .find(|(n, _, _)| !names.iter().any(|(k, _)| k == n))
        {
            return Err(ApiError::MissingParameter(format!("Filter.{n}.Name")));
        }
        Ok(names
            .into_iter()
            .map(|(n, name)| Filter {
                name,
                values: values
                    .iter()
                    .filter(|(k, _, _)| *k == n)
                    .map(|(_, _, v)| v.clone())
                    .collect(),
            })
            .collect())
    }

    /// `Prefix.N.Field...` grouped by N in index order, each group's (field, value) pairs in
    /// arrival order; the fields are the callers to check.
    pub fn groups(&mut self, prefix: &str) -> Vec<(u32, Vec<(String, String)>)> {
        let mut groups: Vec<(u32, Vec<(String, String)>)> = Vec::new();
        for (i, (key, value)) in self.pairs.iter().enumerate() {
            let Some((n, field)) = key
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.split_once('.'))
            else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            self.used[i] = true;
            match groups.iter_mut().find(|(k, _)| *k == n) {
                Some((_, fields)) => fields.push((field.to_owned(), value.clone())),
                None => groups.push((n, vec![(field.to_owned(), value.clone())])),
            }
        }
        groups.sort_by_key(|(n, _)| *n);
        groups
    }

    /// `Tag.N.Key` / `Tag.N.Value` under `prefix` (e.g. `Tag` or `TagSpecification.1.Tag`);
    /// the value is None when not sent, which DeleteTags tells apart from empty.
    pub fn tags(&mut self, prefix: &str) -> Result<Vec<(String, Option<String>)>, ApiError> {
        let mut tags = Vec::new();
        for (n, fields) in self.groups(prefix) {
            let mut key = None;
            let mut value = None;
            for (field, v) in fields {
                match field.as_str() {
                    "Key" => key = Some(v),
                    "Value" => value = Some(v),
                    _ => return Err(ApiError::UnknownParameter(format!("{prefix}.{n}.{field}"))),
                }
            }
            let key = key.ok_or_else(|| ApiError::MissingParameter(format!("{prefix}.{n}.Key")))?;
            tags.push((key, value));
        }
        Ok(tags)
    }

    /// `TagSpecification.N` with `ResourceType` and `Tag.M.Key` / `Tag.M.Value`.
    pub fn tag_specifications(&mut self) -> Result<Vec<TagSpecification>, ApiError> {
        let mut specs = Vec::new();
        for (n, fields) in self.groups("TagSpecification") {
            let mut resource_type = None;
            let mut tags: Vec<(u32, Option<String>, Option<String>)> = Vec::new();
            for (field, value) in fields {
                if field == "ResourceType" {
                    resource_type = Some(value);
                    continue;
                }
                let parsed = field
                    .strip_prefix("Tag.")
                    .and_then(|rest| rest.split_once('.'))
                    .and_then(|(m, f)| m.parse::<u32>().ok().map(|m| (m, f.to_owned())));
                let Some((m, f)) = parsed else {
                    return Err(ApiError::UnknownParameter(format!(
                        "TagSpecification.{n}.{field}"
                    )));
                };
                let slot = match tags.iter().position(|(k, _, _)| *k == m) {
                    Some(i) => i,
                    None => {
                        tags.push((m, None, None));
                        tags.len() - 1
                    }
                };
                match f.as_str() {
                    "Key" => tags[slot].1 = Some(value),
                    "Value" => tags[slot].2 = Some(value),
                    _ => {
                        return Err(ApiError::UnknownParameter(format!(
                            "TagSpecification.{n}.Tag.{m}.{f}"
                        )))
                    }
                }
            }
            tags.sort_by_key(|(m, _, _)| *m);
            let resource_type = resource_type.ok_or_else(|| {
                ApiError::MissingParameter(format!("TagSpecification.{n}.ResourceType"))
            })?;
            let mut list = Vec::new();
            for (m, key, value) in tags {
                let key = key.ok_or_else(|| {
                    ApiError::MissingParameter(format!("TagSpecification.{n}.Tag.{m}.Key"))
                })?;
                list.push(Tag {
                    key,
                    value: value.unwrap_or_default(),
                });
            }
            specs.push(TagSpecification {
                resource_type,
                tags: list,
            });
        }
        Ok(specs)
    }

    /// `MaxResults` (within AWS's bounds for the action) and `NextToken`.
    pub fn page(&mut self, min: i64, max: i64) -> Result<Page, ApiError> {
        let max_results = self.int("MaxResults")?;
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
            next_token: self.string("NextToken").filter(|t| !t.is_empty()),
        })
    }

    /// `DryRun`, false unless sent as true.
    pub fn dry_run(&mut self) -> Result<bool, ApiError> {
        Ok(self.bool("DryRun")?.unwrap_or(false))
    }

    /// Fails on the first parameter no read asked for.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.used.iter().position(|used| !used) {
            Some(i) => {
                let key = &self.pairs[i].0;
                Err(ApiError::UnknownParameter(key.clone()))
            }
            None => Ok(()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn lists_are_ordered_by_index_not_by_arrival() {
        let mut p = params(&[
            ("RegionName.2", "b"),
            ("RegionName.10", "c"),
            ("RegionName.1", "a"),
        ]);
        assert_eq!(p.list("RegionName"), vec!["a", "b", "c"]);
        assert!(p.finish().is_ok());
    }

    #[test]
    fn filters_group_values_under_their_name() {
        let mut p = params(&[
            ("Filter.2.Name", "state"),
            ("Filter.1.Value.2", "b*"),
            ("Filter.1.Name", "zone-name"),
            ("Filter.1.Value.1", "a"),
            ("Filter.2.Value.1", "available"),
        ]);
        assert_eq!(
            p.filters().unwrap(),
            vec![
                Filter {
                    name: "zone-name".into(),
                    values: vec!["a".into(), "b*".into()]
                },
                Filter {
                    name: "state".into(),
                    values: vec!["available".into()]
                },
            ]
        );
        assert!(p.finish().is_ok());
    }

    #[test]
    fn a_filter_value_without_a_name_is_missing_its_name() {
        let mut p = params(&[("Filter.3.Value.1", "x")]);
        assert!(matches!(p.filters(), Err(ApiError::MissingParameter(n)) if n == "Filter.3.Name"));
    }

    #[test]
    fn whatever_is_not_read_is_unknown() {
        let mut p = params(&[("DryRun", "false"), ("Bogus", "1"), ("Filter.1.Foo", "x")]);
        assert!(!p.dry_run().unwrap());
        p.filters().unwrap();
        assert!(matches!(p.finish(), Err(ApiError::UnknownParameter(k)) if k == "Bogus"));
    }

    #[test]
    fn tag_specifications_are_read_whole() {
        let mut p = params(&[
            ("TagSpecification.1.ResourceType", "key-pair"),
            ("TagSpecification.1.Tag.2.Key", "env"),
            ("TagSpecification.1.Tag.2.Value", "lab"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", ""),
        ]);
        assert_eq!(
            p.tag_specifications().unwrap(),
            vec![TagSpecification {
                resource_type: "key-pair".into(),
                tags: vec![
                    Tag {
                        key: "Name".into(),
                        value: "".into()
                    },
                    Tag {
                        key: "env".into(),
                        value: "lab".into()
                    },
                ],
            }]
        );
        assert!(p.finish().is_ok());
        let mut p = params(&[("TagSpecification.1.Tag.1.Key", "Name")]);
        assert_eq!(
            p.tag_specifications().unwrap_err().message(),
            "The request must contain the parameter TagSpecification.1.ResourceType"
        );
    }

    #[test]
    fn tags_tell_absent_values_from_empty_ones() {
        let mut p = params(&[("Tag.1.Key", "a"), ("Tag.2.Key", "b"), ("Tag.2.Value", "")]);
        assert_eq!(
            p.tags("Tag").unwrap(),
            vec![
                ("a".to_owned(), None),
                ("b".to_owned(), Some(String::new()))
            ]
        );
    }

    #[test]
    fn max_results_has_bounds() {
        let mut p = params(&[("MaxResults", "4"), ("NextToken", "t")]);
        assert_eq!(
            p.page(5, 1000).unwrap_err().message(),
            "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."
        );
        let mut p = params(&[("MaxResults", "5"), ("NextToken", "t")]);
        assert_eq!(
            p.page(5, 1000).unwrap(),
            Page {
                max_results: Some(5),
                next_token: Some("t".into())
            }
        );
        let mut p = params(&[("MaxResults", "1001")]);
        assert!(p.page(5, 1000).is_err());
    }

    #[test]
    fn typed_values_are_checked() {
        let mut p = params(&[
            ("DryRun", "TRUE"),
            ("AllRegions", "yes"),
            ("MaxResults", "x"),
        ]);
        assert_eq!(p.bool("DryRun").unwrap(), Some(true));
        assert_eq!(
            p.bool("AllRegions").unwrap_err().message(),
            "Invalid value 'yes' for AllRegions. Expected a boolean: 'true' or 'false'."
        );
        assert_eq!(
            p.int("MaxResults").unwrap_err().code(),
            "InvalidParameterValue"
        );
        assert_eq!(p.int("Absent").unwrap(), None);
        assert_eq!(
            p.required("ImageId").unwrap_err().message(),
            "The request must contain the parameter ImageId"
        );
    }
}
