//! A full instance lifecycle through the official AWS SDK for Rust (`aws-sdk-ec2`), whose
//! generated XML deserializer is the strictest EC2 client there is: a wrong element name, a
//! boolean it cannot parse or a timestamp in the wrong format fails the call.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    ArchitectureValues, AttributeValue, DeviceType, Filter, ImageState, Instance,
    InstanceAttributeName, InstanceStateName, InstanceType, ResourceType, SummaryStatus, Tag,
    TagSpecification, VolumeAttachmentState, VolumeState, VolumeType,
};
use aws_sdk_ec2::Client;
use common::{import_image, start, TestGateway, REGION};

/// An ed25519 public key made with `ssh-keygen -t ed25519`; its fingerprint as
/// `ssh-keygen -l -E sha256` printed it, with the `=` padding EC2 shows.
const ED25519_PUBLIC: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPejLdHx6i1XLUCbc8Wn5v3Jck41sVtkF7GovyiEwRvh sdk-test";
const ED25519_FINGERPRINT: &str = "Gcgwv5uwoAnSqwd5x8wiIPodBdQi6A3zYtkuxXxDJPI=";

/// An SDK client for the gateway, configured by hand (no aws-config, no environment, no
/// TLS): plain http to the in-process endpoint. Retries are off so that every call is one
/// request and a faulty answer fails at once instead of being retried away.
fn client(gw: &TestGateway) -> Client {
    let config = aws_sdk_ec2::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            gw.key.access_key_id.clone(),
            gw.key.secret.expose().to_owned(),
            None,
            None,
            "ec2gw-test",
        ))
        .endpoint_url(&gw.endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// The answer, or a panic naming the call and the SDK's whole error chain (which says what
/// it could not parse).
fn ok<T, E: std::error::Error + 'static>(what: &str, result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", DisplayErrorContext(&e)))
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

async fn describe(ec2: &Client, id: &str) -> Instance {
    let out = ok(
        "DescribeInstances",
        ec2.describe_instances().instance_ids(id).send().await,
    );
    let instances: Vec<&Instance> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(instances.len(), 1, "{out:?}");
    instances[0].clone()
}

fn state(instance: &Instance) -> InstanceStateName {
    instance.state().and_then(|s| s.name()).cloned().unwrap()
}

/// Polls DescribeInstances until the instance is in `wanted`.
async fn wait_for(ec2: &Client, id: &str, wanted: InstanceStateName) -> Instance {
    let started = Instant::now();
    loop {
        let instance = describe(ec2, id).await;
        if state(&instance) == wanted {
            return instance;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} not {wanted:?} in 20 s: {:?}",
            instance.state()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aws_sdk_for_rust_drives_a_whole_lifecycle() {
    let gw = start().await;
    let ami = import_image(&gw, "sdk-guest").await;
    let ec2 = client(&gw);

    // Regions and zones.
    let regions = ok(
        "DescribeRegions",
        ec2.describe_regions().all_regions(true).send().await,
    );
    let region = regions
        .regions()
        .iter()
        .find(|r| r.region_name() == Some(REGION))
        .unwrap_or_else(|| panic!("{REGION} not in {regions:?}"));
    assert_eq!(region.endpoint(), Some(gw.host.as_str()));
    assert_eq!(region.opt_in_status(), Some("opt-in-not-required"));
    assert!(regions.request_id().is_some_and(|r| !r.is_empty()));

    let zones = ok(
        "DescribeAvailabilityZones",
        ec2.describe_availability_zones().send().await,
    );
    let zone_names: Vec<&str> = zones
        .availability_zones()
        .iter()
        .filter_map(|z| z.zone_name())
        .collect();
    assert_eq!(zone_names, ["us-east-1a", "us-east-1b"]);
    for zone in zones.availability_zones() {
        assert_eq!(zone.region_name(), Some(REGION));
        assert_eq!(
            zone.state(),
            Some(&aws_sdk_ec2::types::AvailabilityZoneState::Available)
        );
        assert!(zone.zone_id().unwrap().starts_with("use1-az"));
    }

    // The default network: a VPC, a default subnet per zone, the default group.
    let vpcs = ok(
        "DescribeVpcs",
        ec2.describe_vpcs()
            .filters(Filter::builder().name("isDefault").values("true").build())
            .send()
            .await,
    );
    let [vpc] = vpcs.vpcs() else {
        panic!("one default VPC: {vpcs:?}")
    };
    let vpc_id = vpc.vpc_id().unwrap();
    assert_eq!(vpc.is_default(), Some(true));
    assert_eq!(vpc.cidr_block(), Some("172.31.0.0/16"));
    assert_eq!(vpc.state(), Some(&aws_sdk_ec2::types::VpcState::Available));
    let subnets = ok(
        "DescribeSubnets",
        ec2.describe_subnets()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .filters(
                Filter::builder()
                    .name("default-for-az")
                    .values("true")
                    .build(),
            )
            .send()
            .await,
    );
    let mut subnet_zones: Vec<(&str, &str)> = subnets
        .subnets()
        .iter()
        .map(|s| (s.availability_zone().unwrap(), s.cidr_block().unwrap()))
        .collect();
    subnet_zones.sort_unstable();
    assert_eq!(
        subnet_zones,
        [
            ("us-east-1a", "172.31.0.0/20"),
            ("us-east-1b", "172.31.16.0/20")
        ]
    );
    let zone_b_subnet = subnets
        .subnets()
        .iter()
        .find(|s| s.availability_zone() == Some("us-east-1b"))
        .and_then(|s| s.subnet_id())
        .unwrap()
        .to_owned();
    let groups = ok(
        "DescribeSecurityGroups",
        ec2.describe_security_groups()
            .group_names("default")
            .send()
            .await,
    );
    let [group] = groups.security_groups() else {
        panic!("one default group: {groups:?}")
    };
    assert_eq!(group.vpc_id(), Some(vpc_id));
    assert_eq!(
        group.ip_permissions_egress()[0].ip_ranges()[0].cidr_ip(),
        Some("0.0.0.0/0")
    );
    let group_id = group.group_id().unwrap().to_owned();

    // Key pairs: one imported (the one the instance gets), one created.
    let imported = ok(
        "ImportKeyPair",
        ec2.import_key_pair()
            .key_name("sdk-imported")
            .public_key_material(Blob::new(ED25519_PUBLIC))
            .send()
            .await,
    );
    assert_eq!(imported.key_name(), Some("sdk-imported"));
    assert_eq!(imported.key_fingerprint(), Some(ED25519_FINGERPRINT));
    assert!(imported.key_pair_id().unwrap().starts_with("key-"));

    let created = ok(
        "CreateKeyPair",
        ec2.create_key_pair()
            .key_name("sdk-created")
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::KeyPair)
                    .tags(tag("team", "sdk"))
                    .build(),
            )
            .send()
            .await,
    );
    assert!(
        created.key_material().unwrap().starts_with("-----BEGIN"),
        "{:?}",
        created.key_material()
    );
    // A created RSA key's fingerprint: SHA-1 of its private key, 20 colon-separated bytes.
    assert_eq!(created.key_fingerprint().unwrap().split(':').count(), 20);
    assert_eq!(tag_value(created.tags(), "team"), Some("sdk"));

    let pairs = ok("DescribeKeyPairs", ec2.describe_key_pairs().send().await);
    let mut names: Vec<&str> = pairs
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["sdk-created", "sdk-imported"]);
    assert!(pairs.key_pairs().iter().all(|k| k.create_time().is_some()));

    // The image, found by name.
    let images = ok(
        "DescribeImages",
        ec2.describe_images()
            .owners("self")
            .filters(filter("name", "sdk-guest"))
            .send()
            .await,
    );
    assert_eq!(images.images().len(), 1, "{images:?}");
    let image = &images.images()[0];
    assert_eq!(image.image_id(), Some(ami.as_str()));
    assert_eq!(image.name(), Some("sdk-guest"));
    assert_eq!(image.state(), Some(&ImageState::Available));
    assert_eq!(image.architecture(), Some(&ArchitectureValues::X8664));
    assert_eq!(image.owner_id(), Some(gw.key.account_id.as_str()));
    assert_eq!(image.public(), Some(false));
    assert_eq!(image.root_device_type(), Some(&DeviceType::Ebs));
    assert!(image.creation_date().is_some());

    // RunInstances, and the same ClientToken again gives the same instance back.
    let run = || {
        ec2.run_instances()
            .image_id(&ami)
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .key_name("sdk-imported")
            .client_token("sdk-lifecycle-1")
            .placement(
                aws_sdk_ec2::types::Placement::builder()
                    .availability_zone("us-east-1b")
                    .build(),
            )
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .tags(tag("Name", "sdk-web"))
                    .build(),
            )
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .tags(tag("disk", "root"))
                    .build(),
            )
    };
    let reservation = ok("RunInstances", run().send().await);
    assert!(reservation.reservation_id().unwrap().starts_with("r-"));
    assert_eq!(reservation.owner_id(), Some(gw.key.account_id.as_str()));
    assert_eq!(reservation.instances().len(), 1);
    let launched = &reservation.instances()[0];
    let id = launched.instance_id().unwrap().to_owned();
    assert!(id.starts_with("i-") && id.len() == 19, "{id}");
    assert_eq!(state(launched), InstanceStateName::Pending);
    assert_eq!(launched.state().unwrap().code(), Some(0));
    assert_eq!(launched.client_token(), Some("sdk-lifecycle-1"));
    assert_eq!(tag_value(launched.tags(), "Name"), Some("sdk-web"));
    let again = ok("RunInstances (same ClientToken)", run().send().await);
    assert_eq!(again.reservation_id(), reservation.reservation_id());
    assert_eq!(again.instances()[0].instance_id(), Some(id.as_str()));

    // Running, with everything it was launched with.
    let running = wait_for(&ec2, &id, InstanceStateName::Running).await;
    assert_eq!(running.state().unwrap().code(), Some(16));
    assert_eq!(running.instance_type(), Some(&InstanceType::T3Micro));
    assert_eq!(running.image_id(), Some(ami.as_str()));
    assert_eq!(running.key_name(), Some("sdk-imported"));
    assert_eq!(tag_value(running.tags(), "Name"), Some("sdk-web"));
    assert_eq!(
        running.placement().unwrap().availability_zone(),
        Some("us-east-1b")
    );
    assert_eq!(running.subnet_id(), Some(zone_b_subnet.as_str()));
    assert_eq!(running.vpc_id(), Some(vpc_id));
    let in_groups: Vec<Option<&str>> = running
        .security_groups()
        .iter()
        .map(|g| g.group_id())
        .collect();
    assert_eq!(in_groups, [Some(group_id.as_str())]);
    assert_eq!(running.architecture(), Some(&ArchitectureValues::X8664));
    let launch_time = running.launch_time().unwrap();
    let now = aws_sdk_ec2::primitives::DateTime::from(std::time::SystemTime::now());
    assert!(
        (now.secs() - launch_time.secs()).abs() < 300,
        "{launch_time} vs {now}"
    );
    let root_device = running.root_device_name().unwrap().to_owned();
    let root = running
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == Some(root_device.as_str()))
        .unwrap_or_else(|| panic!("no mapping for {root_device}: {running:?}"));
    let ebs = root.ebs().unwrap();
    let volume_id = ebs.volume_id().unwrap().to_owned();
    assert!(volume_id.starts_with("vol-"), "{volume_id}");
    assert_eq!(ebs.delete_on_termination(), Some(true));
    assert!(ebs.attach_time().is_some());
    // The SDK's own waiter agrees (its first check is immediate).
    ok(
        "waiter instance_running",
        ec2.wait_until_instance_running()
            .instance_ids(&id)
            .wait(Duration::from_secs(5))
            .await,
    );

    let status = ok(
        "DescribeInstanceStatus",
        ec2.describe_instance_status()
            .instance_ids(&id)
            .include_all_instances(true)
            .send()
            .await,
    );
    assert_eq!(status.instance_statuses().len(), 1, "{status:?}");
    let s = &status.instance_statuses()[0];
    assert_eq!(s.instance_id(), Some(id.as_str()));
    assert_eq!(s.availability_zone(), Some("us-east-1b"));
    assert_eq!(
        s.instance_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );
    assert_eq!(
        s.instance_status().and_then(|s| s.status()),
        Some(&SummaryStatus::Ok)
    );
    assert_eq!(
        s.system_status().and_then(|s| s.status()),
        Some(&SummaryStatus::Ok)
    );

    let attribute = |name: InstanceAttributeName| {
        ec2.describe_instance_attribute()
            .instance_id(&id)
            .attribute(name)
            .send()
    };
    let instance_type = ok(
        "DescribeInstanceAttribute instanceType",
        attribute(InstanceAttributeName::InstanceType).await,
    );
    assert_eq!(instance_type.instance_id(), Some(id.as_str()));
    assert_eq!(
        instance_type.instance_type().and_then(|v| v.value()),
        Some("t3.micro")
    );
    let termination = ok(
        "DescribeInstanceAttribute disableApiTermination",
        attribute(InstanceAttributeName::DisableApiTermination).await,
    );
    assert_eq!(
        termination
            .disable_api_termination()
            .and_then(|v| v.value()),
        Some(false)
    );

    // Tags added after launch, and read back.
    ok(
        "CreateTags",
        ec2.create_tags()
            .resources(&id)
            .tags(tag("env", "test"))
            .tags(tag("owner", "sdk"))
            .send()
            .await,
    );
    let tags = ok(
        "DescribeTags",
        ec2.describe_tags()
            .filters(filter("resource-id", &id))
            .send()
            .await,
    );
    let mut seen: Vec<(&str, &str)> = tags
        .tags()
        .iter()
        .map(|t| {
            assert_eq!(t.resource_id(), Some(id.as_str()));
            assert_eq!(t.resource_type(), Some(&ResourceType::Instance));
            (t.key().unwrap(), t.value().unwrap())
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [("Name", "sdk-web"), ("env", "test"), ("owner", "sdk")]
    );

    let console = ok(
        "GetConsoleOutput",
        ec2.get_console_output().instance_id(&id).send().await,
    );
    assert_eq!(console.instance_id(), Some(id.as_str()));
    assert!(console.timestamp().is_some());

    // The root volume.
    let volumes = ok(
        "DescribeVolumes",
        ec2.describe_volumes().volume_ids(&volume_id).send().await,
    );
    assert_eq!(volumes.volumes().len(), 1, "{volumes:?}");
    let volume = &volumes.volumes()[0];
    assert_eq!(volume.volume_id(), Some(volume_id.as_str()));
    assert_eq!(volume.state(), Some(&VolumeState::InUse));
    assert_eq!(volume.volume_type(), Some(&VolumeType::Gp3));
    assert_eq!(volume.availability_zone(), Some("us-east-1b"));
    assert!(volume.size().unwrap() >= 1);
    assert_eq!(tag_value(volume.tags(), "disk"), Some("root"));
    assert_eq!(volume.attachments().len(), 1);
    let attachment = &volume.attachments()[0];
    assert_eq!(attachment.instance_id(), Some(id.as_str()));
    assert_eq!(attachment.device(), Some(root_device.as_str()));
    assert_eq!(attachment.state(), Some(&VolumeAttachmentState::Attached));
    assert_eq!(attachment.delete_on_termination(), Some(true));

    // Pagination: five more instances make six, listed five at a time.
    let more = ok(
        "RunInstances x5",
        ec2.run_instances()
            .image_id(&ami)
            .instance_type(InstanceType::T3Nano)
            .min_count(5)
            .max_count(5)
            .send()
            .await,
    );
    let mut expected: BTreeSet<String> = more
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 5);
    expected.insert(id.clone());
    let pages: Vec<_> = ok(
        "DescribeInstances pages",
        ec2.describe_instances()
            .into_paginator()
            .page_size(5)
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await,
    );
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for page in &pages {
        let count: usize = page
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum();
        assert!((1..=5).contains(&count), "{count} instances on a page");
    }
    assert!(pages.last().unwrap().next_token().is_none());
    let listed: Vec<String> = ok(
        "DescribeInstances items",
        ec2.describe_instances()
            .into_paginator()
            .page_size(5)
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await,
    )
    .iter()
    .flat_map(|r| r.instances())
    .map(|i| i.instance_id().unwrap().to_owned())
    .collect();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected);

    // Stop, change the type while stopped, start again, reboot.
    let stop = ok(
        "StopInstances",
        ec2.stop_instances().instance_ids(&id).send().await,
    );
    let change = &stop.stopping_instances()[0];
    assert_eq!(change.instance_id(), Some(id.as_str()));
    assert_eq!(
        change.previous_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Running)
    );
    assert_eq!(
        change.current_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Stopping)
    );
    let stopped = wait_for(&ec2, &id, InstanceStateName::Stopped).await;
    assert_eq!(stopped.state().unwrap().code(), Some(80));
    assert_eq!(
        stopped.state_reason().and_then(|r| r.code()),
        Some("Client.UserInitiatedShutdown")
    );
    ok(
        "waiter instance_stopped",
        ec2.wait_until_instance_stopped()
            .instance_ids(&id)
            .wait(Duration::from_secs(5))
            .await,
    );
    let status = ok(
        "DescribeInstanceStatus (stopped)",
        ec2.describe_instance_status()
            .instance_ids(&id)
            .include_all_instances(true)
            .send()
            .await,
    );
    assert_eq!(
        status.instance_statuses()[0]
            .instance_status()
            .and_then(|s| s.status()),
        Some(&SummaryStatus::NotApplicable)
    );

    ok(
        "ModifyInstanceAttribute instanceType",
        ec2.modify_instance_attribute()
            .instance_id(&id)
            .instance_type(AttributeValue::builder().value("t3.small").build())
            .send()
            .await,
    );
    let instance_type = ok(
        "DescribeInstanceAttribute instanceType (modified)",
        attribute(InstanceAttributeName::InstanceType).await,
    );
    assert_eq!(
        instance_type.instance_type().and_then(|v| v.value()),
        Some("t3.small")
    );
    assert_eq!(
        describe(&ec2, &id).await.instance_type(),
        Some(&InstanceType::T3Small)
    );

    let start = ok(
        "StartInstances",
        ec2.start_instances().instance_ids(&id).send().await,
    );
    let change = &start.starting_instances()[0];
    assert_eq!(
        change.previous_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Stopped)
    );
    assert_eq!(
        change.current_state().and_then(|s| s.name()),
        Some(&InstanceStateName::Pending)
    );
    wait_for(&ec2, &id, InstanceStateName::Running).await;

    ok(
        "RebootInstances",
        ec2.reboot_instances().instance_ids(&id).send().await,
    );
    assert_eq!(
        state(&describe(&ec2, &id).await),
        InstanceStateName::Running
    );

    // DryRun: allowed, so EC2's DryRunOperation error.
    let dry = run()
        .client_token("sdk-dry-run")
        .dry_run(true)
        .send()
        .await
        .expect_err("a DryRun call fails with DryRunOperation");
    assert_eq!(dry.code(), Some("DryRunOperation"), "{dry:?}");
    assert!(dry.message().is_some_and(|m| !m.is_empty()), "{dry:?}");

    // Well-formed but unknown.
    let missing = ec2
        .describe_instances()
        .instance_ids("i-0123456789abcdef0")
        .send()
        .await
        .expect_err("an unknown instance id is an error");
    assert_eq!(
        missing.code(),
        Some("InvalidInstanceID.NotFound"),
        "{missing:?}"
    );
    assert!(
        missing.request_id().is_some_and(|r| !r.is_empty()),
        "{missing:?}"
    );

    // Terminate everything.
    let all_ids: Vec<String> = expected.iter().cloned().collect();
    let terminate = ok(
        "TerminateInstances",
        ec2.terminate_instances()
            .set_instance_ids(Some(all_ids.clone()))
            .send()
            .await,
    );
    assert_eq!(terminate.terminating_instances().len(), 6);
    for change in terminate.terminating_instances() {
        assert_eq!(
            change.current_state().and_then(|s| s.name()),
            Some(&InstanceStateName::ShuttingDown),
            "{change:?}"
        );
    }
    for each in &all_ids {
        wait_for(&ec2, each, InstanceStateName::Terminated).await;
    }
    ok(
        "waiter instance_terminated",
        ec2.wait_until_instance_terminated()
            .set_instance_ids(Some(all_ids))
            .wait(Duration::from_secs(5))
            .await,
    );
    let volumes = ok(
        "DescribeVolumes (after terminate)",
        ec2.describe_volumes()
            .filters(filter("attachment.instance-id", &id))
            .send()
            .await,
    );
    assert!(volumes.volumes().is_empty(), "{volumes:?}");

    // Key pairs away.
    for name in ["sdk-imported", "sdk-created"] {
        let deleted = ok(
            "DeleteKeyPair",
            ec2.delete_key_pair().key_name(name).send().await,
        );
        assert_eq!(deleted.r#return(), Some(true));
    }
    let pairs = ok(
        "DescribeKeyPairs (after delete)",
        ec2.describe_key_pairs().send().await,
    );
    assert!(pairs.key_pairs().is_empty(), "{pairs:?}");

    gw.stop().await;
}
