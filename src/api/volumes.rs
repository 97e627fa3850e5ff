//! DescribeVolumes and DeleteVolume.

use serde::Serialize;

use super::error::ApiError;
use super::params::{refuse_ids_with_max_results, Params};
use super::shapes::{tag_set, TagItem};
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::paging::Page;
use crate::engine::volumes::Volume;
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVolumes {
    pub dry_run: bool,
    pub volume_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeVolumes {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let volume_ids = p.list("VolumeId");
        // "If MaxResults is given a value larger than 500, only 500 items are returned" (the
        // AWS CLI sends 1000 by default).
        let mut page = p.page(5, i64::MAX)?;
        page.max_results = page.max_results.map(|n| n.min(500));
        refuse_ids_with_max_results(&volume_ids, &page, "volumeSet")?;
        Ok(DescribeVolumes {
            volume_ids,
            filters: p.filters()?,
            page,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteVolume {
    pub dry_run: bool,
    pub volume_id: String,
}

impl DeleteVolume {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DeleteVolume {
            volume_id: p.required("VolumeId")?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeVolumesResult {
    #[serde(rename = "volumeSet")]
    volume_set: Items<VolumeItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct VolumeItem {
    #[serde(rename = "volumeId")]
    volume_id: String,
    size: i32,
    #[serde(rename = "snapshotId")]
    snapshot_id: &'static str,
    #[serde(rename = "availabilityZone")]
    availability_zone: String,
    status: String,
    #[serde(rename = "createTime")]
    create_time: String,
    #[serde(rename = "attachmentSet")]
    attachment_set: Items<VolumeAttachment>,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
    #[serde(rename = "volumeType")]
    volume_type: &'static str,
    iops: u32,
    throughput: u32,
    encrypted: bool,
    #[serde(rename = "multiAttachEnabled")]
    multi_attach_enabled: bool,
}

#[derive(Debug, Serialize)]
struct VolumeAttachment {
    #[serde(rename = "volumeId")]
    volume_id: String,
    #[serde(rename = "instanceId")]
    instance_id: String,
    device: String,
    status: &'static str,
    #[serde(rename = "attachTime")]
    attach_time: String,
    #[serde(rename = "deleteOnTermination")]
    delete_on_termination: bool,
}

impl From<Volume> for VolumeItem {
    fn from(v: Volume) -> Self {
        let row = v.row;
        // Attached while an instance holds it; `available` ones have no attachment.
        let attachment = match (row.instance_id, row.device, row.attach_time) {
            (Some(instance_id), Some(device), Some(attach_time)) => vec![VolumeAttachment {
                volume_id: row.volume_id.clone(),
                instance_id,
                device,
                status: "attached",
                attach_time,
                delete_on_termination: row.delete_on_termination,
            }],
            _ => Vec::new(),
        };
        VolumeItem {
            attachment_set: attachment.into(),
            volume_id: row.volume_id,
            size: row.size_gib,
            snapshot_id: "",
            availability_zone: row.availability_zone,
            status: row.state,
            create_time: row.created_at,
            tag_set: tag_set(v.tags),
            volume_type: "gp3",
            iops: 3000,
            throughput: 125,
            encrypted: false,
            multi_attach_enabled: false,
        }
    }
}

pub async fn describe_volumes(
    engine: &Engine,
    who: &Principal,
    req: DescribeVolumes,
) -> Result<DescribeVolumesResult, ApiError> {
    let (volumes, next_token) = engine
        .describe_volumes(&who.account_id, req.volume_ids, req.filters, req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeVolumesResult {
        volume_set: super::shapes::items(volumes),
        next_token,
    })
}

pub async fn delete_volume(
    engine: &Engine,
    who: &Principal,
    req: DeleteVolume,
) -> Result<(), ApiError> {
    if req.dry_run {
        // The checks DeleteVolume makes, without the deletion.
        let ids = vec![req.volume_id];
        let (found, _) = engine
            .describe_volumes(&who.account_id, ids, Vec::new(), Page::default())
            .await?;
        return Err(match found.first() {
            Some(v) if v.row.state == "in-use" => {
                ApiError::Engine(crate::engine::EngineError::VolumeInUse {
                    volume_id: v.row.volume_id.clone(),
                    instance_id: v.row.instance_id.clone().unwrap_or_default(),
                })
            }
            _ => ApiError::DryRunOperation,
        });
    }
    engine
        .delete_volume(&who.account_id, &req.volume_id)
        .await?;
    Ok(())
}
