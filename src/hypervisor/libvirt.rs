//! The libvirt back end of [`Hypervisor`], on the `virt` crate.
//!
//! Domains are named after their instance and carry the instance id and account in their
//! `<metadata>` under [`METADATA_NS`]; their UUID is derived from the name (UUID v5), so defining
//! the same name again redefines the same domain. Every call blocks (FFI and an RPC to libvirtd).
//!
//! The connection is reopened once, and the operation retried, when a call fails because it was
//! lost (libvirtd restarted): every operation here is idempotent, so the retry is safe.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use quick_xml::escape::escape;
use sha1::{Digest, Sha1};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::{Error as VirtError, ErrorDomain, ErrorDomainEnum, ErrorNumber, ErrorNumberEnum};
use virt::sys;

use super::{DomainSpec, Failure, GuestNic, Hypervisor, HypervisorError, PowerState};

/// The XML namespace of the gateway's domain metadata.
pub const METADATA_NS: &str = "https://ec2gw.dev/xmlns/instance/1";

/// The namespace of the domains' UUIDs (v5, SHA-1 of this namespace and the domain's name).
const UUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x315316cf_f603_49e8_85e2_587b301ba791);

/// A libvirt connection (e.g. `qemu:///system`) and the domain type to define (`kvm`, `qemu`,
/// or `test` for libvirt's test driver).
#[derive(Debug)]
pub struct Libvirt {
    uri: String,
    /// Replaced when the connection is lost; calls work on a clone (a new reference).
    conn: RwLock<Connect>,
    domain_type: String,
}

impl Libvirt {
    /// Opens `uri`. Also turns off libvirt's default error handler, which prints every error to
    /// stderr (errors are returned instead).
    pub fn open(uri: &str, domain_type: &str) -> Result<Libvirt, HypervisorError> {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(uri)).map_err(|e| err(&format!("open {uri}"), &e))?;
        Ok(Libvirt {
            uri: uri.to_owned(),
            conn: RwLock::new(conn),
            domain_type: domain_type.to_owned(),
        })
    }

    /// The `<domain type=...>` this back end defines.
    pub fn domain_type(&self) -> &str {
        &self.domain_type
    }

    /// Runs `op` on the connection; if it fails and the connection turns out to be dead, opens a
    /// new one and runs `op` once more. `what` prefixes the error message.
    fn with_conn<T>(
        &self,
        what: &str,
        op: impl Fn(&Connect) -> Result<T, VirtError>,
    ) -> Result<T, HypervisorError> {
        let conn = self.current();
        match op(&conn) {
            Ok(v) => Ok(v),
            Err(e) if conn.is_alive().unwrap_or(false) => Err(err(what, &e)),
            Err(e) => {
                // No connection: whatever the call's own error says, it may work once
                // libvirtd is back.
                let fresh = self.reconnect().map_err(|re| HypervisorError::Libvirt {
                    message: format!(
                        "{what}: {} (reconnecting to {}: {})",
                        e.message(),
                        self.uri,
                        re.message()
                    ),
                    failure: Failure::Transient,
                })?;
                op(&fresh).map_err(|e| err(what, &e))
            }
        }
    }

    fn current(&self) -> Connect {
        // A poisoned lock still holds a usable connection: there is no invariant to break.
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces a dead connection (unless another thread did already) and returns the live one.
    fn reconnect(&self) -> Result<Connect, VirtError> {
        let mut guard = self.conn.write().unwrap_or_else(PoisonError::into_inner);
        if !guard.is_alive().unwrap_or(false) {
            tracing::warn!(uri = %self.uri, "libvirt connection lost; reconnecting");
            *guard = Connect::open(Some(&self.uri))?;
        }
        Ok(guard.clone())
    }
}

fn err(what: &str, e: &VirtError) -> HypervisorError {
    HypervisorError::Libvirt {
        message: format!("{what}: {}", e.message()),
        failure: classify(e.code(), e.domain(), e.message()),
    }
}

/// The system errors (strerror texts) that say a path cannot be used as it is: trying again
/// finds the same directory modes, the same missing file.
const LASTING_ERRNO_TEXTS: [&str; 6] = [
    "Permission denied",
    "Operation not permitted",
    "No such file or directory",
    "Not a directory",
    "Is a directory",
    "Read-only file system",
];

/// Whether a libvirt error can pass by itself. libvirt's codes say "a definition it refuses"
/// clearly, but a missing or forbidden disk comes as a generic system or internal error (the
/// errno is not in the virt crate's error), so for those the strerror text at the end of the
/// message decides. Errors of the connection itself (the RPC and remote domains: "Failed to
/// connect socket ...: No such file or directory" when libvirtd is down) are always transient.
fn classify(code: ErrorNumberEnum, domain: ErrorDomainEnum, message: &str) -> Failure {
    let connection = domain.is_known_and(|d| matches!(d, ErrorDomain::Rpc | ErrorDomain::Remote));
    if connection {
        return Failure::Transient;
    }
    let Enum::Known(code) = code else {
        return Failure::Transient;
    };
    match code {
        ErrorNumber::XmlError
        | ErrorNumber::XmlDetail
        | ErrorNumber::XmlInvalidSchema
        | ErrorNumber::ConfigUnsupported
        | ErrorNumber::InvalidArg
        | ErrorNumber::NoSupport
        | ErrorNumber::ArgumentUnsupported
        | ErrorNumber::OperationUnsupported
        | ErrorNumber::OsType
        | ErrorNumber::NoSource => Failure::Permanent,
        ErrorNumber::SystemError | ErrorNumber::InternalError | ErrorNumber::OperationFailed
            if LASTING_ERRNO_TEXTS.iter().any(|t| message.contains(t)) =>
        {
            Failure::Permanent
        }
        _ => Failure::Transient,
    }
}

fn is(e: &VirtError, code: ErrorNumber) -> bool {
    e.code().is_known_and(|c| c == code)
}

/// The domain, or None if there is no such domain.
fn lookup(conn: &Connect, name: &str) -> Result<Option<Domain>, VirtError> {
    match conn.lookup_domain_by_name(name) {
        Ok(dom) => Ok(Some(dom)),
        Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the domain is now shut off or gone (to excuse an error from an operation that found
/// it so); false if that cannot be told.
fn inactive_or_gone(dom: &Domain) -> bool {
    match dom.is_active() {
        Ok(active) => !active,
        Err(e) => is(&e, ErrorNumber::NoDomain),
    }
}

fn power_state(state: DomainState) -> PowerState {
    match state {
        // Blocked (waiting on a resource, as Xen reports it) is up.
        DomainState::Running | DomainState::Blocked => PowerState::Running,
        DomainState::Shutoff => PowerState::ShutOff,
        DomainState::Crashed => PowerState::Crashed,
        DomainState::NoState
        | DomainState::Paused
        | DomainState::Shutdown
        | DomainState::PMSuspended => PowerState::Transitional,
    }
}

fn known_power_state(state: Enum<DomainState, sys::virDomainState>) -> PowerState {
    match state {
        Enum::Known(s) => power_state(s),
        Enum::Unknown(_) => PowerState::Transitional,
    }
}

impl Hypervisor for Libvirt {
    fn sync_nics(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        let name = spec.name.as_str();
        let defined = self.with_conn(&format!("look up {name}"), |conn| {
            Ok(lookup(conn, name)?.is_some())
        })?;
        if !defined {
            return Ok(());
        }
        self.define(spec)?;
        // The test driver has no guests to plug NICs into.
        if self.domain_type == "test" {
            return Ok(());
        }
        self.with_conn(&format!("sync the NICs of {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(());
            };
            if !dom.is_active()? {
                return Ok(());
            }
            let xml = dom.xml_desc(0)?;
            let live = interface_macs(&xml);
            for nic in spec.nics.iter().filter(|n| !live.contains(&n.mac)) {
                dom.attach_device_flags(&nic_xml(nic), sys::VIR_DOMAIN_AFFECT_LIVE)?;
            }
            // libvirt wants the device as the domain has it to unplug it.
            for mac in live
                .iter()
                .filter(|m| !spec.nics.iter().any(|n| &n.mac == *m))
            {
                if let Some(device) = interface_element(&xml, mac) {
                    dom.detach_device_flags(device, sys::VIR_DOMAIN_AFFECT_LIVE)?;
                }
            }
            Ok(())
        })
    }

    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        let xml = domain_xml(spec, &self.domain_type);
        self.with_conn(&format!("define {}", spec.name), |conn| {
            conn.define_domain_xml(&xml).map(drop)
        })
    }

    fn start(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("start {name}"), |conn| {
            let dom = conn.lookup_domain_by_name(name)?;
            if dom.is_active()? {
                return Ok(());
            }
            match dom.create() {
                Ok(()) => Ok(()),
                // Started by someone else in the meantime.
                Err(_) if dom.is_active().unwrap_or(false) => Ok(()),
                // A hibernation image that cannot be resumed (the domain was redefined with
                // another size since): the guest boots afresh, as EC2 does when a hibernated
                // instance cannot resume.
                Err(e) if dom.has_managed_save(0).unwrap_or(false) => {
                    tracing::warn!(
                        domain = name,
                        error = e.message(),
                        "cannot resume from hibernation; booting afresh"
                    );
                    dom.managed_save_remove(0)?;
                    dom.create()
                }
                Err(e) => Err(e),
            }
        })
    }

    fn shutdown(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("shutdown {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(());
            };
            if !dom.is_active()? {
                return Ok(());
            }
            match dom.shutdown() {
                Ok(()) => Ok(()),
                // "domain is not running": it went down in the meantime.
                Err(_) if inactive_or_gone(&dom) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn destroy(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("destroy {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(());
            };
            destroy_domain(&dom)
        })
    }

    fn reset(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("reset {name}"), |conn| {
            let dom = conn.lookup_domain_by_name(name)?;
            dom.reset()
        })
    }

    fn hibernate(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("hibernate {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(());
            };
            if !dom.is_active()? {
                return Ok(());
            }
            match dom.managed_save(0) {
                Ok(()) => Ok(()),
                Err(_) if inactive_or_gone(&dom) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn undefine(&self, name: &str) -> Result<(), HypervisorError> {
        self.with_conn(&format!("undefine {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(());
            };
            destroy_domain(&dom)?;
            // Nothing here makes checkpoints, and the test driver refuses
            // VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA ("unsupported flags").
            let flags =
                sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
            match dom.undefine_flags(flags) {
                Ok(()) => Ok(()),
                // Gone meanwhile, or it was transient and vanished when destroyed.
                Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn state(&self, name: &str) -> Result<Option<PowerState>, HypervisorError> {
        self.with_conn(&format!("state of {name}"), |conn| {
            let Some(dom) = lookup(conn, name)? else {
                return Ok(None);
            };
            // `Domain::state` swallows libvirt's error (the state comes back unknown); ask again
            // through `info`, which reports it.
            let (state, _reason) = dom.state()?;
            if let Enum::Known(s) = state {
                return Ok(Some(power_state(s)));
            }
            match dom.info() {
                Ok(info) => Ok(Some(known_power_state(info.state))),
                Err(e) if is(&e, ErrorNumber::NoDomain) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn states(&self) -> Result<HashMap<String, PowerState>, HypervisorError> {
        self.with_conn("list domain states", |conn| {
            let mut states = HashMap::new();
            // One listing per state; the rare others (crashed, suspended) are asked one by one.
            for (flags, state) in [
                (
                    sys::VIR_CONNECT_LIST_DOMAINS_RUNNING,
                    Some(PowerState::Running),
                ),
                (
                    sys::VIR_CONNECT_LIST_DOMAINS_SHUTOFF,
                    Some(PowerState::ShutOff),
                ),
                (
                    sys::VIR_CONNECT_LIST_DOMAINS_PAUSED,
                    Some(PowerState::Transitional),
                ),
                (sys::VIR_CONNECT_LIST_DOMAINS_OTHER, None),
            ] {
                for dom in conn.list_all_domains(flags)? {
                    let state = match state {
                        Some(state) => state,
                        None => known_power_state(dom.state()?.0),
                    };
                    states.insert(dom.name()?, state);
                }
            }
            Ok(states)
        })
    }

    fn owned_domains(&self, owner: &str) -> Result<Vec<String>, HypervisorError> {
        self.with_conn("list domains", |conn| {
            let mut names = Vec::new();
            // Flags 0: active and inactive, persistent and transient.
            for dom in conn.list_all_domains(0)? {
                let kind = sys::VIR_DOMAIN_METADATA_ELEMENT as i32;
                match dom.metadata(kind, Some(METADATA_NS), 0) {
                    Ok(xml) if metadata_owner(&xml) == Some(owner) => names.push(dom.name()?),
                    Ok(_) => {}
                    Err(e)
                        if is(&e, ErrorNumber::NoDomainMetadata)
                            || is(&e, ErrorNumber::NoDomain) => {}
                    Err(e) => return Err(e),
                }
            }
            names.sort();
            Ok(names)
        })
    }
}

/// Powers the domain off unless it is off already (or gone).
fn destroy_domain(dom: &Domain) -> Result<(), VirtError> {
    if inactive_or_gone(dom) {
        return Ok(());
    }
    match dom.destroy() {
        Ok(()) => Ok(()),
        Err(_) if inactive_or_gone(dom) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The text of the `owner` element in a domain's ec2gw metadata (whatever prefix libvirt gave
/// the namespace).
pub fn metadata_owner(xml: &str) -> Option<&str> {
    let open = xml.find("owner>")? + "owner>".len();
    let rest = &xml[open..];
    rest.find("</").map(|end| &rest[..end])
}

/// The domain's UUID: v5 in the gateway's namespace, from the name; stable across redefinitions.
pub fn domain_uuid(name: &str) -> uuid::Uuid {
    let mut hasher = Sha1::new();
    hasher.update(UUID_NAMESPACE.as_bytes());
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// The domain's XML: a BIOS (SeaBIOS) machine booting from its SATA qcow2 disk, with ACPI (so a
/// shutdown request reaches the guest) and its serial console appended to a file.
///
/// The same XML is accepted by libvirt's test driver (`domain_type` "test"), which checks neither
/// the disk nor the console file.
pub fn domain_xml(spec: &DomainSpec, domain_type: &str) -> String {
    let name = escape(spec.name.as_str());
    format!(
        "<domain type='{domain_type}'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <metadata><ec2gw:instance xmlns:ec2gw='{ns}'><ec2gw:id>{name}</ec2gw:id><ec2gw:account>{account}</ec2gw:account><ec2gw:owner>{owner}</ec2gw:owner></ec2gw:instance></metadata>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/><target dev='sda' bus='sata'/></disk>
{nics}    <serial type='file'><source path='{console}' append='on'/><target port='0'/></serial>
  </devices>
</domain>
",
        nics = spec
            .nics
            .iter()
            .map(|n| format!("    {}\n", nic_xml(n)))
            .collect::<String>(),
        owner = escape(spec.owner.as_str()),
        domain_type = escape(domain_type),
        uuid = domain_uuid(&spec.name).hyphenated(),
        ns = METADATA_NS,
        account = escape(spec.account_id.as_str()),
        memory = spec.memory_mib,
        vcpus = spec.vcpus,
        disk = escape(spec.disk_path.as_str()),
        console = escape(spec.console_path.as_str()),
    )
}

/// A guest NIC's device XML: a virtio NIC on its subnet's bridge, its tap named for the
/// interface (where security groups will filter it).
pub fn nic_xml(n: &GuestNic) -> String {
    format!(
        "<interface type='bridge'><mac address='{}'/><source bridge='{}'/><target dev='{}'/><model type='virtio'/></interface>",
        escape(n.mac.as_str()),
        escape(n.bridge.as_str()),
        escape(n.tap.as_str())
    )
}

/// The `<interface>...</interface>` element of a domain XML whose MAC is `mac`.
pub fn interface_element<'a>(xml: &'a str, mac: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(start) = xml[from..].find("<interface ").map(|i| i + from) {
        let end = xml[start..]
            .find("</interface>")
            .map(|i| start + i + "</interface>".len())?;
        let element = &xml[start..end];
        if interface_macs(element).iter().any(|m| m == mac) {
            return Some(element);
        }
        from = end;
    }
    None
}

/// The MACs of a domain XML's interfaces, in order.
pub fn interface_macs(xml: &str) -> Vec<String> {
    let mut macs = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<mac address=") {
        rest = &rest[at + "<mac address=".len()..];
        let Some(quote) = rest.chars().next() else {
            break;
        };
        let value = &rest[1..];
        if let Some(end) = value.find(quote) {
            macs.push(value[..end].to_ascii_lowercase());
        }
    }
    macs
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::hypervisor::disk;

    fn spec(name: &str, memory_mib: u64, disk: &str, console: &str) -> DomainSpec {
        DomainSpec {
            name: name.to_owned(),
            account_id: "123456789012".to_owned(),
            owner: "test-owner".to_owned(),
            vcpus: 1,
            memory_mib,
            disk_path: disk.to_owned(),
            console_path: console.to_owned(),
            nics: Vec::new(),
        }
    }

    /// Unique: the test driver's state is shared by every connection in the process.
    fn unique_name() -> String {
        format!("i-{:017x}", rand::random::<u64>() >> 4)
    }

    fn max_memory_kib(hv: &Libvirt, name: &str) -> u64 {
        let dom = hv.current().lookup_domain_by_name(name).unwrap();
        dom.info().unwrap().max_mem
    }

    #[test]
    fn reads_the_owner_whatever_the_prefix() {
        assert_eq!(
            metadata_owner("<ec2gw:instance xmlns:ec2gw='x'><ec2gw:id>i-1</ec2gw:id><ec2gw:owner>abc</ec2gw:owner></ec2gw:instance>"),
            Some("abc")
        );
        assert_eq!(
            metadata_owner("<instance xmlns='x'><owner>d-1</owner></instance>"),
            Some("d-1")
        );
        assert_eq!(
            metadata_owner("<instance xmlns='x'><id>i-1</id></instance>"),
            None
        );
    }

    /// The messages as libvirt 9.0 gives them on qemu:///system (seen with virsh and
    /// libvirt-python on this project's machines), with their code and domain.
    #[test]
    fn lasting_launch_errors_are_told_from_passing_ones() {
        use ErrorDomain as D;
        use ErrorNumber as N;
        let cases: [(N, D, &str, Failure); 11] = [
            (N::SystemError, D::Storage, "Cannot access storage file '/root/ec2gw/data/instances/i-0123456789abcdef0/disk.qcow2' (as uid:64055, gid:64055): Permission denied", Failure::Permanent),
            (N::SystemError, D::Storage, "Cannot access storage file '/tmp/x/nope.qcow2' (as uid:64055, gid:64055): No such file or directory", Failure::Permanent),
            (N::SystemError, D::Storage, "Cannot access backing file '/tmp/x/gone.qcow2' of storage file '/tmp/x/ov.qcow2' (as uid:64055, gid:64055): No such file or directory", Failure::Permanent),
            (N::SystemError, D::None, "Unable to open file: /tmp/x/nodir/c.log: No such file or directory", Failure::Permanent),
            (N::XmlDetail, D::Domain, "(domain_definition):1: Opening and ending tag mismatch: name line 1 and domain", Failure::Permanent),
            (N::ConfigUnsupported, D::Qemu, "unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'xen'", Failure::Permanent),
            (N::InternalError, D::Qemu, "internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: -blockdev {}: Could not open '/d/disk.qcow2': Permission denied", Failure::Permanent),
            // libvirtd down: ENOENT too, but of the daemon's socket.
            (N::SystemError, D::Rpc, "Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory", Failure::Transient),
            (N::InternalError, D::Qemu, "internal error: qemu unexpectedly closed the monitor: qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory", Failure::Transient),
            (N::OperationInvalid, D::Domain, "Requested operation is not valid: domain is already running", Failure::Transient),
            (N::NoDomain, D::Qemu, "Domain not found: no domain with matching name 'i-0123456789abcdef0'", Failure::Transient),
        ];
        for (code, domain, message, expected) in cases {
            assert_eq!(
                classify(Enum::Known(code), Enum::Known(domain), message),
                expected,
                "{code:?} {domain:?} {message}"
            );
        }
        assert_eq!(
            classify(
                Enum::Unknown(9999),
                Enum::Known(D::Storage),
                "Permission denied"
            ),
            Failure::Transient
        );
    }

    #[test]
    fn a_refused_definition_on_the_test_driver_is_permanent() {
        let hv = Libvirt::open("test:///default", "nosuchtype").unwrap();
        let e = hv
            .define(&spec(
                &unique_name(),
                64,
                "/nonexistent/d",
                "/nonexistent/c",
            ))
            .unwrap_err();
        assert_eq!(e.failure(), Failure::Permanent, "{e}");
    }

    #[test]
    fn domain_xml_is_exact() {
        let s = DomainSpec {
            name: "i-0123456789abcdef0".to_owned(),
            account_id: "123456789012".to_owned(),
            owner: "test-owner".to_owned(),
            vcpus: 2,
            memory_mib: 512,
            disk_path: "/var/lib/ec2gw/disks/i-0123456789abcdef0.qcow2".to_owned(),
            console_path: "/var/lib/ec2gw/console/i-0123456789abcdef0.log".to_owned(),
            nics: vec![crate::hypervisor::GuestNic {
                mac: "02:00:5e:10:00:01".to_owned(),
                bridge: "e1a2bb0123456789a".to_owned(),
                tap: "e1a2bt0123456789a".to_owned(),
            }],
        };
        let uuid = domain_uuid("i-0123456789abcdef0").hyphenated().to_string();
        let expected = format!(
            "<domain type='qemu'>
  <name>i-0123456789abcdef0</name>
  <uuid>{uuid}</uuid>
  <metadata><ec2gw:instance xmlns:ec2gw='https://ec2gw.dev/xmlns/instance/1'><ec2gw:id>i-0123456789abcdef0</ec2gw:id><ec2gw:account>123456789012</ec2gw:account><ec2gw:owner>test-owner</ec2gw:owner></ec2gw:instance></metadata>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/ec2gw/disks/i-0123456789abcdef0.qcow2'/><target dev='sda' bus='sata'/></disk>
    <interface type='bridge'><mac address='02:00:5e:10:00:01'/><source bridge='e1a2bb0123456789a'/><target dev='e1a2bt0123456789a'/><model type='virtio'/></interface>
    <serial type='file'><source path='/var/lib/ec2gw/console/i-0123456789abcdef0.log' append='on'/><target port='0'/></serial>
  </devices>
</domain>
"
        );
        assert_eq!(domain_xml(&s, "qemu"), expected);
    }

    #[test]
    fn interface_macs_are_read_in_order_whatever_the_quotes() {
        let xml = "<domain><devices><interface type='bridge'><mac address='02:00:00:00:00:0A'/></interface>\
                   <interface type=\"bridge\"><mac address=\"02:00:00:00:00:0b\"/></interface></devices></domain>";
        assert_eq!(
            interface_macs(xml),
            ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]
        );
        assert!(interface_macs("<domain/>").is_empty());
        assert_eq!(
            interface_element(xml, "02:00:00:00:00:0b"),
            Some("<interface type=\"bridge\"><mac address=\"02:00:00:00:00:0b\"/></interface>")
        );
        assert_eq!(interface_element(xml, "02:00:00:00:00:0c"), None);
    }

    #[test]
    fn domain_xml_escapes_values() {
        let s = spec("a<b>&'\"", 64, "/d/x'y.qcow2", "/c/<log>");
        let xml = domain_xml(&s, "te'st");
        assert!(xml.starts_with("<domain type='te&apos;st'>\n"));
        assert!(xml.contains("<name>a&lt;b&gt;&amp;&apos;&quot;</name>"));
        assert!(xml.contains("<ec2gw:id>a&lt;b&gt;&amp;&apos;&quot;</ec2gw:id>"));
        assert!(xml.contains("<source file='/d/x&apos;y.qcow2'/>"));
        assert!(xml.contains("<source path='/c/&lt;log&gt;' append='on'/>"));
    }

    #[test]
    fn domain_uuid_is_stable_v5_per_name() {
        let a = domain_uuid("i-0123456789abcdef0");
        assert_eq!(a, domain_uuid("i-0123456789abcdef0"));
        assert_ne!(a, domain_uuid("i-0123456789abcdef1"));
        assert_eq!(a.get_version_num(), 5);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        // Pinned (Python: uuid.uuid5(UUID('315316cf-f603-49e8-85e2-587b301ba791'), name)):
        // changing the derivation would make every existing domain's redefinition fail.
        assert_eq!(a.to_string(), "a1d3065a-51ee-5152-b9b5-a255597f82d6");
    }

    #[test]
    fn lifecycle_on_the_test_driver() {
        let hv = Libvirt::open("test:///default", "test").unwrap();
        let name = unique_name();
        let s = spec(
            &name,
            128,
            "/nonexistent/disk.qcow2",
            "/nonexistent/console.log",
        );

        assert_eq!(hv.state(&name).unwrap(), None);
        hv.define(&s).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.define(&s).unwrap(); // again: same uuid, no conflict
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));

        assert_eq!(hv.states().unwrap().get(&name), Some(&PowerState::ShutOff));
        hv.start(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));
        assert_eq!(hv.states().unwrap().get(&name), Some(&PowerState::Running));
        hv.start(&name).unwrap(); // already running
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));

        hv.reset(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));

        // Hibernation saves the domain and stops it; starting resumes it.
        hv.hibernate(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.hibernate(&name).unwrap(); // already off
        hv.start(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));

        // The test driver shuts down at once.
        hv.shutdown(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.shutdown(&name).unwrap(); // already off
        assert!(hv.reset(&name).is_err(), "resetting a shut-off domain");

        hv.start(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));
        hv.destroy(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.destroy(&name).unwrap(); // already off

        assert_eq!(max_memory_kib(&hv, &name), 128 * 1024);
        hv.define(&spec(
            &name,
            256,
            "/nonexistent/disk.qcow2",
            "/nonexistent/c.log",
        ))
        .unwrap();
        assert_eq!(max_memory_kib(&hv, &name), 256 * 1024);
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));

        let owned = hv.owned_domains("test-owner").unwrap();
        assert!(owned.contains(&name), "{owned:?}");
        assert!(!owned.iter().any(|n| n == "test"), "{owned:?}");

        hv.undefine(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), None);
        assert_eq!(hv.states().unwrap().get(&name), None);
        assert!(!hv.owned_domains("test-owner").unwrap().contains(&name));
        hv.undefine(&name).unwrap(); // already gone
    }

    #[test]
    fn missing_domains_on_the_test_driver() {
        let hv = Libvirt::open("test:///default", "test").unwrap();
        let name = unique_name();
        assert_eq!(hv.state(&name).unwrap(), None);
        hv.destroy(&name).unwrap();
        hv.undefine(&name).unwrap();
        hv.shutdown(&name).unwrap();
        let e = hv.start(&name).unwrap_err().to_string();
        assert!(e.starts_with(&format!("libvirt: start {name}: ")), "{e}");
        assert!(hv.reset(&name).is_err());
        hv.hibernate(&name).unwrap();
    }

    #[test]
    fn undefine_destroys_a_running_domain() {
        let hv = Libvirt::open("test:///default", "test").unwrap();
        let name = unique_name();
        hv.define(&spec(&name, 64, "/nonexistent/d", "/nonexistent/c"))
            .unwrap();
        hv.start(&name).unwrap();
        // Redefining a running domain changes its next boot's configuration.
        hv.define(&spec(&name, 96, "/nonexistent/d", "/nonexistent/c"))
            .unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));
        hv.undefine(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), None);
    }

    #[test]
    fn open_fails_with_libvirts_message() {
        let e = Libvirt::open("nosuchdriver:///x", "qemu").unwrap_err();
        assert!(matches!(e, HypervisorError::Libvirt { .. }), "{e}");
    }

    // ---- a real guest ------------------------------------------------------------------------

    fn test_image() -> PathBuf {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-test-image");
        let out = std::process::Command::new(script).output().unwrap();
        assert!(
            out.status.success(),
            "build-test-image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    }

    fn count_lines(path: &Path, line: &str) -> usize {
        std::fs::read_to_string(path)
            .map(|s| s.lines().filter(|l| l.trim_end() == line).count())
            .unwrap_or(0)
    }

    /// Waits until `cond` holds; returns how long it took.
    fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
        let t0 = Instant::now();
        while !cond() {
            assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        t0.elapsed()
    }

    /// Removes the domain even when the test fails.
    struct Undefine<'a>(&'a Libvirt, String);
    impl Drop for Undefine<'_> {
        fn drop(&mut self) {
            let _ = self.0.undefine(&self.1);
        }
    }

    #[test]
    #[ignore = "boots a real guest on qemu:///system (scripts/libvirt, scripts/build-test-image)"]
    fn real_guest_on_qemu_system() {
        const BOOTED: &str = "EC2GW-TEST-GUEST-BOOTED";
        const READY: &str = "EC2GW-TEST-GUEST-READY";
        const POWEROFF: &str = "EC2GW-TEST-GUEST-POWEROFF";
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .unwrap();
        // A copy beside the overlay: the built image is under the clone (target/), which QEMU
        // cannot reach when the clone is under /root.
        let image = tmp.path().join("base.qcow2");
        std::fs::copy(test_image(), &image).unwrap();
        let name = format!("ec2gw-test-{:016x}", rand::random::<u64>());
        let overlay = tmp.path().join("disks").join(format!("{name}.qcow2"));
        let console = tmp.path().join(format!("{name}.log"));
        disk::create_overlay(&image, "qcow2", &overlay, 1).unwrap();

        let hv = Libvirt::open("qemu:///system", "qemu").unwrap();
        let _cleanup = Undefine(&hv, name.clone());
        let s = spec(
            &name,
            256,
            overlay.to_str().unwrap(),
            console.to_str().unwrap(),
        );
        hv.define(&s).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));

        let t0 = Instant::now();
        hv.start(&name).unwrap();
        let started = t0.elapsed();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));
        hv.start(&name).unwrap();
        let booted = wait_for("boot marker", Duration::from_secs(60), || {
            count_lines(&console, BOOTED) == 1
        });
        let ready = wait_for("acpid ready", Duration::from_secs(30), || {
            count_lines(&console, READY) == 1
        });
        eprintln!("start returned after {started:?}; {BOOTED} after {booted:?} more; ready {ready:?} later");

        // A hard reset: the guest boots again.
        let t0 = Instant::now();
        hv.reset(&name).unwrap();
        wait_for("reset", Duration::from_secs(60), || {
            count_lines(&console, BOOTED) == 2 && count_lines(&console, READY) == 2
        });
        eprintln!("reset: up again after {:?}", t0.elapsed());
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));

        // Hibernation: memory saved, domain off; the start resumes it without booting.
        let t0 = Instant::now();
        hv.hibernate(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.start(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::Running));
        eprintln!("hibernate and resume: {:?}", t0.elapsed());
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(count_lines(&console, BOOTED), 2, "resumed, not booted");

        // ACPI shutdown: the guest's acpid powers it off.
        let t0 = Instant::now();
        hv.shutdown(&name).unwrap();
        wait_for("shutdown", Duration::from_secs(30), || {
            hv.state(&name).unwrap() == Some(PowerState::ShutOff)
        });
        eprintln!("shutdown: shut off after {:?}", t0.elapsed());
        assert!(count_lines(&console, POWEROFF) >= 1);
        hv.shutdown(&name).unwrap();

        hv.start(&name).unwrap();
        wait_for("second boot", Duration::from_secs(60), || {
            count_lines(&console, BOOTED) == 3
        });
        let t0 = Instant::now();
        hv.destroy(&name).unwrap();
        eprintln!("destroy took {:?}", t0.elapsed());
        assert_eq!(hv.state(&name).unwrap(), Some(PowerState::ShutOff));
        hv.destroy(&name).unwrap();

        hv.define(&spec(
            &name,
            320,
            overlay.to_str().unwrap(),
            console.to_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(max_memory_kib(&hv, &name), 320 * 1024);
        assert!(hv.owned_domains("test-owner").unwrap().contains(&name));

        // Undefine a running domain: destroyed first.
        hv.start(&name).unwrap();
        hv.undefine(&name).unwrap();
        assert_eq!(hv.state(&name).unwrap(), None);
        hv.undefine(&name).unwrap();
        disk::remove(&overlay).unwrap();
    }
}
