//! Resource ids: a prefix and 17 lowercase hex digits, random (so unguessable) as on EC2.

use rand::Rng;

/// The kinds of resource with EC2 ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Instance,
    KeyPair,
    Reservation,
    SecurityGroup,
    Subnet,
    Volume,
    Vpc,
    InternetGateway,
    RouteTable,
    RouteTableAssociation,
    NetworkInterface,
    InterfaceAttachment,
    Allocation,
    AddressAssociation,
    NetworkAcl,
    DhcpOptions,
    VpcCidrAssociation,
}

/// What there is to know of a kind of resource, in one place: its id, what tags call it, the
/// codes EC2 answers for an id of it that does not exist or is not shaped like one.
#[derive(Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub kind: Kind,
    /// The id's prefix, before the `-`.
    pub prefix: &'static str,
    /// The `resource-type` DescribeTags reports (and TagSpecification names).
    pub resource_type: &'static str,
    /// Whether CreateTags takes it.
    pub taggable: bool,
    pub not_found_code: &'static str,
    pub malformed_code: &'static str,
}

/// Every kind, in the order of the enum (`Kind as usize` indexes it).
pub const KINDS: [Descriptor; 18] = [
    Descriptor {
        kind: Kind::Image,
        prefix: "ami",
        resource_type: "image",
        taggable: true,
        not_found_code: "InvalidAMIID.NotFound",
        malformed_code: "InvalidAMIID.Malformed",
    },
    Descriptor {
        kind: Kind::Instance,
        prefix: "i",
        resource_type: "instance",
        taggable: true,
        not_found_code: "InvalidInstanceID.NotFound",
        malformed_code: "InvalidInstanceID.Malformed",
    },
    Descriptor {
        kind: Kind::KeyPair,
        prefix: "key",
        resource_type: "key-pair",
        taggable: true,
        not_found_code: "InvalidKeyPair.NotFound",
        malformed_code: "InvalidKeyPair.Malformed",
    },
    Descriptor {
        kind: Kind::Reservation,
        prefix: "r",
        resource_type: "reservation",
        taggable: false,
        not_found_code: "InvalidReservationID.NotFound",
        malformed_code: "InvalidReservationID.Malformed",
    },
    Descriptor {
        kind: Kind::SecurityGroup,
        prefix: "sg",
        resource_type: "security-group",
        taggable: true,
        not_found_code: "InvalidGroup.NotFound",
        malformed_code: "InvalidGroupId.Malformed",
    },
    Descriptor {
        kind: Kind::Subnet,
        prefix: "subnet",
        resource_type: "subnet",
        taggable: true,
        not_found_code: "InvalidSubnetID.NotFound",
        malformed_code: "InvalidSubnetID.Malformed",
    },
    Descriptor {
        kind: Kind::Volume,
        prefix: "vol",
        resource_type: "volume",
        taggable: true,
        not_found_code: "InvalidVolume.NotFound",
        malformed_code: "InvalidVolumeID.Malformed",
    },
    Descriptor {
        kind: Kind::Vpc,
        prefix: "vpc",
        resource_type: "vpc",
        taggable: true,
        not_found_code: "InvalidVpcID.NotFound",
        malformed_code: "InvalidVpcID.Malformed",
    },
    Descriptor {
        kind: Kind::InternetGateway,
        prefix: "igw",
        resource_type: "internet-gateway",
        taggable: true,
        not_found_code: "InvalidInternetGatewayID.NotFound",
        malformed_code: "InvalidInternetGatewayID.Malformed",
    },
    Descriptor {
        kind: Kind::RouteTable,
        prefix: "rtb",
        resource_type: "route-table",
        taggable: true,
        not_found_code: "InvalidRouteTableID.NotFound",
        malformed_code: "InvalidRouteTableId.Malformed",
    },
    Descriptor {
        kind: Kind::RouteTableAssociation,
        prefix: "rtbassoc",
        resource_type: "route-table-association",
        taggable: false,
        not_found_code: "InvalidAssociationID.NotFound",
        malformed_code: "InvalidAssociationID.Malformed",
    },
    Descriptor {
        kind: Kind::NetworkInterface,
        prefix: "eni",
        resource_type: "network-interface",
        taggable: true,
        not_found_code: "InvalidNetworkInterfaceID.NotFound",
        malformed_code: "InvalidNetworkInterfaceID.Malformed",
    },
    Descriptor {
        kind: Kind::InterfaceAttachment,
        prefix: "eni-attach",
        resource_type: "network-interface-attachment",
        taggable: false,
        not_found_code: "InvalidAttachmentID.NotFound",
        malformed_code: "InvalidAttachmentID.Malformed",
    },
    Descriptor {
        kind: Kind::Allocation,
        prefix: "eipalloc",
        resource_type: "elastic-ip",
        taggable: true,
        not_found_code: "InvalidAllocationID.NotFound",
        malformed_code: "InvalidAllocationID.Malformed",
    },
    Descriptor {
        kind: Kind::AddressAssociation,
        prefix: "eipassoc",
        resource_type: "elastic-ip-association",
        taggable: false,
        not_found_code: "InvalidAssociationID.NotFound",
        malformed_code: "InvalidAssociationID.Malformed",
    },
    Descriptor {
        kind: Kind::NetworkAcl,
        prefix: "acl",
        resource_type: "network-acl",
        taggable: true,
        not_found_code: "InvalidNetworkAclID.NotFound",
        malformed_code: "InvalidNetworkAclID.Malformed",
    },
    Descriptor {
        kind: Kind::DhcpOptions,
        prefix: "dopt",
        resource_type: "dhcp-options",
        taggable: true,
        not_found_code: "InvalidDhcpOptionID.NotFound",
        malformed_code: "InvalidDhcpOptionsId.Malformed",
    },
    Descriptor {
        kind: Kind::VpcCidrAssociation,
        prefix: "vpc-cidr-assoc",
        resource_type: "vpc-cidr-block-association",
        taggable: false,
        not_found_code: "InvalidVpcCidrBlockAssociationID.NotFound",
        malformed_code: "InvalidVpcCidrBlockAssociationID.Malformed",
    },
];

impl Kind {
    pub fn descriptor(self) -> &'static Descriptor {
        &KINDS[self as usize]
    }

    pub fn prefix(self) -> &'static str {
        self.descriptor().prefix
    }

    /// The `resource-type` DescribeTags reports.
    pub fn resource_type(self) -> &'static str {
        self.descriptor().resource_type
    }

    /// The kind an id names by its prefix, whether or not the rest is well formed. Prefixes may
    /// hold dashes (`eni-attach`), the hex part never does.
    pub fn of(id: &str) -> Option<Kind> {
        let (prefix, _) = id.rsplit_once('-')?;
        KINDS.iter().find(|d| d.prefix == prefix).map(|d| d.kind)
    }
}

/// A new id of this kind.
pub fn new_id(kind: Kind) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(kind.prefix().len() + 18);
    id.push_str(kind.prefix());
    id.push('-');
    id.extend((0..17).map(|_| char::from(HEX[rng.gen_range(0..16)])));
    id
}

/// Every id shaped like one of this kind, or MalformedId naming the first that is not.
pub fn check_well_formed(kind: Kind, ids: &[String]) -> Result<(), super::EngineError> {
    match ids.iter().find(|id| !is_well_formed(kind, id)) {
        Some(id) => Err(super::EngineError::MalformedId {
            kind,
            id: id.clone(),
        }),
        None => Ok(()),
    }
}

/// Whether `id` is shaped like an id of this kind: the prefix, then 8 or 17 lowercase hex
/// digits (EC2 still honours the short ids of old resources).
pub fn is_well_formed(kind: Kind, id: &str) -> bool {
    id.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 17 || hex.len() == 8)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_well_formed_and_distinct() {
        let a = new_id(Kind::Image);
        assert!(a.starts_with("ami-") && a.len() == 21, "{a}");
        assert!(is_well_formed(Kind::Image, &a));
        assert_ne!(a, new_id(Kind::Image));
        assert!(is_well_formed(Kind::Instance, &new_id(Kind::Instance)));
        assert!(is_well_formed(Kind::KeyPair, &new_id(Kind::KeyPair)));
    }

    #[test]
    fn malformed_ids_are_told_apart() {
        assert!(is_well_formed(Kind::Image, "ami-0123456789abcdef0"));
        assert!(is_well_formed(Kind::Image, "ami-12345678"));
        assert!(!is_well_formed(Kind::Image, "ami-0123456789ABCDEF0"));
        assert!(!is_well_formed(Kind::Image, "ami-123"));
        assert!(!is_well_formed(Kind::Image, "i-0123456789abcdef0"));
        assert_eq!(Kind::of("vol-0123"), Some(Kind::Volume));
        assert_eq!(Kind::of("sg-0123"), Some(Kind::SecurityGroup));
        assert_eq!(Kind::of("eni-0123"), Some(Kind::NetworkInterface));
        assert_eq!(Kind::of("eni-attach-0123"), Some(Kind::InterfaceAttachment));
        assert_eq!(Kind::of("nat-0123"), None);
        assert_eq!(Kind::of("nonsense"), None);
    }

    #[test]
    fn the_table_is_in_the_order_of_the_enum() {
        for (i, d) in KINDS.iter().enumerate() {
            assert_eq!(d.kind as usize, i, "{d:?}");
            assert_eq!(Kind::of(&format!("{}-0", d.prefix)), Some(d.kind));
        }
    }
}
