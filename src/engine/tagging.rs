//! CreateTags, DeleteTags, DescribeTags: on any resource the caller may tag, all or nothing.

use super::ids::{self, Kind};
use super::network::AccountNetwork;
use super::paging::Page;
use super::tags::{check_tag, rows_for, Tag, TagDescription, MAX_TAGS};
use super::{Engine, EngineError};
use crate::domain::{ImageState, InstanceState, VolumeState};
use crate::filter::{first_unknown, Filter};
use crate::store::tags::{self as rows};
use crate::store::{images, key_pairs, DbConnection};

const FILTERS: &[&str] = &["key", "value", "resource-id", "resource-type"];

/// The kind of a resource the caller may tag (its own, or an image shared with it), or why
/// it cannot be tagged.
fn taggable(
    conn: &mut DbConnection,
    account_id: &str,
    network: &AccountNetwork,
    id: &str,
) -> Result<Kind, EngineError> {
    let kind = Kind::of(id).ok_or_else(|| EngineError::InvalidId(id.to_owned()))?;
    if !ids::is_well_formed(kind, id) {
        return Err(EngineError::InvalidId(id.to_owned()));
    }
    // A kind that takes no tags is, for CreateTags, a resource that is not there.
    let allowed = kind.descriptor().taggable
        && match kind {
            Kind::Image => {
                match images::find(conn, id)?.filter(|i| i.state != ImageState::Deregistered) {
                    Some(image) => images::may_launch(conn, &image, account_id)?,
                    None => false,
                }
            }
            Kind::KeyPair => key_pairs::find(conn, id)?.is_some_and(|k| k.account_id == account_id),
            Kind::Instance => crate::store::instances::find(conn, id)?.is_some_and(|i| {
                i.account_id == account_id && i.state != InstanceState::Terminated
            }),
            Kind::Volume => crate::store::volumes::find(conn, id)?
                .is_some_and(|v| v.account_id == account_id && v.state != VolumeState::Deleted),
            Kind::Vpc => network.vpc(id).is_some(),
            Kind::Subnet => network.subnet(id).is_some(),
            Kind::SecurityGroup => network.group(id).is_some(),
            Kind::InternetGateway => network.gateways.iter().any(|g| g.gateway_id == id),
            Kind::RouteTable => network.route_tables.iter().any(|t| t.route_table_id == id),
            Kind::NetworkInterface => network.interfaces.iter().any(|i| i.interface_id == id),
            Kind::NetworkAcl => network
                .vpcs
                .iter()
                .any(|v| super::network::derived_id("acl", account_id, &v.vpc_id) == id),
            Kind::DhcpOptions => {
                super::network::derived_id("dopt", account_id, "dhcp options") == id
            }
            Kind::Allocation => network
                .publics
                .iter()
                .any(|p| p.allocation_id.as_deref() == Some(id)),
            _ => false,
        };
    if allowed {
        Ok(kind)
    } else {
        Err(EngineError::NotFound {
            kind,
            ids: vec![id.to_owned()],
        })
    }
}

impl Engine {
    /// CreateTags: all or nothing, across every resource named.
    pub async fn create_tags(
        &self,
        account_id: &str,
        resource_ids: Vec<String>,
        tags: Vec<Tag>,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        for tag in &tags {
            check_tag(tag)?;
        }
        let network = self.account_network(account_id).await?;
        let account_id = account_id.to_owned();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    for id in &resource_ids {
                        let kind = taggable(conn, &account_id, &network, id)?;
                        let mut keys = rows::keys_of(conn, &account_id, id)?;
                        keys.extend(tags.iter().map(|t| t.key.clone()));
                        keys.sort_unstable();
                        keys.dedup();
                        if keys.len() > MAX_TAGS {
                            return Err(EngineError::TagLimitExceeded);
                        }
                        rows::put(conn, &rows_for(&account_id, kind, id, &tags))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// DeleteTags: each (key, optional value) from every resource named; no keys means every
    /// tag of those resources.
    pub async fn delete_tags(
        &self,
        account_id: &str,
        resource_ids: Vec<String>,
        tags: Vec<(String, Option<String>)>,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        let network = self.account_network(account_id).await?;
        let account_id = account_id.to_owned();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    for id in &resource_ids {
                        taggable(conn, &account_id, &network, id)?;
                        if tags.is_empty() {
                            rows::delete(conn, &account_id, id, None, None)?;
                        }
                        for (key, value) in &tags {
                            rows::delete(conn, &account_id, id, Some(key), value.as_deref())?;
                        }
                    }
                    Ok(())
                })
            })
            .await
    }

    /// DescribeTags: the caller's tags, filtered and paged in the database.
    pub async fn describe_tags(
        &self,
        account_id: &str,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<TagDescription>, Option<String>), EngineError> {
        let tag_filter = |f: &Filter| f.name.starts_with("tag:");
        let plain: Vec<Filter> = filters.iter().filter(|f| !tag_filter(f)).cloned().collect();
        if let Some(name) = first_unknown(&plain, FILTERS) {
            return Err(EngineError::UnknownFilter(name.to_owned()));
        }
        let scope = format!("DescribeTags/{account_id}");
        let (after, limit) = self.pager().start(&scope, &page)?;
        let after = after
            .map(|p| {
                p.split_once('\n')
                    .map(|(id, key)| (id.to_owned(), key.to_owned()))
                    .ok_or(EngineError::InvalidNextToken)
            })
            .transpose()?;
        let account = account_id.to_owned();
        let rows = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                Ok(rows::describe(conn, &account, &filters, after, limit)?)
            })
            .await?;
        let (rows, token) = self.pager().finish(&scope, &page, rows, |r| {
            format!("{}\n{}", r.resource_id, r.tag_key)
        });
        Ok((
            rows.into_iter()
                .map(|r| TagDescription {
                    resource_id: r.resource_id,
                    resource_type: r.resource_type,
                    key: r.tag_key,
                    value: r.tag_value,
                })
                .collect(),
            token,
        ))
    }
}
