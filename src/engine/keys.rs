//! EC2 key pairs: parsing imported public keys, generating new key pairs, and computing
//! fingerprints exactly as AWS does. Pure: no store, no I/O beyond the system RNG.
//!
//! Fingerprints follow AWS's documented rules ("Verify the fingerprint of your key pair",
//! <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/verify-keys.html>, and the
//! `KeyPairInfo.KeyFingerprint` field of the API reference):
//! - RSA, imported: MD5 of the DER SubjectPublicKeyInfo, colon-separated lowercase hex
//!   (`openssl pkey -pubin -outform DER | openssl md5 -c`).
//! - RSA, created by EC2: SHA-1 of the DER PKCS#8 private key, colon-separated lowercase hex
//!   (`openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c`). So the same key gets a
//!   different fingerprint once its public half is re-imported; AWS documents that too.
//! - ED25519, imported or created: base64 of the SHA-256 of the OpenSSH public key blob, the
//!   digest `ssh-keygen -l -E sha256` prints. AWS's page says EC2 "might append padding to the
//!   fingerprint with = characters" where ssh-keygen omits it; in practice EC2 always returns
//!   the padded 44-character form (eksctl had to trim the trailing '=' to compare with
//!   ssh-keygen, eksctl-io/eksctl#5145 and #5151), so we pad.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::Md5;
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use ssh_key::public::KeyData;
use zeroize::Zeroizing;

/// AWS's message for every public key ImportKeyPair cannot use (code `InvalidKey.Format`).
pub const INVALID_FORMAT_MESSAGE: &str = "Key is not in valid OpenSSH public key format";

/// RSA modulus sizes ImportKeyPair accepts; anything else is refused as a bad format.
const RSA_IMPORT_BITS: [usize; 4] = [1024, 2048, 3072, 4096];

/// The RSA size CreateKeyPair makes (AWS creates 2048-bit RSA keys only).
const RSA_CREATE_BITS: usize = 2048;

const SSH2_BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
const SSH2_END: &str = "---- END SSH2 PUBLIC KEY ----";

/// The two key types EC2 knows (`KeyType` on CreateKeyPair, `keyType` in responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    /// The wire value: `rsa` or `ed25519`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    /// Parses the wire value exactly (EC2's enum values are lowercase).
    fn from_str(s: &str) -> Result<KeyType, KeyError> {
        match s {
            "rsa" => Ok(KeyType::Rsa),
            "ed25519" => Ok(KeyType::Ed25519),
            other => Err(KeyError::UnsupportedType(other.to_owned())),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key as stored and shown by DescribeKeyPairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_type: KeyType,
    /// The key as one OpenSSH line, `TYPE BASE64`, without comment or newline, whatever
    /// format it was imported in.
    pub openssh: String,
    /// The fingerprint EC2 shows for this key (import or create rules, see the module docs).
    pub fingerprint: String,
}

/// A key pair made by CreateKeyPair. The private key is handed to the caller once and never
/// stored, so it lives in zeroized memory and is kept out of `Debug`.
pub struct GeneratedKey {
    pub key_type: KeyType,
    /// PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`) for RSA, OpenSSH (`BEGIN OPENSSH PRIVATE KEY`) for
    /// ED25519: the formats EC2 returns for `KeyFormat=pem`.
    pub private_pem: Zeroizing<String>,
    /// The public half; for RSA its fingerprint is the created-key (SHA-1) one.
    pub public: PublicKey,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_type", &self.key_type)
            .field("private_pem", &"<redacted>")
            .field("public", &self.public)
            .finish()
    }
}

/// Why a key could not be imported or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The public key material is not a key EC2 accepts; maps to `InvalidKey.Format`.
    /// Carries the client-facing message.
    #[error("{0}")]
    InvalidFormat(String),
    /// A key type other than `rsa` or `ed25519`.
    #[error("unsupported key type {0:?}")]
    UnsupportedType(String),
    /// Key generation or encoding failed: our fault, not the caller's.
    #[error("key generation failed: {0}")]
    Generate(String),
}

fn invalid() -> KeyError {
    KeyError::InvalidFormat(INVALID_FORMAT_MESSAGE.to_owned())
}

fn generate_error(e: impl fmt::Display) -> KeyError {
    KeyError::Generate(e.to_string())
}

/// Parses ImportKeyPair's `PublicKeyMaterial` (already base64-decoded by the gateway).
///
/// Accepted, after trimming surrounding whitespace: an OpenSSH line (`ssh-rsa`/`ssh-ed25519`,
/// comment optional), an RFC 4716 `SSH2 PUBLIC KEY` block, and for RSA also PEM
/// `PUBLIC KEY` (SubjectPublicKeyInfo), PEM `RSA PUBLIC KEY` (PKCS#1) and bare base64 DER of
/// either, the formats AWS lists. RSA must be 1024, 2048, 3072 or 4096 bits. Everything
/// else, including ECDSA and DSA keys, is [`KeyError::InvalidFormat`].
pub fn parse_public_key(material: &[u8]) -> Result<PublicKey, KeyError> {
    let text = std::str::from_utf8(material).map_err(|_| invalid())?.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if text.starts_with(SSH2_BEGIN) {
        let blob = rfc4716_blob(text)?;
        let key = ssh_key::PublicKey::from_bytes(&blob).map_err(|_| invalid())?;
        return from_key_data(key.key_data());
    }
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return imported_rsa(RsaPublicKey::from_public_key_pem(text).map_err(|_| invalid())?);
    }
    if text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        return imported_rsa(RsaPublicKey::from_pkcs1_pem(text).map_err(|_| invalid())?);
    }
    if text.split_whitespace().nth(1).is_none() {
        // One token: AWS's "Base64 encoded DER format" (RSA only).
        let der = BASE64.decode(text).map_err(|_| invalid())?;
        let key = RsaPublicKey::from_public_key_der(&der)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
            .map_err(|_| invalid())?;
        return imported_rsa(key);
    }
    // An OpenSSH line is one line; `from_openssh` also checks that the type word matches the
    // type inside the blob and that the base64 is complete.
    if text.contains(['\n', '\r']) {
        return Err(invalid());
    }
    let key = ssh_key::PublicKey::from_openssh(text).map_err(|_| invalid())?;
    from_key_data(key.key_data())
}

/// Makes a new key pair for CreateKeyPair (`KeyFormat=pem`).
pub fn generate(key_type: KeyType) -> Result<GeneratedKey, KeyError> {
    let mut rng = rand::rngs::OsRng;
    match key_type {
        KeyType::Rsa => {
            let private = RsaPrivateKey::new(&mut rng, RSA_CREATE_BITS).map_err(generate_error)?;
            let private_pem = private
                .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                .map_err(generate_error)?;
            let openssh = rsa_openssh(private.as_ref()).map_err(generate_error)?;
            let fingerprint = created_rsa_fingerprint(&private)?;
            Ok(GeneratedKey {
                key_type,
                private_pem,
                public: PublicKey {
                    key_type,
                    openssh,
                    fingerprint,
                },
            })
        }
        KeyType::Ed25519 => {
            let private = ssh_key::PrivateKey::random(&mut rng, ssh_key::Algorithm::Ed25519)
                .map_err(generate_error)?;
            let private_pem = private
                .to_openssh(ssh_key::LineEnding::LF)
                .map_err(generate_error)?;
            // Same rule for created and imported ED25519 keys.
            let public = from_key_data(private.public_key().key_data())
                .map_err(|_| KeyError::Generate("generated ed25519 key unusable".to_owned()))?;
            Ok(GeneratedKey {
                key_type,
                private_pem,
                public,
            })
        }
    }
}

/// Validates a decoded SSH key blob and builds the imported-key view of it.
fn from_key_data(key_data: &KeyData) -> Result<PublicKey, KeyError> {
    match key_data {
        KeyData::Ed25519(_) => {
            let blob = ssh_key::PublicKey::new(key_data.clone(), "");
            let openssh = blob.to_openssh().map_err(|_| invalid())?;
            let bytes = blob.to_bytes().map_err(|_| invalid())?;
            Ok(PublicKey {
                key_type: KeyType::Ed25519,
                openssh,
                fingerprint: ed25519_fingerprint(&bytes),
            })
        }
        KeyData::Rsa(ssh_rsa) => {
            let e = ssh_rsa.e.as_positive_bytes().ok_or_else(invalid)?;
            let n = ssh_rsa.n.as_positive_bytes().ok_or_else(invalid)?;
            // `RsaPublicKey::new` refuses moduli over 4096 bits and absurd exponents.
            let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                .map_err(|_| invalid())?;
            imported_rsa(key)
        }
        // ECDSA, DSA, security keys, unknown types: AWS refuses them all the same way.
        _ => Err(invalid()),
    }
}

/// Checks an imported RSA key's size and builds its view with the import (MD5) fingerprint.
fn imported_rsa(key: RsaPublicKey) -> Result<PublicKey, KeyError> {
    if !RSA_IMPORT_BITS.contains(&key.n().bits()) {
        return Err(invalid());
    }
    let der = key.to_public_key_der().map_err(|_| invalid())?;
    Ok(PublicKey {
        key_type: KeyType::Rsa,
        openssh: rsa_openssh(&key).map_err(|_| invalid())?,
        fingerprint: colon_hex(&Md5::digest(der.as_bytes())),
    })
}

/// The `ssh-rsa BASE64` line for an RSA public key.
fn rsa_openssh(key: &RsaPublicKey) -> Result<String, ssh_key::Error> {
    let ssh_rsa = ssh_key::public::RsaPublicKey::try_from(key)?;
    ssh_key::PublicKey::new(KeyData::Rsa(ssh_rsa), "").to_openssh()
}

/// CreateKeyPair's RSA fingerprint: SHA-1 of the PKCS#8 DER private key. Matches what
/// `openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c` prints for the PKCS#1 PEM we
/// return, as both encode the same components.
fn created_rsa_fingerprint(key: &RsaPrivateKey) -> Result<String, KeyError> {
    let der = key.to_pkcs8_der().map_err(generate_error)?;
    Ok(colon_hex(&Sha1::digest(der.as_bytes())))
}

/// ED25519 fingerprint: padded standard base64 of SHA-256 over the SSH public key blob.
fn ed25519_fingerprint(blob: &[u8]) -> String {
    BASE64.encode(Sha256::digest(blob))
}

/// `aa:bb:cc...`: lowercase hex pairs joined by colons, as `openssl ... -c` prints.
fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The key blob inside an RFC 4716 block: header lines (`Tag: value`, continued by a trailing
/// backslash) come first and are skipped; the base64 body runs up to the END line, which must
/// close the text.
fn rfc4716_blob(text: &str) -> Result<Vec<u8>, KeyError> {
    if !text.ends_with(SSH2_END) {
        return Err(invalid());
    }
    let mut body = String::new();
    let mut continued = false;
    for line in text.lines().map(str::trim).skip(1) {
        if line == SSH2_END {
            break;
        }
        if continued || (body.is_empty() && line.contains(':')) {
            continued = line.ends_with('\\');
            continue;
        }
        body.push_str(line);
    }
    BASE64.decode(body).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::DecodeRsaPrivateKey;

    // Fixtures made once on this machine with OpenSSH 9.2p1 and OpenSSL 3.0.19:
    //   ssh-keygen -t rsa -b 2048 -C alice@example -f rsa2048
    //   ssh-keygen -t ed25519 -C bob@example -f ed
    //   openssl genrsa -traditional -out created1024.pem 1024; ssh-keygen -y -f created1024.pem
    //   ssh-keygen -t ecdsa -C eve@example -f ec
    // The expected fingerprints are what the tools printed.

    const RSA2048_LINE: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCuMJDIefPUfqxVJzcdA5tDvqteTSg+/4wjsKETUy90/MDiRSDG8WyqdyPun+tvv0Z6n3jqJatddczgXaEICGRawuTL7OjDS3IRKlK0yC/hUtm3NgFTRMifJNI9E3pJFTZd06bghWPdIBh9piehp4nZ9o96PxoAmIVU53Uu60sEZVmMtoPH9TFEnVWufyndQAelooy3k0pvK1j1MtOYvJOTw9gAxp4gbxpk/paMYn/JT283AxLXMXpWGSAW/zIPN97cro7gInMadIJ+vw+HiGsk0YvYfyC9g3Mvnmh2Nujoj6IJLTOoY/5AIoSfZdFFCIsJxO/0S0CVpJmhoIZnfFXF alice@example";
    // ssh-keygen -e -m PKCS8 -f rsa2048.pub | openssl pkey -pubin -outform DER | openssl md5 -c
    const RSA2048_MD5: &str = "bb:c7:c1:f2:3c:69:44:8e:8a:0b:4d:3b:7f:bf:83:ec";

    // ssh-keygen -e -f rsa2048.pub
    const RSA2048_RFC4716: &str = "---- BEGIN SSH2 PUBLIC KEY ----
Comment: \"2048-bit RSA, converted by root@vm from OpenSSH\"
AAAAB3NzaC1yc2EAAAADAQABAAABAQCuMJDIefPUfqxVJzcdA5tDvqteTSg+/4wjsKETUy
90/MDiRSDG8WyqdyPun+tvv0Z6n3jqJatddczgXaEICGRawuTL7OjDS3IRKlK0yC/hUtm3
NgFTRMifJNI9E3pJFTZd06bghWPdIBh9piehp4nZ9o96PxoAmIVU53Uu60sEZVmMtoPH9T
FEnVWufyndQAelooy3k0pvK1j1MtOYvJOTw9gAxp4gbxpk/paMYn/JT283AxLXMXpWGSAW
/zIPN97cro7gInMadIJ+vw+HiGsk0YvYfyC9g3Mvnmh2Nujoj6IJLTOoY/5AIoSfZdFFCI
sJxO/0S0CVpJmhoIZnfFXF
---- END SSH2 PUBLIC KEY ----
";

    // ssh-keygen -e -m PKCS8 -f rsa2048.pub
    const RSA2048_SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArjCQyHnz1H6sVSc3HQOb
Q76rXk0oPv+MI7ChE1MvdPzA4kUgxvFsqncj7p/rb79Gep946iWrXXXM4F2hCAhk
WsLky+zow0tyESpStMgv4VLZtzYBU0TInyTSPRN6SRU2XdOm4IVj3SAYfaYnoaeJ
2faPej8aAJiFVOd1LutLBGVZjLaDx/UxRJ1Vrn8p3UAHpaKMt5NKbytY9TLTmLyT
k8PYAMaeIG8aZP6WjGJ/yU9vNwMS1zF6VhkgFv8yDzfe3K6O4CJzGnSCfr8Ph4hr
JNGL2H8gvYNzL55odjbo6I+iCS0zqGP+QCKEn2XRRQiLCcTv9EtAlaSZoaCGZ3xV
xQIDAQAB
-----END PUBLIC KEY-----
";

    // ssh-keygen -e -m PEM -f rsa2048.pub
    const RSA2048_PKCS1_PEM: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEArjCQyHnz1H6sVSc3HQObQ76rXk0oPv+MI7ChE1MvdPzA4kUgxvFs
qncj7p/rb79Gep946iWrXXXM4F2hCAhkWsLky+zow0tyESpStMgv4VLZtzYBU0TI
nyTSPRN6SRU2XdOm4IVj3SAYfaYnoaeJ2faPej8aAJiFVOd1LutLBGVZjLaDx/Ux
RJ1Vrn8p3UAHpaKMt5NKbytY9TLTmLyTk8PYAMaeIG8aZP6WjGJ/yU9vNwMS1zF6
VhkgFv8yDzfe3K6O4CJzGnSCfr8Ph4hrJNGL2H8gvYNzL55odjbo6I+iCS0zqGP+
QCKEn2XRRQiLCcTv9EtAlaSZoaCGZ3xVxQIDAQAB
-----END RSA PUBLIC KEY-----
";

    const ED25519_LINE: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINVQUlLRWVayUF09OhwlRwXCWVydO2d/GPbNdmlt/mfM bob@example";
    // ssh-keygen -l -E sha256 -f ed.pub printed SHA256:QhvEz2/YKjhdMrzt66+Bcayho4/UDC9eRLgJTpXlibI;
    // EC2 shows the same digest with base64's '=' padding.
    const ED25519_SHA256: &str = "QhvEz2/YKjhdMrzt66+Bcayho4/UDC9eRLgJTpXlibI=";

    // An RSA key "created by EC2": openssl genrsa -traditional 1024 (PKCS#1 PEM, as EC2 returns).
    const CREATED_RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXAIBAAKBgQDBl5Rt4xtr27tZQlhlKRBkRVoHs/YmknJtYgclM75L0BsdCqpE
LS9yMUhdOhkSTnMjnL1cOaXiVoYadNrIl8l8aQ7oxF/DTSUVhdEOXg5rsKLfWz8f
RXu/e7rFwjCUdFDEsuag5cObKZzDoLPIqe7dnbXG3XRSL5nL3Iaw5VVjDwIDAQAB
AoGAUiSfNoFHAV0bAaTFHSdvbRyANwSFTZiWNRODNKXf+Qs0df4wgP0rRKjkq6ob
OUlQUawQLTHI0WElRdSPgM3nD8VoG+DkDoQeCy0gOpdJ2SibTH2PyhsKWUwk0A0P
hjC94lPkhLkZGaSiKlkCdaiHpz9dNkDxfdUZaAf//UsdNgECQQDybzn/FuDFtL/+
ixQLSAzd5cCappVNhv32emdCIqEP3f60aHld4noPDQZBZ5PCOdn2l0RZEpSBhZAJ
rxY3WMm3AkEAzGy038xs6WwRq2cyFEfW2Lyhnd5JWnS3TB47R38w9aT5FuF/7h9p
AUPkTYEZHMIgKeByVOGa24bbL0UkvaaRaQJAN2CExOn66e5BtOkb6P/KQJ2Mg0bt
78mYFUcccxTp6W/yEE+U+YcUDoARH7uDGuiQCy2+ZQJDfdp+blfaIUZcvQJAHNy4
SOTO98H3WLDwRCbEccNoOibZSnkyLAAUtIqDuhr5xD5AVrl+lNwmDr9McWADNIZo
/g0AVUBcD/d+MXykCQJBAKWbjlPZKtK6AuUwnuXdX7X8udxsmAirf5xzvWOuuGof
Tj+1kgtDPCt9H7p7Ait8G9XOY4ZNj1W+0ZrFBhp78N8=
-----END RSA PRIVATE KEY-----
";
    // openssl pkcs8 -in created1024.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c
    const CREATED_RSA_SHA1: &str = "da:72:96:f1:fd:cf:13:6d:34:9b:0d:72:c3:be:4d:82:4f:fe:21:db";
    // ssh-keygen -y -f created1024.pem: its public half, re-imported.
    const CREATED_RSA_PUB_LINE: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDBl5Rt4xtr27tZQlhlKRBkRVoHs/YmknJtYgclM75L0BsdCqpELS9yMUhdOhkSTnMjnL1cOaXiVoYadNrIl8l8aQ7oxF/DTSUVhdEOXg5rsKLfWz8fRXu/e7rFwjCUdFDEsuag5cObKZzDoLPIqe7dnbXG3XRSL5nL3Iaw5VVjDw==";
    // openssl pkey -in created1024.pem -pubout -outform DER | openssl md5 -c
    const CREATED_RSA_PUB_MD5: &str = "0a:5d:62:d3:a0:dd:ce:2f:bf:f5:94:e3:7c:8e:be:80";

    const ECDSA_LINE: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBY4UkxmDPo3u4r4ipKE7kAmAUJONRT6omwQ+D1Ba+6YeHowQMfELWHruzMGJ8BCamokMtCOihtAUD4dTHHMzp8= eve@example";

    fn without_comment(line: &str) -> String {
        line.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }

    fn assert_invalid(material: &[u8]) {
        match parse_public_key(material) {
            Err(KeyError::InvalidFormat(message)) => assert_eq!(message, INVALID_FORMAT_MESSAGE),
            other => panic!("expected InvalidFormat for {material:?}, got {other:?}"),
        }
    }

    #[test]
    fn imported_rsa_line_gets_md5_of_spki() {
        let material = format!("\n  {RSA2048_LINE}  \r\n");
        let key = parse_public_key(material.as_bytes()).unwrap();
        assert_eq!(key.key_type, KeyType::Rsa);
        assert_eq!(key.openssh, without_comment(RSA2048_LINE));
        assert_eq!(key.fingerprint, RSA2048_MD5);
    }

    #[test]
    fn other_rsa_formats_give_the_same_key() {
        let spki_der_b64: String = RSA2048_SPKI_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let pkcs1_der_b64: String = RSA2048_PKCS1_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        for material in [
            RSA2048_RFC4716,
            RSA2048_SPKI_PEM,
            RSA2048_PKCS1_PEM,
            &spki_der_b64,
            &pkcs1_der_b64,
        ] {
            let key = parse_public_key(material.as_bytes()).unwrap();
            assert_eq!(key.key_type, KeyType::Rsa);
            assert_eq!(key.openssh, without_comment(RSA2048_LINE), "{material}");
            assert_eq!(key.fingerprint, RSA2048_MD5, "{material}");
        }
    }

    #[test]
    fn rfc4716_with_continued_header() {
        let material = RSA2048_RFC4716.replace(
            "Comment: \"2048-bit RSA, converted by root@vm from OpenSSH\"",
            "Comment: \"a long \\\nheader\"\nx-Other: value",
        );
        let key = parse_public_key(material.as_bytes()).unwrap();
        assert_eq!(key.fingerprint, RSA2048_MD5);
    }

    #[test]
    fn imported_ed25519_gets_padded_sha256() {
        let key = parse_public_key(format!("{ED25519_LINE}\n").as_bytes()).unwrap();
        assert_eq!(key.key_type, KeyType::Ed25519);
        assert_eq!(key.openssh, without_comment(ED25519_LINE));
        assert_eq!(key.fingerprint, ED25519_SHA256);
        // Without a comment too.
        let again = parse_public_key(without_comment(ED25519_LINE).as_bytes()).unwrap();
        assert_eq!(again, key);
    }

    #[test]
    fn created_rsa_fingerprint_is_sha1_of_pkcs8() {
        let private = RsaPrivateKey::from_pkcs1_pem(CREATED_RSA_PEM).unwrap();
        assert_eq!(created_rsa_fingerprint(&private).unwrap(), CREATED_RSA_SHA1);
        // Re-importing its public half gives the MD5 fingerprint instead, as on AWS;
        // 1024-bit keys are accepted.
        let imported = parse_public_key(CREATED_RSA_PUB_LINE.as_bytes()).unwrap();
        assert_eq!(imported.fingerprint, CREATED_RSA_PUB_MD5);
        assert_eq!(imported.openssh, CREATED_RSA_PUB_LINE);
    }

    #[test]
    fn generated_rsa_round_trips() {
        let key = generate(KeyType::Rsa).unwrap();
        assert_eq!(key.key_type, KeyType::Rsa);
        assert!(key
            .private_pem
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let private = RsaPrivateKey::from_pkcs1_pem(&key.private_pem).unwrap();
        assert_eq!(private.n().bits(), 2048);

        // Fingerprint: SHA-1 of the PKCS#8 DER of the key we handed out.
        let der = private.to_pkcs8_der().unwrap();
        let sha1 = Sha1::digest(der.as_bytes());
        let expected: Vec<String> = sha1.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key.public.fingerprint, expected.join(":"));

        // The public line parses back to the same key (with the import fingerprint).
        let imported = parse_public_key(key.public.openssh.as_bytes()).unwrap();
        assert_eq!(imported.openssh, key.public.openssh);
        assert_eq!(imported.key_type, KeyType::Rsa);
        let spki = private.to_public_key().to_public_key_der().unwrap();
        assert_eq!(
            imported.fingerprint,
            colon_hex(&Md5::digest(spki.as_bytes()))
        );
        assert!(!format!("{key:?}").contains("PRIVATE"));
    }

    #[test]
    fn generated_ed25519_round_trips() {
        let key = generate(KeyType::Ed25519).unwrap();
        assert_eq!(key.key_type, KeyType::Ed25519);
        assert!(key
            .private_pem
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        let private = ssh_key::PrivateKey::from_openssh(key.private_pem.as_bytes()).unwrap();
        assert_eq!(private.algorithm(), ssh_key::Algorithm::Ed25519);
        assert_eq!(
            private.public_key().to_openssh().unwrap(),
            key.public.openssh
        );
        let imported = parse_public_key(key.public.openssh.as_bytes()).unwrap();
        assert_eq!(imported, key.public);
        // ssh-key's own SHA-256 fingerprint is the unpadded form of ours.
        let sha256 = private.fingerprint(ssh_key::HashAlg::Sha256).to_string();
        assert_eq!(
            format!("SHA256:{}", key.public.fingerprint.trim_end_matches('=')),
            sha256
        );
        assert_eq!(key.public.fingerprint.len(), 44);
    }

    #[test]
    fn refused_inputs() {
        assert_invalid(b"");
        assert_invalid(b"  \n\t ");
        assert_invalid(ECDSA_LINE.as_bytes());
        assert_invalid(b"hello world");
        assert_invalid(b"garbage");
        assert_invalid(&[0xff, 0xfe, 0x00]);
        // Truncated base64.
        assert_invalid(&ED25519_LINE.as_bytes()[..60]);
        // Type word that does not match the blob.
        let blob = RSA2048_LINE.split(' ').nth(1).unwrap();
        assert_invalid(format!("ssh-ed25519 {blob}").as_bytes());
        // Two keys at once.
        assert_invalid(format!("{ED25519_LINE}\n{RSA2048_LINE}").as_bytes());
        // RFC 4716 without its END line.
        assert_invalid(RSA2048_RFC4716.replace(SSH2_END, "").as_bytes());
    }

    #[test]
    fn refused_rsa_sizes() {
        let mut rng = rand::rngs::OsRng;
        let small = RsaPrivateKey::new(&mut rng, 512).unwrap();
        let line = rsa_openssh(&small.to_public_key()).unwrap();
        assert!(line.starts_with("ssh-rsa "));
        assert_invalid(line.as_bytes());
        let pem = small
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        assert_invalid(pem.as_bytes());
    }

    #[test]
    fn key_type_wire_values() {
        assert_eq!(KeyType::Rsa.as_str(), "rsa");
        assert_eq!(KeyType::Ed25519.as_str(), "ed25519");
        assert_eq!("rsa".parse::<KeyType>().unwrap(), KeyType::Rsa);
        assert_eq!("ed25519".parse::<KeyType>().unwrap(), KeyType::Ed25519);
        assert!(matches!(
            "ecdsa".parse::<KeyType>(),
            Err(KeyError::UnsupportedType(t)) if t == "ecdsa"
        ));
    }
}
