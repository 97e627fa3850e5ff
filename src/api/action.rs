//! A request's parameters to its typed action: `Action` and `Version` first, then the
//! action's refusals, then its generated parser.

use super::error::ApiError;
use super::generated::actions::Action;
use super::wire::{self, Node};

/// The only API version served: the one every current SDK sends.
pub const VERSION: &str = "2016-11-15";

impl Action {
    /// Reads `Action`, `Version` and the action's own parameters; anything left over is an
    /// `UnknownParameter`. Presigned URLs' `X-Amz-*` parameters belong to the signature.
    pub fn parse(mut pairs: Vec<(String, String)>) -> Result<Action, ApiError> {
        pairs.retain(|(k, _)| !k.starts_with("X-Amz-"));
        let tree = Node::tree(&pairs);
        let name = tree
            .get("Action")
            .filter(|a| !a.is_empty())
            .ok_or(ApiError::MissingAction)?;
        let version = tree
            .get("Version")
            .ok_or_else(|| ApiError::MissingParameter("Version".into()))?;
        if version != VERSION {
            return Err(ApiError::NoSuchVersion(version.to_owned()));
        }
        let refusals =
            Action::refusals(name).ok_or_else(|| ApiError::InvalidAction(name.to_owned()))?;
        wire::refuse(&pairs, refusals)?;
        Action::parse_named(name, &tree.without(&["Action", "Version"])?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::generated::input;
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Action, ApiError> {
        Action::parse(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn parses_a_typed_request() {
        assert_eq!(
            parse(&[
                ("Action", "DescribeRegions"),
                ("Version", "2016-11-15"),
                ("RegionName.2", "b"),
                ("RegionName.10", "c"),
                ("RegionName.1", "a"),
                ("Filter.1.Name", "opt-in-status"),
                ("Filter.1.Value.1", "opt-in-not-required"),
                ("AllRegions", "TRUE"),
            ])
            .unwrap(),
            Action::DescribeRegions(Box::new(input::DescribeRegionsRequest {
                dry_run: None,
                region_names: vec!["a".into(), "b".into(), "c".into()],
                filters: vec![input::Filter {
                    name: Some("opt-in-status".into()),
                    values: vec!["opt-in-not-required".into()]
                }],
                all_regions: Some(true),
            }))
        );
    }

    #[test]
    fn nested_lists_and_structures_are_read_whole() {
        let got = parse(&[
            ("Action", "CreateKeyPair"),
            ("Version", "2016-11-15"),
            ("KeyName", "k"),
            ("TagSpecification.1.ResourceType", "key-pair"),
            ("TagSpecification.1.Tag.2.Key", "env"),
            ("TagSpecification.1.Tag.2.Value", "lab"),
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", ""),
        ])
        .unwrap();
        let Action::CreateKeyPair(req) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            req.tag_specifications,
            vec![input::TagSpecification {
                resource_type: Some("key-pair".into()),
                tags: vec![
                    input::Tag {
                        key: Some("Name".into()),
                        value: Some("".into())
                    },
                    input::Tag {
                        key: Some("env".into()),
                        value: Some("lab".into())
                    },
                ],
            }]
        );
    }

    #[test]
    fn action_and_version_errors_come_in_order() {
        let code = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().code();
        assert_eq!(code(&[("Version", "2016-11-15")]), "MissingAction");
        assert_eq!(
            code(&[("Action", ""), ("Version", "2016-11-15")]),
            "MissingAction"
        );
        assert_eq!(code(&[("Action", "DescribeRegions")]), "MissingParameter");
        assert_eq!(
            code(&[("Action", "DescribeRegions"), ("Version", "2014-01-01")]),
            "NoSuchVersion"
        );
        assert_eq!(
            code(&[("Action", "RunFoo"), ("Version", "2016-11-15")]),
            "InvalidAction"
        );
        assert_eq!(
            parse(&[("Action", "RunFoo"), ("Version", "2016-11-15")])
                .unwrap_err()
                .message(),
            "The action RunFoo is not valid for this web service."
        );
        assert_eq!(
            parse(&[
                ("Action", "DescribeRegions"),
                ("Version", "2016-11-15"),
                ("ImageId.1", "x")
            ])
            .unwrap_err()
            .message(),
            "The parameter ImageId.1 is not recognized"
        );
    }

    #[test]
    fn typed_values_and_required_members_are_checked() {
        let message = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().message();
        assert_eq!(
            message(&[
                ("Action", "DescribeRegions"),
                ("Version", "2016-11-15"),
                ("AllRegions", "yes")
            ]),
            "Invalid value 'yes' for AllRegions. Expected a boolean: 'true' or 'false'."
        );
        assert_eq!(
            message(&[
                ("Action", "DescribeImages"),
                ("Version", "2016-11-15"),
                ("MaxResults", "x")
            ]),
            "Invalid value 'x' for MaxResults. Expected an integer."
        );
        assert_eq!(
            message(&[("Action", "DeleteVolume"), ("Version", "2016-11-15")]),
            "The request must contain the parameter VolumeId"
        );
        assert_eq!(
            message(&[("Action", "TerminateInstances"), ("Version", "2016-11-15")]),
            "The request must contain the parameter InstanceId"
        );
        // A scalar with keys below it, and a list with a key that is no index.
        assert_eq!(
            message(&[
                ("Action", "DeleteVolume"),
                ("Version", "2016-11-15"),
                ("VolumeId.1", "vol-1")
            ]),
            "The parameter VolumeId.1 is not recognized"
        );
        assert_eq!(
            message(&[
                ("Action", "DescribeVolumes"),
                ("Version", "2016-11-15"),
                ("VolumeId.x", "vol-1")
            ]),
            "The parameter VolumeId.x is not recognized"
        );
    }

    #[test]
    fn refused_members_get_their_declared_code() {
        let err = parse(&[
            ("Action", "RunInstances"),
            ("Version", "2016-11-15"),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("NetworkInterface.1.DeviceIndex", "0"),
            ("NetworkInterface.1.Ipv6AddressCount", "1"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "UnsupportedOperation");
        assert_eq!(
            err.message(),
            "The parameter NetworkInterface.1.Ipv6AddressCount is not supported by this gateway."
        );
        let err = parse(&[
            ("Action", "ModifyImageAttribute"),
            ("Version", "2016-11-15"),
            ("ImageId", "ami-1"),
            ("ImdsSupport.Value", "v2.0"),
        ])
        .unwrap_err();
        assert_eq!(
            err.message(),
            "The parameter ImdsSupport.Value is not recognized"
        );
    }

    #[test]
    fn keys_below_action_and_version_are_unknown() {
        let message = |pairs: &[(&str, &str)]| parse(pairs).unwrap_err().message();
        assert_eq!(
            message(&[
                ("Action", "DescribeRegions"),
                ("Action.1", "DescribeImages"),
                ("Version", "2016-11-15"),
            ]),
            "The parameter Action.1 is not recognized"
        );
        assert_eq!(
            message(&[
                ("Action", "DescribeRegions"),
                ("Version", "2016-11-15"),
                ("Version.x", ""),
            ]),
            "The parameter Version.x is not recognized"
        );
    }

    #[test]
    fn a_key_deeper_than_any_member_is_unknown_not_a_crash() {
        let deep = "Filter.1.Name.".repeat(200_000) + "x";
        let err = parse(&[
            ("Action", "DescribeRegions"),
            ("Version", "2016-11-15"),
            (&deep, "x"),
        ])
        .unwrap_err();
        assert_eq!(err.code(), "UnknownParameter");
        assert_eq!(
            err.message(),
            format!("The parameter {deep} is not recognized")
        );
        // Indexes and names mixed in one list: an answer, not a panic of the sort.
        let keys: Vec<String> = (0..100)
            .flat_map(|i| [format!("RegionName.{i}"), format!("RegionName.{i}x")])
            .collect();
        let mut pairs = vec![("Action", "DescribeRegions"), ("Version", "2016-11-15")];
        pairs.extend(keys.iter().map(|k| (k.as_str(), "r")));
        assert_eq!(
            parse(&pairs).unwrap_err().message(),
            "The parameter RegionName.0x is not recognized"
        );
    }

    #[test]
    fn presigned_parameters_are_not_the_actions() {
        assert!(parse(&[
            ("Action", "DescribeAccountAttributes"),
            ("Version", "2016-11-15"),
            ("X-Amz-Signature", "abc"),
            ("AttributeName.1", "max-instances"),
        ])
        .is_ok());
    }
}
