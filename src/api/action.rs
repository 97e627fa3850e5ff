//! Each supported action, parsed once from the request's parameters into a typed request.

use super::error::ApiError;
use super::images::{
    DeregisterImage, DescribeImageAttribute, DescribeImages, ModifyImageAttribute,
};
use super::instance_types::{DescribeInstanceTypeOfferings, DescribeInstanceTypes};
use super::instances::{
    DescribeInstanceAttribute, DescribeInstanceCreditSpecifications, DescribeInstanceStatus,
    DescribeInstances, GetConsoleOutput, ModifyInstanceAttribute, RebootInstances, RunInstances,
    StartInstances, StopInstances, TerminateInstances,
};
use super::key_pairs::{CreateKeyPair, DeleteKeyPair, DescribeKeyPairs, ImportKeyPair};
use super::network::{DescribeSecurityGroups, DescribeSubnets, DescribeVpcs};
use super::params::Params;
use super::regions::{DescribeAccountAttributes, DescribeAvailabilityZones, DescribeRegions};
use super::tags::{CreateTags, DeleteTags, DescribeTags};
use super::volumes::{DeleteVolume, DescribeVolumes};

/// The only API version served: the one every current SDK sends.
pub const VERSION: &str = "2016-11-15";

/// Declares the closed set of actions: the enum, its parser and its names, from one list, so
/// an action cannot be parsed without being named or named without being parsed.
macro_rules! actions {
    ($($name:ident),* $(,)?) => {
        /// Every action the gateway serves; adding one is adding it to the list below.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Action {
            $($name($name),)*
        }

        /// The names of every supported action.
        pub const ACTION_NAMES: &[&str] = &[$(stringify!($name)),*];

        impl Action {
            fn parse_named(name: String, params: &mut Params) -> Result<Action, ApiError> {
                match name.as_str() {
                    $(stringify!($name) => Ok(Action::$name($name::parse(params)?)),)*
                    _ => Err(ApiError::InvalidAction(name)),
                }
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Action::$name(_) => stringify!($name),)*
                }
            }
        }
    };
}

actions!(
    DescribeRegions,
    DescribeAvailabilityZones,
    DescribeAccountAttributes,
    DescribeImages,
    DeregisterImage,
    DescribeImageAttribute,
    ModifyImageAttribute,
    DescribeInstanceTypes,
    DescribeInstanceTypeOfferings,
    CreateKeyPair,
    ImportKeyPair,
    DescribeKeyPairs,
    DeleteKeyPair,
    CreateTags,
    DeleteTags,
    DescribeTags,
    RunInstances,
    DescribeInstances,
    StartInstances,
    StopInstances,
    RebootInstances,
    TerminateInstances,
    GetConsoleOutput,
    DescribeInstanceAttribute,
    ModifyInstanceAttribute,
    DescribeInstanceStatus,
    DescribeInstanceCreditSpecifications,
    DescribeVolumes,
    DeleteVolume,
    DescribeVpcs,
    DescribeSubnets,
    DescribeSecurityGroups,
);

impl Action {
    /// Reads `Action`, `Version` and the action's own parameters; anything left over is an
    /// `UnknownParameter`. Presigned URLs' `X-Amz-*` parameters belong to the signature.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Action, ApiError> {
        let mut params = Params::new(
            pairs
                .into_iter()
                .filter(|(k, _)| !k.starts_with("X-Amz-"))
                .collect(),
        );
        let name = params
            .string("Action")
            .filter(|a| !a.is_empty())
            .ok_or(ApiError::MissingAction)?;
        let version = params.required("Version")?;
        if version != VERSION {
            return Err(ApiError::NoSuchVersion(version));
        }
        let action = Action::parse_named(name, &mut params)?;
        params.finish()?;
        Ok(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::filter::Filter;

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
                ("RegionName.1", "us-east-1"),
                ("Filter.1.Name", "opt-in-status"),
                ("Filter.1.Value.1", "opt-in-not-required"),
                ("AllRegions", "true"),
            ])
            .unwrap(),
            Action::DescribeRegions(DescribeRegions {
                dry_run: false,
                region_names: vec!["us-east-1".into()],
                filters: vec![Filter {
                    name: "opt-in-status".into(),
                    values: vec!["opt-in-not-required".into()]
                }],
                all_regions: true,
            })
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
