//! DescribeVolumes and DeleteVolume.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, page, refuse_ids_with_max_results, tag_set};
use super::Principal;
use crate::engine::volumes::Volume;
use crate::engine::Engine;

fn volume(v: Volume) -> output::Volume {
    let row = v.row;
    // Attached while an instance holds it; `available` ones have no attachment.
    let attachment = match (row.instance_id, row.device, row.attach_time) {
        (Some(instance_id), Some(device), Some(attach_time)) => vec![output::VolumeAttachment {
            volume_id: Some(row.volume_id.clone()),
            instance_id: Some(instance_id),
            device: Some(device),
            state: Some("attached".into()),
            attach_time: Some(attach_time),
            delete_on_termination: Some(row.delete_on_termination),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    output::Volume {
        attachments: Some(attachment),
        volume_id: Some(row.volume_id),
        size: Some(row.size_gib),
        snapshot_id: Some(String::new()),
        availability_zone: Some(row.availability_zone),
        state: Some(row.state.as_str().into()),
        create_time: Some(row.created_at),
        tags: tag_set(v.tags),
        volume_type: Some("gp3".into()),
        iops: Some(3000),
        throughput: Some(125),
        encrypted: Some(false),
        multi_attach_enabled: Some(false),
        ..Default::default()
    }
}

pub async fn describe_volumes(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeVolumesRequest,
) -> Result<output::DescribeVolumesResult, ApiError> {
    // "If MaxResults is given a value larger than 500, only 500 items are returned" (the AWS
    // CLI sends 1000 by default).
    let mut page = page(req.max_results, req.next_token, 5, i64::MAX)?;
    page.max_results = page.max_results.map(|n| n.min(500));
    refuse_ids_with_max_results(&req.volume_ids, &page, "volumeSet")?;
    let (volumes, next_token) = engine
        .describe_volumes(&who.account_id, req.volume_ids, filters(req.filters)?, page)
        .await?;
    Ok(output::DescribeVolumesResult {
        volumes: Some(volumes.into_iter().map(volume).collect()),
        next_token,
    })
}

pub async fn delete_volume(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteVolumeRequest,
) -> Result<(), ApiError> {
    engine
        .delete_volume(&who.account_id, &req.volume_id)
        .await?;
    Ok(())
}
