//! The api layer's error: every failure a client can see, with its AWS code, message and HTTP
//! status decided in one exhaustive match each.

use crate::auth::sigv4::AuthError;
use crate::engine::launch::{
    BlockDeviceFault, LaunchParameter, HOP_LIMITS, VOLUME_IOPS, VOLUME_THROUGHPUT, VOLUME_TYPE,
    VOLUME_TYPES,
};
use crate::engine::network::actions::NetworkFault;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No `Action` parameter.
    #[error("missing Action")]
    MissingAction,
    /// An action this gateway does not implement.
    #[error("invalid action {0:?}")]
    InvalidAction(String),
    /// A `Version` other than 2016-11-15.
    #[error("no such version {0:?}")]
    NoSuchVersion(String),
    /// A required parameter was not sent.
    #[error("missing parameter {0}")]
    MissingParameter(String),
    /// A parameter the action does not take.
    #[error("unknown parameter {0}")]
    UnknownParameter(String),
    /// A parameter's value is out of range or of the wrong type; the message says which.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that cannot be used together; the message says which.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// The query string or form body cannot be decoded.
    #[error("malformed query string: {0}")]
    MalformedQueryString(String),
    /// DryRun was set and the call would have succeeded.
    #[error("dry run")]
    DryRunOperation,
    /// The request body exceeds the configured limit.
    #[error("request body over {0} bytes")]
    RequestTooLarge(usize),
    /// A method other than GET or POST.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// A key under a member ec2-spec/actions.toml refuses, answered with the declared code.
    #[error("refused parameter {key}")]
    Refused { refusal: Refusal, key: String },
    /// A fault of the gateway's own; the detail goes to the log, not to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The codes a refused member can be declared with in actions.toml (`refuses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// As for a key no member has: the member exists in EC2 but not here.
    UnknownParameter,
    /// The member is understood but what it asks for cannot be done here.
    UnsupportedOperation,
}

impl ApiError {
    /// The code clients branch on.
    pub fn code(&self) -> &'static str {
        self.parts().0
    }

    /// 4xx for the client's faults, 5xx for ours (which SDKs retry).
    pub fn status(&self) -> u16 {
        self.parts().1
    }

    /// The message, in EC2's words where they are known.
    pub fn message(&self) -> String {
        self.parts().2
    }

    /// Code, HTTP status and message, decided together in one exhaustive match so that a new
    /// variant cannot be added without deciding all three.
    fn parts(&self) -> (&'static str, u16, String) {
        match self {
            ApiError::Auth(e) => match e {
                // EC2 answers an anonymous request this way, not with MissingAuthenticationToken.
                AuthError::MissingAuthenticationToken => (
                    "MissingParameter",
                    400,
                    "The request must contain the parameter AWSAccessKeyId".into(),
                ),
                AuthError::IncompleteSignature(detail) => {
                    ("IncompleteSignature", 400, detail.clone())
                }
                AuthError::UnknownAccessKey => (
                    "AuthFailure",
                    401,
                    "AWS was not able to validate the provided access credentials".into(),
                ),
                AuthError::SignatureDoesNotMatch(detail) => {
                    ("SignatureDoesNotMatch", 403, detail.clone())
                }
                AuthError::RequestExpired(_) => {
                    ("RequestExpired", 400, "Request has expired.".into())
                }
            },
            ApiError::Engine(e) => engine_parts(e),
            ApiError::MissingAction => (
                "MissingAction",
                400,
                "The request must contain the parameter Action".into(),
            ),
            ApiError::InvalidAction(action) => (
                "InvalidAction",
                400,
                format!("The action {action} is not valid for this web service."),
            ),
            ApiError::NoSuchVersion(version) => (
                "NoSuchVersion",
                400,
                format!("The requested version ({version}) of service AmazonEC2 does not exist"),
            ),
            ApiError::MissingParameter(name) => (
                "MissingParameter",
                400,
                format!("The request must contain the parameter {name}"),
            ),
            ApiError::UnknownParameter(name) => (
                "UnknownParameter",
                400,
                format!("The parameter {name} is not recognized"),
            ),
            ApiError::InvalidParameterValue(message) => {
                ("InvalidParameterValue", 400, message.clone())
            }
            ApiError::InvalidParameterCombination(message) => {
                ("InvalidParameterCombination", 400, message.clone())
            }
            ApiError::MalformedQueryString(detail) => (
                "MalformedQueryString",
                400,
                format!("The query string contains a syntax error: {detail}"),
            ),
            ApiError::DryRunOperation => (
                "DryRunOperation",
                412,
                "Request would have succeeded, but DryRun flag is set.".into(),
            ),
            ApiError::RequestTooLarge(limit) => (
                "RequestEntityTooLarge",
                413,
                format!("The request body is larger than the limit of {limit} bytes."),
            ),
            ApiError::MethodNotAllowed(method) => (
                "MethodNotAllowed",
                405,
                format!("The HTTP method {method} is not allowed; use GET or POST."),
            ),
            ApiError::Refused {
                refusal: Refusal::UnknownParameter,
                key,
            } => (
                "UnknownParameter",
                400,
                format!("The parameter {key} is not recognized"),
            ),
            ApiError::Refused {
                refusal: Refusal::UnsupportedOperation,
                key,
            } => (
                "UnsupportedOperation",
                400,
                format!("The parameter {key} is not supported by this gateway."),
            ),
            ApiError::Internal(_) => (
                "InternalError",
                500,
                "An internal error has occurred".into(),
            ),
        }
    }
}

fn engine_parts(e: &EngineError) -> (&'static str, u16, String) {
    use crate::engine::ids::Kind;
    match e {
        EngineError::Store(StoreError::Pool(_)) => (
            "ServiceUnavailable",
            503,
            "The request has failed due to a temporary failure of the server.".into(),
        ),
        EngineError::Store(_) | EngineError::Io(_) | EngineError::NetworkNotReady(_) => (
            "InternalError",
            500,
            "An internal error has occurred".into(),
        ),
        EngineError::UnknownFilter(name) => (
            "InvalidParameterValue",
            400,
            format!("The filter '{name}' is invalid"),
        ),
        EngineError::UnknownRegion(name) => (
            "InvalidParameterValue",
            400,
            format!("Invalid region: [{name}]"),
        ),
        EngineError::UnknownZone(name) => (
            "InvalidParameterValue",
            400,
            format!("Invalid availability zone: [{name}]"),
        ),
        EngineError::UnknownZoneId(id) => (
            "InvalidParameterValue",
            400,
            format!("Invalid availability zone-id: [{id}]"),
        ),
        EngineError::DryRun => (
            "DryRunOperation",
            412,
            "Request would have succeeded, but DryRun flag is set.".into(),
        ),
        EngineError::InvalidShutdownBehavior(value) => (
            "InvalidParameterValue",
            400,
            format!("Value ({value}) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values are stop, terminate."),
        ),
        EngineError::UnknownVpcAttribute(name) => (
            "InvalidParameterValue",
            400,
            format!("Value ({name}) for parameter attribute is invalid. Unknown attribute."),
        ),
        EngineError::UnknownAccountAttribute(name) => (
            "InvalidParameterValue",
            400,
            format!(
                "Value ({name}) for parameter attributeName is invalid. Unknown attribute name."
            ),
        ),
        EngineError::NoSuchAccount(id) => (
            "InvalidParameterValue",
            400,
            format!("The account '{id}' does not exist"),
        ),
        EngineError::NoSuchAccessKey(id) => (
            "InvalidParameterValue",
            400,
            format!("The access key '{id}' does not exist"),
        ),
        EngineError::InvalidNextToken => (
            "InvalidParameterValue",
            400,
            "The NextToken is invalid.".into(),
        ),
        EngineError::MalformedId { kind, id } => {
            let code = kind.descriptor().malformed_code;
            (
                code,
                400,
                format!("Invalid id: \"{id}\" (expecting \"{}-...\")", kind.prefix()),
            )
        }
        EngineError::InvalidId(id) => ("InvalidID", 400, format!("The ID '{id}' is not valid")),
        EngineError::NotFound { kind, ids } => {
            let message = match (kind, ids.as_slice()) {
                (Kind::Image, [one]) => format!("The image id '[{one}]' does not exist"),
                (Kind::Image, many) => {
                    format!("The image ids '[{}]' do not exist", many.join(", "))
                }
                (Kind::KeyPair, [one]) => format!("The key pair '{one}' does not exist"),
                (Kind::Instance, [one]) => format!("The instance ID '{one}' does not exist"),
                (Kind::Instance, many) => {
                    format!("The instance IDs '{}' do not exist", many.join(", "))
                }
                (Kind::Volume, [one]) => format!("The volume '{one}' does not exist."),
                (Kind::Vpc, [one]) => format!("The vpc ID '{one}' does not exist"),
                (Kind::Vpc, many) => format!("The vpc IDs '{}' do not exist", many.join(", ")),
                (Kind::Subnet, [one]) => format!("The subnet ID '{one}' does not exist"),
                (Kind::Subnet, many) => {
                    format!("The subnet IDs '{}' do not exist", many.join(", "))
                }
                (Kind::SecurityGroup, [one]) => {
                    format!("The security group '{one}' does not exist")
                }
                (Kind::SecurityGroup, many) => {
                    format!("The security groups '{}' do not exist", many.join(", "))
                }
                (Kind::InternetGateway, [one]) => {
                    format!("The internetGateway ID '{one}' does not exist")
                }
                (Kind::RouteTable, [one]) => format!("The routeTable ID '{one}' does not exist"),
                (Kind::RouteTableAssociation | Kind::AddressAssociation, [one]) => {
                    format!("The association ID '{one}' does not exist")
                }
                (Kind::NetworkInterface, [one]) => {
                    format!("The networkInterface ID '{one}' does not exist")
                }
                (Kind::Allocation, [one]) => format!("The allocation ID '{one}' does not exist"),
                (_, [one]) => format!("The ID '{one}' does not exist"),
                (_, many) => format!("The resources '{}' do not exist", many.join(", ")),
            };
            (kind.descriptor().not_found_code, 400, message)
        }
        EngineError::SecurityGroupNotFound(message) => {
            ("InvalidGroup.NotFound", 400, message.clone())
        }
        EngineError::UnsupportedHibernationConfiguration(id) => (
            "UnsupportedHibernationConfiguration",
            400,
            format!("The instance can't be hibernated because it was not configured at launch for hibernation: {id}"),
        ),
        EngineError::VolumeInUse {
            volume_id,
            instance_id,
        } => (
            "VolumeInUse",
            400,
            format!("Volume {volume_id} is currently attached to {instance_id}"),
        ),
        EngineError::KeyPairNotFound(name) => (
            "InvalidKeyPair.NotFound",
            400,
            format!("The key pair '{name}' does not exist"),
        ),
        EngineError::KeyPairDuplicate(name) => (
            "InvalidKeyPair.Duplicate",
            400,
            format!("The keypair '{name}' already exists."),
        ),
        EngineError::InvalidKeyFormat(_) => (
            "InvalidKey.Format",
            400,
            "Key is not in valid OpenSSH public key format".into(),
        ),
        EngineError::UnknownInstanceTypes(names) => (
            "InvalidInstanceType",
            400,
            format!(
                "The following supplied instance types do not exist: [{}]",
                names.join(", ")
            ),
        ),
        EngineError::TagLimitExceeded => (
            "TagLimitExceeded",
            400,
            "The maximum number of Tags for a resource has been reached.".into(),
        ),
        EngineError::InvalidParameterValue(message) => {
            ("InvalidParameterValue", 400, message.clone())
        }
        EngineError::InvalidParameterCombination(message) => {
            ("InvalidParameterCombination", 400, message.clone())
        }
        EngineError::NotAuthorizedFor(resource) => {
            ("AuthFailure", 401, format!("Not authorized for {resource}"))
        }
        EngineError::InvalidAttributeItem(item) => (
            "InvalidAMIAttributeItemValue",
            400,
            format!("Invalid attribute item value \"{item}\" for userId item type."),
        ),
        EngineError::DuplicateImageName { name, image_id } => (
            "InvalidAMIName.Duplicate",
            400,
            format!("AMI name {name} is already in use by AMI {image_id}"),
        ),
        EngineError::IdempotentParameterMismatch(_) => (
            "IdempotentParameterMismatch",
            400,
            "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).".into(),
        ),
        EngineError::BlockDevice(fault) => block_device_parts(fault),
        EngineError::InvalidLaunchParameter { parameter, value } => (
            "InvalidParameterValue",
            400,
            launch_parameter_message(*parameter, value),
        ),
        // EC2's words for an instance type and an image of different architectures: here
        // the types are the host's.
        EngineError::ArchitectureMismatch {
            image_architecture,
            instance_architecture,
            ..
        } => (
            "InvalidParameterValue",
            400,
            format!("The architecture '{instance_architecture}' of the specified instance type does not match the architecture '{image_architecture}' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI."),
        ),
        EngineError::UnknownStoredValue { .. } => (
            "InternalError",
            500,
            "An internal error has occurred".into(),
        ),
        // A server-side condition on AWS: 500, which SDKs retry.
        EngineError::InsufficientCapacity(instance_type) => (
            "InsufficientInstanceCapacity",
            500,
            format!("We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested."),
        ),
        EngineError::IncorrectInstanceState(message) => ("IncorrectInstanceState", 400, message.clone()),
        EngineError::OperationNotPermitted(message) => ("OperationNotPermitted", 400, message.clone()),
        EngineError::UnsupportedOperation(message) => ("UnsupportedOperation", 400, message.clone()),
        EngineError::Hypervisor(_) => ("InternalError", 500, "An internal error has occurred".into()),
        EngineError::Network(fault) => network_parts(fault),
        EngineError::VpcEndpointNotFound(id) => (
            "InvalidVpcEndpointId.NotFound",
            400,
            format!("The Vpc Endpoint Id '{id}' does not exist"),
        ),
        EngineError::AddressNotFound(ip) => (
            "InvalidAddress.NotFound",
            400,
            format!("Address '{ip}' not found."),
        ),
        EngineError::MissingParameter(message) => ("MissingParameter", 400, message.clone()),
        EngineError::InvalidImageAttribute(_) => (
            "InvalidRequest",
            400,
            "The request received was invalid.".into(),
        ),
    }
}

/// EC2's words for a refused networking call.
fn network_parts(fault: &NetworkFault) -> (&'static str, u16, String) {
    use crate::engine::ids::Kind;
    match fault {
        NetworkFault::InvalidCidr { parameter, value } => (
            "InvalidParameterValue",
            400,
            format!("Value ({value}) for parameter {parameter} is invalid. This is not a valid CIDR block."),
        ),
        NetworkFault::VpcRange(cidr) => ("InvalidVpc.Range", 400, format!("The CIDR '{cidr}' is invalid.")),
        NetworkFault::SubnetRange(cidr) => {
            ("InvalidSubnet.Range", 400, format!("The CIDR '{cidr}' is invalid."))
        }
        NetworkFault::SubnetConflict(cidr) => (
            "InvalidSubnet.Conflict",
            400,
            format!("The CIDR '{cidr}' conflicts with another subnet"),
        ),
        NetworkFault::DependencyViolation { kind, id } => {
            let what = match kind {
                Kind::Vpc => "vpc",
                Kind::Subnet => "subnet",
                Kind::RouteTable => "routeTable",
                Kind::InternetGateway => "internetGateway",
                _ => "resource",
            };
            (
                "DependencyViolation",
                400,
                format!("The {what} '{id}' has dependencies and cannot be deleted."),
            )
        }
        NetworkFault::VpcLimitExceeded => (
            "VpcLimitExceeded",
            400,
            "The maximum number of VPCs has been reached.".into(),
        ),
        NetworkFault::AddressLimitExceeded => (
            "AddressLimitExceeded",
            400,
            "The maximum number of addresses has been reached.".into(),
        ),
        NetworkFault::NoFreePublicAddress => (
            "InsufficientAddressCapacity",
            400,
            "There are not enough free addresses in the public address pool to satisfy the request.".into(),
        ),
        NetworkFault::GatewayAttached { gateway_id, vpc_id } => (
            "Resource.AlreadyAssociated",
            400,
            format!("resource {gateway_id} is already attached to network {vpc_id}"),
        ),
        NetworkFault::VpcHasGateway { vpc_id } => (
            "Resource.AlreadyAssociated",
            400,
            format!("Network {vpc_id} already has an internet gateway attached"),
        ),
        NetworkFault::GatewayNotAttached { gateway_id, vpc_id } => (
            "Gateway.NotAttached",
            400,
            format!("resource {gateway_id} is not attached to network {vpc_id}"),
        ),
        NetworkFault::SubnetAssociated { subnet_id } => (
            "Resource.AlreadyAssociated",
            400,
            format!("the specified association for subnet {subnet_id} conflicts with an existing association"),
        ),
        NetworkFault::RouteExists { destination, .. } => (
            "RouteAlreadyExists",
            400,
            format!("The route identified by {destination} already exists."),
        ),
        NetworkFault::RouteNotFound { route_table_id, destination } => (
            "InvalidRoute.NotFound",
            400,
            format!("no route with destination-cidr-block {destination} in route table {route_table_id}"),
        ),
        NetworkFault::LocalRoute { route_table_id, destination } => (
            "InvalidParameterValue",
            400,
            format!("cannot remove local route {destination} in route table {route_table_id}"),
        ),
        NetworkFault::MainAssociation(id) => (
            "InvalidParameterValue",
            400,
            format!("cannot disassociate the main route table association {id}"),
        ),
        NetworkFault::DifferentVpc { id, vpc_id } => (
            "InvalidParameterValue",
            400,
            format!("The resource '{id}' is not in network {vpc_id}"),
        ),
        NetworkFault::AddressAssociated(id) => (
            "Resource.AlreadyAssociated",
            400,
            format!("resource {id} is already associated"),
        ),
        NetworkFault::AddressInUse(id) => (
            "InvalidIPAddress.InUse",
            400,
            format!("Address {id} is in use."),
        ),
        NetworkFault::NoInterface(id) => (
            "InvalidInstanceID",
            400,
            format!("The instance '{id}' has no network interface (it was launched before instances had one)"),
        ),
        NetworkFault::NotInterfaceAddress { interface_id, address } => (
            "InvalidParameterValue",
            400,
            format!("The network interface {interface_id} has no private address {address}"),
        ),
        NetworkFault::RouteTarget => (
            "InvalidParameterCombination",
            400,
            "The request must contain exactly one of gatewayId, networkInterfaceId or instanceId".into(),
        ),
        NetworkFault::InterfaceInUse(id) => (
            "InvalidNetworkInterface.InUse",
            400,
            format!("Interface: [{id}] in use."),
        ),
        NetworkFault::TooManyGroups => (
            "SecurityGroupsPerInterfaceLimitExceeded",
            400,
            "The maximum number of security groups per interface has been reached.".into(),
        ),
        NetworkFault::DefaultVpcExists => (
            "DefaultVpcAlreadyExists",
            400,
            "A Default VPC already exists for this account in this region.".into(),
        ),
        NetworkFault::NoDefaultVpc => (
            "VPCIdNotSpecified",
            400,
            "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.".into(),
        ),
        NetworkFault::AddressOutsideSubnet { address, .. } => (
            "InvalidParameterValue",
            400,
            format!("Address {address} does not fall within the subnet's address range"),
        ),
        NetworkFault::PrivateAddressInUse(_) => (
            "InvalidIPAddress.InUse",
            400,
            "The specified address is already in use.".into(),
        ),
        NetworkFault::SubnetFull(subnet_id) => (
            "InsufficientFreeAddressesInSubnet",
            400,
            format!("There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances."),
        ),
    }
}

/// RunInstances' value checks. EC2's wording for an enumerated metadata option (seen for
/// `HttpEndpoint=`); the hop limit and the tenancy follow the same and this file's pattern.
fn launch_parameter_message(parameter: LaunchParameter, value: &str) -> String {
    let either = |name: &str, a: &str, b: &str| {
        format!("A value of '{value}' is not valid for {name}. Specify either '{a}' or '{b}' and try again.")
    };
    match parameter {
        LaunchParameter::HttpTokens => either("HttpTokens", "optional", "required"),
        LaunchParameter::HttpEndpoint => either("HttpEndpoint", "enabled", "disabled"),
        LaunchParameter::InstanceMetadataTags => either("InstanceMetadataTags", "enabled", "disabled"),
        LaunchParameter::HttpProtocolIpv6 => either("HttpProtocolIpv6", "enabled", "disabled"),
        LaunchParameter::HttpPutResponseHopLimit => format!(
            "A value of '{value}' is not valid for HttpPutResponseHopLimit. Specify a value from {} to {} and try again.",
            HOP_LIMITS.start(),
            HOP_LIMITS.end()
        ),
        LaunchParameter::Tenancy => format!(
            "Value ({value}) for parameter tenancy is invalid. Valid values are default, dedicated, host."
        ),
    }
}

/// Block device mappings: InvalidBlockDeviceMapping for what EC2 refuses too (its wording
/// where known: the too-small volume, the device mapped twice), UnsupportedOperation for what
/// EC2 would honour and this gateway cannot yet.
fn block_device_parts(fault: &BlockDeviceFault) -> (&'static str, u16, String) {
    match fault {
        BlockDeviceFault::MissingDeviceName { index } => (
            "MissingParameter",
            400,
            format!("The request must contain the parameter BlockDeviceMapping.{index}.DeviceName"),
        ),
        BlockDeviceFault::DuplicateDevice { device } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("The device '{device}' is used in more than one block-device mapping"),
        ),
        // EC2 names the image's root snapshot; images here have none, so the image stands in.
        BlockDeviceFault::TooSmall { size_gib, image_id, image_gib } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("Volume of size {size_gib}GB is smaller than the root snapshot of image '{image_id}', expect size >= {image_gib}GB"),
        ),
        BlockDeviceFault::TooLarge { size_gib, max_gib } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("Volume of size {size_gib}GB is larger than a {VOLUME_TYPE} volume can be, expect size <= {max_gib}GB"),
        ),
        BlockDeviceFault::RootSuppressed { device } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("The root device '{device}' cannot be suppressed with NoDevice: the instance boots from it"),
        ),
        BlockDeviceFault::RootNotEbs { device, virtual_name } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("The root device '{device}' is an EBS volume and cannot be mapped to the instance store volume '{virtual_name}'"),
        ),
        BlockDeviceFault::InvalidVirtualName { device, virtual_name } => (
            "InvalidBlockDeviceMapping",
            400,
            format!("Invalid virtual name '{virtual_name}' for device '{device}': expected ephemeral0, ephemeral1, ..."),
        ),
        BlockDeviceFault::NotRootDevice { device, root_device } => (
            "UnsupportedOperation",
            400,
            format!("The block device mapping for '{device}' is not supported: only the image's root device ('{root_device}') can be mapped at launch. Attachable volumes are not available yet."),
        ),
        BlockDeviceFault::UnknownVolumeType { volume_type } => (
            "InvalidParameterValue",
            400,
            format!("Value ({volume_type}) for parameter volumeType is invalid. Valid values are {}.", VOLUME_TYPES.join(", ")),
        ),
        BlockDeviceFault::UnsupportedVolumeType { volume_type } => (
            "UnsupportedOperation",
            400,
            format!("The volume type '{volume_type}' is not supported: every volume here is {VOLUME_TYPE}."),
        ),
        BlockDeviceFault::Encrypted => (
            "UnsupportedOperation",
            400,
            "Encrypted volumes are not supported: volumes here are not encrypted.".into(),
        ),
        BlockDeviceFault::UnsupportedIops { iops } => (
            "UnsupportedOperation",
            400,
            format!("{iops} IOPS is not supported: every volume here has {VOLUME_TYPE}'s baseline of {VOLUME_IOPS} IOPS."),
        ),
        BlockDeviceFault::UnsupportedThroughput { throughput } => (
            "UnsupportedOperation",
            400,
            format!("A throughput of {throughput} MiB/s is not supported: every volume here has {VOLUME_TYPE}'s baseline of {VOLUME_THROUGHPUT} MiB/s."),
        ),
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Engine(EngineError::Store(e))
    }
}
