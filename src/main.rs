//! The `ec2gw` command: `serve` runs the gateway, `admin` manages accounts and keys.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use ec2gw::config::{self, Config, FileConfig, Overrides};
use ec2gw::engine::accounts::{AccessKey, Admin, KeyStatus};
use ec2gw::engine::images::ImportRequest;
use ec2gw::engine::{reconciler, Engine};
use ec2gw::hostnet::{HostNetSettings, HostNetwork, LinuxNetwork};
use ec2gw::hypervisor::libvirt::Libvirt;
use ec2gw::hypervisor::reach;
use ec2gw::server::{self, Gateway};
use ec2gw::store::keyring::{KeySource, MasterKey};
use ec2gw::store::Store;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "ec2gw",
    version,
    about = "An EC2-compatible API gateway for KVM hosts"
)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, env = "EC2GW_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// sqlite:///PATH (default DATA_DIR/ec2gw.sqlite) or postgres://USER:PASS@HOST/DB.
    #[arg(long, env = "EC2GW_DATABASE_URL", global = true)]
    database: Option<String>,
    /// Where the gateway keeps its files (default /var/lib/ec2gw as root, ./data otherwise).
    #[arg(long, env = "EC2GW_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Manage accounts and access keys.
    Admin {
        /// Print JSON, shaped like `aws iam` output.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// HOST:PORT to listen on (default 127.0.0.1:8773).
    #[arg(long, env = "EC2GW_LISTEN")]
    listen: Option<String>,
    /// The region this gateway serves (default us-east-1).
    #[arg(long, env = "EC2GW_REGION")]
    region: Option<String>,
    /// Comma-separated availability zone names (default REGIONa,REGIONb,REGIONc).
    #[arg(long, env = "EC2GW_ZONES", value_delimiter = ',')]
    zones: Option<Vec<String>>,
    /// HOST[:PORT] to show as the region's endpoint (default the listening address).
    #[arg(long, env = "EC2GW_ENDPOINT_HOST")]
    endpoint_host: Option<String>,
    /// The libvirt connection (default qemu:///system; test:///default for libvirt's test driver).
    #[arg(long, env = "EC2GW_LIBVIRT_URI")]
    libvirt_uri: Option<String>,
    /// The domain type: kvm, qemu (software emulation; the default) or test.
    #[arg(long, env = "EC2GW_DOMAIN_TYPE")]
    domain_type: Option<String>,
    /// HOST:PORT to serve Prometheus metrics on, at /metrics (default: none, no metrics).
    #[arg(long, env = "EC2GW_METRICS_LISTEN")]
    metrics_listen: Option<String>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Accounts: create, list.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Access keys: create, list, enable, disable, delete.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Machine images: import.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The key that seals access key secrets in the database: rotate, new-key.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The host network this database's VPCs made: purge.
    #[command(subcommand)]
    Network(NetworkCommand),
}

#[derive(Subcommand)]
enum NetworkCommand {
    /// Remove every namespace, bridge, veth, route, nftables table and dnsmasq this database's
    /// gateways made on this host (the database keeps its rows: the next gateway started on it
    /// builds them again).
    Purge,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Seal every access key's secret under a new key. With the key file (DATA_DIR/secret.key),
    /// the new key replaces the old one there once every secret is sealed again; with
    /// EC2GW_SECRET_KEY, every secret is sealed under its first key, and the keys it no longer
    /// needs are named.
    Rotate,
    /// Print a fresh key in base64, for EC2GW_SECRET_KEY.
    NewKey,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import a qcow2 or raw disk image as a new AMI; prints its ami- id.
    Import {
        /// The disk image file.
        file: PathBuf,
        /// The image name (unique per owner).
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        /// The owning account (default: the only account).
        #[arg(long)]
        account: Option<String>,
        /// Let every account launch it.
        #[arg(long)]
        public: bool,
        /// x86_64, arm64 or i386.
        #[arg(long, default_value = "x86_64")]
        arch: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with a new 12-digit id.
    Create,
    /// List accounts.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an access key for an account; the secret is printed once.
    Create {
        #[arg(long)]
        account: String,
    },
    /// List access keys (never their secrets).
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Make a key unusable until enabled again.
    Disable { access_key_id: String },
    /// Make a disabled key usable again.
    Enable { access_key_id: String },
    /// Delete a key for good.
    Delete { access_key_id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(ref args) => serve(&cli, args),
        Command::Admin { json, ref command } => admin(&cli, json, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ec2gw: {message}");
            ExitCode::FAILURE
        }
    }
}

fn resolve(cli: &Cli, serve: Option<&ServeArgs>) -> Result<Config, String> {
    let file = match &cli.config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let overrides = Overrides {
        database: cli.database.clone(),
        data_dir: cli.data_dir.clone(),
        listen: serve.and_then(|s| s.listen.clone()),
        region: serve.and_then(|s| s.region.clone()),
        zones: serve.and_then(|s| s.zones.clone()),
        endpoint_host: serve.and_then(|s| s.endpoint_host.clone()),
        libvirt_uri: serve.and_then(|s| s.libvirt_uri.clone()),
        domain_type: serve.and_then(|s| s.domain_type.clone()),
        metrics_listen: serve.and_then(|s| s.metrics_listen.clone()),
    };
    Config::resolve(file, overrides).map_err(|e| e.to_string())
}

fn open_store(config: &Config) -> Result<Store, String> {
    let keys = KeySource::from_environment(&config.data_dir);
    Store::open(&config.database, keys).map_err(|e| format!("{}: {e}", config.database.redacted()))
}

fn serve(cli: &Cli, args: &ServeArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EC2GW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = resolve(cli, Some(args))?;
    prepare_data_dir(&config)?;
    let store = open_store(&config)?;
    let admin = Admin { store: &store };
    // Before the first request: keys that cannot open the database's secrets stop the
    // gateway here, and secrets from before they were sealed are sealed now.
    let sealed = admin
        .seal_secrets()
        .map_err(|e| format!("access key secrets: {e}"))?;
    if sealed > 0 {
        println!(
            "Sealed {sealed} access key secrets stored in plain text under {}",
            store.keys().source().origin()
        );
    }
    let created = admin.ensure_default_account().map_err(|e| e.to_string())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let endpoint = format!("http://{}", config::reachable(bound));
        let settings = config.settings(bound);
        println!(
            "ec2gw {}: region {}, database {}",
            env!("CARGO_PKG_VERSION"),
            settings.region,
            config.database.redacted()
        );
        if let Some(key) = created {
            print_first_key(&key, &settings.region, &endpoint);
        }
        println!("Data directory: {}", settings.data_dir.display());
        println!("Endpoint: {endpoint}");
        let uri = config.libvirt_uri.clone();
        let domain_type = config.domain_type.clone();
        let hypervisor = tokio::task::spawn_blocking(move || Libvirt::open(&uri, &domain_type))
            .await
            .map_err(|e| format!("libvirt: {e}"))?
            .map_err(|e| {
                format!(
                    "{e} (is libvirtd running? scripts/libvirt starts it; --libvirt-uri test:///default needs none)"
                )
            })?;
        println!("libvirt {} (domain type {})", config.libvirt_uri, config.domain_type);
        let engine = Engine::open(store, settings, Arc::new(hypervisor)).map_err(|e| e.to_string())?;
        let engine = if config.network == "linux" {
            let network = LinuxNetwork::new(host_network_settings(&config, engine.deployment()));
            println!("Host network: VPCs built here (deployment {}), public addresses from {}", engine.deployment(), config.public_pool);
            engine.with_host_network(Arc::new(network))
        } else {
            println!("Host network: off (VPCs are recorded only)");
            engine
        };
        let gateway = Arc::new(Gateway::new(engine.clone(), config.max_body_bytes));
        // One stop signal for the server and the reconciler.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?;
                if let Ok(bound) = listener.local_addr() {
                    println!("Metrics: http://{}/metrics", config::reachable(bound));
                }
                let serving = server::serve_metrics(listener, engine.clone(), until_stopped(stopped.clone()));
                Some(tokio::spawn(serving))
            }
            None => None,
        };
        let reconciler = tokio::spawn(reconciler::run(engine, until_stopped(stopped.clone())));
        let served = server::serve(listener, gateway, until_stopped(stopped))
            .await
            .map_err(|e| format!("server: {e}"));
        let _ = reconciler.await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        served
    })
}

/// How this gateway's VPCs are built on the host.
fn host_network_settings(config: &Config, deployment: &str) -> HostNetSettings {
    HostNetSettings {
        deployment: deployment.to_owned(),
        pool: (config.public_pool.network(), config.public_pool.prefix()),
        state_dir: config.data_dir.join("network"),
        uplink_egress: config.uplink_egress,
    }
}

/// Creates the data directory (0711: QEMU may pass through it to the disk directories, no one
/// may list it) and refuses one that QEMU could not reach, before any instance fails on it.
fn prepare_data_dir(config: &Config) -> Result<(), String> {
    let dir = &config.data_dir;
    ec2gw::hypervisor::disk::create_dir_searchable(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    if config.data_dir_defaulted && dir != std::path::Path::new(config::DEFAULT_DATA_DIR) {
        let earlier = std::path::Path::new(config::DEFAULT_DATA_DIR).join("ec2gw.sqlite");
        if earlier.exists() {
            eprintln!(
                "ec2gw: note: {} is from an earlier default; this gateway keeps its data in {}                  (pass --data-dir {} to go on with the earlier one)",
                earlier.display(),
                dir.display(),
                config::DEFAULT_DATA_DIR
            );
        }
    }
    if reach::runs_qemu_as_another_user(&config.libvirt_uri) {
        reach::check_data_dir(dir, &reach::host_qemu_identity())?;
    }
    Ok(())
}

fn print_first_key(key: &AccessKey, region: &str, endpoint: &str) {
    println!(
        "Created account {} and access key {} (the secret is shown only this once).",
        key.account_id, key.access_key_id
    );
    println!("Paste this to point the AWS CLI at this gateway:");
    println!(
        "  aws configure set aws_access_key_id {}",
        key.access_key_id
    );
    println!(
        "  aws configure set aws_secret_access_key {}",
        key.secret.expose()
    );
    println!("  aws configure set region {region}");
    println!("  aws configure set endpoint_url {endpoint}");
    println!("or, for boto3 and other SDKs:");
    println!(
        "  export AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={region} AWS_ENDPOINT_URL_EC2={endpoint}",
        key.access_key_id,
        key.secret.expose()
    );
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the gateway");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn admin(cli: &Cli, json: bool, command: &AdminCommand) -> Result<(), String> {
    let config = resolve(cli, None)?;
    let store = open_store(&config)?;
    let admin = Admin { store: &store };
    let err = |e: ec2gw::engine::EngineError| e.to_string();
    match command {
        AdminCommand::Account(AccountCommand::Create) => {
            let account = admin.create_account().map_err(err)?;
            if json {
                print_json(&json!({ "AccountId": account.account_id }));
            } else {
                println!("{}", account.account_id);
            }
        }
        AdminCommand::Account(AccountCommand::List) => {
            let accounts = admin.list_accounts().map_err(err)?;
            if json {
                let list: Vec<_> = accounts
                    .iter()
                    .map(|a| json!({ "AccountId": a.account_id, "CreateDate": a.created_at }))
                    .collect();
                print_json(&json!({ "Accounts": list }));
            } else {
                for a in accounts {
                    println!("{}\t{}", a.account_id, a.created_at);
                }
            }
        }
        AdminCommand::Key(KeyCommand::Create { account }) => {
            let key = admin.create_key(account).map_err(err)?;
            if json {
                print_json(&json!({ "AccessKey": {
                    "AccessKeyId": key.access_key_id,
                    "SecretAccessKey": key.secret.expose(),
                    "Status": key.status.as_str(),
                    "CreateDate": key.created_at,
                    "AccountId": key.account_id,
                }}));
            } else {
                println!("AccessKeyId:     {}", key.access_key_id);
                println!("SecretAccessKey: {}", key.secret.expose());
                println!("AccountId:       {}", key.account_id);
            }
        }
        AdminCommand::Key(KeyCommand::List { account }) => {
            let keys = admin.list_keys(account.as_deref()).map_err(err)?;
            if json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({
                            "AccessKeyId": k.access_key_id,
                            "Status": k.status.as_str(),
                            "CreateDate": k.created_at,
                            "AccountId": k.account_id,
                        })
                    })
                    .collect();
                print_json(&json!({ "AccessKeyMetadata": list }));
            } else {
                for k in keys {
                    println!(
                        "{}\t{}\t{}\t{}",
                        k.access_key_id,
                        k.account_id,
                        k.status.as_str(),
                        k.created_at
                    );
                }
            }
        }
        AdminCommand::Key(KeyCommand::Disable { access_key_id }) => {
            admin
                .set_key_status(access_key_id, KeyStatus::Inactive)
                .map_err(err)?;
        }
        AdminCommand::Key(KeyCommand::Enable { access_key_id }) => {
            admin
                .set_key_status(access_key_id, KeyStatus::Active)
                .map_err(err)?;
        }
        AdminCommand::Key(KeyCommand::Delete { access_key_id }) => {
            admin.delete_key(access_key_id).map_err(err)?;
        }
        AdminCommand::Secrets(SecretsCommand::Rotate) => {
            let rotation = admin.rotate_secrets().map_err(err)?;
            if json {
                print_json(&json!({
                    "KeyId": rotation.key_id,
                    "Resealed": rotation.resealed,
                    "Retired": rotation.retired,
                    "KeyFile": rotation.key_file.as_ref().map(|p| p.display().to_string()),
                }));
            } else {
                println!(
                    "Sealed {} access key secrets again under key {}.",
                    rotation.resealed, rotation.key_id
                );
                match (&rotation.key_file, rotation.retired.is_empty()) {
                    (Some(path), _) => {
                        println!("{} holds key {} alone.", path.display(), rotation.key_id)
                    }
                    (None, true) => {}
                    (None, false) => println!(
                        "No secret is sealed under {} any more: drop it from {} on every gateway.",
                        rotation.retired.join(", "),
                        ec2gw::store::keyring::KEY_ENV
                    ),
                }
            }
        }
        AdminCommand::Network(NetworkCommand::Purge) => {
            let deployment = admin.deployment().map_err(err)?;
            LinuxNetwork::new(host_network_settings(&config, &deployment))
                .purge()
                .map_err(|e| e.to_string())?;
            println!("Removed the host network of deployment {deployment}.");
        }
        AdminCommand::Secrets(SecretsCommand::NewKey) => {
            println!("{}", *MasterKey::generate().to_base64());
        }
        AdminCommand::Image(ImageCommand::Import {
            file,
            name,
            description,
            account,
            public,
            arch,
        }) => {
            let request = ImportRequest {
                file: file.clone(),
                name: name.clone(),
                description: description.clone(),
                account_id: account.clone(),
                public: *public,
                architecture: arch.clone(),
                data_dir: config.data_dir.clone(),
            };
            let mut shown = 0;
            let image = admin
                .import_image(&request, |copied, total| {
                    // A progress line every tenth, for files big enough to wait on.
                    if total >= 64 << 20 {
                        let tenth = copied * 10 / total.max(1);
                        if tenth > shown {
                            shown = tenth;
                            eprintln!("copied {}%", tenth * 10);
                        }
                    }
                })
                .map_err(err)?;
            if json {
                print_json(&json!({
                    "ImageId": image.row.image_id,
                    "Name": image.row.name,
                    "OwnerId": image.row.owner_id,
                    "SizeGiB": image.row.size_gib,
                    "Sha256": image.row.sha256,
                }));
            } else {
                println!("{}", image.row.image_id);
            }
        }
    }
    Ok(())
}

fn print_json(value: &serde_json::Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("ec2gw: cannot print JSON: {e}"),
    }
}
