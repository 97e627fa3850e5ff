//! An ec2gw started in-process on a free port, with a fresh database (SQLite in a temp dir, or
//! a new PostgreSQL database when EC2GW_TEST_DATABASE_URL names a server), and a client that
//! signs requests with aws-sigv4, the signer of AWS's Rust SDK.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use ec2gw::engine::accounts::{AccessKey, Admin};
use ec2gw::engine::images::ImportRequest;
use ec2gw::engine::{Engine, Settings, ZoneSetting};
use ec2gw::hypervisor::libvirt::Libvirt;
use ec2gw::hypervisor::Hypervisor;
use ec2gw::server::{serve, serve_metrics, Gateway};
use ec2gw::store::keyring::KeySource;
use ec2gw::store::{DatabaseUrl, Store};
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

pub const REGION: &str = "us-east-1";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

pub struct TestGateway {
    pub endpoint: String,
    /// `http://HOST:PORT/metrics` of the gateway's metrics listener.
    pub metrics_url: String,
    pub host: String,
    pub key: AccessKey,
    pub store: Store,
    shutdown: Option<oneshot::Sender<()>>,
    pub engine: Engine,
    reconciler: tokio::task::JoinHandle<()>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    // Last: the database is dropped after everything that uses it.
    pub db: TestDatabase,
}

/// A fresh database and data directory (a temp dir), dropped with it: SQLite in the directory,
/// or a new PostgreSQL database when EC2GW_TEST_DATABASE_URL names a server.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub fn fresh() -> TestDatabase {
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = fresh_database(dir.path());
        TestDatabase { url, dir, postgres }
    }

    /// The key file a gateway on this data directory uses.
    pub fn key_file(&self) -> std::path::PathBuf {
        self.dir.path().join(ec2gw::store::keyring::KEY_FILE_NAME)
    }

    /// A store on this database, its keys in the data directory's key file.
    pub fn open(&self) -> Store {
        Store::open(&self.url, KeySource::File(self.key_file())).unwrap()
    }

    pub fn open_with(&self, keys: KeySource) -> Result<Store, ec2gw::store::StoreError> {
        Store::open(&self.url, keys)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.postgres.take() {
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin_url) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn request_id(&self) -> &str {
        self.headers
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The error code of an EC2 error envelope.
    pub fn code(&self) -> &str {
        between(&self.body, "<Code>", "</Code>")
    }

    pub fn message(&self) -> &str {
        between(&self.body, "<Message>", "</Message>")
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(inner, _)| inner)
        .unwrap_or_default()
}

/// A fresh database URL: a new PostgreSQL database if EC2GW_TEST_DATABASE_URL is set (with
/// the admin URL and the database's name, to drop it afterwards).
pub fn fresh_database(dir: &std::path::Path) -> (DatabaseUrl, Option<(String, String)>) {
    match std::env::var("EC2GW_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            let name = format!("ec2gw_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let base = &admin_url[..admin_url.rfind('/').unwrap()];
            (
                DatabaseUrl::Postgres(format!("{base}/{name}")),
                Some((admin_url.clone(), name)),
            )
        }
        _ => (DatabaseUrl::Sqlite(dir.join("ec2gw.sqlite")), None),
    }
}

/// What a test may change in the gateway it starts.
pub struct Options {
    pub launch_timeout: Duration,
    /// Wraps the test driver's hypervisor (to make it fail on purpose).
    pub hypervisor: fn(Libvirt) -> Arc<dyn Hypervisor>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            launch_timeout: Duration::from_secs(1),
            hypervisor: |libvirt| Arc::new(libvirt),
        }
    }
}

pub async fn start() -> TestGateway {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> TestGateway {
    let db = tokio::task::spawn_blocking(TestDatabase::fresh)
        .await
        .unwrap();
    start_on(db, options).await
}

/// A gateway on a database made beforehand (and its data directory).
pub async fn start_on(db: TestDatabase, options: Options) -> TestGateway {
    let (db, store) = tokio::task::spawn_blocking(move || {
        let store = db.open();
        (db, store)
    })
    .await
    .unwrap();
    let key = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let admin = Admin { store: &store };
            let account = admin.create_account().unwrap();
            admin.create_key(&account.account_id).unwrap()
        })
        .await
        .unwrap()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = Settings {
        region: REGION.into(),
        endpoint_host: addr.to_string(),
        zones: vec![
            ZoneSetting {
                name: "us-east-1a".into(),
                id: "use1-az1".into(),
            },
            ZoneSetting {
                name: "us-east-1b".into(),
                id: "use1-az2".into(),
            },
        ],
        max_instances: 20,
        instance_types: ec2gw::engine::instance_types::default_catalogue(),
        data_dir: db.dir.path().to_owned(),
        host_vcpus: 64,
        host_memory_mib: 65536,
        stop_timeout: std::time::Duration::from_secs(5),
        reboot_timeout: std::time::Duration::from_secs(5),
        launch_timeout: options.launch_timeout,
        reconcile_interval: std::time::Duration::from_millis(100),
        public_pool: ec2gw::cidr::Cidr::parse("198.19.250.0/24").expect("pool"),
        max_vpcs: 5,
        max_addresses: 5,
    };
    let engine = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let hypervisor = Libvirt::open("test:///default", "test").unwrap();
            Engine::open(store, settings, (options.hypervisor)(hypervisor)).unwrap()
        })
        .await
        .unwrap()
    };
    let reconciler = tokio::spawn(ec2gw::engine::reconciler::run(
        engine.clone(),
        std::future::pending(),
    ));
    let gateway = Arc::new(Gateway::new(engine.clone(), 64 * 1024));
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, gateway, async {
        let _ = rx.await;
    }));
    // Dropped with the runtime at the end of the test, as the reconciler is.
    let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    tokio::spawn(serve_metrics(
        metrics_listener,
        engine.clone(),
        std::future::pending(),
    ));
    TestGateway {
        endpoint: format!("http://{addr}"),
        metrics_url: format!("http://{metrics_addr}/metrics"),
        host: addr.to_string(),
        key,
        store,
        engine,
        reconciler,
        shutdown: Some(tx),
        server: Some(server),
        client: Client::builder(TokioExecutor::new()).build_http(),
        db,
    }
}

/// How a test request is signed.
#[derive(Clone)]
pub struct Signer {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
    pub time: SystemTime,
    pub location: SignatureLocation,
    pub expires_in: Option<Duration>,
}

impl TestGateway {
    /// The gateway's data directory (images, instance overlays).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.db.dir.path().to_owned()
    }

    pub fn signer(&self) -> Signer {
        Signer {
            access_key_id: self.key.access_key_id.clone(),
            secret: self.key.secret.expose().to_owned(),
            region: REGION.into(),
            time: SystemTime::now(),
            location: SignatureLocation::Headers,
            expires_in: None,
        }
    }

    /// A signed POST with a form body, as botocore sends every EC2 call.
    pub async fn post(&self, form: &str) -> Answer {
        self.send(self.signed("POST", "/", form.as_bytes(), &self.signer()))
            .await
    }

    pub async fn post_as(&self, form: &str, signer: &Signer) -> Answer {
        self.send(self.signed("POST", "/", form.as_bytes(), signer))
            .await
    }

    /// A signed request, ready to be tampered with.
    pub fn signed(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        signer: &Signer,
    ) -> Request<Full<Bytes>> {
        let url = format!("{}{path_and_query}", self.endpoint);
        let mut headers = vec![("host", self.host.clone())];
        if method == "POST" {
            headers.push(("content-type", CONTENT_TYPE.to_owned()));
        }
        let identity = Credentials::new(
            signer.access_key_id.clone(),
            signer.secret.clone(),
            None,
            None,
            "test",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.signature_location = signer.location;
        settings.expires_in = signer.expires_in;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&signer.region)
            .name("ec2")
            .time(signer.time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut builder = Request::builder().method(method).uri(&url);
        for (k, v) in &headers {
            builder = builder.header(*k, v);
        }
        let mut request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        instructions.apply_to_request_http1x(&mut request);
        request
    }

    pub async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    /// What the metrics listener answers to a plain `GET /metrics` (Prometheus' text format).
    pub async fn scrape(&self) -> Answer {
        let request = Request::get(&self.metrics_url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(request).await
    }

    /// Stops the server and waits for it to finish its in-flight requests.
    pub async fn stop(mut self) {
        self.stop_server().await;
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.reconciler.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Imports an empty 64 MiB qcow2 disk as a private image of the gateway's account.
pub async fn import_image(gw: &TestGateway, name: &str) -> String {
    import_image_of(
        &gw.store,
        &gw.data_dir(),
        &gw.key.account_id,
        name,
        "x86_64",
    )
    .await
}

/// Imports an empty 64 MiB qcow2 disk as a private image of `account_id`, of `architecture`.
pub async fn import_image_of(
    store: &Store,
    data_dir: &std::path::Path,
    account_id: &str,
    name: &str,
    architecture: &str,
) -> String {
    let disk = data_dir.join(format!("{name}.qcow2"));
    let status = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("64M")
        .status()
        .unwrap();
    assert!(status.success());
    let store = store.clone();
    let request = ImportRequest {
        file: disk,
        name: name.into(),
        description: String::new(),
        account_id: Some(account_id.to_owned()),
        public: false,
        architecture: architecture.into(),
        data_dir: data_dir.to_owned(),
    };
    tokio::task::spawn_blocking(move || {
        Admin { store: &store }
            .import_image(&request, |_, _| {})
            .unwrap()
    })
    .await
    .unwrap()
    .row
    .image_id
}
