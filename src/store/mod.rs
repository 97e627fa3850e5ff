//! Persistence with Diesel: SQLite embedded by default, PostgreSQL when several gateways share
//! one database. One code path serves both through [`DbConnection`], a Diesel MultiConnection.

#[macro_use]
pub mod filters;
pub mod accounts;
pub mod images;
pub mod instances;
pub mod key_pairs;
pub mod keyring;
pub mod network;
pub mod schema;
pub mod secrets;
pub mod tags;
pub mod volumes;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("diesel/postgres");

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// `postgres://...` or `postgresql://...`; `sqlite://PATH` or a bare path for SQLite.
    pub fn parse(url: &str) -> DatabaseUrl {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseUrl::Postgres(url.to_owned())
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            DatabaseUrl::Sqlite(PathBuf::from(path))
        }
    }

    /// A form safe to print: a PostgreSQL password is masked.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => match (url.find("://"), url.rfind('@')) {
                (Some(scheme_end), Some(at)) if at > scheme_end => {
                    let userinfo = &url[scheme_end + 3..at];
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                        }
                        None => url.clone(),
                    }
                }
                _ => url.clone(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// No pooled connection became free in time.
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// A query failed.
    #[error("database query: {0}")]
    Query(#[from] diesel::result::Error),
    /// A schema migration failed at start-up.
    #[error("database migration: {0}")]
    Migration(String),
    /// The blocking task running a query was cancelled or panicked.
    #[error("database task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The keys that seal access key secrets are missing, wrong or unreadable.
    #[error(transparent)]
    Keys(#[from] keyring::KeyringError),
    /// The database file's permissions could not be set.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Opens connections for the pool, each set up the same way.
#[derive(Debug)]
struct Manager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // WAL lets readers run beside the writer; busy_timeout makes writers queue
                // rather than fail; NORMAL sync in WAL mode loses nothing when the process dies;
                // EC2's filters are case-sensitive, and so is PostgreSQL's LIKE; `optimize`
                // keeps the planner's statistics fresh so filters pick the right index.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA case_sensitive_like = ON; \
                     PRAGMA analysis_limit = 400; PRAGMA optimize = 0x10002; \
                     PRAGMA cache_size = -16384;",
                )?;
                conn.set_instrumentation(log_queries);
                Ok(DbConnection::Sqlite(conn))
            }
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(&without_gss(url))?;
                conn.set_instrumentation(log_queries);
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        Ok(conn.batch_execute("SELECT 1")?)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

/// A pool of connections and the keys that seal access key secrets; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<Manager>,
    keys: std::sync::Arc<keyring::Keys>,
}

/// Makes the SQLite file 0600 before SQLite opens it (SQLite makes its -wal and -shm files
/// with the database file's mode), and takes group and other bits off files an earlier
/// version made world-readable: the data directory is open for QEMU to pass through.
fn restrict_sqlite_files(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| StoreError::File { path, source }
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(path)(e)),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        let mode = match std::fs::metadata(&file) {
            Ok(meta) => meta.permissions().mode(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(failed(&file)(e)),
        };
        if mode & 0o077 != 0 {
            tracing::info!(file = %file.display(), mode = format_args!("{:04o}", mode & 0o7777), "made the database file 0600");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(failed(&file))?;
        }
    }
    Ok(())
}

impl Store {
    /// Opens the database, creating a SQLite file (0600) and its folder if needed, and applies
    /// migrations. The keys are read from `keys` when a secret is first sealed or opened.
    pub fn open(url: &DatabaseUrl, keys: keyring::KeySource) -> Result<Store, StoreError> {
        if let DatabaseUrl::Sqlite(path) = url {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Migration(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            restrict_sqlite_files(path)?;
        }
        let size = match url {
            DatabaseUrl::Sqlite(_) => 8,
            DatabaseUrl::Postgres(_) => 16,
        };
        // No idle minimum: r2d2 would refill it from background threads, and a thread still
        // inside libpq's connect when the process exits crashes it (seen: 31 of 100 admin
        // commands on PostgreSQL died with SIGSEGV/SIGABRT; none of 200 without it).
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager { url: url.clone() })?;
        let mut conn = pool.get()?;
        migrate(&mut conn)?;
        Ok(Store {
            pool,
            keys: std::sync::Arc::new(keyring::Keys::new(keys)),
        })
    }

    /// The keys that seal access key secrets.
    pub fn keys(&self) -> &std::sync::Arc<keyring::Keys> {
        &self.keys
    }

    /// Runs blocking database work on tokio's blocking pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            work(&mut conn)
        })
        .await
        .map_err(StoreError::from)?
    }

    /// Runs database work on this thread, for start-up and the admin commands.
    pub fn run_now<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.pool.get().map_err(StoreError::from)?;
        work(&mut conn)
    }
}

/// Runs `work` in a transaction that takes the write lock at once. SQLite's default
/// (deferred) transaction reads under a snapshot and fails with "database is locked" when it
/// then writes after another connection did, without waiting; `BEGIN IMMEDIATE` makes it
/// queue (busy_timeout) instead. Callers must not nest transactions inside `work`.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if let DbConnection::Postgres(_) = conn {
        return conn.transaction(work);
    }
    conn.batch_execute("BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

/// An insert's outcome: true if the row went in, false if its key was taken.
pub(crate) fn inserted(result: diesel::QueryResult<usize>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every query with its time, at trace level (`EC2GW_LOG=ec2gw::sql=trace`), for tuning.
fn log_queries(event: diesel::connection::InstrumentationEvent<'_>) {
    if let diesel::connection::InstrumentationEvent::FinishQuery { query, error, .. } = event {
        tracing::trace!(target: "ec2gw::sql", %query, failed = error.is_some());
    }
}

/// libpq tries GSSAPI encryption by default, and Kerberos' thread-local teardown can abort the
/// process at exit while the pool's threads are still connecting; ec2gw never uses Kerberos,
/// so it is switched off unless the URL asks for it.
fn without_gss(url: &str) -> String {
    if url.contains("gssencmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&gssencmode=disable")
    } else {
        format!("{url}?gssencmode=disable")
    }
}

fn migrate(conn: &mut DbConnection) -> Result<(), StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    applied.map_err(|e| StoreError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/ec2gw/db.sqlite"),
            DatabaseUrl::Sqlite("/var/lib/ec2gw/db.sqlite".into())
        );
        assert_eq!(
            DatabaseUrl::parse("data/ec2gw.sqlite"),
            DatabaseUrl::Sqlite("data/ec2gw.sqlite".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u:p@h/db"),
            DatabaseUrl::Postgres("postgresql://u:p@h/db".into())
        );
    }

    #[test]
    fn postgres_connections_skip_gssapi() {
        assert_eq!(
            without_gss("postgres://h/db"),
            "postgres://h/db?gssencmode=disable"
        );
        assert_eq!(
            without_gss("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require&gssencmode=disable"
        );
        assert_eq!(
            without_gss("postgres://h/db?gssencmode=require"),
            "postgres://h/db?gssencmode=require"
        );
    }

    /// What SQLite's planner does with the reconciler's per-pass queries when its statistics
    /// say every instance and volume is in one state (as after ANALYZE over 100,000 stopped
    /// instances): it must still read only the rows in motion, not the whole table.
    #[test]
    fn reconciler_queries_use_their_partial_indexes() {
        use diesel::sqlite::Sqlite;
        use diesel::RunQueryDsl;

        #[derive(diesel::QueryableByName)]
        struct Step {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &DatabaseUrl::Sqlite(dir.path().join("db.sqlite")),
            keyring::KeySource::File(dir.path().join("secret.key")),
        )
        .unwrap();
        let mut conn = store.pool.get().unwrap();
        let DbConnection::Sqlite(conn) = &mut *conn else {
            panic!("a SQLite store");
        };
        conn.batch_execute(
            "ANALYZE; \
             DELETE FROM sqlite_stat1 WHERE tbl IN ('instances', 'volumes'); \
             INSERT INTO sqlite_stat1 VALUES \
                 ('instances', 'sqlite_autoindex_instances_1', '100000 1'), \
                 ('instances', 'instances_by_state', '100000 100000'), \
                 ('instances', 'instances_live', '1 1'), \
                 ('volumes', 'sqlite_autoindex_volumes_1', '100000 1'), \
                 ('volumes', 'volumes_by_state', '100000 100000'), \
                 ('volumes', 'volumes_deleting', '1 1'); \
             ANALYZE sqlite_schema;",
        )
        .unwrap();
        for (sql, index) in [
            (
                diesel::debug_query::<Sqlite, _>(&instances::live_query()).to_string(),
                "instances_live",
            ),
            (
                diesel::debug_query::<Sqlite, _>(&volumes::deleting_query()).to_string(),
                "volumes_deleting",
            ),
        ] {
            let sql = sql.split(" -- binds").next().unwrap();
            let plan: Vec<Step> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load(conn)
                .unwrap();
            let plan: Vec<&str> = plan.iter().map(|s| s.detail.as_str()).collect();
            assert!(plan.iter().any(|s| s.contains(index)), "{sql}: {plan:?}");
        }
    }

    #[test]
    fn never_prints_a_password() {
        assert_eq!(
            DatabaseUrl::parse("postgres://ec2gw:s3cret@127.0.0.1:5432/ec2gw").redacted(),
            "postgres://ec2gw:***@127.0.0.1:5432/ec2gw"
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://127.0.0.1/ec2gw").redacted(),
            "postgres://127.0.0.1/ec2gw"
        );
    }
}
