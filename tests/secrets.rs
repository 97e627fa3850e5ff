//! Access key secrets at rest: sealed in the database under a key kept outside it, plain rows
//! from before sealed at start-up, rotation, keys that do not fit the database refused, and the
//! files' modes. On SQLite, and on PostgreSQL with EC2GW_TEST_DATABASE_URL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{start, start_on, Options, Signer, TestDatabase};
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use ec2gw::engine::accounts::Admin;
use ec2gw::store::accounts::{self as rows, AccessKeyRow};
use ec2gw::store::keyring::{read_key_file, KeySource, Keyring, MasterKey};
use ec2gw::store::{DatabaseUrl, Store};
use zeroize::Zeroizing;

const DESCRIBE_REGIONS: &str = "Action=DescribeRegions&Version=2016-11-15";

fn row(store: &Store, access_key_id: &str) -> AccessKeyRow {
    store
        .run_now::<_, ec2gw::store::StoreError>(|c| rows::find_key(c, access_key_id))
        .unwrap()
        .unwrap()
}

fn by_key(store: &Store) -> Vec<(Option<String>, i64)> {
    store
        .run_now::<_, ec2gw::store::StoreError>(rows::count_by_key)
        .unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn primary_of(key_file: &std::path::Path) -> String {
    read_key_file(key_file)
        .unwrap()
        .unwrap()
        .primary()
        .id()
        .to_owned()
}

fn signer_for(gw: &common::TestGateway, access_key_id: &str, secret: &str) -> Signer {
    Signer {
        access_key_id: access_key_id.to_owned(),
        secret: secret.to_owned(),
        ..gw.signer()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_sealed_at_rest_and_still_sign() {
    let gw = start().await;
    let sealed = row(&gw.store, &gw.key.access_key_id);
    let secret = gw.key.secret.expose();
    assert_ne!(sealed.secret_sealed, secret);
    assert!(!sealed.secret_sealed.contains(&secret[..8]));
    let key_file = gw.db.key_file();
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(sealed.secret_key_id, Some(primary_of(&key_file)));
    let a = gw.post(DESCRIBE_REGIONS).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Nothing in the database, the key file aside, gives the secret back.
    let wrong = Keyring::new(MasterKey::generate());
    assert!(rows::open_row(&wrong, &sealed).is_err());
    gw.stop().await;
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel/postgres");

/// Brings `conn` to the schema of the release before secrets were sealed.
fn migrate_to_before_sealing<C, DB>(conn: &mut C, source: EmbeddedMigrations)
where
    DB: diesel::backend::Backend,
    C: MigrationHarness<DB>,
    EmbeddedMigrations: MigrationSource<DB>,
{
    for migration in conn.pending_migrations(source).unwrap() {
        if migration.name().to_string().ends_with("_sealed_secrets") {
            return;
        }
        conn.run_migration(&*migration).unwrap();
    }
    panic!("no sealed_secrets migration");
}

/// A database as the previous release left it: an account and a key whose secret is in plain
/// text, in a SQLite file SQLite made world-readable.
fn legacy_database(db: &TestDatabase, account_id: &str, access_key_id: &str, secret: &str) {
    let insert = format!(
        "INSERT INTO accounts (account_id, created_at) VALUES ('{account_id}', '2026-11-30T00:00:00.000Z');
         INSERT INTO access_keys (access_key_id, account_id, secret_access_key, status, created_at)
         VALUES ('{access_key_id}', '{account_id}', '{secret}', 'Active', '2026-11-30T00:00:00.000Z');"
    );
    match &db.url {
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            migrate_to_before_sealing(&mut conn, SQLITE_MIGRATIONS);
            conn.batch_execute(&insert).unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        DatabaseUrl::Postgres(url) => {
            let mut conn = PgConnection::establish(url).unwrap();
            migrate_to_before_sealing(&mut conn, POSTGRES_MIGRATIONS);
            conn.batch_execute(&insert).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_secrets_from_before_are_sealed_once_at_start_up() {
    let db = TestDatabase::fresh();
    let (account, id, secret) = (
        "123456789012",
        "AKIAOLDOLDOLDOLDOLD2",
        "iZbTmuyPAAb1UlR/3lM7n5rSpI6hrkry+tG4q0aW",
    );
    legacy_database(&db, account, id, secret);
    let store = db.open();
    if let DatabaseUrl::Sqlite(path) = &db.url {
        assert_eq!(mode(path), 0o600, "the world-readable database file");
    }
    let plain = row(&store, id);
    assert_eq!(
        (plain.secret_sealed.as_str(), plain.secret_key_id.as_deref()),
        (secret, None)
    );
    // A plain row is never taken at face value once the gateway runs.
    let e = store
        .run_now(|c| rows::open_secret(store.keys(), c, &plain))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "access key AKIAOLDOLDOLDOLDOLD2 is stored in plain text; `ec2gw serve` seals such keys at start-up"
    );

    let admin = Admin { store: &store };
    assert_eq!(admin.seal_secrets().unwrap(), 1);
    assert_eq!(admin.seal_secrets().unwrap(), 0, "idempotent");
    let sealed = row(&store, id);
    assert_eq!(sealed.secret_key_id, Some(primary_of(&db.key_file())));
    assert_ne!(sealed.secret_sealed, secret);
    let opened = store
        .run_now(|c| rows::open_secret(store.keys(), c, &sealed))
        .unwrap();
    assert_eq!(opened.as_str(), secret);
    drop(store);

    // The key from before signs requests to a gateway on the upgraded database.
    let gw = start_on(db, Options::default()).await;
    let a = gw
        .post_as(DESCRIBE_REGIONS, &signer_for(&gw, id, secret))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_seals_every_secret_under_a_new_key() {
    let gw = start().await;
    let key_file = gw.db.key_file();
    let old = primary_of(&key_file);
    let store = gw.store.clone();
    let more = tokio::task::spawn_blocking(move || {
        let admin = Admin { store: &store };
        (0..3)
            .map(|_| {
                admin
                    .create_key(&admin.list_accounts().unwrap()[0].account_id)
                    .unwrap()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(by_key(&gw.store), vec![(Some(old.clone()), 4)]);

    // Another process (the admin command) rotates, on its own store: the running gateway
    // has the old keyring in memory.
    let other = gw.db.open();
    let rotation = Admin { store: &other }.rotate_secrets().unwrap();
    assert_ne!(rotation.key_id, old);
    assert_eq!(rotation.retired, vec![old.clone()]);
    assert_eq!(rotation.resealed, 4);
    assert_eq!(rotation.key_file.as_deref(), Some(key_file.as_path()));
    assert_eq!(by_key(&gw.store), vec![(Some(rotation.key_id.clone()), 4)]);
    let ring = read_key_file(&key_file).unwrap().unwrap();
    assert_eq!(
        ring.ids(),
        vec![rotation.key_id.clone()],
        "the old key is gone"
    );
    assert_eq!(mode(&key_file), 0o600);

    // The gateway reads the key file again when a row names a key it lacks.
    let a = gw.post(DESCRIBE_REGIONS).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for key in &more {
        let signer = signer_for(&gw, &key.access_key_id, key.secret.expose());
        let a = gw.post_as(DESCRIBE_REGIONS, &signer).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_cannot_open_the_database_are_refused() {
    let db = TestDatabase::fresh();
    let store = db.open();
    let admin = Admin { store: &store };
    let account = admin.create_account().unwrap();
    let key = admin.create_key(&account.account_id).unwrap();
    let id = primary_of(&db.key_file());
    let old = read_key_file(&db.key_file()).unwrap().unwrap();

    // Another data directory, without the key file: refused, and no key file made there.
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("secret.key");
    let e = Admin {
        store: &db.open_with(KeySource::File(missing.clone())).unwrap(),
    }
    .seal_secrets()
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the database's access key secrets are sealed under key {id}, but the key file {} \
             does not exist: restore it (from the gateway that made the database, or a backup), \
             or set EC2GW_SECRET_KEY",
            missing.display()
        )
    );
    assert!(!missing.exists());

    // Another key given in the environment: refused, naming both.
    let other = MasterKey::generate();
    let e = Admin {
        store: &db
            .open_with(KeySource::Environment(other.to_base64()))
            .unwrap(),
    }
    .create_key(&account.account_id)
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the database's access key secrets are sealed under key {id}, which EC2GW_SECRET_KEY \
             does not hold (it holds {}): use the key file or EC2GW_SECRET_KEY of the gateways \
             on this database",
            other.id()
        )
    );

    // Several gateways on one database, keys in the environment: the new key first, the old
    // one after it; the rotation seals everything under the first and names the old one.
    let new = MasterKey::generate();
    let both = Zeroizing::new(format!(
        "{},{}",
        *new.to_base64(),
        *old.primary().to_base64()
    ));
    let env_store = db.open_with(KeySource::Environment(both)).unwrap();
    let rotation = Admin { store: &env_store }.rotate_secrets().unwrap();
    assert_eq!(
        (
            rotation.key_id.as_str(),
            rotation.retired,
            rotation.key_file
        ),
        (new.id(), vec![id.clone()], None)
    );
    assert!(Admin {
        store: &db
            .open_with(KeySource::Environment(old.primary().to_base64()))
            .unwrap(),
    }
    .seal_secrets()
    .is_err());
    let only_new = db
        .open_with(KeySource::Environment(new.to_base64()))
        .unwrap();
    let sealed = row(&only_new, &key.access_key_id);
    let opened = only_new
        .run_now(|c| rows::open_secret(only_new.keys(), c, &sealed))
        .unwrap();
    assert_eq!(opened.as_str(), key.secret.expose());

    // A sealed value moved to another row does not open there.
    let victim = admin.create_key(&account.account_id).unwrap();
    let mut forged = row(&only_new, &victim.access_key_id);
    forged.secret_sealed = sealed.secret_sealed.clone();
    forged.secret_key_id = sealed.secret_key_id.clone();
    let ring = Keyring::parse(&new.to_base64(), "test").unwrap();
    assert!(rows::open_row(&ring, &forged).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_database_and_key_files_are_0600() {
    let gw = start().await;
    let DatabaseUrl::Sqlite(path) = gw.db.url.clone() else {
        return; // PostgreSQL keeps its own files.
    };
    // A write, so SQLite has made its -wal and -shm files.
    let a = gw
        .post("Action=CreateKeyPair&Version=2016-11-15&KeyName=modes&KeyType=ed25519")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&gw.db.key_file()), 0o600);
    gw.stop().await;
}
