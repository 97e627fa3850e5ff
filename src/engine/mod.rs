//! The compute engine: accounts, regions and zones now; images, instances and tags later.
//! It knows nothing of HTTP or XML; it speaks in typed values and [`EngineError`].

pub mod accounts;
pub mod ids;
pub mod images;
pub mod instance_types;
pub mod instances;
pub mod key_pairs;
pub mod keys;
pub mod launch;
pub mod network;
pub mod paging;
pub mod reconciler;
pub mod regions;
pub mod tagging;
pub mod tags;
pub mod volumes;

use crate::store::{DbConnection, Store, StoreError};

/// What the engine serves, fixed at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub region: String,
    /// The host (and port) clients reach this gateway at, shown as the region's endpoint.
    pub endpoint_host: String,
    pub zones: Vec<ZoneSetting>,
    /// The instance limit shown as the `max-instances` account attribute.
    pub max_instances: u32,
    pub instance_types: Vec<instance_types::InstanceTypeSpec>,
    /// Where instance disks and console logs live (absolute).
    pub data_dir: std::path::PathBuf,
    /// The host's capacity for instances that run.
    pub host_vcpus: i64,
    pub host_memory_mib: i64,
    /// How long a guest may take to power off after StopInstances before it is forced.
    pub stop_timeout: std::time::Duration,
    /// How long a guest may take to reboot after RebootInstances before it is reset.
    pub reboot_timeout: std::time::Duration,
    /// A launch that keeps failing this long in a way that may pass (libvirtd down) is given
    /// up: the instance ends terminated with the reason. A lasting failure (a disk QEMU may
    /// not read, a missing image file, a definition libvirt refuses) ends it at once.
    pub launch_timeout: std::time::Duration,
    /// How often the reconciler looks at libvirt when nothing wakes it.
    pub reconcile_interval: std::time::Duration,
    /// Where public addresses (Elastic IPs, those given at launch) come from.
    pub public_pool: crate::cidr::Cidr,
    /// EC2's per-region limits: VPCs and Elastic IPs per account.
    pub max_vpcs: i64,
    pub max_addresses: i64,
}

impl Settings {
    /// Settings for unit tests: one zone, small limits.
    #[cfg(test)]
    pub fn for_tests() -> Settings {
        Settings {
            region: "us-east-1".into(),
            endpoint_host: "localhost".into(),
            zones: vec![ZoneSetting {
                name: "us-east-1a".into(),
                id: "use1-az1".into(),
            }],
            max_instances: 20,
            instance_types: Vec::new(),
            data_dir: "/tmp".into(),
            host_vcpus: 8,
            host_memory_mib: 8192,
            stop_timeout: std::time::Duration::from_secs(1),
            reboot_timeout: std::time::Duration::from_secs(1),
            launch_timeout: std::time::Duration::from_secs(1),
            reconcile_interval: std::time::Duration::from_secs(1),
            public_pool: crate::cidr::Cidr::parse("198.18.0.0/15")
                .unwrap_or_else(|| unreachable!()),
            max_vpcs: 5,
            max_addresses: 5,
        }
    }
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
    /// InstanceInitiatedShutdownBehavior other than stop or terminate.
    #[error("invalid shutdown behavior {0:?}")]
    InvalidShutdownBehavior(String),
    /// A VPC attribute name EC2 does not define.
    #[error("unknown VPC attribute {0:?}")]
    UnknownVpcAttribute(String),
    /// An account attribute name EC2 does not define.
    #[error("unknown account attribute {0:?}")]
    UnknownAccountAttribute(String),
    /// An account id that does not exist.
    #[error("no such account {0:?}")]
    NoSuchAccount(String),
    /// An access key id that does not exist.
    #[error("no such access key {0:?}")]
    NoSuchAccessKey(String),
    /// A NextToken this gateway did not issue for this listing.
    #[error("invalid NextToken")]
    InvalidNextToken,
    /// An id that is not shaped like an id of its kind.
    #[error("malformed id {id:?}")]
    MalformedId { kind: ids::Kind, id: String },
    /// A resource id of no known kind (CreateTags and the like).
    #[error("invalid id {0:?}")]
    InvalidId(String),
    /// Resources that do not exist, or that the caller may not see.
    #[error("{kind:?} not found: {ids:?}")]
    NotFound { kind: ids::Kind, ids: Vec<String> },
    /// A security group (by id or name) that is not in the caller's VPC; the message names
    /// the VPC, as EC2's does.
    #[error("{0}")]
    SecurityGroupNotFound(String),
    /// StopInstances Hibernate on an instance launched without hibernation.
    #[error("instance {0} is not configured for hibernation")]
    UnsupportedHibernationConfiguration(String),
    /// DeleteVolume on a volume still attached.
    #[error("volume {volume_id} is attached to {instance_id}")]
    VolumeInUse {
        volume_id: String,
        instance_id: String,
    },
    /// A key pair name that is not the caller's.
    #[error("key pair {0:?} not found")]
    KeyPairNotFound(String),
    /// A key pair name the caller already uses.
    #[error("key pair {0:?} already exists")]
    KeyPairDuplicate(String),
    /// Public key material that is not an accepted OpenSSH key.
    #[error("invalid public key: {0}")]
    InvalidKeyFormat(String),
    /// Instance types not in the catalogue.
    #[error("unknown instance types {0:?}")]
    UnknownInstanceTypes(Vec<String>),
    /// A resource would carry more than 50 tags.
    #[error("tag limit exceeded")]
    TagLimitExceeded,
    /// A value the engine refuses; the message says why, in EC2's words.
    #[error("{0}")]
    InvalidParameterValue(String),
    /// Parameters that do not go together; the message says why.
    #[error("{0}")]
    InvalidParameterCombination(String),
    /// The caller may see the resource (`image:ami-...`) but not do this to it.
    #[error("not authorized for {0}")]
    NotAuthorizedFor(String),
    /// A launch permission naming no valid account.
    #[error("invalid launch permission item {0:?}")]
    InvalidAttributeItem(String),
    /// An image name the owner already uses.
    #[error("image name {name:?} is in use by {image_id}")]
    DuplicateImageName { name: String, image_id: String },
    /// An image attribute name EC2 does not define.
    #[error("invalid image attribute {0:?}")]
    InvalidImageAttribute(String),
    /// A ClientToken reused with different parameters.
    #[error("client token {0:?} reused with other parameters")]
    IdempotentParameterMismatch(String),
    /// A block device mapping that cannot be honoured, and why.
    #[error("block device mapping: {0:?}")]
    BlockDevice(launch::BlockDeviceFault),
    /// A RunInstances parameter whose value is not one EC2 allows.
    #[error("invalid value {value:?} for {parameter:?}")]
    InvalidLaunchParameter {
        parameter: launch::LaunchParameter,
        value: String,
    },
    /// An image whose architecture the host's instance types cannot run.
    #[error(
        "image {image_id} is {image_architecture}; instances here are {instance_architecture}"
    )]
    ArchitectureMismatch {
        image_id: String,
        image_architecture: String,
        instance_architecture: String,
    },
    /// A stored value the engine does not know: the row was written by hand, or by a newer
    /// gateway on the same database.
    #[error("instance {instance_id}: stored {column} {value:?} is not a value it knows")]
    UnknownStoredValue {
        instance_id: String,
        column: &'static str,
        value: String,
    },
    /// The host has no room for the instances asked for.
    #[error("insufficient capacity for {0}")]
    InsufficientCapacity(String),
    /// An instance in a state that does not allow the call; the message says which.
    #[error("{0}")]
    IncorrectInstanceState(String),
    /// Protection (termination, stop) forbids the call; the message says which.
    #[error("{0}")]
    OperationNotPermitted(String),
    /// A feature this gateway does not offer; the message says which.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// The hypervisor failed.
    #[error(transparent)]
    Hypervisor(#[from] crate::hypervisor::HypervisorError),
    /// Something outside the database failed (a file, a tool); the detail is for the log.
    #[error("{0}")]
    Io(String),
    /// A networking call refused, and why.
    #[error("network: {0:?}")]
    Network(network::actions::NetworkFault),
    /// An instance's subnet bridge is not built yet; its launch waits for the next pass.
    #[error("the network bridge {0} is not built yet")]
    NetworkNotReady(String),
    /// A VPC endpoint id (none exist here).
    #[error("VPC endpoint {0} not found")]
    VpcEndpointNotFound(String),
    /// A public address the caller has no Elastic IP for.
    #[error("address {0} not found")]
    AddressNotFound(String),
    /// A parameter the call needs in this form; the message says which.
    #[error("{0}")]
    MissingParameter(String),
    /// In DryRun mode: the call would have succeeded; what it wrote was rolled back.
    #[error("dry run: the call would have succeeded")]
    DryRun,
}

/// How the engine's calls end. DryRun is one mode for every action: the call runs whole, every
/// check included, and its write transaction is rolled back at the point it would commit, so
/// nothing changes; since intent reaches libvirt only through the database (the reconciler),
/// nothing outside it changes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Apply,
    DryRun,
}

/// One write transaction of an engine call, rolled back instead of committed in DryRun mode.
pub(crate) fn transact<T>(
    conn: &mut DbConnection,
    mode: Mode,
    work: impl FnOnce(&mut DbConnection) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    crate::store::write_transaction(conn, |conn| {
        let done = work(conn)?;
        match mode {
            Mode::Apply => Ok(done),
            Mode::DryRun => Err(EngineError::DryRun),
        }
    })
}

/// The engine; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    settings: std::sync::Arc<Settings>,
    pager: paging::Pager,
    hypervisor: std::sync::Arc<dyn crate::hypervisor::Hypervisor>,
    /// Serialises this gateway's launches and starts, so they queue here rather than in the
    /// database; the capacity they share with other gateways is locked in the database
    /// (`store::instances::lock_capacity`).
    launch_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Wakes the reconciler when intent changes.
    wake: std::sync::Arc<tokio::sync::Notify>,
    /// Marks this database's domains, so gateways on other databases leave them alone.
    domain_owner: std::sync::Arc<str>,
    /// What the server and the reconciler count, for the metrics listener.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    mode: Mode,
    /// Builds VPCs on this host (namespaces, bridges, DHCP, NAT); None: records only.
    host_network: Option<std::sync::Arc<dyn crate::hostnet::HostNetwork>>,
    /// Accounts whose default VPC is known to be made (or deleted after).
    default_vpcs: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Four hex digits naming this database's host network objects (bridges, namespaces),
    /// so that gateways on other databases on the same host leave them alone.
    deployment: std::sync::Arc<str>,
}

impl Engine {
    /// Builds the engine on an open store; blocking (reads the shared pagination key).
    pub fn open(
        store: Store,
        settings: Settings,
        hypervisor: std::sync::Arc<dyn crate::hypervisor::Hypervisor>,
    ) -> Result<Engine, EngineError> {
        let key_hex = store.run_now::<_, EngineError>(|conn| {
            Ok(crate::store::secrets::get_or_create(
                conn,
                "pagination",
                || {
                    let bytes: [u8; 32] = rand::random();
                    hex::encode(bytes)
                },
            )?)
        })?;
        let domain_owner = store.run_now::<_, EngineError>(|conn| {
            Ok(crate::store::secrets::get_or_create(
                conn,
                "domain-owner",
                || uuid::Uuid::new_v4().to_string(),
            )?)
        })?;
        let deployment = store.run_now::<_, EngineError>(|conn| {
            let fresh = hex::encode(rand::random::<[u8; 2]>());
            Ok(crate::store::network::setting_or_init(
                conn,
                "deployment",
                &fresh,
            )?)
        })?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&key_hex, &mut key)
            .map_err(|_| EngineError::Io("the stored pagination key is not 32 hex bytes".into()))?;
        Ok(Engine {
            store,
            settings: std::sync::Arc::new(settings),
            pager: paging::Pager::new(key),
            hypervisor,
            launch_lock: std::sync::Arc::new(tokio::sync::Mutex::new(())),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            domain_owner: domain_owner.into(),
            metrics: std::sync::Arc::default(),
            mode: Mode::Apply,
            host_network: None,
            default_vpcs: std::sync::Arc::default(),
            deployment: deployment.into(),
        })
    }

    /// This engine building VPCs on the host with `network`.
    pub fn with_host_network(
        self,
        network: std::sync::Arc<dyn crate::hostnet::HostNetwork>,
    ) -> Engine {
        Engine {
            host_network: Some(network),
            ..self
        }
    }

    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    pub fn host_network(&self) -> Option<&std::sync::Arc<dyn crate::hostnet::HostNetwork>> {
        self.host_network.as_ref()
    }

    pub(crate) fn default_vpc_known(&self, account_id: &str) -> bool {
        self.default_vpcs
            .lock()
            .is_ok_and(|known| known.contains(account_id))
    }

    pub(crate) fn remember_default_vpc(&self, account_id: &str) {
        if let Ok(mut known) = self.default_vpcs.lock() {
            known.insert(account_id.to_owned());
        }
    }

    /// This engine in `mode` (a copy: the mode is the request's, not the gateway's).
    pub fn in_mode(&self, mode: Mode) -> Engine {
        Engine {
            mode,
            ..self.clone()
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The owner mark of this database's domains.
    pub fn domain_owner(&self) -> &str {
        &self.domain_owner
    }

    pub fn hypervisor(&self) -> &std::sync::Arc<dyn crate::hypervisor::Hypervisor> {
        &self.hypervisor
    }

    pub fn launch_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.launch_lock
    }

    /// Tells the reconciler that intent changed.
    pub fn wake_reconciler(&self) {
        self.wake.notify_one();
    }

    pub fn woken(&self) -> &tokio::sync::Notify {
        &self.wake
    }

    pub fn pager(&self) -> &paging::Pager {
        &self.pager
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// How many instances are in each state (all six, zero or not), for the metrics.
    pub async fn instance_counts(&self) -> Result<Vec<(&'static str, i64)>, EngineError> {
        self.store
            .run::<_, EngineError, _>(|conn| Ok(crate::store::instances::count_by_state(conn)?))
            .await
    }
}

/// An error and every cause under it, `outer: inner: innermost`, for the log. A cause whose
/// text its parent already shows (thiserror's `"...: {0}"` with `#[source]`) is not repeated.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let inner = e.to_string();
        if !text.contains(&inner) {
            text.push_str(": ");
            text.push_str(&inner);
        }
        cause = e.source();
    }
    text
}

/// Now, as EC2 writes times: RFC 3339, UTC, milliseconds.
pub fn timestamp_now() -> String {
    timestamp(chrono::Utc::now())
}

/// A time as EC2 writes it (and as the store compares it, as text).
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl From<diesel::result::Error> for EngineError {
    fn from(e: diesel::result::Error) -> Self {
        EngineError::Store(StoreError::Query(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("reading the disk")]
        Quiet(#[source] std::io::Error),
        #[error("reading the disk: {0}")]
        Telling(#[source] std::io::Error),
    }

    #[test]
    fn the_cause_chain_names_each_cause_once() {
        let io = || std::io::Error::other("no space left on device");
        assert_eq!(
            cause_chain(&Outer::Quiet(io())),
            "reading the disk: no space left on device"
        );
        assert_eq!(
            cause_chain(&Outer::Telling(io())),
            "reading the disk: no space left on device"
        );
        let store = EngineError::Store(StoreError::Query(diesel::result::Error::NotFound));
        assert_eq!(cause_chain(&store), "database query: Record not found");
    }
}
