//! The compute engine: accounts, regions and zones now; images, instances and tags later.
//! It knows nothing of HTTP or XML; it speaks in typed values and [`EngineError`].

pub mod accounts;
pub mod filter;
pub mod regions;

use crate::store::{Store, StoreError};

/// What the engine serves, fixed at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub region: String,
    /// The host (and port) clients reach this gateway at, shown as the region's endpoint.
    pub endpoint_host: String,
    pub zones: Vec<ZoneSetting>,
    /// The instance limit shown as the `max-instances` account attribute.
    pub max_instances: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSetting {
    pub name: String,
    pub id: String,
}

/// Why the engine refused or failed a call.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A filter name this resource does not know.
    #[error("unknown filter {0:?}")]
    UnknownFilter(String),
    /// A region name that is not this gateway's.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// A zone name that is not one of this region's.
    #[error("unknown availability zone {0:?}")]
    UnknownZone(String),
    /// A zone id that is not one of this region's.
    #[error("unknown availability zone id {0:?}")]
    UnknownZoneId(String),
    /// An account attribute name EC2 does not define.
    #[error("unknown account attribute {0:?}")]
    UnknownAccountAttribute(String),
    /// An account id that does not exist.
    #[error("no such account {0:?}")]
    NoSuchAccount(String),
    /// An access key id that does not exist.
    #[error("no such access key {0:?}")]
    NoSuchAccessKey(String),
}

/// The engine; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: std::sync::Arc<Settings>,
}

impl Engine {
    pub fn new(store: Store, settings: Settings) -> Engine {
        Engine {
            store,
            settings: std::sync::Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Now, as EC2 writes times: RFC 3339, UTC, milliseconds.
pub fn timestamp_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
