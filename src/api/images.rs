//! DescribeImages, DeregisterImage, DescribeImageAttribute, ModifyImageAttribute.

use serde::Serialize;

use super::error::ApiError;
use super::params::{refuse_ids_with_max_results, Params};
use super::shapes::{tag_set, TagItem};
use super::Principal;
use crate::engine::images::{Grantee, Image, ImageAttribute, ImageChange, ImageSearch};
use crate::engine::paging::Page;
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeImages {
    pub dry_run: bool,
    pub search: ImageSearch,
    pub page: Page,
}

impl DescribeImages {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let image_ids = p.list("ImageId");
        let page = p.page(1, 1000)?;
        refuse_ids_with_max_results(&image_ids, &page, "imageIdsSet")?;
        // Deprecation and disabling are not modelled here: every image is current.
        p.bool("IncludeDeprecated")?;
        p.bool("IncludeDisabled")?;
        Ok(DescribeImages {
            dry_run: p.dry_run()?,
            search: ImageSearch {
                image_ids,
                owners: p.list("Owner"),
                executable_by: p.list("ExecutableBy"),
                filters: p.filters()?,
            },
            page,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeregisterImage {
    pub dry_run: bool,
    pub image_id: String,
}

impl DeregisterImage {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        // There are no snapshots behind images here, so there is nothing more to delete.
        p.bool("DeleteAssociatedSnapshots")?;
        Ok(DeregisterImage {
            image_id: p.required("ImageId")?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeImageAttribute {
    pub dry_run: bool,
    pub image_id: String,
    pub attribute: String,
}

impl DescribeImageAttribute {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeImageAttribute {
            attribute: p.required("Attribute")?,
            image_id: p.required("ImageId")?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyImageAttribute {
    pub dry_run: bool,
    pub image_id: String,
    pub change: ImageChange,
}

fn grantees(p: &mut Params, prefix: &str) -> Result<Vec<Grantee>, ApiError> {
    let mut out = Vec::new();
    for (n, fields) in p.groups(prefix) {
        for (field, value) in fields {
            match field.as_str() {
                "Group" if value == "all" => out.push(Grantee::All),
                "Group" => {
                    return Err(ApiError::InvalidParameterValue(format!(
                        "Invalid attribute item value \"{value}\" for group item type."
                    )))
                }
                "UserId" => out.push(Grantee::Account(value)),
                _ => return Err(ApiError::UnknownParameter(format!("{prefix}.{n}.{field}"))),
            }
        }
    }
    Ok(out)
}

impl ModifyImageAttribute {
    /// Both forms: `LaunchPermission.Add.N.UserId` and the older `OperationType` with
    /// `UserId.N` / `UserGroup.N` (what `aws ec2 modify-image-attribute --user-ids` sends).
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let image_id = p.required("ImageId")?;
        let attribute = p.string("Attribute");
        let mut change = ImageChange {
            description: p.string("Description.Value"),
            add: grantees(p, "LaunchPermission.Add")?,
            remove: grantees(p, "LaunchPermission.Remove")?,
        };
        let value = p.string("Value");
        let mut listed: Vec<Grantee> = p.list("UserId").into_iter().map(Grantee::Account).collect();
        for group in p.list("UserGroup") {
            if group != "all" {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Invalid attribute item value \"{group}\" for group item type."
                )));
            }
            listed.push(Grantee::All);
        }
        match p.string("OperationType").as_deref() {
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
        match attribute.as_deref() {
            Some("description") if change.description.is_none() => change.description = value,
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
        Ok(ModifyImageAttribute {
            dry_run: p.dry_run()?,
            image_id,
            change,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeImagesResult {
    #[serde(rename = "imagesSet")]
    images_set: Items<ImageItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct ImageItem {
    #[serde(rename = "imageId")]
    image_id: String,
    #[serde(rename = "imageLocation")]
    image_location: String,
    #[serde(rename = "imageState")]
    image_state: String,
    #[serde(rename = "imageOwnerId")]
    image_owner_id: String,
    #[serde(rename = "creationDate")]
    creation_date: String,
    #[serde(rename = "isPublic")]
    is_public: bool,
    architecture: String,
    #[serde(rename = "imageType")]
    image_type: &'static str,
    #[serde(rename = "platformDetails")]
    platform_details: &'static str,
    #[serde(rename = "usageOperation")]
    usage_operation: &'static str,
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(rename = "rootDeviceType")]
    root_device_type: &'static str,
    #[serde(rename = "rootDeviceName")]
    root_device_name: String,
    #[serde(rename = "blockDeviceMapping")]
    block_device_mapping: Items<BlockDeviceItem>,
    #[serde(rename = "virtualizationType")]
    virtualization_type: &'static str,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
    hypervisor: &'static str,
    #[serde(rename = "bootMode")]
    boot_mode: &'static str,
}

#[derive(Debug, Serialize)]
struct BlockDeviceItem {
    #[serde(rename = "deviceName")]
    device_name: String,
    ebs: EbsItem,
}

#[derive(Debug, Serialize)]
struct EbsItem {
    #[serde(rename = "deleteOnTermination")]
    delete_on_termination: bool,
    #[serde(rename = "volumeSize")]
    volume_size: i32,
    #[serde(rename = "volumeType")]
    volume_type: &'static str,
    encrypted: bool,
}

fn block_devices(image: &Image) -> Items<BlockDeviceItem> {
    vec![BlockDeviceItem {
        device_name: image.row.root_device_name.clone(),
        ebs: EbsItem {
            delete_on_termination: true,
            volume_size: image.row.size_gib,
            volume_type: "gp3",
            encrypted: false,
        },
    }]
    .into()
}

impl From<Image> for ImageItem {
    fn from(image: Image) -> Self {
        let block_device_mapping = block_devices(&image);
        let image_location = image.location();
        let row = image.row;
        ImageItem {
            image_id: row.image_id,
            image_location,
            image_state: row.state,
            image_owner_id: row.owner_id,
            creation_date: row.created_at,
            is_public: row.is_public,
            architecture: row.architecture,
            image_type: "machine",
            platform_details: "Linux/UNIX",
            usage_operation: "RunInstances",
            name: row.name,
            description: row.description,
            root_device_type: "ebs",
            root_device_name: row.root_device_name,
            block_device_mapping,
            virtualization_type: "hvm",
            tag_set: tag_set(image.tags),
            hypervisor: "xen",
            boot_mode: "legacy-bios",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ImageAttributeResult {
    #[serde(rename = "imageId")]
    image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Value>,
    #[serde(rename = "launchPermission", skip_serializing_if = "Option::is_none")]
    launch_permission: Option<Items<LaunchPermissionItem>>,
    #[serde(rename = "blockDeviceMapping", skip_serializing_if = "Option::is_none")]
    block_device_mapping: Option<Items<BlockDeviceItem>>,
    #[serde(rename = "productCodes", skip_serializing_if = "Option::is_none")]
    product_codes: Option<Items<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ramdisk: Option<Empty>,
    #[serde(rename = "sriovNetSupport", skip_serializing_if = "Option::is_none")]
    sriov_net_support: Option<Empty>,
    #[serde(rename = "bootMode", skip_serializing_if = "Option::is_none")]
    boot_mode: Option<Value>,
    #[serde(rename = "tpmSupport", skip_serializing_if = "Option::is_none")]
    tpm_support: Option<Empty>,
    #[serde(rename = "uefiData", skip_serializing_if = "Option::is_none")]
    uefi_data: Option<Empty>,
    #[serde(rename = "lastLaunchedTime", skip_serializing_if = "Option::is_none")]
    last_launched_time: Option<Empty>,
    #[serde(rename = "imdsSupport", skip_serializing_if = "Option::is_none")]
    imds_support: Option<Empty>,
    #[serde(
        rename = "deregistrationProtection",
        skip_serializing_if = "Option::is_none"
    )]
    deregistration_protection: Option<Value>,
}

#[derive(Debug, Serialize)]
struct Value {
    value: String,
}

/// An attribute element with nothing in it: the image has no such value.
#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
struct LaunchPermissionItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'static str>,
    #[serde(rename = "userId", skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

fn attribute_result(image_id: String, attribute: ImageAttribute) -> ImageAttributeResult {
    let mut result = ImageAttributeResult {
        image_id,
        description: None,
        launch_permission: None,
        block_device_mapping: None,
        product_codes: None,
        kernel: None,
        ramdisk: None,
        sriov_net_support: None,
        boot_mode: None,
        tpm_support: None,
        uefi_data: None,
        last_launched_time: None,
        imds_support: None,
        deregistration_protection: None,
    };
    match attribute {
        ImageAttribute::Description(value) => result.description = Some(Value { value }),
        ImageAttribute::LaunchPermission { public, accounts } => {
            let mut items: Vec<LaunchPermissionItem> = Vec::new();
            if public {
                items.push(LaunchPermissionItem {
                    group: Some("all"),
                    user_id: None,
                });
            }
            items.extend(accounts.into_iter().map(|a| LaunchPermissionItem {
                group: None,
                user_id: Some(a),
            }));
            result.launch_permission = Some(items.into());
        }
        ImageAttribute::BlockDeviceMapping(image) => {
            result.block_device_mapping = Some(block_devices(&image))
        }
        ImageAttribute::Empty(name) => match name {
            "productCodes" => result.product_codes = Some(Vec::new().into()),
            "kernel" => result.kernel = Some(Empty {}),
            "ramdisk" => result.ramdisk = Some(Empty {}),
            "sriovNetSupport" => result.sriov_net_support = Some(Empty {}),
            "bootMode" => {
                result.boot_mode = Some(Value {
                    value: "legacy-bios".into(),
                })
            }
            "tpmSupport" => result.tpm_support = Some(Empty {}),
            "uefiData" => result.uefi_data = Some(Empty {}),
            "lastLaunchedTime" => result.last_launched_time = Some(Empty {}),
            "imdsSupport" => result.imds_support = Some(Empty {}),
            _ => {
                result.deregistration_protection = Some(Value {
                    value: "disabled".into(),
                })
            }
        },
    }
    result
}

pub async fn describe_images(
    engine: &Engine,
    who: &Principal,
    req: DescribeImages,
) -> Result<DescribeImagesResult, ApiError> {
    let (images, next_token) = engine
        .describe_images(&who.account_id, req.search, req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeImagesResult {
        images_set: images
            .into_iter()
            .map(ImageItem::from)
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}

pub async fn deregister_image(
    engine: &Engine,
    who: &Principal,
    req: DeregisterImage,
) -> Result<(), ApiError> {
    if req.dry_run {
        engine
            .image_attribute(&who.account_id, &req.image_id, "description")
            .await?;
        return Err(ApiError::DryRunOperation);
    }
    Ok(engine
        .deregister_image(&who.account_id, &req.image_id)
        .await?)
}

pub async fn describe_image_attribute(
    engine: &Engine,
    who: &Principal,
    req: DescribeImageAttribute,
) -> Result<ImageAttributeResult, ApiError> {
    let attribute = engine
        .image_attribute(&who.account_id, &req.image_id, &req.attribute)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(attribute_result(req.image_id, attribute))
}

pub async fn modify_image_attribute(
    engine: &Engine,
    who: &Principal,
    req: ModifyImageAttribute,
) -> Result<(), ApiError> {
    if req.dry_run {
        engine
            .image_attribute(&who.account_id, &req.image_id, "description")
            .await?;
        return Err(ApiError::DryRunOperation);
    }
    Ok(engine
        .modify_image_attribute(&who.account_id, &req.image_id, req.change)
        .await?)
}
