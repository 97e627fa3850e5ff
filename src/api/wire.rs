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

impl<'a> Node<'a> {
    /// Builds the tree; of a key sent twice, the first value wins.
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
        let mut end = 0;
        for segment in key.split('.') {
            end += segment.len();
            let path = &key[..end];
            end += 1;
            // Keys are sorted, so a child that exists is the last one.
            if node.children.last().map(|(s, _)| *s) != Some(segment) {
                node.children.push((
                    segment,
                    Node {
                        path,
                        key,
                        value: None,
                        children: Vec::new(),
                    },
                ));
            }
            let last = node.children.len() - 1;
            node = &mut node.children[last].1;
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

    /// The tree without the top-level keys `names` (Action and Version).
    pub fn without(mut self, names: &[&str]) -> Node<'a> {
        self.children.retain(|(s, _)| !names.contains(s));
        self
    }
}

/// Segment by segment; segments that are both numbers compare as numbers (`2` before `10`).
fn compare_keys(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(s), Some(t)) => {
                let order = match (s.parse::<u64>(), t.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n).then_with(|| s.cmp(t)),
                    _ => s.cmp(t),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
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
        if index.parse::<u32>().is_err() {
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
                Some(s) if *p == "*" => s.parse::<u32>().is_ok(),
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
