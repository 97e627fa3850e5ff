//! The states and modes of resources, as closed enums that every layer speaks: the store keeps
//! each as its EC2 spelling (text, through Diesel's `serialize_as`/`deserialize_as`), the
//! engine decides with them, the api writes their spelling. A leaf: it imports nothing.

use std::fmt;

/// A stored value that is none of its enum's spellings: the database was written by
/// something else, or by a newer gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {kind}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Declares an enum spelled as EC2 spells it, with `as_str`, `parse`, `ALL`, `Display`, and
/// the conversions Diesel stores it with.
macro_rules! spelled {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// EC2's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;

            fn try_from(text: String) -> Result<$name, UnknownValue> {
                $name::parse(&text).ok_or(UnknownValue { kind: $kind, value: text })
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

spelled!(
    /// EC2's six instance states.
    InstanceState, "instance state", {
        Pending = "pending",
        Running = "running",
        ShuttingDown = "shutting-down",
        Terminated = "terminated",
        Stopping = "stopping",
        Stopped = "stopped",
    }
);

impl InstanceState {
    /// The state's code in `instanceState.code`.
    pub fn code(self) -> i32 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }

    pub fn from_code(code: i32) -> Option<InstanceState> {
        InstanceState::ALL
            .iter()
            .copied()
            .find(|s| s.code() == code)
    }

    /// The states in which the reconciler has something to do or watch.
    pub const IN_MOTION: &'static [InstanceState] = &[
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
        InstanceState::ShuttingDown,
    ];
}

spelled!(
    /// How the stop under way (or the last one) ends.
    StopMode, "stop mode", {
        /// ACPI power-off, forced after stop_timeout_seconds.
        Shutdown = "shutdown",
        /// Power off at once.
        Force = "force",
        /// Save the guest's memory (libvirt's managed save).
        Hibernate = "hibernate",
    }
);

spelled!(
    /// InstanceInitiatedShutdownBehavior: what a guest's own power-off leads to.
    ShutdownBehavior, "shutdown behavior", {
        Stop = "stop",
        Terminate = "terminate",
    }
);

spelled!(
    /// The states a volume goes through here.
    VolumeState, "volume state", {
        InUse = "in-use",
        Available = "available",
        Deleting = "deleting",
        Deleted = "deleted",
    }
);

spelled!(
    /// The states an image goes through here.
    ImageState, "image state", {
        Available = "available",
        Deregistered = "deregistered",
    }
);

spelled!(
    /// `HttpTokens`: whether IMDSv2's session tokens are required.
    HttpTokens, "metadata token setting", {
        Optional = "optional",
        Required = "required",
    }
);

spelled!(
    /// `HttpEndpoint`, `InstanceMetadataTags` and `HttpProtocolIpv6`: each enabled or disabled.
    MetadataSwitch, "metadata switch", {
        Enabled = "enabled",
        Disabled = "disabled",
    }
);

spelled!(
    /// `Placement.Tenancy`. There is one host: the value is recorded and shown, and changes
    /// where nothing runs.
    #[derive(Default)]
    Tenancy, "tenancy", {
        #[default]
        Default = "default",
        Dedicated = "dedicated",
        Host = "host",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_spelled_and_coded_as_on_ec2() {
        let spelled: Vec<(&str, i32)> = InstanceState::ALL
            .iter()
            .map(|s| (s.as_str(), s.code()))
            .collect();
        assert_eq!(
            spelled,
            [
                ("pending", 0),
                ("running", 16),
                ("shutting-down", 32),
                ("terminated", 48),
                ("stopping", 64),
                ("stopped", 80)
            ]
        );
        assert_eq!(InstanceState::from_code(64), Some(InstanceState::Stopping));
        assert_eq!(InstanceState::from_code(-1), None);
        assert_eq!(
            InstanceState::try_from("stopped".to_owned()),
            Ok(InstanceState::Stopped)
        );
        assert_eq!(
            InstanceState::try_from("asleep".to_owned())
                .unwrap_err()
                .to_string(),
            "\"asleep\" is not a known instance state"
        );
        assert_eq!(String::from(VolumeState::InUse), "in-use");
        assert_eq!(StopMode::parse("hibernate"), Some(StopMode::Hibernate));
        assert_eq!(ShutdownBehavior::parse("halt"), None);
        assert_eq!(ImageState::Deregistered.to_string(), "deregistered");
    }
}
