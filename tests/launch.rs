//! RunInstances' options through real HTTP (libvirt's test driver): MetadataOptions and
//! Placement.Tenancy stored and shown, block device mappings read as EC2 reads them, images
//! the host cannot run refused, ClientToken retries with the new fields; and the host's
//! capacity never exceeded by launches from two gateways on one database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{fresh_database, import_image, import_image_of, start, TestGateway};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use ec2gw::engine::accounts::Admin;
use ec2gw::engine::instances::RunRequest;
use ec2gw::engine::{Engine, EngineError, Settings, ZoneSetting};
use ec2gw::hypervisor::libvirt::Libvirt;
use ec2gw::store::Store;

fn all<'a>(body: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    body.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(v, _)| v))
        .collect()
}

fn one<'a>(body: &'a str, tag: &str) -> &'a str {
    let found = all(body, tag);
    assert_eq!(found.len(), 1, "<{tag}> in {body}");
    found[0]
}

async fn run(gw: &TestGateway, ami: &str, extra: &str) -> common::Answer {
    gw.post(&format!(
        "Action=RunInstances&Version=2016-11-15&ImageId={ami}&InstanceType=t3.micro&MinCount=1&MaxCount=1{extra}"
    ))
    .await
}

async fn describe(gw: &TestGateway, instance_id: &str) -> String {
    let a = gw
        .post(&format!(
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1={instance_id}"
        ))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_options_and_tenancy_are_kept_and_shown() {
    let gw = start().await;
    let ami = import_image(&gw, "metadata").await;

    // A plain launch shows EC2's defaults.
    let plain = run(&gw, &ami, "").await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    let options = one(&plain.body, "metadataOptions");
    assert_eq!(
        options,
        "<state>applied</state><httpTokens>optional</httpTokens>\
         <httpPutResponseHopLimit>1</httpPutResponseHopLimit><httpEndpoint>enabled</httpEndpoint>\
         <httpProtocolIpv6>disabled</httpProtocolIpv6><instanceMetadataTags>disabled</instanceMetadataTags>"
    );
    assert!(plain.body.contains("<tenancy>default</tenancy>"));

    // Terraform's `metadata_options { http_tokens = "required" }`, as the provider sends it.
    let tf = run(
        &gw,
        &ami,
        "&MetadataOptions.HttpEndpoint=enabled&MetadataOptions.HttpTokens=required\
         &MetadataOptions.InstanceMetadataTags=disabled&MetadataOptions.HttpProtocolIpv6=disabled",
    )
    .await;
    assert_eq!(tf.status, 200, "{}", tf.body);
    let id = one(&tf.body, "instanceId").to_owned();
    let described = describe(&gw, &id).await;
    assert!(
        one(&described, "metadataOptions").contains("<httpTokens>required</httpTokens>"),
        "{described}"
    );

    // Every option and the tenancy, read back as asked.
    let all_set = run(
        &gw,
        &ami,
        "&MetadataOptions.HttpEndpoint=disabled&MetadataOptions.HttpTokens=required\
         &MetadataOptions.HttpPutResponseHopLimit=64&MetadataOptions.InstanceMetadataTags=enabled\
         &MetadataOptions.HttpProtocolIpv6=enabled&Placement.Tenancy=dedicated",
    )
    .await;
    assert_eq!(all_set.status, 200, "{}", all_set.body);
    let id = one(&all_set.body, "instanceId").to_owned();
    for body in [all_set.body.clone(), describe(&gw, &id).await] {
        assert_eq!(
            one(&body, "metadataOptions"),
            "<state>applied</state><httpTokens>required</httpTokens>\
             <httpPutResponseHopLimit>64</httpPutResponseHopLimit><httpEndpoint>disabled</httpEndpoint>\
             <httpProtocolIpv6>enabled</httpProtocolIpv6><instanceMetadataTags>enabled</instanceMetadataTags>"
        );
        assert!(body.contains("<tenancy>dedicated</tenancy>"), "{body}");
    }

    // Values EC2 does not take, refused with its code, naming the value.
    for (extra, message) in [
        (
            "&MetadataOptions.HttpTokens=mandatory",
            "A value of 'mandatory' is not valid for HttpTokens. Specify either 'optional' or 'required' and try again.",
        ),
        (
            "&MetadataOptions.HttpEndpoint=",
            "A value of '' is not valid for HttpEndpoint. Specify either 'enabled' or 'disabled' and try again.",
        ),
        (
            "&MetadataOptions.HttpPutResponseHopLimit=65",
            "A value of '65' is not valid for HttpPutResponseHopLimit. Specify a value from 1 to 64 and try again.",
        ),
        (
            "&MetadataOptions.HttpPutResponseHopLimit=0",
            "A value of '0' is not valid for HttpPutResponseHopLimit. Specify a value from 1 to 64 and try again.",
        ),
        (
            "&MetadataOptions.InstanceMetadataTags=yes",
            "A value of 'yes' is not valid for InstanceMetadataTags. Specify either 'enabled' or 'disabled' and try again.",
        ),
        (
            "&MetadataOptions.HttpProtocolIpv6=on",
            "A value of 'on' is not valid for HttpProtocolIpv6. Specify either 'enabled' or 'disabled' and try again.",
        ),
        (
            "&Placement.Tenancy=shared",
            "Value (shared) for parameter tenancy is invalid. Valid values are default, dedicated, host.",
        ),
    ] {
        let refused = run(&gw, &ami, extra).await;
        assert_eq!(
            (refused.status, refused.code(), refused.message()),
            (400, "InvalidParameterValue", message),
            "{extra}"
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_root_device_mapping_resizes_the_root_volume() {
    let gw = start().await;
    let ami = import_image(&gw, "mappings").await;
    let root_size = |body: &str| {
        let volume = one(one(body, "ebs"), "volumeId").to_owned();
        let gw = &gw;
        async move {
            let a = gw
                .post(&format!(
                    "Action=DescribeVolumes&Version=2016-11-15&VolumeId.1={volume}"
                ))
                .await;
            one(&a.body, "size").parse::<i64>().unwrap()
        }
    };

    // A size for /dev/sdb is not the root's: refused, and nothing is launched.
    let sdb = run(
        &gw,
        &ami,
        "&BlockDeviceMapping.1.DeviceName=/dev/sdb&BlockDeviceMapping.1.Ebs.VolumeSize=50",
    )
    .await;
    assert_eq!(
        (sdb.status, sdb.code()),
        (400, "UnsupportedOperation"),
        "{}",
        sdb.body
    );
    assert!(
        sdb.message().contains("'/dev/sdb'") && sdb.message().contains("'/dev/xvda'"),
        "{}",
        sdb.message()
    );
    let listed = gw.post("Action=DescribeInstances&Version=2016-11-15").await;
    assert!(
        all(&listed.body, "instanceId").is_empty(),
        "{}",
        listed.body
    );

    // The root's mapping sets its size and DeleteOnTermination; NoDevice and an ephemeral
    // device elsewhere are accepted and add nothing.
    let root = run(
        &gw,
        &ami,
        "&BlockDeviceMapping.1.DeviceName=/dev/sdb&BlockDeviceMapping.1.NoDevice=\
         &BlockDeviceMapping.2.DeviceName=/dev/sdc&BlockDeviceMapping.2.VirtualName=ephemeral0\
         &BlockDeviceMapping.3.DeviceName=/dev/xvda&BlockDeviceMapping.3.Ebs.VolumeSize=12\
         &BlockDeviceMapping.3.Ebs.DeleteOnTermination=false&BlockDeviceMapping.3.Ebs.VolumeType=gp3",
    )
    .await;
    assert_eq!(root.status, 200, "{}", root.body);
    assert_eq!(all(&root.body, "deviceName"), ["/dev/xvda"]);
    assert!(root
        .body
        .contains("<deleteOnTermination>false</deleteOnTermination>"));
    assert_eq!(root_size(&root.body).await, 12);

    // Without a mapping for it, the root volume is the type's default size.
    let plain = run(&gw, &ami, "").await;
    assert_eq!(root_size(&plain.body).await, 8);

    for (extra, code, message) in [
        (
            "&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=0",
            "InvalidBlockDeviceMapping",
            format!("Volume of size 0GB is smaller than the root snapshot of image '{ami}', expect size >= 1GB"),
        ),
        (
            "&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=70000",
            "InvalidBlockDeviceMapping",
            "Volume of size 70000GB is larger than a gp3 volume can be, expect size <= 65536GB".into(),
        ),
        (
            "&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=9\
             &BlockDeviceMapping.2.DeviceName=/dev/xvda&BlockDeviceMapping.2.Ebs.VolumeSize=10",
            "InvalidBlockDeviceMapping",
            "The device '/dev/xvda' is used in more than one block-device mapping".into(),
        ),
        (
            "&BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeType=io2",
            "UnsupportedOperation",
            "The volume type 'io2' is not supported: every volume here is gp3.".into(),
        ),
        (
            "&BlockDeviceMapping.1.Ebs.VolumeSize=9",
            "MissingParameter",
            "The request must contain the parameter BlockDeviceMapping.1.DeviceName".into(),
        ),
    ] {
        let refused = run(&gw, &ami, extra).await;
        assert_eq!(
            (
                refused.status,
                refused.code(),
                refused.message().replace("&gt;", ">").replace("&lt;", "<")
            ),
            (400, code, message),
            "{extra}"
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_the_host_cannot_run_is_refused() {
    let gw = start().await;
    let arm = import_image_of(
        &gw.store,
        &gw.data_dir(),
        &gw.key.account_id,
        "arm",
        "arm64",
    )
    .await;
    let refused = run(&gw, &arm, "").await;
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(
            (refused.status, refused.code(), refused.message()),
            (
                400,
                "InvalidParameterValue",
                "The architecture 'x86_64' of the specified instance type does not match the architecture 'arm64' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI."
            )
        );
        let listed = gw.post("Action=DescribeInstances&Version=2016-11-15").await;
        assert!(
            all(&listed.body, "instanceId").is_empty(),
            "{}",
            listed.body
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_token_retry_with_the_new_options_gets_its_reservation() {
    let gw = start().await;
    let ami = import_image(&gw, "retry").await;
    let asked = "&ClientToken=retry-1&MetadataOptions.HttpTokens=required&Placement.Tenancy=host\
                 &BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=9";
    let first = run(&gw, &ami, asked).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = run(&gw, &ami, asked).await;
    assert_eq!(
        all(&again.body, "instanceId"),
        all(&first.body, "instanceId")
    );
    let other = run(
        &gw,
        &ami,
        "&ClientToken=retry-1&MetadataOptions.HttpTokens=optional&Placement.Tenancy=host\
         &BlockDeviceMapping.1.DeviceName=/dev/xvda&BlockDeviceMapping.1.Ebs.VolumeSize=9",
    )
    .await;
    assert_eq!(
        (other.status, other.code()),
        (400, "IdempotentParameterMismatch")
    );
    gw.stop().await;
}

/// Two gateways (an Engine and a Store each) on one database, sharing a host that holds four
/// t3.micro: launches from both at once never commit more than the host holds. Before the
/// capacity check moved into the launch's transaction (and locked the host's row on
/// PostgreSQL), both could count the same free slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn launches_from_two_gateways_never_exceed_the_hosts_capacity() {
    const ROUNDS: usize = 8;
    const PER_GATEWAY: usize = 6;
    const HOST_VCPUS: i64 = 8;
    let dir = tempfile::tempdir().unwrap();
    let (url, postgres) = fresh_database(dir.path());
    let _dropped = DropDatabase(postgres);
    let settings = Settings {
        region: "us-east-1".into(),
        endpoint_host: "127.0.0.1:0".into(),
        zones: vec![ZoneSetting {
            name: "us-east-1a".into(),
            id: "use1-az1".into(),
        }],
        max_instances: 20,
        instance_types: ec2gw::engine::instance_types::default_catalogue(),
        data_dir: dir.path().to_owned(),
        host_vcpus: HOST_VCPUS,
        host_memory_mib: 1 << 20,
        stop_timeout: std::time::Duration::from_secs(5),
        reboot_timeout: std::time::Duration::from_secs(5),
        launch_timeout: std::time::Duration::from_secs(1),
        reconcile_interval: std::time::Duration::from_millis(100),
        public_pool: ec2gw::cidr::Cidr::parse("198.19.250.0/24").expect("pool"),
        max_vpcs: 5,
        max_addresses: 5,
    };
    let mut engines = Vec::new();
    for _ in 0..2 {
        let url = url.clone();
        let settings = settings.clone();
        let key_file = dir.path().join(ec2gw::store::keyring::KEY_FILE_NAME);
        engines.push(
            tokio::task::spawn_blocking(move || {
                let store =
                    Store::open(&url, ec2gw::store::keyring::KeySource::File(key_file)).unwrap();
                let hypervisor = Libvirt::open("test:///default", "test").unwrap();
                Engine::open(store, settings, Arc::new(hypervisor)).unwrap()
            })
            .await
            .unwrap(),
        );
    }
    let store = engines[0].store().clone();
    let account = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            Admin { store: &store }.create_account().unwrap().account_id
        })
        .await
        .unwrap()
    };
    let ami = import_image_of(&store, dir.path(), &account, "capacity", "x86_64").await;
    let committed = |store: Store| async move {
        store
            .run::<_, EngineError, _>(|conn| Ok(ec2gw::store::instances::committed(conn)?))
            .await
            .unwrap()
    };

    for round in 0..ROUNDS {
        let mut launches = tokio::task::JoinSet::new();
        for i in 0..PER_GATEWAY * engines.len() {
            let engine = engines[i % engines.len()].clone();
            let request = RunRequest {
                image_id: ami.clone(),
                instance_type: "t3.micro".into(),
                min_count: 1,
                max_count: 1,
                shutdown_behavior: "stop".into(),
                ..RunRequest::default()
            };
            let account = account.clone();
            launches.spawn(async move { engine.run_instances(&account, request).await });
        }
        let mut launched = 0;
        while let Some(outcome) = launches.join_next().await {
            match outcome.unwrap() {
                Ok(reservation) => launched += reservation.instances.len(),
                Err(EngineError::InsufficientCapacity(_)) => {}
                Err(e) => panic!("round {round}: {e:?}"),
            }
        }
        let (vcpus, _) = committed(store.clone()).await;
        assert!(
            vcpus <= HOST_VCPUS,
            "round {round}: {vcpus} vCPUs committed on a host of {HOST_VCPUS}"
        );
        assert_eq!(launched, 4, "round {round}: every free slot is taken, once");
        // Free the host for the next round, as if the instances had ended.
        store
            .run::<_, EngineError, _>(|conn| {
                conn.batch_execute("UPDATE instances SET state = 'terminated'")?;
                Ok(())
            })
            .await
            .unwrap();
    }
}

/// Drops the test's PostgreSQL database when the test ends, however it ends.
struct DropDatabase(Option<(String, String)>);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.0.take() {
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin_url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}
