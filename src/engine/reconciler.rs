//! The reconciler: makes each domain match its instance row, and records what really
//! happened. It is the only code that moves instances out of pending, stopping and
//! shutting-down, and it repairs whatever a crash or a hand on `virsh` left behind.

use crate::domain::{InstanceState, ShutdownBehavior, StopMode, VolumeState};
use std::time::Duration;

use tokio::task::JoinSet;

use super::instances::instance_dir;
use super::network::interfaces as nic_rows;
use super::volumes::volume_path;
use super::{timestamp_now, Engine, EngineError};
use crate::hostnet;
use crate::hypervisor::{disk, DomainSpec, Failure, GuestNic, PowerState};
use crate::store::images as image_rows;
use crate::store::instances::{self as rows, InstanceRow};
use crate::store::network as network_rows;
use crate::store::volumes as volume_rows;

/// How many instances are worked on at once.
const PARALLEL: usize = 8;
/// Orphan domains are looked for every this many passes.
const ORPHAN_SWEEP_EVERY: u64 = 10;
/// A guest that ignores ACPI is asked again this often while stopping.
const SHUTDOWN_RESEND: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Runs until `shutdown` resolves: one pass at start (repairs after a crash), then one per
/// interval or whenever the engine is woken.
pub async fn run(engine: Engine, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut pass: u64 = 0;
    loop {
        let started = std::time::Instant::now();
        let result = reconcile(&engine, pass.is_multiple_of(ORPHAN_SWEEP_EVERY)).await;
        engine.metrics().reconciler_pass(started.elapsed());
        if let Err(e) = result {
            engine.metrics().reconciler_error();
            tracing::error!(error = %super::cause_chain(&e), "reconciler pass failed");
        }
        pass += 1;
        let interval = engine.settings().reconcile_interval;
        tokio::select! {
            () = &mut shutdown => break,
            () = engine.woken().notified() => {},
            () = tokio::time::sleep(interval) => {},
        }
    }
}

/// Makes the host network match the database, then marks the VPCs and subnets built
/// `available`. Without a host network (records only), they are available at once.
async fn build_network(engine: &Engine) -> Result<(), EngineError> {
    let region = engine.settings().region.clone();
    let desired = engine
        .store()
        .run(move |conn| super::network::host::desired(conn, &region))
        .await?;
    if let Some(network) = engine.host_network().cloned() {
        let wanted = desired.clone();
        tokio::task::spawn_blocking(move || network.apply(&wanted))
            .await
            .map_err(|e| EngineError::Io(format!("host network: {e}")))?
            .map_err(|e| EngineError::Io(format!("host network: {e}")))?;
    }
    let vpc_ids: Vec<String> = desired.iter().map(|v| v.vpc_id.clone()).collect();
    let subnet_ids: Vec<String> = desired
        .iter()
        .flat_map(|v| v.subnets.iter().map(|s| s.subnet_id.clone()))
        .collect();
    engine
        .store()
        .run::<_, EngineError, _>(move |conn| {
            Ok(network_rows::mark_available(conn, &vpc_ids, &subnet_ids)?)
        })
        .await
}

/// Plugs interfaces being attached into their instance's domain and unplugs those being
/// detached (the running guest's and its definition), then records them attached or
/// detached. An instance with no domain yet gets them at launch; one going away, never.
fn sync_interfaces(engine: &Engine) -> Result<(), EngineError> {
    let changing: Vec<_> = engine
        .store()
        .run_now::<_, EngineError>(|conn| Ok(network_rows::all_interfaces(conn)?))?
        .into_iter()
        .filter(|i| {
            matches!(
                i.attachment_status.as_deref(),
                Some(nic_rows::ATTACHING | nic_rows::DETACHING)
            )
        })
        .collect();
    let mut instances: Vec<String> = changing
        .iter()
        .filter_map(|i| i.instance_id.clone())
        .collect();
    instances.sort();
    instances.dedup();
    for instance_id in instances {
        let Some(row) = engine
            .store()
            .run_now::<_, EngineError>(|conn| Ok(rows::find(conn, &instance_id)?))?
        else {
            continue;
        };
        let has_domain = !matches!(
            row.state,
            InstanceState::Pending | InstanceState::ShuttingDown | InstanceState::Terminated
        );
        if has_domain && engine.host_network().is_some() {
            let mut spec = spec(engine, &row);
            spec.nics = nics(engine, &row)?;
            engine.hypervisor().sync_nics(&spec)?;
        }
        for eni in changing
            .iter()
            .filter(|i| i.instance_id.as_deref() == Some(instance_id.as_str()))
        {
            let settled = if eni.attachment_status.as_deref() == Some(nic_rows::ATTACHING) {
                network_rows::InterfaceRow {
                    attachment_status: Some(nic_rows::ATTACHED.into()),
                    ..eni.clone()
                }
            } else {
                network_rows::InterfaceRow {
                    instance_id: None,
                    device_index: None,
                    attachment_id: None,
                    attach_time: None,
                    attachment_status: None,
                    ..eni.clone()
                }
            };
            engine.store().run_now::<_, EngineError>(|conn| {
                Ok(network_rows::settle_attachment(conn, eni, &settled)?)
            })?;
            tracing::info!(interface = %eni.interface_id, instance = %instance_id, status = ?settled.attachment_status, "network interface");
        }
    }
    Ok(())
}

/// One pass over every live instance (and, if asked, the hypervisor's orphan domains).
pub async fn reconcile(engine: &Engine, sweep_orphans: bool) -> Result<(), EngineError> {
    if let Err(e) = build_network(engine).await {
        engine.metrics().reconciler_error();
        tracing::error!(error = %super::cause_chain(&e), "building the host network failed; retrying next pass");
    }
    let for_interfaces = engine.clone();
    match tokio::task::spawn_blocking(move || sync_interfaces(&for_interfaces)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            engine.metrics().reconciler_error();
            tracing::warn!(error = %super::cause_chain(&e), "plugging network interfaces failed; retrying next pass");
        }
        Err(e) => return Err(EngineError::Io(format!("network interfaces: {e}"))),
    }
    let live = engine
        .store()
        .run::<_, EngineError, _>(|conn| Ok(rows::live(conn)?))
        .await?;
    // Every domain's state in a few libvirt calls rather than one per instance; read after
    // the rows, so a domain is never older than its row. Without it (libvirtd down), each
    // step asks for its own and fails or gives up as it must. A domain in none of the
    // listings is asked for by name: one that changed state between two listings (a guest
    // powering off is in none of them while it goes down) is not missing.
    let states = if live.is_empty() {
        None
    } else {
        let hypervisor = engine.hypervisor().clone();
        match tokio::task::spawn_blocking(move || hypervisor.states()).await {
            Ok(Ok(states)) => Some(std::sync::Arc::new(states)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "listing domain states failed; asking one by one");
                None
            }
            Err(e) => return Err(EngineError::Io(format!("listing domain states: {e}"))),
        }
    };
    let mut tasks = JoinSet::new();
    for row in live.iter().cloned() {
        if tasks.len() >= PARALLEL {
            let _ = tasks.join_next().await;
        }
        let engine = engine.clone();
        let states = states.clone();
        tasks.spawn_blocking(move || {
            let id = row.instance_id.clone();
            // Only running, stopping and shutting-down instances are judged by their
            // domain's state.
            let observed = match &states {
                _ if !matches!(row.state, InstanceState::Running | InstanceState::Stopping | InstanceState::ShuttingDown) => {
                    Ok(None)
                }
                Some(states) if states.contains_key(&id) => Ok(states.get(&id).copied()),
                _ => engine.hypervisor().state(&id).map_err(EngineError::from),
            };
            if let Err(e) = observed.and_then(|observed| step(&engine, row, observed)) {
                engine.metrics().reconciler_error();
                tracing::warn!(instance = %id, error = %super::cause_chain(&e), "reconcile step failed; retrying next pass");
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let engine_for_volumes = engine.clone();
    tokio::task::spawn_blocking(move || delete_volumes(&engine_for_volumes))
        .await
        .map_err(|e| EngineError::Io(format!("volume deletion: {e}")))??;
    if sweep_orphans {
        let engine = engine.clone();
        let live_ids: Vec<String> = live.into_iter().map(|r| r.instance_id).collect();
        tokio::task::spawn_blocking(move || sweep(&engine, &live_ids))
            .await
            .map_err(|e| EngineError::Io(format!("orphan sweep: {e}")))??;
    }
    Ok(())
}

fn since(changed_at: &str) -> chrono::TimeDelta {
    chrono::DateTime::parse_from_rfc3339(changed_at)
        .map(|t| chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

/// The guest's NICs: its attached interfaces, on their subnets' bridges (none when the
/// gateway builds no host network).
fn nics(engine: &Engine, row: &InstanceRow) -> Result<Vec<GuestNic>, EngineError> {
    if engine.host_network().is_none() {
        return Ok(Vec::new());
    }
    let interfaces = engine.store().run_now::<_, EngineError>(|conn| {
        Ok(network_rows::interfaces_of_instances(
            conn,
            std::slice::from_ref(&row.instance_id),
        )?)
    })?;
    let deployment = engine.deployment();
    Ok(interfaces
        .into_iter()
        .filter(|i| i.attachment_status.as_deref() != Some(nic_rows::DETACHING))
        .map(|i| GuestNic {
            bridge: hostnet::bridge_name(deployment, &i.subnet_id),
            tap: hostnet::tap_name(deployment, &i.interface_id),
            mac: i.mac_address,
        })
        .collect())
}

fn spec(engine: &Engine, row: &InstanceRow) -> DomainSpec {
    let dir = instance_dir(&engine.settings().data_dir, &row.instance_id);
    DomainSpec {
        nics: Vec::new(),
        name: row.instance_id.clone(),
        account_id: row.account_id.clone(),
        owner: engine.domain_owner().to_owned(),
        vcpus: u32::try_from(row.vcpus).unwrap_or(1),
        memory_mib: u64::try_from(row.memory_mib).unwrap_or(512),
        disk_path: dir.join("disk.qcow2").to_string_lossy().into_owned(),
        console_path: dir.join("console.log").to_string_lossy().into_owned(),
    }
}

fn move_to(
    engine: &Engine,
    row: &InstanceRow,
    from: &[InstanceState],
    to: InstanceState,
    reason: Option<(&str, &str)>,
) -> Result<(), EngineError> {
    let now = timestamp_now();
    let (code, message) = match reason {
        Some((code, message)) => (Some(code), Some(message)),
        None => (
            row.state_reason_code.as_deref(),
            row.state_reason_message.as_deref(),
        ),
    };
    let transition_reason = row.transition_reason.clone();
    let moved = engine.store().run_now::<_, EngineError>(|conn| {
        Ok(rows::transition(
            conn,
            &row.instance_id,
            from,
            to,
            code,
            message,
            &transition_reason,
            &now,
        )?)
    })?;
    if moved {
        tracing::info!(instance = %row.instance_id, from = %row.state, to = %to, "instance state");
    }
    Ok(())
}

/// Creates the overlay, defines the domain and starts it; each step is skipped if done.
/// The instance's root disk: a copy-on-write overlay of its image, of the root volume's size.
fn create_disk(
    engine: &Engine,
    row: &InstanceRow,
    path: &std::path::Path,
) -> Result<(), EngineError> {
    let image = engine
        .store()
        .run_now::<_, EngineError>(|conn| Ok(image_rows::find(conn, &row.image_id)?))?
        .ok_or_else(|| EngineError::NotFound {
            kind: super::ids::Kind::Image,
            ids: vec![row.image_id.clone()],
        })?;
    disk::create_overlay(
        std::path::Path::new(&image.disk_path),
        &image.disk_format,
        path,
        u32::try_from(row.root_size_gib).unwrap_or(1),
    )?;
    Ok(())
}

fn launch(engine: &Engine, row: &InstanceRow) -> Result<(), EngineError> {
    let mut spec = spec(engine, row);
    spec.nics = nics(engine, row)?;
    // A bridge the host network has not built yet (its VPC is new): the next pass, not a
    // failed launch.
    if let Some(missing) = spec.nics.iter().find(|n| {
        !std::path::Path::new("/sys/class/net")
            .join(&n.bridge)
            .exists()
    }) {
        return Err(EngineError::NetworkNotReady(missing.bridge.clone()));
    }
    create_disk(engine, row, std::path::Path::new(&spec.disk_path))?;
    engine.hypervisor().define(&spec)?;
    engine.hypervisor().start(&row.instance_id)?;
    Ok(())
}

/// Destroys and undefines the domain and deletes the instance's files, but for the root
/// disk of a volume to keep, which moves to the volumes directory first.
fn tear_down(engine: &Engine, instance_id: &str, keep: Option<&str>) -> Result<(), EngineError> {
    let hypervisor = engine.hypervisor();
    hypervisor.destroy(instance_id)?;
    hypervisor.undefine(instance_id)?;
    let data_dir = &engine.settings().data_dir;
    let dir = instance_dir(data_dir, instance_id);
    if let Some(volume_id) = keep {
        let to = volume_path(data_dir, volume_id);
        // Moved already if a crash came after the rename.
        if !to.exists() {
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| EngineError::Io(format!("{}: {e}", parent.display())))?;
            }
            let from = dir.join("disk.qcow2");
            std::fs::rename(&from, &to).map_err(|e| {
                EngineError::Io(format!("{} -> {}: {e}", from.display(), to.display()))
            })?;
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::Io(format!("{}: {e}", dir.display()))),
    }
}

/// Whether a failed launch ends now: a lasting failure at once, any other once it has gone on
/// for `limit`.
fn gives_up(e: &EngineError, waited: chrono::TimeDelta, limit: chrono::TimeDelta) -> bool {
    let lasting = match e {
        EngineError::Hypervisor(h) => h.failure() == Failure::Permanent,
        // The image was deregistered and its row removed: it will not come back.
        EngineError::NotFound { .. } => true,
        _ => false,
    };
    lasting || waited > limit
}

fn timeout(setting: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(setting).unwrap_or_default()
}

/// Whether to press the power button (again) after `waited`: an ACPI event sent before the
/// guest listens is lost, so it is sent on every pass at first, then every few seconds.
fn ask_again(waited: chrono::TimeDelta) -> bool {
    waited < SHUTDOWN_RESEND || waited.num_seconds() % SHUTDOWN_RESEND.num_seconds().max(1) == 0
}

/// Whether a reboot is owed, by the row or, if the row says none, by the database now.
fn rebooting(engine: &Engine, row: &InstanceRow) -> Result<bool, EngineError> {
    if row.reboot_requested_at.is_some() {
        return Ok(true);
    }
    let now = engine
        .store()
        .run_now::<_, EngineError>(|conn| Ok(rows::find(conn, &row.instance_id)?))?;
    Ok(now.is_some_and(|r| r.reboot_requested_at.is_some()))
}

/// The reboot asked of the instance is done.
fn reboot_done(engine: &Engine, row: &InstanceRow) -> Result<(), EngineError> {
    engine.store().run_now::<_, EngineError>(|conn| {
        Ok(rows::set_reboot_requested(conn, &row.instance_id, None)?)
    })
}

/// Moves one instance one step towards what its row says.
fn step(
    engine: &Engine,
    row: InstanceRow,
    observed: Option<PowerState>,
) -> Result<(), EngineError> {
    let hypervisor = engine.hypervisor();
    let id = row.instance_id.as_str();
    match row.state {
        InstanceState::Pending => {
            if let Err(e) = launch(engine, &row) {
                // A launch that cannot be made ends terminated with the reason, never a silent
                // pending: at once when retrying cannot help, after a while of retries when it
                // may (a restarting libvirtd).
                let waited = since(&row.state_changed_at);
                if gives_up(&e, waited, timeout(engine.settings().launch_timeout)) {
                    // Nothing worth shutting down: remove whatever was made at once.
                    engine.store().run_now::<_, EngineError>(|conn| {
                        Ok(rows::set_stop_mode(conn, id, StopMode::Force)?)
                    })?;
                    let message = format!("Server.InternalError: {e}");
                    move_to(
                        engine,
                        &row,
                        &[InstanceState::Pending],
                        InstanceState::ShuttingDown,
                        Some(("Server.InternalError", &message)),
                    )?;
                }
                return Err(e);
            }
            if hypervisor.state(id)? == Some(PowerState::Running) {
                move_to(
                    engine,
                    &row,
                    &[InstanceState::Pending],
                    InstanceState::Running,
                    Some(("", "")),
                )?;
            }
        }
        InstanceState::Running => match observed {
            // Deleted behind our back: the overlay still holds the disk, so bring it back.
            None => {
                tracing::warn!(instance = %id, "domain missing while running; redefining it");
                launch(engine, &row)?;
                reboot_done(engine, &row)?;
            }
            // The guest powered off for the reboot asked of it (the row, read at the start of
            // the pass, may predate the request: read it again): boot it again.
            Some(PowerState::ShutOff | PowerState::Crashed) if rebooting(engine, &row)? => {
                hypervisor.start(id)?;
                reboot_done(engine, &row)?;
                tracing::info!(instance = %id, "rebooted");
            }
            Some(PowerState::ShutOff | PowerState::Crashed) => {
                let reason = (
                    "Client.InstanceInitiatedShutdown",
                    "Client.InstanceInitiatedShutdown: Instance initiated shutdown",
                );
                let to = if row.shutdown_behavior == ShutdownBehavior::Terminate {
                    InstanceState::ShuttingDown
                } else {
                    InstanceState::Stopped
                };
                move_to(engine, &row, &[InstanceState::Running], to, Some(reason))?;
            }
            Some(PowerState::Running | PowerState::Transitional) => {
                // RebootInstances asked the guest to power off; one that has not gone down
                // within the timeout is reset, as EC2 hard-reboots it.
                let ignored = row
                    .reboot_requested_at
                    .as_deref()
                    .is_some_and(|asked| since(asked) > timeout(engine.settings().reboot_timeout));
                if ignored {
                    tracing::info!(instance = %id, "guest ignored the reboot; resetting it");
                    hypervisor.reset(id)?;
                    reboot_done(engine, &row)?;
                }
            }
        },
        InstanceState::Stopping => match observed {
            None | Some(PowerState::ShutOff | PowerState::Crashed) => {
                move_to(
                    engine,
                    &row,
                    &[InstanceState::Stopping],
                    InstanceState::Stopped,
                    None,
                )?;
            }
            Some(_) => {
                let waited = since(&row.state_changed_at);
                if row.stop_mode == StopMode::Force
                    || waited > timeout(engine.settings().stop_timeout)
                {
                    hypervisor.destroy(id)?;
                } else if row.stop_mode == StopMode::Hibernate {
                    // EC2: "If the instance cannot hibernate successfully, a normal shutdown
                    // occurs."
                    if let Err(e) = hypervisor.hibernate(id) {
                        tracing::warn!(instance = %id, error = %e, "hibernation failed; shutting down instead");
                        engine.store().run_now::<_, EngineError>(|conn| {
                            Ok(rows::set_stop_mode(conn, id, StopMode::Shutdown)?)
                        })?;
                        hypervisor.shutdown(id)?;
                    }
                } else if ask_again(waited) {
                    hypervisor.shutdown(id)?;
                }
            }
        },
        InstanceState::ShuttingDown => {
            // A running guest is asked to power off first, as for a stop, and destroyed only
            // if it has not within the stop timeout.
            let waited = since(&row.state_changed_at);
            let up = matches!(
                observed,
                Some(PowerState::Running | PowerState::Transitional)
            );
            if up
                && row.stop_mode != StopMode::Force
                && waited <= timeout(engine.settings().stop_timeout)
            {
                if observed == Some(PowerState::Running) && ask_again(waited) {
                    hypervisor.shutdown(id)?;
                }
                return Ok(());
            }
            let kept = !row.root_delete_on_termination;
            // Terminated before it was ever launched (a launch waits for its subnet's bridge):
            // the volume to keep is still the image's copy, so it is made now.
            let overlay = std::path::PathBuf::from(spec(engine, &row).disk_path);
            let kept_at = volume_path(&engine.settings().data_dir, &row.root_volume_id);
            if kept && !overlay.exists() && !kept_at.exists() {
                create_disk(engine, &row, &overlay)?;
            }
            tear_down(engine, id, kept.then_some(row.root_volume_id.as_str()))?;
            // The volume and interfaces first: done again harmlessly if a crash comes before
            // the instance.
            engine.store().run_now::<_, EngineError>(|conn| {
                volume_rows::release(conn, &row.root_volume_id, kept, &timestamp_now())?;
                super::network::interfaces::release_instance(conn, id)
            })?;
            move_to(
                engine,
                &row,
                &[InstanceState::ShuttingDown],
                InstanceState::Terminated,
                None,
            )?;
        }
        // Stopped: the domain stays defined and off, its disk kept.
        _ => {}
    }
    Ok(())
}

/// Removes the disks of the volumes DeleteVolume marked `deleting`, then marks them deleted.
fn delete_volumes(engine: &Engine) -> Result<(), EngineError> {
    let deleting = engine
        .store()
        .run_now::<_, EngineError>(|conn| Ok(volume_rows::deleting(conn)?))?;
    for volume in deleting {
        let path = volume_path(&engine.settings().data_dir, &volume.volume_id);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EngineError::Io(format!("{}: {e}", path.display()))),
        }
        engine.store().run_now::<_, EngineError>(|conn| {
            Ok(volume_rows::transition(
                conn,
                &volume.volume_id,
                VolumeState::Deleting,
                VolumeState::Deleted,
                &timestamp_now(),
            )?)
        })?;
        tracing::info!(volume = %volume.volume_id, "volume deleted");
    }
    Ok(())
}

/// Removes domains that carry this database's owner mark but no live instance: left by a crash
/// between termination steps. Domains of gateways on other databases are never touched.
fn sweep(engine: &Engine, live: &[String]) -> Result<(), EngineError> {
    let live: std::collections::HashSet<&str> = live.iter().map(String::as_str).collect();
    for name in engine.hypervisor().owned_domains(engine.domain_owner())? {
        if live.contains(name.as_str()) {
            continue;
        }
        let known = engine
            .store()
            .run_now::<_, EngineError>(|conn| Ok(rows::find(conn, &name)?))?;
        // A row in a live state may have been written after `live` was read: leave it.
        if known
            .as_ref()
            .is_some_and(|r| r.state != InstanceState::Terminated)
        {
            continue;
        }
        tracing::warn!(domain = %name, "removing a domain with no live instance");
        tear_down(engine, &name, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::HypervisorError;

    fn libvirt(failure: Failure) -> EngineError {
        EngineError::Hypervisor(HypervisorError::Libvirt {
            message: "start i-0123456789abcdef0: ...".into(),
            failure,
        })
    }

    #[test]
    fn lasting_launch_failures_give_up_at_once_and_others_after_the_limit() {
        let limit = chrono::TimeDelta::seconds(60);
        let early = chrono::TimeDelta::seconds(1);
        let late = chrono::TimeDelta::seconds(61);
        assert!(gives_up(&libvirt(Failure::Permanent), early, limit));
        assert!(!gives_up(&libvirt(Failure::Transient), early, limit));
        assert!(gives_up(&libvirt(Failure::Transient), late, limit));
        let disk = EngineError::Hypervisor(HypervisorError::Disk {
            message: "base image /d/ami.qcow2: No such file or directory (os error 2)".into(),
            failure: Failure::Permanent,
        });
        assert!(gives_up(&disk, early, limit));
        let gone = EngineError::NotFound {
            kind: crate::engine::ids::Kind::Image,
            ids: vec!["ami-0123456789abcdef0".into()],
        };
        assert!(gives_up(&gone, early, limit));
        // The database failing is no reason to give a launch up early.
        let store = EngineError::Store(crate::store::StoreError::Migration("x".into()));
        assert!(!gives_up(&store, early, limit));
    }
}
