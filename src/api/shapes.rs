//! XML shapes many actions share.

use serde::Serialize;

use crate::engine::tags::Tag;
use crate::protocol::xml::Items;

#[derive(Debug, Serialize)]
pub struct TagItem {
    pub key: String,
    pub value: String,
}

/// A `tagSet`.
pub fn tag_set(tags: Vec<Tag>) -> Items<TagItem> {
    tags.into_iter()
        .map(|t| TagItem {
            key: t.key,
            value: t.value,
        })
        .collect::<Vec<_>>()
        .into()
}

/// A list of XML items, each made from one engine value.
pub fn items<T, U: From<T>>(values: Vec<T>) -> Items<U> {
    values.into_iter().map(U::from).collect::<Vec<_>>().into()
}

/// `<return>true</return>`, the answer of actions with nothing else to say.
#[derive(Debug, Serialize)]
pub struct Return {
    #[serde(rename = "return")]
    pub value: bool,
}

pub const RETURN_TRUE: Return = Return { value: true };
