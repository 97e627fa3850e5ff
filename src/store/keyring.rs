//! Access key secrets at rest. SigV4 needs each secret itself to recompute signatures, so it
//! cannot be hashed; it is sealed instead (AES-256-GCM, a random nonce per secret) under a key
//! kept outside the database: a 0600 key file in the data directory, made at first start, or
//! `EC2GW_SECRET_KEY` when several gateways share one PostgreSQL database. Each row records the
//! id of the key that sealed it, so a keyring may hold several keys while a rotation re-seals
//! every row under a new one.
//!
//! A keyring's text (the file, or the variable) is keys in base64 (32 bytes each), one a line or
//! separated by commas, `#` comments allowed; the first seals, every one opens.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{DbConnection, StoreError};

/// The key file's name in the data directory.
pub const KEY_FILE_NAME: &str = "secret.key";
/// The variable that holds the keys instead of a file (and wins over it).
pub const KEY_ENV: &str = "EC2GW_SECRET_KEY";

const NONCE_BYTES: usize = 12;

const FILE_HEADER: &str = "\
# ec2gw secret keys: AES-256-GCM keys in base64, one a line. The first seals access key
# secrets, every one opens them. Keep this file 0600, out of the database's backups, and
# safe: without it the database's access keys cannot be used. `ec2gw admin secrets rotate`
# replaces the key.
";

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("{origin}: {detail}")]
    Malformed { origin: String, detail: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database's access key secrets are sealed under key {}, but the key file {} does \
         not exist: restore it (from the gateway that made the database, or a backup), or set \
         {KEY_ENV}",
        ids.join(", "),
        path.display()
    )]
    MissingKeyFile { path: PathBuf, ids: Vec<String> },
    #[error(
        "the database's access key secrets are sealed under key {}, which {origin} does not \
         hold (it holds {}): use the key file or {KEY_ENV} of the gateways on this database",
        missing.join(", "),
        held.join(", ")
    )]
    UnknownKeys {
        origin: String,
        missing: Vec<String>,
        held: Vec<String>,
    },
    #[error("access key {0} is stored in plain text; `ec2gw serve` seals such keys at start-up")]
    Unsealed(String),
    #[error(
        "the sealed secret of access key {access_key_id} does not open under key {key_id}: it \
         was altered, or copied from another access key or account"
    )]
    Corrupt {
        access_key_id: String,
        key_id: String,
    },
}

/// One 256-bit key and its id, a digest of the key: the same key has the same id wherever it
/// is loaded, and the id tells nothing about the key.
pub struct MasterKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

fn key_id(bytes: &[u8; 32]) -> String {
    let digest = Sha256::new()
        .chain_update(b"ec2gw secret key id\0")
        .chain_update(bytes)
        .finalize();
    hex::encode(&digest[..8])
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(Zeroizing::new(rand::random()))
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> MasterKey {
        MasterKey {
            id: key_id(&bytes),
            bytes,
        }
    }

    /// A key in base64 (standard alphabet, padded), as `openssl rand -base64 32` prints one.
    pub fn from_base64(text: &str) -> Option<MasterKey> {
        let decoded = Zeroizing::new(BASE64.decode(text.trim()).ok()?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().ok()?;
        Some(MasterKey::from_bytes(Zeroizing::new(bytes)))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(*self.bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*self.bytes))
    }

    fn duplicate(&self) -> MasterKey {
        MasterKey::from_bytes(self.bytes.clone())
    }
}

/// A secret sealed under a key: the key's id and base64 of the nonce and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub text: String,
}

/// The keys a gateway holds; never empty.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(primary: MasterKey) -> Keyring {
        Keyring {
            keys: vec![primary],
        }
    }

    /// Reads a keyring's text; `origin` names where it came from, for the error.
    pub fn parse(text: &str, origin: &str) -> Result<Keyring, KeyringError> {
        let malformed = |detail: String| KeyringError::Malformed {
            origin: origin.to_owned(),
            detail,
        };
        let mut keys: Vec<MasterKey> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            for item in line.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                // The text is secret: the error says where, never what.
                let key = MasterKey::from_base64(item).ok_or_else(|| {
                    malformed(format!(
                        "line {} holds something other than a key (32 bytes in base64)",
                        n + 1
                    ))
                })?;
                if !keys.iter().any(|k| k.id == key.id) {
                    keys.push(key);
                }
            }
        }
        if keys.is_empty() {
            return Err(malformed("holds no key".into()));
        }
        Ok(Keyring { keys })
    }

    /// The key file's text.
    pub fn render(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::from(FILE_HEADER));
        for key in &self.keys {
            text.push_str(&key.to_base64());
            text.push('\n');
        }
        text
    }

    /// The key new secrets are sealed under.
    pub fn primary(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    pub fn holds(&self, key_id: &str) -> bool {
        self.keys.iter().any(|k| k.id == key_id)
    }

    /// This keyring with `key` first (sealing) and the others kept (opening).
    pub fn led_by(&self, key: MasterKey) -> Keyring {
        let mut keys = vec![key];
        for k in &self.keys {
            if k.id != keys[0].id {
                keys.push(k.duplicate());
            }
        }
        Keyring { keys }
    }

    /// A keyring of the primary key alone.
    pub fn primary_only(&self) -> Keyring {
        Keyring::new(self.primary().duplicate())
    }

    /// Seals `plaintext` under the primary key. `context` (the row's identity) is
    /// authenticated with it, so a sealed value opens only for the row it was made for.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Sealed {
        let key = self.primary();
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        // AES-GCM fails only on a message beyond 64 GiB; a secret is 40 bytes.
        let ciphertext = key.cipher().encrypt(&nonce, payload).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key.id.clone(),
            text: BASE64.encode(bytes),
        }
    }

    /// Opens what [`Keyring::seal`] made; None if this keyring lacks the key, or the value
    /// does not open (altered, or made for another context).
    pub fn open(&self, key_id: &str, context: &[u8], text: &str) -> Option<Zeroizing<Vec<u8>>> {
        let key = self.keys.iter().find(|k| k.id == key_id)?;
        let bytes = BASE64.decode(text).ok()?;
        if bytes.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: context,
        };
        key.cipher()
            .decrypt(Nonce::from_slice(nonce), payload)
            .ok()
            .map(Zeroizing::new)
    }
}

/// Where a gateway's keys come from.
pub enum KeySource {
    /// A key file, made (0600) with a fresh key when the database has nothing sealed yet.
    File(PathBuf),
    /// Keys given as text: `EC2GW_SECRET_KEY`.
    Environment(Zeroizing<String>),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "KeySource::File({})", path.display()),
            KeySource::Environment(_) => f.write_str("KeySource::Environment(<redacted>)"),
        }
    }
}

impl KeySource {
    /// `EC2GW_SECRET_KEY` if it is set, else the key file in `data_dir`.
    pub fn from_environment(data_dir: &Path) -> KeySource {
        match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => KeySource::Environment(Zeroizing::new(text)),
            _ => KeySource::File(data_dir.join(KEY_FILE_NAME)),
        }
    }

    /// Where the keys come from, for messages.
    pub fn origin(&self) -> String {
        match self {
            KeySource::File(path) => path.display().to_string(),
            KeySource::Environment(_) => KEY_ENV.to_owned(),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyringError + '_ {
    move |source| KeyringError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads a key file; None if there is none. A file others may read is made 0600 (and said so):
/// its key may have leaked, which a rotation mends.
pub fn read_key_file(path: &Path) -> Result<Option<Keyring>, KeyringError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mode = std::fs::metadata(path)
        .map_err(io_error(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format_args!("{:04o}", mode & 0o7777),
            "the key file was readable by others; made 0600 (rotate the key if anyone may have read it)"
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io_error(path))?;
    }
    Keyring::parse(&text, &path.display().to_string()).map(Some)
}

/// Writes `ring` to a new key file (0600 from the start); false if the file exists already.
pub fn create_key_file(path: &Path, ring: &Keyring) -> Result<bool, KeyringError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_error(path)(e)),
    };
    file.write_all(ring.render().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(true)
}

/// Replaces the key file with `ring` in one rename, so a crash leaves the old file or the new
/// one, never half of either.
pub fn replace_key_file(path: &Path, ring: &Keyring) -> Result<(), KeyringError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    if !create_key_file(&partial, ring)? {
        return Err(io_error(&partial)(std::io::Error::from(
            ErrorKind::AlreadyExists,
        )));
    }
    std::fs::rename(&partial, path).map_err(io_error(path))?;
    sync_parent(path)
}

fn sync_parent(path: &Path) -> Result<(), KeyringError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_error(parent))
}

/// A store's keys: read from their source the first time they are needed (so commands that
/// never touch a secret never make a key file), checked against the database, kept in memory,
/// and read again when a row names a key they lack (a rotation by another process).
pub struct Keys {
    source: KeySource,
    ring: RwLock<Option<Arc<Keyring>>>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("source", &self.source)
            .finish()
    }
}

impl Keys {
    pub fn new(source: KeySource) -> Keys {
        Keys {
            source,
            ring: RwLock::new(None),
        }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The keyring, loaded if it is not yet.
    pub fn ring(&self, conn: &mut DbConnection) -> Result<Arc<Keyring>, StoreError> {
        let cached = self
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match cached {
            Some(ring) => Ok(ring),
            None => self.reload(conn),
        }
    }

    /// Reads the keys from their source again, making the key file if there is none and
    /// nothing is sealed yet, and refuses keys that cannot open every sealed row.
    pub fn reload(&self, conn: &mut DbConnection) -> Result<Arc<Keyring>, StoreError> {
        let sealed_under = super::accounts::sealed_key_ids(conn)?;
        let ring = match &self.source {
            KeySource::Environment(text) => Keyring::parse(text, KEY_ENV)?,
            KeySource::File(path) => match read_key_file(path)? {
                Some(ring) => ring,
                None if !sealed_under.is_empty() => {
                    return Err(KeyringError::MissingKeyFile {
                        path: path.clone(),
                        ids: sealed_under,
                    }
                    .into())
                }
                None => {
                    let fresh = Keyring::new(MasterKey::generate());
                    if create_key_file(path, &fresh)? {
                        tracing::info!(file = %path.display(), key = fresh.primary().id(), "made a new secret key file");
                        fresh
                    } else {
                        // Another process made it meanwhile: theirs is the one.
                        read_key_file(path)?.ok_or_else(|| KeyringError::Io {
                            path: path.clone(),
                            source: ErrorKind::NotFound.into(),
                        })?
                    }
                }
            },
        };
        let missing: Vec<String> = sealed_under
            .into_iter()
            .filter(|id| !ring.holds(id))
            .collect();
        if !missing.is_empty() {
            return Err(KeyringError::UnknownKeys {
                origin: self.source.origin(),
                missing,
                held: ring.ids(),
            }
            .into());
        }
        Ok(self.remember(ring))
    }

    /// Keeps `ring` as the keys in use.
    pub fn remember(&self, ring: Keyring) -> Arc<Keyring> {
        let ring = Arc::new(ring);
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Some(ring.clone());
        ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed key (never a real one): 32 bytes 0x00..0x1f.
    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    #[test]
    fn keys_are_named_by_a_digest() {
        let a = MasterKey::from_base64(KEY_A).unwrap();
        // Pinned: rows record it, so it must never change for the same key.
        assert_eq!(a.id(), "06b0bc05ed754161");
        assert_eq!(*a.to_base64(), KEY_A);
        assert_eq!(format!("{a:?}"), "MasterKey(06b0bc05ed754161)");
        assert_ne!(MasterKey::generate().id(), MasterKey::generate().id());
        assert!(MasterKey::from_base64("AAEC").is_none(), "3 bytes");
        assert!(MasterKey::from_base64("not base64!").is_none());
    }

    #[test]
    fn reads_lines_commas_and_comments() {
        let ring = Keyring::parse(&format!("# comment\n{KEY_B}\n\n  {KEY_A} \n"), "f").unwrap();
        let b = MasterKey::from_base64(KEY_B).unwrap();
        assert_eq!(ring.primary().id(), b.id());
        assert_eq!(ring.ids().len(), 2);
        let env = Keyring::parse(&format!("{KEY_A},{KEY_B},{KEY_A}"), "EC2GW_SECRET_KEY").unwrap();
        assert_eq!(
            env.ids(),
            vec!["06b0bc05ed754161".to_owned(), b.id().to_owned()]
        );
        let e = Keyring::parse(&format!("{KEY_A}\nAAEC\n"), "/d/secret.key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/d/secret.key: line 2 holds something other than a key (32 bytes in base64)"
        );
        let e = Keyring::parse("# nothing\n\n", "EC2GW_SECRET_KEY").unwrap_err();
        assert_eq!(e.to_string(), "EC2GW_SECRET_KEY: holds no key");
    }

    #[test]
    fn the_file_reads_back_as_written() {
        let ring = Keyring::parse(&format!("{KEY_B}\n{KEY_A}"), "f").unwrap();
        let text = ring.render();
        assert!(text.starts_with("# ec2gw secret keys: AES-256-GCM keys in base64"));
        assert!(text.ends_with(&format!("\n{KEY_B}\n{KEY_A}\n")));
        assert_eq!(Keyring::parse(&text, "f").unwrap().ids(), ring.ids());
    }

    #[test]
    fn sealed_secrets_open_only_for_their_row_and_key() {
        let ring = Keyring::parse(KEY_A, "f").unwrap();
        let secret = b"iZbTmuyPAAb1UlR/3lM7n5rSpI6hrkry+tG4q0aW";
        let sealed = ring.seal(b"row-1", secret);
        assert_eq!(sealed.key_id, "06b0bc05ed754161");
        // 12 bytes of nonce, 40 of secret, 16 of tag.
        assert_eq!(BASE64.decode(&sealed.text).unwrap().len(), 68);
        assert!(!sealed.text.contains("iZbTmuy"));
        assert_eq!(
            ring.open(&sealed.key_id, b"row-1", &sealed.text)
                .unwrap()
                .as_slice(),
            secret
        );
        // A fresh nonce each time.
        assert_ne!(ring.seal(b"row-1", secret).text, sealed.text);
        assert!(ring.open(&sealed.key_id, b"row-2", &sealed.text).is_none());
        let mut altered = BASE64.decode(&sealed.text).unwrap();
        altered[20] ^= 1;
        assert!(ring
            .open(&sealed.key_id, b"row-1", &BASE64.encode(altered))
            .is_none());
        let other = Keyring::parse(KEY_B, "f").unwrap();
        assert!(other.open(&sealed.key_id, b"row-1", &sealed.text).is_none());
        // A rotation's keyring seals under the new key and still opens the old one's.
        let rotated = ring.led_by(MasterKey::from_base64(KEY_B).unwrap());
        assert_eq!(rotated.primary().id(), other.primary().id());
        assert!(rotated
            .open(&sealed.key_id, b"row-1", &sealed.text)
            .is_some());
        assert_eq!(rotated.seal(b"row-1", secret).key_id, other.primary().id());
        assert_eq!(rotated.primary_only().ids(), other.ids());
    }

    #[test]
    fn key_files_are_made_0600_and_tightened_if_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        assert!(read_key_file(&path).unwrap().is_none());
        let ring = Keyring::new(MasterKey::generate());
        assert!(create_key_file(&path, &ring).unwrap());
        assert!(!create_key_file(&path, &Keyring::new(MasterKey::generate())).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key_file(&path).unwrap().unwrap().ids(), ring.ids());

        let next = ring.led_by(MasterKey::generate());
        replace_key_file(&path, &next).unwrap();
        assert_eq!(read_key_file(&path).unwrap().unwrap().ids(), next.ids());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_key_file(&path).unwrap().unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no partial file left"
        );
    }

    #[test]
    fn sources_never_show_their_keys() {
        let source = KeySource::Environment(Zeroizing::new(KEY_A.to_owned()));
        assert_eq!(format!("{source:?}"), "KeySource::Environment(<redacted>)");
        assert_eq!(source.origin(), "EC2GW_SECRET_KEY");
        let file = KeySource::File("/var/lib/ec2gw/secret.key".into());
        assert_eq!(file.origin(), "/var/lib/ec2gw/secret.key");
    }
}
