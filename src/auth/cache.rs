//! Derived SigV4 signing keys, kept in memory for a few seconds so that a signed request needs
//! no database read. IAM is eventually consistent too: a key disabled or deleted stops working
//! within [`TTL`], as on AWS, where such a change takes seconds to reach every endpoint.
//!
//! Only what a signature check needs is kept: the key derived for one scope (date, region,
//! service), never the secret, and only for keys that were active when read. Unknown and
//! disabled keys are not remembered, so a new or re-enabled key works at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::sigv4::{self, Claim};

/// How long a derived key is used before its access key is read from the store again.
pub const TTL: Duration = Duration::from_secs(5);

/// Where the cache reads the time: the system's monotonic clock, or a test's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// An active access key as the store has it, for one derivation.
pub struct StoredKey<'a> {
    pub secret: &'a str,
    pub account_id: &'a str,
}

/// What a request may be verified with: the key for its scope, and whose it is.
#[derive(Clone)]
pub struct SigningKey {
    pub key: Zeroizing<[u8; 32]>,
    pub account_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

struct Entry {
    signing: SigningKey,
    read_at: Instant,
}

struct Entries {
    /// By the claim's credential (`AKID/date/region/service/aws4_request`): the scope is part
    /// of the key, and a request's own credential is the lookup, with nothing to build.
    by_credential: HashMap<Box<str>, Entry>,
    last_sweep: Instant,
}

/// Signing keys by credential scope, each for at most [`TTL`].
pub struct KeyCache<C: Clock = SystemClock> {
    clock: C,
    entries: RwLock<Entries>,
}

impl Default for KeyCache<SystemClock> {
    fn default() -> Self {
        KeyCache::with_clock(SystemClock)
    }
}

impl<C: Clock> KeyCache<C> {
    pub fn with_clock(clock: C) -> Self {
        let now = clock.now();
        KeyCache {
            clock,
            entries: RwLock::new(Entries {
                by_credential: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// The signing key for `claim`'s scope: from memory if it was read less than [`TTL`] ago,
    /// otherwise derived from what `read` finds in the store (`None`: no such active key).
    pub async fn signing_key<E, F, Fut, K>(
        &self,
        claim: &Claim<'_>,
        read: F,
    ) -> Result<Option<SigningKey>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<K>, E>>,
        K: AsStoredKey,
    {
        if let Some(signing) = self.fresh(&claim.credential) {
            return Ok(Some(signing));
        }
        let Some(stored) = read().await? else {
            return Ok(None);
        };
        let stored = stored.as_stored_key();
        let signing = SigningKey {
            key: Zeroizing::new(sigv4::signing_key(
                stored.secret,
                claim.scope_date(),
                claim.region(),
                claim.service(),
            )),
            account_id: stored.account_id.to_owned(),
        };
        self.remember(&claim.credential, signing.clone());
        Ok(Some(signing))
    }

    fn fresh(&self, credential: &str) -> Option<SigningKey> {
        let now = self.clock.now();
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .by_credential
            .get(credential)
            .filter(|e| now.saturating_duration_since(e.read_at) < TTL)
            .map(|e| e.signing.clone())
    }

    fn remember(&self, credential: &str, signing: SigningKey) {
        let now = self.clock.now();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        // Expired entries go at most once a TTL, so the map holds what was used lately and a
        // miss costs no walk over it.
        if now.saturating_duration_since(entries.last_sweep) >= TTL {
            entries
                .by_credential
                .retain(|_, e| now.saturating_duration_since(e.read_at) < TTL);
            entries.last_sweep = now;
        }
        entries.by_credential.insert(
            credential.into(),
            Entry {
                signing,
                read_at: now,
            },
        );
    }

    /// How many scopes are held, for tests.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_credential
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A store's access key, seen as the secret and account a derivation needs; how the store
/// keeps the secret is its own business.
pub trait AsStoredKey {
    fn as_stored_key(&self) -> StoredKey<'_>;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A clock that moves only when told.
    #[derive(Clone)]
    struct TestClock {
        start: Instant,
        millis: Arc<AtomicU64>,
    }

    impl TestClock {
        fn new() -> Self {
            TestClock {
                start: Instant::now(),
                millis: Arc::new(AtomicU64::new(0)),
            }
        }

        fn advance(&self, by: Duration) {
            self.millis
                .fetch_add(u64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> Instant {
            self.start + Duration::from_millis(self.millis.load(Ordering::SeqCst))
        }
    }

    /// One access key in a pretend store that counts its reads.
    struct Store {
        active: AtomicBool,
        reads: AtomicUsize,
    }

    struct Key {
        secret: String,
        account_id: String,
    }

    impl AsStoredKey for Key {
        fn as_stored_key(&self) -> StoredKey<'_> {
            StoredKey {
                secret: &self.secret,
                account_id: &self.account_id,
            }
        }
    }

    impl Store {
        fn new() -> Self {
            Store {
                active: AtomicBool::new(true),
                reads: AtomicUsize::new(0),
            }
        }

        async fn read(&self) -> Result<Option<Key>, std::convert::Infallible> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.active.load(Ordering::SeqCst).then(|| Key {
                secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
                account_id: "123456789012".into(),
            }))
        }
    }

    fn claim(date: &str) -> Claim<'static> {
        let credential = format!("AKIDEXAMPLE/{date}/us-east-1/ec2/aws4_request");
        let amz_date = format!("{date}T000000Z");
        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("ec2.example.com"));
        headers.insert("x-amz-date", amz_date.parse().unwrap());
        headers.insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=00")
                .parse()
                .unwrap(),
        );
        let request = sigv4::SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let expected = sigv4::Expected {
            region: "us-east-1",
            service: "ec2",
        };
        let now = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc();
        sigv4::parse(&request, expected, now).unwrap().into_owned()
    }

    async fn key(
        cache: &KeyCache<TestClock>,
        store: &Store,
        claim: &Claim<'_>,
    ) -> Option<SigningKey> {
        cache.signing_key(claim, || store.read()).await.unwrap()
    }

    #[tokio::test]
    async fn a_key_is_read_once_per_ttl() {
        let clock = TestClock::new();
        let cache = KeyCache::with_clock(clock.clone());
        let store = Store::new();
        let claim = claim("20150830");
        let first = key(&cache, &store, &claim).await.unwrap();
        assert_eq!(
            *first.key,
            sigv4::signing_key(
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                "20150830",
                "us-east-1",
                "ec2"
            )
        );
        assert_eq!(first.account_id, "123456789012");
        clock.advance(TTL - Duration::from_millis(1));
        let again = key(&cache, &store, &claim).await.unwrap();
        assert_eq!(*again.key, *first.key);
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        clock.advance(Duration::from_millis(1));
        key(&cache, &store, &claim).await.unwrap();
        assert_eq!(store.reads.load(Ordering::SeqCst), 2, "read again at TTL");
    }

    #[tokio::test]
    async fn a_disabled_key_is_refused_once_its_entry_expires() {
        let clock = TestClock::new();
        let cache = KeyCache::with_clock(clock.clone());
        let store = Store::new();
        let claim = claim("20150830");
        assert!(key(&cache, &store, &claim).await.is_some());
        store.active.store(false, Ordering::SeqCst);
        // Eventually consistent: the key still signs for what is left of its TTL...
        clock.advance(Duration::from_secs(4));
        assert!(key(&cache, &store, &claim).await.is_some());
        // ...and not after.
        clock.advance(Duration::from_secs(1));
        assert!(key(&cache, &store, &claim).await.is_none());
        assert!(key(&cache, &store, &claim).await.is_none());
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            3,
            "a refused key is not remembered"
        );
        // Enabled again: it works at once.
        store.active.store(true, Ordering::SeqCst);
        assert!(key(&cache, &store, &claim).await.is_some());
    }

    #[tokio::test]
    async fn each_scope_has_its_own_key_and_old_ones_are_swept() {
        let clock = TestClock::new();
        let cache = KeyCache::with_clock(clock.clone());
        let store = Store::new();
        let monday = key(&cache, &store, &claim("20150830")).await.unwrap();
        let tuesday = key(&cache, &store, &claim("20150831")).await.unwrap();
        assert_ne!(*monday.key, *tuesday.key);
        assert_eq!(cache.len(), 2);
        clock.advance(TTL);
        key(&cache, &store, &claim("20150901")).await.unwrap();
        assert_eq!(cache.len(), 1, "expired scopes are dropped");
    }
}
