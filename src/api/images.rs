//! DescribeImages, DeregisterImage, DescribeImageAttribute, ModifyImageAttribute.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{
    attribute_value as value, empty_attribute as empty, filters, page, refuse_ids_with_max_results,
    tag_set,
};
use super::Principal;
use crate::engine::images::{Grantee, Image, ImageAttribute, ImageChange, ImageSearch};
use crate::engine::Engine;

fn block_devices(image: &Image) -> Vec<output::BlockDeviceMapping> {
    vec![output::BlockDeviceMapping {
        device_name: Some(image.row.root_device_name.clone()),
        ebs: Some(output::EbsBlockDevice {
            delete_on_termination: Some(true),
            volume_size: Some(image.row.size_gib),
            volume_type: Some("gp3".into()),
            encrypted: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

fn image(image: Image) -> output::Image {
    let block_device_mappings = Some(block_devices(&image));
    let image_location = Some(image.location());
    let row = image.row;
    output::Image {
        image_id: Some(row.image_id),
        image_location,
        state: Some(row.state.as_str().into()),
        owner_id: Some(row.owner_id),
        creation_date: Some(row.created_at),
        public: Some(row.is_public),
        architecture: Some(row.architecture),
        image_type: Some("machine".into()),
        platform_details: Some("Linux/UNIX".into()),
        usage_operation: Some("RunInstances".into()),
        name: Some(row.name),
        description: Some(row.description).filter(|d| !d.is_empty()),
        root_device_type: Some("ebs".into()),
        root_device_name: Some(row.root_device_name),
        block_device_mappings,
        virtualization_type: Some("hvm".into()),
        tags: tag_set(image.tags),
        hypervisor: Some("xen".into()),
        boot_mode: Some("legacy-bios".into()),
        ..Default::default()
    }
}

fn attribute_result(image_id: String, attribute: ImageAttribute) -> output::ImageAttribute {
    let mut result = output::ImageAttribute {
        image_id: Some(image_id),
        ..Default::default()
    };
    match attribute {
        ImageAttribute::Description(v) => result.description = value(&v),
        ImageAttribute::LaunchPermission { public, accounts } => {
            let mut items = Vec::new();
            if public {
                items.push(output::LaunchPermission {
                    group: Some("all".into()),
                    ..Default::default()
                });
            }
            items.extend(accounts.into_iter().map(|a| output::LaunchPermission {
                user_id: Some(a),
                ..Default::default()
            }));
            result.launch_permissions = Some(items);
        }
        ImageAttribute::BlockDeviceMapping(image) => {
            result.block_device_mappings = Some(block_devices(&image))
        }
        ImageAttribute::Empty(name) => match name {
            "productCodes" => result.product_codes = Some(Vec::new()),
            "kernel" => result.kernel_id = empty(),
            "ramdisk" => result.ramdisk_id = empty(),
            "sriovNetSupport" => result.sriov_net_support = empty(),
            "bootMode" => result.boot_mode = value("legacy-bios"),
            "tpmSupport" => result.tpm_support = empty(),
            "uefiData" => result.uefi_data = empty(),
            "lastLaunchedTime" => result.last_launched_time = empty(),
            "imdsSupport" => result.imds_support = empty(),
            _ => result.deregistration_protection = value("disabled"),
        },
    }
    result
}

pub async fn describe_images(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeImagesRequest,
) -> Result<output::DescribeImagesResult, ApiError> {
    let page = page(req.max_results, req.next_token, 1, 1000)?;
    refuse_ids_with_max_results(&req.image_ids, &page, "imageIdsSet")?;
    // IncludeDeprecated and IncludeDisabled: neither is modelled, every image is current.
    let search = ImageSearch {
        image_ids: req.image_ids,
        owners: req.owners,
        executable_by: req.executable_users,
        filters: filters(req.filters)?,
    };
    let (images, next_token) = engine
        .describe_images(&who.account_id, search, page)
        .await?;
    Ok(output::DescribeImagesResult {
        images: Some(images.into_iter().map(image).collect()),
        next_token,
    })
}

pub async fn deregister_image(
    engine: &Engine,
    who: &Principal,
    req: input::DeregisterImageRequest,
) -> Result<output::DeregisterImageResult, ApiError> {
    // There are no snapshots behind images here: DeleteAssociatedSnapshots has nothing to do.
    engine
        .deregister_image(&who.account_id, &req.image_id)
        .await?;
    Ok(output::DeregisterImageResult {
        return_: Some(true),
        ..Default::default()
    })
}

pub async fn describe_image_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeImageAttributeRequest,
) -> Result<output::ImageAttribute, ApiError> {
    let attribute = engine
        .image_attribute(&who.account_id, &req.image_id, &req.attribute)
        .await?;
    Ok(attribute_result(req.image_id, attribute))
}

fn grantees(permissions: Vec<input::LaunchPermission>) -> Result<Vec<Grantee>, ApiError> {
    let mut out = Vec::new();
    for p in permissions {
        match p.group.as_deref() {
            Some("all") => out.push(Grantee::All),
            Some(other) => {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Invalid attribute item value \"{other}\" for group item type."
                )))
            }
            None => {}
        }
        if let Some(account) = p.user_id {
            out.push(Grantee::Account(account));
        }
    }
    Ok(out)
}

/// Both forms: `LaunchPermission.Add.N.UserId` and the older `OperationType` with `UserId.N` /
/// `UserGroup.N` (what `aws ec2 modify-image-attribute --user-ids` sends).
fn image_change(req: &mut input::ModifyImageAttributeRequest) -> Result<ImageChange, ApiError> {
    let permission = req.launch_permission.take().unwrap_or_default();
    let mut change = ImageChange {
        description: req.description.take().and_then(|d| d.value),
        add: grantees(permission.add)?,
        remove: grantees(permission.remove)?,
    };
    let mut listed: Vec<Grantee> = req.user_ids.drain(..).map(Grantee::Account).collect();
    for group in req.user_groups.drain(..) {
        if group != "all" {
            return Err(ApiError::InvalidParameterValue(format!(
                "Invalid attribute item value \"{group}\" for group item type."
            )));
        }
        listed.push(Grantee::All);
    }
    match req.operation_type.as_deref() {
        Some("add") => change.add.append(&mut listed),
        Some("remove") => change.remove.append(&mut listed),
        Some(other) => {
            return Err(ApiError::InvalidParameterValue(format!(
            "Value ({other}) for parameter operationType is invalid. Valid values are add, remove."
        )))
        }
        None if !listed.is_empty() => {
            return Err(ApiError::MissingParameter("OperationType".into()))
        }
        None => {}
    }
    match req.attribute.as_deref() {
        Some("description") if change.description.is_none() => {
            change.description = req.value.take()
        }
        Some("launchPermission") if change.add.is_empty() && change.remove.is_empty() => {
            return Err(ApiError::MissingParameter("LaunchPermission".into()))
        }
        Some("description" | "launchPermission") | None => {}
        Some(other) => {
            return Err(ApiError::InvalidParameterValue(format!(
                "Value ({other}) for parameter attribute is invalid. Only description and launchPermission can be modified."
            )))
        }
    }
    Ok(change)
}

pub async fn modify_image_attribute(
    engine: &Engine,
    who: &Principal,
    mut req: input::ModifyImageAttributeRequest,
) -> Result<(), ApiError> {
    let change = image_change(&mut req)?;
    Ok(engine
        .modify_image_attribute(&who.account_id, &req.image_id, change)
        .await?)
}
