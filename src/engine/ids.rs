//! Resource ids: a prefix and 17 lowercase hex digits, random (so unguessable) as on EC2.

use rand::Rng;

/// The kinds of resource with EC2 ids, and what tags call them.
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
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Image => "ami",
            Kind::Instance => "i",
            Kind::KeyPair => "key",
            Kind::Reservation => "r",
            Kind::SecurityGroup => "sg",
            Kind::Subnet => "subnet",
            Kind::Volume => "vol",
            Kind::Vpc => "vpc",
        }
    }

    /// The `resource-type` DescribeTags reports.
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Instance => "instance",
            Kind::KeyPair => "key-pair",
            Kind::Reservation => "reservation",
            Kind::SecurityGroup => "security-group",
            Kind::Subnet => "subnet",
            Kind::Volume => "volume",
            Kind::Vpc => "vpc",
        }
    }

    /// The kind an id names by its prefix, whether or not the rest is well formed.
    pub fn of(id: &str) -> Option<Kind> {
        let (prefix, _) = id.split_once('-')?;
        [
            Kind::Image,
            Kind::Instance,
            Kind::KeyPair,
            Kind::Reservation,
            Kind::SecurityGroup,
            Kind::Subnet,
            Kind::Volume,
            Kind::Vpc,
        ]
        .into_iter()
        .find(|k| k.prefix() == prefix)
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
        assert_eq!(Kind::of("eni-0123"), None);
        assert_eq!(Kind::of("nonsense"), None);
    }
}
