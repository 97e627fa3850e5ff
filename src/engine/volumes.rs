//! Volumes: each instance's root volume (attached at launch, gone with the instance unless
//! launched with DeleteOnTermination=false, then `available` until DeleteVolume).
//! DescribeVolumes and DeleteVolume; the reconciler moves the files.

use std::path::{Path, PathBuf};

use super::ids::{self, Kind};
use super::paging::Page;
use super::tags::{tag_sets, Tag};
use super::{timestamp_now, Engine, EngineError};
use crate::domain::VolumeState;
use crate::filter::{any_match, Filter};
use crate::store::instances::InstanceRow;
use crate::store::volumes::{self as rows, VolumeQuery, VolumeRow};

/// A volume as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub row: VolumeRow,
    pub tags: Vec<Tag>,
}

/// Every volume here is gp3 and unencrypted: these filters are answered without SQL.
const CONSTANT_FILTERS: &[(&str, &str)] = &[("volume-type", "gp3"), ("encrypted", "false")];

/// Where a volume's disk is kept once its instance is gone.
pub fn volume_path(data_dir: &Path, volume_id: &str) -> PathBuf {
    data_dir.join("volumes").join(format!("{volume_id}.qcow2"))
}

/// The root volume of a new instance, attached to it.
pub fn root_volume(instance: &InstanceRow, device: &str) -> VolumeRow {
    VolumeRow {
        volume_id: instance.root_volume_id.clone(),
        account_id: instance.account_id.clone(),
        availability_zone: instance.availability_zone.clone(),
        size_gib: instance.root_size_gib,
        state: VolumeState::InUse,
        created_at: instance.launch_time.clone(),
        state_changed_at: instance.launch_time.clone(),
        instance_id: Some(instance.instance_id.clone()),
        device: Some(device.to_owned()),
        attach_time: Some(instance.launch_time.clone()),
        delete_on_termination: instance.root_delete_on_termination,
    }
}

/// `attachment.status` in terms of the columns: an attachment here is always `attached`; no
/// instance id is empty, so a filter on one matches nothing.
fn attachment_status(filter: Filter) -> Filter {
    if filter.name != "attachment.status" {
        return filter;
    }
    let attached = any_match(&filter.values, &["attached"]);
    Filter {
        name: "attachment.instance-id".into(),
        values: vec![if attached { "*" } else { "" }.to_owned()],
    }
}

impl Engine {
    /// DescribeVolumes: the caller's volumes, filtered and paged in the database.
    pub async fn describe_volumes(
        &self,
        account_id: &str,
        volume_ids: Vec<String>,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<Volume>, Option<String>), EngineError> {
        ids::check_well_formed(Kind::Volume, &volume_ids)?;
        let is_constant = |f: &Filter| CONSTANT_FILTERS.iter().any(|(name, _)| *name == f.name);
        let known = |f: &Filter| {
            f.name.starts_with("tag:")
                || is_constant(f)
                || f.name == "attachment.status"
                || rows::FILTERS.contains(&f.name.as_str())
        };
        if let Some(f) = filters.iter().find(|f| !known(f)) {
            return Err(EngineError::UnknownFilter(f.name.clone()));
        }
        let holds = CONSTANT_FILTERS.iter().all(|(name, value)| {
            filters
                .iter()
                .filter(|f| f.name == *name)
                .all(|f| any_match(&f.values, &[value]))
        });
        let scope = format!("DescribeVolumes/{account_id}");
        let (after, limit) = self.pager().start(&scope, &page)?;
        let query = VolumeQuery {
            account_id: account_id.to_owned(),
            volume_ids: volume_ids.clone(),
            filters: filters
                .into_iter()
                .filter(|f| !is_constant(f))
                .map(attachment_status)
                .collect(),
            after,
            limit,
        };
        let account = account_id.to_owned();
        let found = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                let found = rows::describe(conn, &query)?;
                let ids: Vec<String> = found.iter().map(|v| v.volume_id.clone()).collect();
                let mut sets = tag_sets(conn, &account, &ids)?;
                Ok(found
                    .into_iter()
                    .map(|row| Volume {
                        tags: sets.remove(&row.volume_id).unwrap_or_default(),
                        row,
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        let found = if holds { found } else { Vec::new() };
        let missing: Vec<String> = volume_ids
            .iter()
            .filter(|id| !found.iter().any(|v| &v.row.volume_id == *id))
            .cloned()
            .collect();
        if holds && !missing.is_empty() {
            return Err(EngineError::NotFound {
                kind: Kind::Volume,
                ids: missing,
            });
        }
        Ok(self
            .pager()
            .finish(&scope, &page, found, |v| v.row.volume_id.clone()))
    }

    /// DeleteVolume: an available volume becomes `deleting`; the reconciler removes its disk
    /// and marks it deleted.
    pub async fn delete_volume(
        &self,
        account_id: &str,
        volume_id: &str,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        ids::check_well_formed(Kind::Volume, &[volume_id.to_owned()])?;
        let account = account_id.to_owned();
        let id = volume_id.to_owned();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    let not_found = || EngineError::NotFound {
                        kind: Kind::Volume,
                        ids: vec![id.clone()],
                    };
                    let volume = rows::find(conn, &id)?
                        .filter(|v| v.account_id == account && v.state != VolumeState::Deleted)
                        .ok_or_else(not_found)?;
                    match volume.state {
                        VolumeState::Available => {
                            rows::transition(
                                conn,
                                &id,
                                VolumeState::Available,
                                VolumeState::Deleting,
                                &timestamp_now(),
                            )?;
                            Ok(())
                        }
                        VolumeState::InUse => Err(EngineError::VolumeInUse {
                            volume_id: id.clone(),
                            instance_id: volume.instance_id.unwrap_or_default(),
                        }),
                        // Already being deleted: as AWS, nothing more to do.
                        _ => Ok(()),
                    }
                })
            })
            .await?;
        self.wake_reconciler();
        Ok(())
    }
}
