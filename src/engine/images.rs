//! Machine images: imported by the operator (`ec2gw admin image import`), described, shared
//! and deregistered through the API.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::accounts::Admin;
use super::ids::{self, Kind};
use super::paging::Page;
use super::tags::{tag_sets, Tag};
use super::{timestamp_now, Engine, EngineError};
use crate::domain::ImageState;
use crate::filter::{first_unknown, Filter};
use crate::store::images::{self as rows, ImageQuery, ImageRow, Launcher};
use crate::store::DbConnection;

pub const ROOT_DEVICE_NAME: &str = "/dev/xvda";
pub const ARCHITECTURES: &[&str] = &["x86_64", "arm64", "i386"];
const GIB: u64 = 1 << 30;

/// An image as a caller sees it, with the tags the caller put on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub row: ImageRow,
    pub tags: Vec<Tag>,
}

impl Image {
    /// `owner/name`, as EC2 shows for images it did not make from a manifest.
    pub fn location(&self) -> String {
        format!("{}/{}", self.row.owner_id, self.row.name)
    }
}

/// What DescribeImages asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSearch {
    pub image_ids: Vec<String>,
    pub owners: Vec<String>,
    pub executable_by: Vec<String>,
    pub filters: Vec<Filter>,
}

/// Who gains or loses launch permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    All,
    Account(String),
}

/// What ModifyImageAttribute changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageChange {
    pub description: Option<String>,
    pub add: Vec<Grantee>,
    pub remove: Vec<Grantee>,
}

/// What DescribeImageAttribute answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageAttribute {
    Description(String),
    LaunchPermission {
        public: bool,
        accounts: Vec<String>,
    },
    BlockDeviceMapping(Box<Image>),
    /// An attribute EC2 defines that no image here has a value for (kernel, ramdisk, ...).
    Empty(&'static str),
}

/// The attribute names DescribeImageAttribute takes, as EC2 spells them.
pub const ATTRIBUTES: &[&str] = &[
    "description",
    "kernel",
    "ramdisk",
    "launchPermission",
    "productCodes",
    "blockDeviceMapping",
    "sriovNetSupport",
    "bootMode",
    "tpmSupport",
    "uefiData",
    "lastLaunchedTime",
    "imdsSupport",
    "deregistrationProtection",
];

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An image the caller may see (owner, public or granted), or NotFound.
fn visible(
    conn: &mut DbConnection,
    account_id: &str,
    image_id: &str,
) -> Result<ImageRow, EngineError> {
    ids::check_well_formed(Kind::Image, &[image_id.to_owned()])?;
    let not_found = || EngineError::NotFound {
        kind: Kind::Image,
        ids: vec![image_id.to_owned()],
    };
    let row = rows::find(conn, image_id)?
        .filter(|r| r.state != ImageState::Deregistered)
        .ok_or_else(not_found)?;
    if rows::may_launch(conn, &row, account_id)? {
        Ok(row)
    } else {
        Err(not_found())
    }
}

/// An image the caller owns: NotFound if invisible, AuthFailure if someone else's.
fn owned(
    conn: &mut DbConnection,
    account_id: &str,
    image_id: &str,
) -> Result<ImageRow, EngineError> {
    let row = visible(conn, account_id, image_id)?;
    if row.owner_id != account_id {
        return Err(EngineError::NotAuthorizedFor(format!("image:{image_id}")));
    }
    Ok(row)
}

impl Engine {
    /// DescribeImages, filtered and paged in the database.
    pub async fn describe_images(
        &self,
        account_id: &str,
        search: ImageSearch,
        page: Page,
    ) -> Result<(Vec<Image>, Option<String>), EngineError> {
        ids::check_well_formed(Kind::Image, &search.image_ids)?;
        let plain: Vec<Filter> = search
            .filters
            .iter()
            .filter(|f| !f.name.starts_with("tag:"))
            .cloned()
            .collect();
        if let Some(name) = first_unknown(&plain, rows::FILTERS) {
            return Err(EngineError::UnknownFilter(name.to_owned()));
        }
        let viewer = account_id.to_owned();
        let mut owners: Vec<String> = Vec::new();
        for owner in &search.owners {
            match owner.as_str() {
                "self" => owners.push(viewer.clone()),
                o if is_account_id(o) => owners.push(o.to_owned()),
                // amazon, aws-marketplace, aws-backup-vault: no such owner here; match nothing.
                _ => owners.push(String::new()),
            }
        }
        let executable_by = search
            .executable_by
            .iter()
            .map(|e| match e.as_str() {
                "all" => Launcher::All,
                "self" => Launcher::Account(viewer.clone()),
                other => Launcher::Account(other.to_owned()),
            })
            .collect();
        let scope = format!("DescribeImages/{account_id}");
        let (after, limit) = self.pager().start(&scope, &page)?;
        let query = ImageQuery {
            viewer: viewer.clone(),
            image_ids: search.image_ids.clone(),
            owners,
            executable_by,
            filters: search.filters,
            after,
            limit,
        };
        let (rows, mut sets) = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                let rows = rows::describe(conn, &query)?;
                let ids: Vec<String> = rows.iter().map(|r| r.image_id.clone()).collect();
                Ok((rows, tag_sets(conn, &query.viewer, &ids)?))
            })
            .await?;
        if !search.image_ids.is_empty() {
            let missing: Vec<String> = search
                .image_ids
                .iter()
                .filter(|id| !rows.iter().any(|r| &r.image_id == *id))
                .cloned()
                .collect();
            // Ids that exist but were filtered out are not missing; only unknown ones are.
            let unknown = {
                let store = self.store().clone();
                let viewer = viewer.clone();
                store
                    .run::<_, EngineError, _>(move |conn| {
                        let mut unknown = Vec::new();
                        for id in missing {
                            if visible(conn, &viewer, &id).is_err() {
                                unknown.push(id);
                            }
                        }
                        Ok(unknown)
                    })
                    .await?
            };
            if !unknown.is_empty() {
                return Err(EngineError::NotFound {
                    kind: Kind::Image,
                    ids: unknown,
                });
            }
        }
        let (rows, token) = self
            .pager()
            .finish(&scope, &page, rows, |r| r.image_id.clone());
        let images = rows
            .into_iter()
            .map(|row| Image {
                tags: sets.remove(&row.image_id).unwrap_or_default(),
                row,
            })
            .collect();
        Ok((images, token))
    }

    /// DeregisterImage: the image is no longer described or launchable; its disk stays while
    /// instances may still use it.
    pub async fn deregister_image(
        &self,
        account_id: &str,
        image_id: &str,
    ) -> Result<(), EngineError> {
        let (account_id, image_id) = (account_id.to_owned(), image_id.to_owned());
        let mode = self.mode();
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    owned(conn, &account_id, &image_id)?;
                    crate::store::tags::delete_everyones(conn, &image_id)?;
                    Ok(rows::set_state(conn, &image_id, ImageState::Deregistered)?)
                })
            })
            .await
    }

    /// DescribeImageAttribute; only the owner may read an image's attributes.
    pub async fn image_attribute(
        &self,
        account_id: &str,
        image_id: &str,
        attribute: &str,
    ) -> Result<ImageAttribute, EngineError> {
        let Some(&attribute) = ATTRIBUTES.iter().find(|a| **a == attribute) else {
            return Err(EngineError::InvalidImageAttribute(attribute.to_owned()));
        };
        let (account_id, image_id) = (account_id.to_owned(), image_id.to_owned());
        self.store()
            .run(move |conn| {
                let row = owned(conn, &account_id, &image_id)?;
                Ok(match attribute {
                    "description" => ImageAttribute::Description(row.description),
                    "launchPermission" => ImageAttribute::LaunchPermission {
                        public: row.is_public,
                        accounts: rows::launch_permissions(conn, &image_id)?,
                    },
                    "blockDeviceMapping" => ImageAttribute::BlockDeviceMapping(Box::new(Image {
                        row,
                        tags: Vec::new(),
                    })),
                    other => ImageAttribute::Empty(other),
                })
            })
            .await
    }

    /// ModifyImageAttribute: description and launch permissions, all or nothing.
    pub async fn modify_image_attribute(
        &self,
        account_id: &str,
        image_id: &str,
        change: ImageChange,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        if change.description.is_none() && change.add.is_empty() && change.remove.is_empty() {
            return Err(EngineError::InvalidParameterCombination(
                "No attributes specified.".into(),
            ));
        }
        for grantee in change.add.iter().chain(&change.remove) {
            if let Grantee::Account(id) = grantee {
                if !is_account_id(id) {
                    return Err(EngineError::InvalidAttributeItem(id.clone()));
                }
            }
        }
        let (account_id, image_id) = (account_id.to_owned(), image_id.to_owned());
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    owned(conn, &account_id, &image_id)?;
                    if let Some(description) = &change.description {
                        rows::set_description(conn, &image_id, description)?;
                    }
                    for grantee in &change.add {
                        match grantee {
                            Grantee::All => rows::set_public(conn, &image_id, true)?,
                            Grantee::Account(id) => rows::grant(conn, &image_id, id)?,
                        }
                    }
                    for grantee in &change.remove {
                        match grantee {
                            Grantee::All => rows::set_public(conn, &image_id, false)?,
                            Grantee::Account(id) => rows::revoke(conn, &image_id, id)?,
                        }
                    }
                    Ok(())
                })
            })
            .await
    }
}

/// What `ec2gw admin image import` asks for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    /// The owner; None means the only account there is.
    pub account_id: Option<String>,
    pub public: bool,
    pub architecture: String,
    pub data_dir: PathBuf,
}

/// What qemu-img says of a disk image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    pub format: String,
    pub virtual_size: u64,
    pub has_backing_file: bool,
}

/// Reads `qemu-img info --output=json` output.
pub fn parse_qemu_img_info(json: &str) -> Result<DiskInfo, EngineError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| EngineError::Io(format!("qemu-img info: {e}")))?;
    let format = value["format"]
        .as_str()
        .ok_or_else(|| EngineError::Io("qemu-img info gave no format".into()))?;
    let virtual_size = value["virtual-size"]
        .as_u64()
        .ok_or_else(|| EngineError::Io("qemu-img info gave no virtual-size".into()))?;
    Ok(DiskInfo {
        format: format.to_owned(),
        virtual_size,
        has_backing_file: value.get("backing-filename").is_some(),
    })
}

fn disk_info(file: &Path) -> Result<DiskInfo, EngineError> {
    let output = Command::new("qemu-img")
        .args(["info", "--output=json", "--"])
        .arg(file)
        .output()
        .map_err(|e| EngineError::Io(format!("cannot run qemu-img (install qemu-utils): {e}")))?;
    if !output.status.success() {
        return Err(EngineError::InvalidParameterValue(format!(
            "{} is not a disk image qemu-img can read: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_qemu_img_info(&String::from_utf8_lossy(&output.stdout))
}

/// The images directory: QEMU may enter it, and only the gateway list it.
pub const IMAGES_DIR_MODE: u32 = 0o711;
/// An image file: QEMU opens it read-only as a backing file.
pub const IMAGE_FILE_MODE: u32 = 0o644;

fn set_mode(path: &Path, mode: u32) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| EngineError::Io(format!("chmod {}: {e}", path.display())))
}

/// Copies `from` to `to` through a temporary name, hashing as it goes; `progress` hears
/// (bytes copied, total) now and then. Returns the SHA-256 in hex.
fn copy_hashed(
    from: &Path,
    to: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<String, EngineError> {
    let io = |e: std::io::Error| EngineError::Io(format!("copying {}: {e}", from.display()));
    let mut input = std::fs::File::open(from).map_err(io)?;
    let total = input.metadata().map_err(io)?.len();
    let partial = to.with_extension("partial");
    let mut output = std::fs::File::create(&partial).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        output.write_all(&buffer[..n]).map_err(io)?;
        copied += n as u64;
        progress(copied, total);
    }
    output.sync_all().map_err(io)?;
    drop(output);
    std::fs::rename(&partial, to).map_err(io)?;
    Ok(hex::encode(hasher.finalize()))
}

impl Admin<'_> {
    /// Imports a qcow2 or raw disk as a new available image.
    pub fn import_image(
        &self,
        request: &ImportRequest,
        progress: impl FnMut(u64, u64),
    ) -> Result<Image, EngineError> {
        if !ARCHITECTURES.contains(&request.architecture.as_str()) {
            return Err(EngineError::InvalidParameterValue(format!(
                "architecture must be one of {}",
                ARCHITECTURES.join(", ")
            )));
        }
        let owner = match &request.account_id {
            Some(id) => id.clone(),
            None => match self.list_accounts()?.as_slice() {
                [only] => only.account_id.clone(),
                _ => {
                    return Err(EngineError::InvalidParameterValue(
                        "there are several accounts: say which owns the image with --account"
                            .into(),
                    ))
                }
            },
        };
        let info = disk_info(&request.file)?;
        if info.format != "qcow2" && info.format != "raw" {
            return Err(EngineError::InvalidParameterValue(format!(
                "{} is {}; import qcow2 or raw images",
                request.file.display(),
                info.format
            )));
        }
        if info.has_backing_file {
            return Err(EngineError::InvalidParameterValue(format!(
                "{} has a backing file; flatten it first (qemu-img convert)",
                request.file.display()
            )));
        }
        let existing = self.store.run_now::<_, EngineError>(|conn| {
            Ok(rows::describe(
                conn,
                &ImageQuery {
                    viewer: owner.clone(),
                    owners: vec![owner.clone()],
                    filters: vec![Filter {
                        name: "name".into(),
                        values: vec![request
                            .name
                            .replace('\\', "\\\\")
                            .replace('*', "\\*")
                            .replace('?', "\\?")],
                    }],
                    ..ImageQuery::default()
                },
            )?)
        })?;
        if let Some(taken) = existing.first() {
            return Err(EngineError::DuplicateImageName {
                name: request.name.clone(),
                image_id: taken.image_id.clone(),
            });
        }
        let dir = request.data_dir.join("images");
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::Io(format!("cannot create {}: {e}", dir.display())))?;
        // QEMU (libvirt's own user) reads images as every instance's backing file: their
        // modes are set here, not left to the importing shell's umask.
        set_mode(&dir, IMAGES_DIR_MODE)?;
        let dir = dir
            .canonicalize()
            .map_err(|e| EngineError::Io(format!("{}: {e}", dir.display())))?;
        let image_id = ids::new_id(Kind::Image);
        let path = dir.join(format!("{image_id}.{}", info.format));
        let sha256 = copy_hashed(&request.file, &path, progress)?;
        set_mode(&path, IMAGE_FILE_MODE)?;
        let disk_bytes = std::fs::metadata(&path)
            .map_err(|e| EngineError::Io(format!("{}: {e}", path.display())))?
            .len();
        let row = ImageRow {
            image_id,
            owner_id: owner,
            name: request.name.clone(),
            description: request.description.clone(),
            state: ImageState::Available,
            architecture: request.architecture.clone(),
            is_public: request.public,
            root_device_name: ROOT_DEVICE_NAME.into(),
            size_gib: i32::try_from(info.virtual_size.div_ceil(GIB).max(1)).unwrap_or(i32::MAX),
            disk_path: path.to_string_lossy().into_owned(),
            disk_format: info.format,
            disk_bytes: i64::try_from(disk_bytes).unwrap_or(i64::MAX),
            sha256,
            created_at: timestamp_now(),
        };
        let inserted = self
            .store
            .run_now::<_, EngineError>(|conn| Ok(rows::insert(conn, &row)?));
        if let Err(e) = inserted {
            // No row points at the copy: remove it rather than leave an orphan.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Image {
            row,
            tags: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_qemu_img_info() {
        let info = parse_qemu_img_info(
            r#"{"virtual-size": 34603008, "filename": "base.qcow2", "cluster-size": 65536,
                "format": "qcow2", "actual-size": 16781312, "dirty-flag": false}"#,
        )
        .unwrap();
        assert_eq!(
            info,
            DiskInfo {
                format: "qcow2".into(),
                virtual_size: 34_603_008,
                has_backing_file: false
            }
        );
        let overlay = parse_qemu_img_info(
            r#"{"virtual-size": 1, "format": "qcow2", "backing-filename": "base.qcow2"}"#,
        )
        .unwrap();
        assert!(overlay.has_backing_file);
        assert!(parse_qemu_img_info("{}").is_err());
    }
}
