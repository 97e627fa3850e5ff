//! What the generated wire layer (src/api/generated/) calls: the request's key tree and its
//! typed reads, and the XML writer of answers. Pure; no allocation beyond the values read and
//! the one output buffer.

use std::cmp::Ordering;
use std::fmt::Write as _;

use super::error::{ApiError, Refusal};
use crate::protocol::xml::{escape_into, DECLARATION, NAMESPACE};

// ---- requests ----

/// A request's parameters as a tree of their dotted keys: `Filter.1.Value.2` is the child
/// `Value` > `2` of the child `1` of `Filter`. Children are ordered, list indexes numerically.
#[derive(Debug)]
pub struct Node<'a> {
    /// The key up to this node (`Filter.1`); empty at the root.
    path: &'a str,
    /// The first whole key at or below this node, the one an error names.
    key: &'a str,
    value: Option<&'a str>,
    children: Vec<(&'a str, Node<'a>)>,
}

/// How deep the tree goes: the deepest key of the whole EC2 model has 11 segments. Below this
/// depth the rest of a key stays one segment (dots and all), which no member is named, so such
/// a key is an UnknownParameter like any other; and the tree, dropped recursively, stays
/// shallow whatever the request sends (`A.A.A...` a megabyte long would overflow the stack).
pub const MAX_DEPTH: usize = 32;

impl<'a> Node<'a> {
    /// Builds the tree; of a key sent twice, the first value wins. O(n log n) in the keys.
    pub fn tree(pairs: &'a [(String, String)]) -> Node<'a> {
        let mut sorted: Vec<&'a (String, String)> = pairs.iter().collect();
        // Stable: equal keys keep their order, so the first sent is the first seen.
        sorted.sort_by(|a, b| compare_keys(&a.0, &b.0));
        let mut root = Node {
            path: "",
            key: "",
            value: None,
            children: Vec::new(),
        };
        for (key, value) in sorted {
            root.insert(key, value);
        }
        root
    }

    fn insert(&mut self, key: &'a str, value: &'a str) {
        let mut node = self;
        let mut start = 0;
        for depth in 1.. {
            let end = match key[start..].find('.') {
                Some(i) if depth < MAX_DEPTH => start + i,
                _ => key.len(),
            };
            let segment = &key[start..end];
            // Keys are sorted, so a child that exists is the last one.
            if node.children.last().map(|(s, _)| *s) != Some(segment) {
                node.children.push((
                    segment,
                    Node {
                        path: &key[..end],
                        key,
                        value: None,
                        children: Vec::new(),
                    },
                ));
            }
            let last = node.children.len() - 1;
            node = &mut node.children[last].1;
            if end == key.len() {
                break;
            }
            start = end + 1;
        }
        node.value.get_or_insert(value);
    }

    pub fn children(&self) -> &[(&'a str, Node<'a>)] {
        &self.children
    }

    /// The value of the top-level key `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.children
            .iter()
            .find(|(s, _)| *s == name)
            .and_then(|(_, n)| n.value)
    }

    /// The tree without the top-level scalars `names` (Action and Version); a key below one
    /// of them (`Action.1`) is an UnknownParameter, as it would be anywhere else.
    pub fn without(mut self, names: &[&str]) -> Result<Node<'a>, ApiError> {
        for (segment, node) in &self.children {
            if names.contains(segment) {
                text(node)?;
            }
        }
        self.children.retain(|(s, _)| !names.contains(s));
        Ok(self)
    }
}

/// A list index: decimal digits only (`+1`, ` 1` and `-1` are not indexes).
pub fn is_index(segment: &str) -> bool {
    !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit())
}

/// Segment by segment (the first MAX_DEPTH - 1 of them; the rest of the key compared whole, as
/// the tree keeps it). Indexes come before names and compare as numbers of any length (`2`
/// before `10`, `01` next to `1`); names compare as bytes. A total order, as sorting needs: a
/// comparison that mixed numeric and textual order (`9` < `10` < `1a` < `9`) made the standard
/// sort panic on such keys, and could split one member's keys in two places of the tree.
fn compare_keys(a: &str, b: &str) -> Ordering {
    let mut x = a.splitn(MAX_DEPTH, '.');
    let mut y = b.splitn(MAX_DEPTH, '.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(s), Some(t)) => {
                let order = compare_segments(s, t);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_segments(s: &str, t: &str) -> Ordering {
    match (is_index(s), is_index(t)) {
        (true, true) => {
            let m = s.trim_start_matches('0');
            let n = t.trim_start_matches('0');
            m.len()
                .cmp(&n.len())
                .then_with(|| m.cmp(n))
                .then_with(|| s.cmp(t))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => s.cmp(t),
    }
}

/// A key no member has.
pub fn unknown(node: &Node<'_>) -> ApiError {
    ApiError::UnknownParameter(node.key.to_owned())
}

/// A required member `name` of the structure at `parent` that was not sent.
pub fn missing(parent: &Node<'_>, name: &str) -> ApiError {
    if parent.path.is_empty() {
        ApiError::MissingParameter(name.to_owned())
    } else {
        ApiError::MissingParameter(format!("{}.{name}", parent.path))
    }
}

/// A structure or list sent a value of its own (`Placement=x`): only an empty one is let be.
pub fn no_value(node: &Node<'_>) -> Result<(), ApiError> {
    match node.value {
        Some(v) if !v.is_empty() && !node.path.is_empty() => {
            Err(ApiError::UnknownParameter(node.path.to_owned()))
        }
        _ => Ok(()),
    }
}

/// The text of a scalar member; keys below it are unknown.
fn text<'a>(node: &Node<'a>) -> Result<&'a str, ApiError> {
    if let Some((_, child)) = node.children.first() {
        return Err(unknown(child));
    }
    Ok(node.value.unwrap_or(""))
}

pub fn string(node: &Node<'_>) -> Result<String, ApiError> {
    text(node).map(str::to_owned)
}

/// `true` or `false`, in any case.
pub fn boolean(node: &Node<'_>) -> Result<bool, ApiError> {
    let v = text(node)?;
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::InvalidParameterValue(format!(
            "Invalid value '{v}' for {}. Expected a boolean: 'true' or 'false'.",
            node.path
        )))
    }
}

fn number<T: std::str::FromStr>(node: &Node<'_>, kind: &str) -> Result<T, ApiError> {
    let v = text(node)?;
    v.trim().parse().map_err(|_| {
        ApiError::InvalidParameterValue(format!(
            "Invalid value '{v}' for {}. Expected {kind}.",
            node.path
        ))
    })
}

pub fn int32(node: &Node<'_>) -> Result<i32, ApiError> {
    number(node, "an integer")
}

pub fn int64(node: &Node<'_>) -> Result<i64, ApiError> {
    number(node, "an integer")
}

pub fn double(node: &Node<'_>) -> Result<f64, ApiError> {
    number(node, "a number")
}

/// `Name.1`, `Name.2`, ... in index order; any other key below `Name` is unknown.
pub fn list<T>(
    node: &Node<'_>,
    item: impl Fn(&Node<'_>) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    no_value(node)?;
    let mut out = Vec::with_capacity(node.children.len());
    for (index, child) in &node.children {
        if !is_index(index) {
            return Err(unknown(child));
        }
        out.push(item(child)?);
    }
    Ok(out)
}

/// The first key that falls under one of the action's refused patterns (`*`: any list index)
/// gets the refusal declared for it.
pub fn refuse(pairs: &[(String, String)], refusals: &[(&[&str], Refusal)]) -> Result<(), ApiError> {
    for (key, _) in pairs {
        for (pattern, refusal) in refusals {
            let mut segments = key.split('.');
            let hit = pattern.iter().all(|p| match segments.next() {
                Some(s) if *p == "*" => is_index(s),
                Some(s) => s == *p,
                None => false,
            });
            if hit {
                return Err(ApiError::Refused {
                    refusal: *refusal,
                    key: key.clone(),
                });
            }
        }
    }
    Ok(())
}

// ---- answers ----

/// What can stand inside an element: text, numbers, or a structure's member elements.
pub trait XmlContent {
    fn write_content(&self, out: &mut String);
}

impl XmlContent for String {
    fn write_content(&self, out: &mut String) {
        escape_into(out, self);
    }
}

impl XmlContent for str {
    fn write_content(&self, out: &mut String) {
        escape_into(out, self);
    }
}

impl XmlContent for bool {
    fn write_content(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

macro_rules! display_content {
    ($($t:ty),*) => {
        $(impl XmlContent for $t {
            fn write_content(&self, out: &mut String) {
                // Writing to a String cannot fail.
                let _ = write!(out, "{self}");
            }
        })*
    };
}

display_content!(i32, i64, f64);

/// `<name>content</name>`.
pub fn xml_element<T: XmlContent + ?Sized>(out: &mut String, name: &str, value: &T) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    value.write_content(out);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<name><item>..</item>..</name>`, or `<name/>` when empty.
pub fn xml_list<T: XmlContent>(out: &mut String, name: &str, item: &str, values: &[T]) {
    out.push('<');
    out.push_str(name);
    if values.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for v in values {
        xml_element(out, item, v);
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<return>true</return>`: the answer of actions the model gives no output.
pub struct Return(pub bool);

impl XmlContent for Return {
    fn write_content(&self, out: &mut String) {
        xml_element(out, "return", &self.0);
    }
}

/// `<?xml ..?><{action}Response xmlns=..><requestId>..</requestId>{body}</{action}Response>`.
pub fn write_response<T: XmlContent>(out: &mut String, action: &str, request_id: &str, body: &T) {
    out.push_str(DECLARATION);
    out.push('<');
    out.push_str(action);
    out.push_str("Response xmlns=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">");
    xml_element(out, "requestId", request_id);
    body.write_content(out);
    out.push_str("</");
    out.push_str(action);
    out.push_str("Response>");
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::api::generated::input;

    fn pairs(keys: &[(&str, &str)]) -> Vec<(String, String)> {
        keys.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Every node below the root, depth first: its path and its value.
    fn flatten<'a>(node: &Node<'a>, out: &mut Vec<(&'a str, Option<&'a str>)>) {
        for (_, child) in node.children() {
            out.push((child.path, child.value));
            flatten(child, out);
        }
    }

    fn listing<'a>(tree: &Node<'a>) -> Vec<(&'a str, Option<&'a str>)> {
        let mut out = Vec::new();
        flatten(tree, &mut out);
        out
    }

    fn message(err: ApiError) -> String {
        err.message()
    }

    #[test]
    fn the_tree_orders_indexes_as_numbers_and_names_as_bytes() {
        let sent = pairs(&[
            ("Filter.10.Name", "j"),
            ("Filter.2.Value.10", "b10"),
            ("Filter.2.Value.9", "b9"),
            ("Filter.9.Name", "i"),
            ("DryRun", "false"),
            ("Filter.2.Name", "b"),
            ("Filter.2.Value.1", "b1"),
            ("AllRegions", "true"),
        ]);
        let tree = Node::tree(&sent);
        assert_eq!(
            listing(&tree),
            vec![
                ("AllRegions", Some("true")),
                ("DryRun", Some("false")),
                ("Filter", None),
                ("Filter.2", None),
                ("Filter.2.Name", Some("b")),
                ("Filter.2.Value", None),
                ("Filter.2.Value.1", Some("b1")),
                ("Filter.2.Value.9", Some("b9")),
                ("Filter.2.Value.10", Some("b10")),
                ("Filter.9", None),
                ("Filter.9.Name", Some("i")),
                ("Filter.10", None),
                ("Filter.10.Name", Some("j")),
            ]
        );
        // Each node names the first whole key below it, in that order.
        let filter = &tree.children()[2].1;
        assert_eq!(filter.key, "Filter.2.Name");
        assert_eq!(filter.children()[1].1.key, "Filter.9.Name");
    }

    #[test]
    fn indexes_of_any_length_come_before_names_and_in_numeric_order() {
        let keys = [
            "X.a",
            "X.100000000000000000000000",
            "X.10",
            "X.9",
            "X.01",
            "X.1",
            "X.1a",
            "X.",
            "X.B",
        ];
        let sent: Vec<(String, String)> = keys
            .iter()
            .map(|k| (k.to_string(), String::new()))
            .collect();
        let tree = Node::tree(&sent);
        let order: Vec<&str> = tree.children()[0]
            .1
            .children()
            .iter()
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(
            order,
            vec![
                "01",
                "1",
                "9",
                "10",
                "100000000000000000000000",
                "",
                "1a",
                "B",
                "a"
            ]
        );
    }

    #[test]
    fn keys_that_mix_indexes_and_names_neither_panic_nor_split_a_member() {
        // The comparison used to order `9` < `10` as numbers but `10` < `1a` < `9` as text:
        // no total order, and the standard sort panics on it past a few dozen keys.
        let mut sent = Vec::new();
        for i in 0..200 {
            sent.push((format!("Filter.{i}.Name"), "n".to_string()));
            sent.push((format!("Filter.{i}a.Name"), "n".to_string()));
            sent.push((format!("Filter.{i}.Value.1"), "v".to_string()));
        }
        let tree = Node::tree(&sent);
        assert_eq!(tree.children().len(), 1);
        let items = tree.children()[0].1.children();
        assert_eq!(items.len(), 400);
        let mut segments: Vec<&str> = items.iter().map(|(s, _)| *s).collect();
        segments.dedup();
        assert_eq!(
            segments.len(),
            400,
            "a segment came twice: a member split in two"
        );
        assert!(items[..200].iter().all(|(s, _)| is_index(s)));
        assert_eq!(
            message(input::DescribeRegionsRequest::from_node(&tree).unwrap_err()),
            "The parameter Filter.0a.Name is not recognized"
        );
    }

    #[test]
    fn of_a_key_sent_twice_the_first_value_wins() {
        let sent = pairs(&[
            ("RegionName.1", "first"),
            ("Filter.1.Name", "region-name"),
            ("RegionName.1", "second"),
            ("Filter.1.Value.1", "a"),
            ("Filter.1.Name", "endpoint"),
            ("Filter.1.Value.1", "b"),
            ("AllRegions", "true"),
            ("AllRegions", "nonsense"),
        ]);
        let req = input::DescribeRegionsRequest::from_node(&Node::tree(&sent)).unwrap();
        assert_eq!(
            req,
            input::DescribeRegionsRequest {
                region_names: vec!["first".into()],
                all_regions: Some(true),
                dry_run: None,
                filters: vec![input::Filter {
                    name: Some("region-name".into()),
                    values: vec!["a".into()],
                }],
            }
        );
    }

    #[test]
    fn unknown_keys_are_named_whole() {
        let err = |keys: &[(&str, &str)]| {
            let sent = pairs(keys);
            message(input::DescribeRegionsRequest::from_node(&Node::tree(&sent)).unwrap_err())
        };
        assert_eq!(
            err(&[("Filter.1.Name", "x"), ("Filter.1.Bogus.3", "y")]),
            "The parameter Filter.1.Bogus.3 is not recognized"
        );
        // Below a scalar; an unknown member with several keys: the first in order.
        assert_eq!(
            err(&[("RegionName.1.x", "y")]),
            "The parameter RegionName.1.x is not recognized"
        );
        assert_eq!(
            err(&[("Bogus.10.b", "y"), ("Bogus.9.a", "y")]),
            "The parameter Bogus.9.a is not recognized"
        );
        // A value sent to a structure, and an index that is not plain digits.
        assert_eq!(
            err(&[("Filter.1", "x"), ("Filter.1.Name", "y")]),
            "The parameter Filter.1 is not recognized"
        );
        assert_eq!(
            err(&[("RegionName.+1", "x")]),
            "The parameter RegionName.+1 is not recognized"
        );
        assert_eq!(
            err(&[("RegionName.-1", "x")]),
            "The parameter RegionName.-1 is not recognized"
        );
        // An empty value for a structure or a list is let be (an empty list).
        let sent = pairs(&[("Filter", ""), ("RegionName", "")]);
        let req = input::DescribeRegionsRequest::from_node(&Node::tree(&sent)).unwrap();
        assert_eq!(req, input::DescribeRegionsRequest::default());
    }

    /// A list of structures with a required member, as the generator writes its parser (no
    /// served action has one in a list today: the model's TagSpecification has none).
    #[derive(Debug, PartialEq)]
    struct Spec {
        resource_type: String,
        tags: Vec<String>,
    }

    impl Spec {
        fn from_node(node: &Node<'_>) -> Result<Self, ApiError> {
            no_value(node)?;
            let mut resource_type = None;
            let mut tags = Vec::new();
            for (segment, child) in node.children() {
                match *segment {
                    "ResourceType" => resource_type = Some(string(child)?),
                    "Tag" => tags = list(child, string)?,
                    _ => return Err(unknown(child)),
                }
            }
            Ok(Spec {
                resource_type: resource_type.ok_or_else(|| missing(node, "ResourceType"))?,
                tags,
            })
        }
    }

    fn specs(keys: &[(&str, &str)]) -> Result<Vec<Spec>, ApiError> {
        let sent = pairs(keys);
        let tree = Node::tree(&sent);
        let mut out = Vec::new();
        for (segment, child) in tree.children() {
            match *segment {
                "TagSpecification" => out = list(child, Spec::from_node)?,
                "MissingRoot" => return Err(missing(&tree, "Root")),
                _ => return Err(unknown(child)),
            }
        }
        Ok(out)
    }

    #[test]
    fn missing_members_are_named_by_their_whole_path() {
        assert_eq!(
            message(specs(&[("TagSpecification.1.Tag.1", "a")]).unwrap_err()),
            "The request must contain the parameter TagSpecification.1.ResourceType"
        );
        assert_eq!(
            message(
                specs(&[
                    ("TagSpecification.1.ResourceType", "instance"),
                    ("TagSpecification.12.Tag.1", "a"),
                ])
                .unwrap_err()
            ),
            "The request must contain the parameter TagSpecification.12.ResourceType"
        );
        assert_eq!(
            message(specs(&[("MissingRoot", "")]).unwrap_err()),
            "The request must contain the parameter Root"
        );
        assert_eq!(
            specs(&[
                ("TagSpecification.2.ResourceType", "volume"),
                ("TagSpecification.1.Tag.2", "b"),
                ("TagSpecification.1.ResourceType", "instance"),
                ("TagSpecification.1.Tag.1", "a"),
            ])
            .unwrap(),
            vec![
                Spec {
                    resource_type: "instance".into(),
                    tags: vec!["a".into(), "b".into()],
                },
                Spec {
                    resource_type: "volume".into(),
                    tags: vec![],
                },
            ]
        );
        // The generated parsers: a required member of a nested structure, and of the request.
        let sent = pairs(&[
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("Monitoring.Bogus", ""),
        ]);
        assert_eq!(
            message(input::RunInstancesRequest::from_node(&Node::tree(&sent)).unwrap_err()),
            "The parameter Monitoring.Bogus is not recognized"
        );
        let sent = pairs(&[("MinCount", "1"), ("MaxCount", "1"), ("Monitoring", "")]);
        assert_eq!(
            message(input::RunInstancesRequest::from_node(&Node::tree(&sent)).unwrap_err()),
            "The request must contain the parameter Monitoring.Enabled"
        );
        let sent = pairs(&[("MaxCount", "1")]);
        assert_eq!(
            message(input::RunInstancesRequest::from_node(&Node::tree(&sent)).unwrap_err()),
            "The request must contain the parameter MinCount"
        );
    }

    fn read<T>(value: &str, reader: fn(&Node<'_>) -> Result<T, ApiError>) -> Result<T, String> {
        let sent = pairs(&[("Key", value)]);
        let tree = Node::tree(&sent);
        reader(&tree.children()[0].1).map_err(message)
    }

    #[test]
    fn scalars_are_read_as_botocore_writes_them() {
        assert_eq!(read("x y", string), Ok("x y".to_string()));
        assert_eq!(read("", string), Ok(String::new()));
        assert_eq!(read("true", boolean), Ok(true));
        assert_eq!(read("FALSE", boolean), Ok(false));
        assert_eq!(read("True", boolean), Ok(true));
        assert_eq!(
            read("1", boolean),
            Err("Invalid value '1' for Key. Expected a boolean: 'true' or 'false'.".into())
        );
        assert_eq!(
            read("", boolean),
            Err("Invalid value '' for Key. Expected a boolean: 'true' or 'false'.".into())
        );
        assert_eq!(read("42", int32), Ok(42));
        assert_eq!(read(" -7 ", int32), Ok(-7));
        assert_eq!(read("2147483647", int32), Ok(i32::MAX));
        assert_eq!(
            read("2147483648", int32),
            Err("Invalid value '2147483648' for Key. Expected an integer.".into())
        );
        assert_eq!(
            read("1.0", int32),
            Err("Invalid value '1.0' for Key. Expected an integer.".into())
        );
        assert_eq!(read("2147483648", int64), Ok(2_147_483_648));
        assert_eq!(read("1.5", double), Ok(1.5));
        assert_eq!(read("1", double), Ok(1.0));
        // botocore's words for the floats JSON has no numbers for.
        assert_eq!(read("Infinity", double), Ok(f64::INFINITY));
        assert_eq!(read("-Infinity", double), Ok(f64::NEG_INFINITY));
        assert!(read("NaN", double).is_ok_and(f64::is_nan));
        assert_eq!(
            read("one", double),
            Err("Invalid value 'one' for Key. Expected a number.".into())
        );
        // A scalar with a key below it.
        let sent = pairs(&[("Key", "v"), ("Key.Sub", "w")]);
        let tree = Node::tree(&sent);
        assert_eq!(
            string(&tree.children()[0].1).map_err(message),
            Err("The parameter Key.Sub is not recognized".into())
        );
    }

    #[test]
    fn refusals_match_whole_segments_and_plain_indexes() {
        const REFUSALS: &[(&[&str], Refusal)] = &[(
            &["NetworkInterface", "*", "Ipv6AddressCount"],
            Refusal::UnsupportedOperation,
        )];
        let hit = |key: &str| refuse(&pairs(&[("MinCount", "1"), (key, "1")]), REFUSALS).is_err();
        assert!(hit("NetworkInterface.1.Ipv6AddressCount"));
        assert!(hit("NetworkInterface.12.Ipv6AddressCount"));
        assert!(hit("NetworkInterface.1.Ipv6AddressCount.x"));
        assert!(!hit("NetworkInterface.1.Ipv6AddressCountX"));
        assert!(!hit("NetworkInterface.+1.Ipv6AddressCount"));
        assert!(!hit("NetworkInterface.Ipv6AddressCount"));
        assert!(!hit("NetworkInterface.1"));
        let err = refuse(
            &pairs(&[
                ("NetworkInterface.2.Ipv6AddressCount", "1"),
                ("NetworkInterface.1.Ipv6AddressCount", "1"),
            ]),
            REFUSALS,
        )
        .unwrap_err();
        assert_eq!(
            message(err),
            "The parameter NetworkInterface.2.Ipv6AddressCount is not supported by this gateway."
        );
    }

    #[test]
    fn a_key_of_any_depth_keeps_the_tree_shallow() {
        // A megabyte of `A.A.A...`: deeper than MAX_DEPTH, the rest of the key is one segment,
        // and dropping the tree does not overflow the stack.
        let key = "A.".repeat(500_000) + "A";
        let sent = vec![(key.clone(), "x".to_string())];
        let tree = Node::tree(&sent);
        let mut node = &tree;
        let mut depth = 0;
        while let Some((segment, child)) = node.children().first() {
            depth += 1;
            assert_eq!(child.key, key);
            if depth < MAX_DEPTH {
                assert_eq!(*segment, "A");
            } else {
                assert_eq!(segment.len(), key.len() - 2 * (MAX_DEPTH - 1));
            }
            node = child;
        }
        assert_eq!(depth, MAX_DEPTH);
        assert_eq!(node.value, Some("x"));
        assert_eq!(node.path, key);
        // Deep keys sort among the others as the tree keeps them.
        let deep = |tail: &str| format!("{}{tail}", "B.".repeat(MAX_DEPTH - 1));
        let sent = pairs(&[
            (&deep("x.2"), "2"),
            (&deep("x.10"), "10"),
            (&deep("x.2"), "again"),
        ]);
        let tree = Node::tree(&sent);
        let got = listing(&tree);
        assert_eq!(got.len(), MAX_DEPTH + 1);
        assert_eq!(got[MAX_DEPTH - 1], (&*sent[1].0, Some("10")));
        assert_eq!(got[MAX_DEPTH], (&*sent[0].0, Some("2")));
    }

    #[test]
    fn ten_thousand_items_parse_fast_and_in_order() {
        let n = 10_000;
        let mut sent = Vec::new();
        // Sent in reverse, with a filter of n values and n tags, so sorting does real work.
        for i in (1..=n).rev() {
            sent.push((format!("RegionName.{i}"), format!("r{i}")));
            sent.push((format!("Filter.1.Value.{i}"), format!("v{i}")));
        }
        sent.push(("Filter.1.Name".into(), "region-name".into()));
        let started = Instant::now();
        let req = input::DescribeRegionsRequest::from_node(&Node::tree(&sent)).unwrap();
        let took = started.elapsed();
        let expected: Vec<String> = (1..=n).map(|i| format!("r{i}")).collect();
        assert_eq!(req.region_names, expected);
        let values: Vec<String> = (1..=n).map(|i| format!("v{i}")).collect();
        assert_eq!(req.filters[0].values, values);
        // Unoptimised, this takes tens of milliseconds; a quadratic path would take seconds.
        assert!(took < Duration::from_secs(2), "{took:?} for {n} items");
    }

    #[test]
    fn a_hundred_thousand_keys_are_not_quadratic() {
        // An UnknownParameter at the end of a long list: every key is still sorted and
        // placed once, then read once.
        let mut sent: Vec<(String, String)> = (1..=100_000)
            .map(|i| (format!("RegionName.{i}"), String::new()))
            .collect();
        sent.push(("RegionName.x".into(), String::new()));
        let started = Instant::now();
        let err = input::DescribeRegionsRequest::from_node(&Node::tree(&sent)).unwrap_err();
        let took = started.elapsed();
        assert_eq!(message(err), "The parameter RegionName.x is not recognized");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn answers_are_written_as_ec2_writes_them() {
        #[derive(Default)]
        struct Item {
            name: Option<String>,
            count: Option<i32>,
            on: Option<bool>,
        }
        impl XmlContent for Item {
            fn write_content(&self, out: &mut String) {
                if let Some(v) = &self.name {
                    xml_element(out, "name", v);
                }
                if let Some(v) = &self.count {
                    xml_element(out, "count", v);
                }
                if let Some(v) = &self.on {
                    xml_element(out, "on", v);
                }
            }
        }
        struct Body(Vec<Item>, Vec<String>);
        impl XmlContent for Body {
            fn write_content(&self, out: &mut String) {
                xml_list(out, "itemSet", "item", &self.0);
                xml_list(out, "emptySet", "item", &self.1);
            }
        }
        let mut out = String::new();
        write_response(
            &mut out,
            "DescribeThings",
            "req-1",
            &Body(
                vec![
                    Item {
                        name: Some("a<b]]>\r\n".into()),
                        count: Some(-3),
                        on: Some(false),
                    },
                    Item::default(),
                ],
                vec![],
            ),
        );
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeThingsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-1</requestId>\
             <itemSet><item><name>a&lt;b]]&gt;&#xD;\n</name><count>-3</count><on>false</on></item>\
             <item></item></itemSet><emptySet/>\
             </DescribeThingsResponse>"
        );
        let mut out = String::new();
        write_response(&mut out, "DeleteThing", "req-2", &Return(true));
        assert!(out
            .ends_with("<requestId>req-2</requestId><return>true</return></DeleteThingResponse>"));
    }
}
