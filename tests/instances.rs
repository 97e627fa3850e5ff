//! Instances through real HTTP on libvirt's test driver: RunInstances to running, the
//! lifecycle, ClientToken, and the reconciler repairing what was done behind its back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{import_image, start, start_with, Options, TestGateway};
use ec2gw::hypervisor::libvirt::Libvirt;
use ec2gw::hypervisor::{DomainSpec, Failure, Hypervisor, HypervisorError, PowerState};

fn all<'a>(body: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v))
        .collect()
}

/// Polls DescribeInstances until every instance named is in `state`.
async fn wait_for(gw: &TestGateway, ids: &[&str], state: &str) -> String {
    let query: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| format!("&InstanceId.{}={id}", i + 1))
        .collect();
    let started = Instant::now();
    loop {
        let a = gw
            .post(&format!(
                "Action=DescribeInstances&Version=2016-11-15{query}"
            ))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let states: Vec<&str> = all(&a.body, "instanceState")
            .iter()
            .flat_map(|s| all(s, "name"))
            .collect();
        if states.len() == ids.len() && states.iter().all(|s| *s == state) {
            return a.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not {state} in 10 s: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_instances_reach_running_and_the_lifecycle_follows() {
    let gw = start().await;
    let ami = import_image(&gw, "lifecycle").await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&InstanceType=t3.micro&MinCount=2&MaxCount=2\
             &ClientToken=tok-1&Placement.AvailabilityZone=&DisableApiTermination=false\
             &TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web"
        ))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let ids = all(&run.body, "instanceId");
    assert_eq!(ids.len(), 2);
    assert_eq!(all(&run.body, "name")[..1], ["pending"]);
    assert!(run.body.contains("<key>Name</key><value>web</value>"));

    // The same ClientToken gives back the same reservation.
    let again = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&InstanceType=t3.micro&MinCount=2&MaxCount=2\
             &ClientToken=tok-1&Placement.AvailabilityZone=&DisableApiTermination=false\
             &TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=web"
        ))
        .await;
    assert_eq!(all(&again.body, "instanceId"), ids);
    let mismatch = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&InstanceType=t3.small&MinCount=1&MaxCount=1&ClientToken=tok-1"
        ))
        .await;
    assert_eq!(
        (mismatch.status, mismatch.code()),
        (400, "IdempotentParameterMismatch")
    );

    wait_for(&gw, &ids, "running").await;
    let domain_state = |id: &str| {
        let engine = gw.engine.clone();
        let id = id.to_owned();
        async move {
            tokio::task::spawn_blocking(move || engine.hypervisor().state(&id).unwrap())
                .await
                .unwrap()
        }
    };
    assert_eq!(
        domain_state(ids[0]).await,
        Some(ec2gw::hypervisor::PowerState::Running)
    );

    let stop = gw
        .post(&format!(
            "Action=StopInstances&Version=2016-11-15&InstanceId.1={}",
            ids[0]
        ))
        .await;
    assert!(stop.body.contains(
        "<currentState><code>64</code><name>stopping</name></currentState><previousState><code>16</code><name>running</name></previousState>"
    ), "{}", stop.body);
    let stopped = wait_for(&gw, &ids[..1], "stopped").await;
    assert!(
        stopped.contains("<stateReason><code>Client.UserInitiatedShutdown</code>"),
        "{stopped}"
    );

    let start_again = gw
        .post(&format!(
            "Action=StartInstances&Version=2016-11-15&InstanceId.1={}",
            ids[0]
        ))
        .await;
    assert!(start_again
        .body
        .contains("<currentState><code>0</code><name>pending</name></currentState>"));
    wait_for(&gw, &ids[..1], "running").await;

    let terminate = gw
        .post(&format!(
            "Action=TerminateInstances&Version=2016-11-15&InstanceId.1={}&InstanceId.2={}",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(
        all(&terminate.body, "name")
            .iter()
            .filter(|n| **n == "shutting-down")
            .count(),
        2
    );
    wait_for(&gw, &ids, "terminated").await;
    assert_eq!(domain_state(ids[0]).await, None, "the domain is undefined");
    assert!(
        !gw.data_dir().join("instances").join(ids[0]).exists(),
        "the overlay is gone"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reconciler_repairs_what_was_done_behind_its_back() {
    let gw = start().await;
    let ami = import_image(&gw, "repair").await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=2&MaxCount=2&InstanceInitiatedShutdownBehavior=stop"
        ))
        .await;
    let ids = all(&run.body, "instanceId");
    wait_for(&gw, &ids, "running").await;
    let hypervisor = gw.engine.hypervisor().clone();
    let (gone, off) = (ids[0].to_owned(), ids[1].to_owned());
    tokio::task::spawn_blocking(move || {
        // One domain deleted outright, one powered off as a guest would do it.
        hypervisor.destroy(&gone).unwrap();
        hypervisor.undefine(&gone).unwrap();
        hypervisor.shutdown(&off).unwrap();
    })
    .await
    .unwrap();
    let stopped = wait_for(&gw, &ids[1..], "stopped").await;
    assert!(
        stopped.contains("<code>Client.InstanceInitiatedShutdown</code>"),
        "{stopped}"
    );
    let engine = gw.engine.clone();
    let gone = ids[0].to_owned();
    let started = Instant::now();
    loop {
        let engine = engine.clone();
        let gone = gone.clone();
        let state = tokio::task::spawn_blocking(move || engine.hypervisor().state(&gone).unwrap())
            .await
            .unwrap();
        if state == Some(ec2gw::hypervisor::PowerState::Running) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "domain not recreated: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn protections_and_states_are_enforced() {
    let gw = start().await;
    let ami = import_image(&gw, "protect").await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=1&MaxCount=1&DisableApiTermination=true&DisableApiStop=true"
        ))
        .await;
    let id = all(&run.body, "instanceId")[0].to_owned();
    wait_for(&gw, &[&id], "running").await;
    let t = gw
        .post(&format!(
            "Action=TerminateInstances&Version=2016-11-15&InstanceId.1={id}"
        ))
        .await;
    assert_eq!((t.status, t.code()), (400, "OperationNotPermitted"));
    assert_eq!(
        t.message(),
        format!("The instance '{id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.")
    );
    let s = gw
        .post(&format!(
            "Action=StopInstances&Version=2016-11-15&InstanceId.1={id}"
        ))
        .await;
    assert_eq!((s.status, s.code()), (400, "OperationNotPermitted"));
    let m = gw
        .post(&format!("Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId={id}&InstanceType.Value=t3.small"))
        .await;
    assert_eq!((m.status, m.code()), (400, "IncorrectInstanceState"));
    let m = gw
        .post(&format!("Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId={id}&DisableApiTermination.Value=false"))
        .await;
    assert_eq!(m.status, 200, "{}", m.body);
    let attr = gw
        .post(&format!("Action=DescribeInstanceAttribute&Version=2016-11-15&InstanceId={id}&Attribute=disableApiTermination"))
        .await;
    assert!(
        attr.body
            .contains("<disableApiTermination><value>false</value></disableApiTermination>"),
        "{}",
        attr.body
    );
    let t = gw
        .post(&format!(
            "Action=TerminateInstances&Version=2016-11-15&InstanceId.1={id}"
        ))
        .await;
    assert_eq!(t.status, 200, "{}", t.body);
    let missing = gw
        .post("Action=StopInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0")
        .await;
    assert_eq!(
        (missing.code(), missing.message()),
        (
            "InvalidInstanceID.NotFound",
            "The instance ID 'i-0123456789abcdef0' does not exist"
        )
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_launch_that_cannot_be_made_ends_terminated_with_its_reason() {
    let gw = start().await;
    let ami = import_image(&gw, "broken").await;
    // The image's disk disappears: no overlay can be made on it.
    for entry in std::fs::read_dir(gw.data_dir().join("images")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    let id = all(&run.body, "instanceId")[0].to_owned();
    let body = wait_for(&gw, &[&id], "terminated").await;
    assert!(
        body.contains(
            "<stateReason><code>Server.InternalError</code><message>Server.InternalError: "
        ),
        "{body}"
    );
    gw.stop().await;
}

/// A launch timeout no test waits for: an instance that ends terminated within the test did
/// so because its failure was taken for a lasting one.
const NEVER: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_file_ends_the_launch_at_once() {
    let gw = start_with(Options {
        launch_timeout: NEVER,
        ..Options::default()
    })
    .await;
    let ami = import_image(&gw, "gone").await;
    for entry in std::fs::read_dir(gw.data_dir().join("images")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=1&MaxCount=1"
        ))
        .await;
    let id = all(&run.body, "instanceId")[0].to_owned();
    let body = wait_for(&gw, &[&id], "terminated").await;
    let reason = all(&body, "stateReason")[0];
    assert!(
        reason.starts_with(
            "<code>Server.InternalError</code><message>Server.InternalError: disk: base image /"
        ) && reason.ends_with(": No such file or directory (os error 2)</message>"),
        "{reason}"
    );
    gw.stop().await;
}

/// The test driver, failing on purpose: `define` fails with `failure` the first `times` calls
/// of the process (every call if `times` is usize::MAX).
struct Failing {
    inner: Libvirt,
    failure: Failure,
    times: usize,
    calls: std::sync::atomic::AtomicUsize,
}

impl Hypervisor for Failing {
    fn sync_nics(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        self.inner.sync_nics(spec)
    }
    fn define(&self, spec: &DomainSpec) -> Result<(), HypervisorError> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < self.times {
            return Err(HypervisorError::Libvirt {
                message: format!("define {}: made to fail ({n})", spec.name),
                failure: self.failure,
            });
        }
        self.inner.define(spec)
    }
    fn start(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.start(name)
    }
    fn shutdown(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.shutdown(name)
    }
    fn destroy(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.destroy(name)
    }
    fn reset(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.reset(name)
    }
    fn hibernate(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.hibernate(name)
    }
    fn undefine(&self, name: &str) -> Result<(), HypervisorError> {
        self.inner.undefine(name)
    }
    fn state(&self, name: &str) -> Result<Option<PowerState>, HypervisorError> {
        self.inner.state(name)
    }
    fn states(&self) -> Result<std::collections::HashMap<String, PowerState>, HypervisorError> {
        self.inner.states()
    }
    fn owned_domains(&self, owner: &str) -> Result<Vec<String>, HypervisorError> {
        self.inner.owned_domains(owner)
    }
}

async fn launch_one(gw: &TestGateway, image: &str) -> String {
    let ami = import_image(gw, image).await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=1&MaxCount=1"
        ))
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    all(&run.body, "instanceId")[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_definition_ends_the_launch_at_once() {
    let gw = start_with(Options {
        launch_timeout: NEVER,
        hypervisor: |inner| {
            std::sync::Arc::new(Failing {
                inner,
                failure: Failure::Permanent,
                times: usize::MAX,
                calls: 0.into(),
            })
        },
    })
    .await;
    let id = launch_one(&gw, "refused").await;
    let body = wait_for(&gw, &[&id], "terminated").await;
    assert_eq!(
        all(&body, "stateReason")[0],
        format!(
            "<code>Server.InternalError</code><message>Server.InternalError: libvirt: define {id}: made to fail (0)</message>"
        )
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_passing_failure_is_retried_until_the_launch_is_made() {
    let gw = start_with(Options {
        launch_timeout: NEVER,
        hypervisor: |inner| {
            std::sync::Arc::new(Failing {
                inner,
                failure: Failure::Transient,
                times: 5,
                calls: 0.into(),
            })
        },
    })
    .await;
    let id = launch_one(&gw, "flaky").await;
    let body = wait_for(&gw, &[&id], "running").await;
    assert!(!body.contains("made to fail"), "{body}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_instance_is_gone_after_an_hour() {
    let gw = start().await;
    let ami = import_image(&gw, "expiry").await;
    let run = gw
        .post(&format!(
            "Action=RunInstances&Version=2016-11-15&ImageId={ami}&MinCount=2&MaxCount=2"
        ))
        .await;
    let ids = all(&run.body, "instanceId");
    let (old, recent) = (ids[0].to_owned(), ids[1].to_owned());
    wait_for(&gw, &[&old, &recent], "running").await;
    gw.post(&format!(
        "Action=TerminateInstances&Version=2016-11-15&InstanceId.1={old}&InstanceId.2={recent}"
    ))
    .await;
    wait_for(&gw, &[&old, &recent], "terminated").await;

    // As if `old` had been terminated an hour and a second ago.
    let aged = old.clone();
    gw.store
        .run::<_, ec2gw::store::StoreError, _>(move |conn| {
            let then = (chrono::Utc::now() - chrono::TimeDelta::seconds(3601))
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let moved = ec2gw::store::instances::transition(
                conn,
                &aged,
                &[ec2gw::domain::InstanceState::Terminated],
                ec2gw::domain::InstanceState::Terminated,
                None,
                None,
                "",
                &then,
            )?;
            assert!(moved);
            Ok(())
        })
        .await
        .unwrap();

    let not_found = format!("The instance ID '{old}' does not exist");
    for form in [
        format!("Action=DescribeInstances&Version=2016-11-15&InstanceId.1={old}"),
        format!("Action=DescribeInstances&Version=2016-11-15&InstanceId.1={old}&InstanceId.2={recent}"),
        format!("Action=TerminateInstances&Version=2016-11-15&InstanceId.1={old}"),
        format!("Action=DescribeInstanceStatus&Version=2016-11-15&InstanceId.1={old}&IncludeAllInstances=true"),
        format!("Action=GetConsoleOutput&Version=2016-11-15&InstanceId={old}"),
        format!("Action=DescribeInstanceAttribute&Version=2016-11-15&InstanceId={old}&Attribute=instanceType"),
    ] {
        let a = gw.post(&form).await;
        assert_eq!(
            (a.status, a.code(), a.message()),
            (400, "InvalidInstanceID.NotFound", not_found.as_str()),
            "{form}"
        );
    }
    let listed = gw.post("Action=DescribeInstances&Version=2016-11-15").await;
    assert_eq!(all(&listed.body, "instanceId"), [recent.as_str()]);
    // The one terminated within the hour is still there by id.
    let recent_one = gw
        .post(&format!(
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1={recent}"
        ))
        .await;
    assert_eq!(recent_one.status, 200, "{}", recent_one.body);
    gw.stop().await;
}

/// An image must be readable by QEMU whatever the umask of the shell that imported it: a
/// 0700 images directory (what `umask 077` makes) is opened up, and the file is 0644.
#[tokio::test(flavor = "multi_thread")]
async fn imported_images_are_readable_by_qemu_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let gw = start().await;
    let images = gw.data_dir().join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::set_permissions(&images, std::fs::Permissions::from_mode(0o700)).unwrap();
    let ami = import_image(&gw, "umask").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&images), 0o711);
    assert_eq!(mode(&images.join(format!("{ami}.qcow2"))), 0o644);
    gw.stop().await;
}
