//! The hypervisor the engine drives: domains named after instances, each on a copy-on-write
//! overlay of its image. Every call blocks (libvirt is FFI and an RPC): run them off the
//! async executor.

pub mod disk;
pub mod libvirt;
pub mod reach;

/// What a domain is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// The instance id; also the domain's name.
    pub name: String,
    pub account_id: String,
    /// Which gateways' domain this is: every gateway on one database shares the id, and no
    /// other gateway on the host touches the domain.
    pub owner: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The root disk: a qcow2 overlay.
    pub disk_path: String,
    /// Where the serial console is logged.
    pub console_path: String,
    /// Its network interfaces, in device order.
    pub nics: Vec<GuestNic>,
}

/// A network interface of a guest: a virtio NIC on a bridge of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestNic {
    pub mac: String,
    /// The subnet's bridge.
    pub bridge: String,
    /// The tap device's name on the host (where security groups will filter).
    pub tap: String,
}

/// A domain's power state, as far as the engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Running,
    /// Paused, suspended, or being set up or torn down: neither up nor down yet.
    Transitional,
    ShutOff,
    Crashed,
}

/// Whether trying again can help: the reconciler retries a transient failure of a launch for
/// a while, and gives a permanent one up at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// libvirtd restarting, a lost connection, memory not free now: may pass by itself.
    Transient,
    /// A disk QEMU may not read or that is not there, a definition libvirt refuses: the same
    /// call fails the same way until someone changes something.
    Permanent,
}

#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    /// libvirt refused or failed; the message is libvirt's.
    #[error("libvirt: {message}")]
    Libvirt { message: String, failure: Failure },
    /// A disk operation (qemu-img, the file system) failed.
    #[error("disk: {message}")]
    Disk { message: String, failure: Failure },
}

impl HypervisorError {
    pub fn failure(&self) -> Failure {
        match self {
            HypervisorError::Libvirt { failure, .. } | HypervisorError::Disk { failure, .. } => {
                *failure
            }
        }
    }
}

/// What the engine needs from a hypervisor. Every method is idempotent: the reconciler may
/// call it again after a crash at any point.
pub trait Hypervisor: Send + Sync {
    /// Defines the domain, or redefines it with this spec if it exists (same UUID).
    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError>;
    /// Starts a defined domain, resuming it if it hibernated; does nothing if it runs.
    fn start(&self, name: &str) -> Result<(), HypervisorError>;
    /// Asks the guest to power off (ACPI); does nothing if it is off.
    fn shutdown(&self, name: &str) -> Result<(), HypervisorError>;
    /// Powers the domain off at once; does nothing if it is off or missing.
    fn destroy(&self, name: &str) -> Result<(), HypervisorError>;
    /// Resets the guest at once, as a hardware reset button does.
    fn reset(&self, name: &str) -> Result<(), HypervisorError>;
    /// Saves the guest's memory to disk and stops it (libvirt managed save); the next start
    /// resumes it where it was. Does nothing if it is off.
    fn hibernate(&self, name: &str) -> Result<(), HypervisorError>;
    /// Removes the domain's definition; does nothing if it is missing.
    fn undefine(&self, name: &str) -> Result<(), HypervisorError>;
    /// The domain's state, or None if there is no such domain.
    fn state(&self, name: &str) -> Result<Option<PowerState>, HypervisorError>;
    /// Every domain's state by name, in a few calls however many domains there are; a name
    /// missing from it has no domain.
    fn states(&self) -> Result<std::collections::HashMap<String, PowerState>, HypervisorError>;
    /// The names of every domain whose ec2gw metadata names `owner`.
    fn owned_domains(&self, owner: &str) -> Result<Vec<String>, HypervisorError>;
    /// Makes the domain's NICs `spec.nics`: its definition (for the next boot) and, if it
    /// runs, the guest's own (hot-plugged and unplugged by MAC). Does nothing if there is no
    /// such domain.
    fn sync_nics(&self, spec: &DomainSpec) -> Result<(), HypervisorError>;
}
