//! Verification of AWS Signature Version 4, in an `Authorization` header or a presigned query
//! string. Pure: the caller looks up the secret for the claimed access key between [`parse`]
//! and [`verify`].
//!
//! Every request goes through here, so the header-signed path allocates nothing: the claim
//! borrows from the `Authorization` header, and the canonical request and the string to sign
//! are fed to SHA-256 and HMAC as they are written, never built as strings.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::protocol::query::{self, Plus};

type HmacSha256 = Hmac<Sha256>;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a signed request's clock may be from ours, either way, as on AWS.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(15);
/// The longest a presigned URL may live: seven days, as on AWS.
pub const MAX_EXPIRES_SECONDS: i64 = 604_800;

/// Why a request's signature was not accepted. The api layer gives each its AWS code and status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No Authorization header and no presigned query: the request is anonymous.
    #[error("the request carries no signature")]
    MissingAuthenticationToken,
    /// The signature's parts are missing or malformed.
    #[error("incomplete signature: {0}")]
    IncompleteSignature(String),
    /// The access key is unknown or disabled.
    #[error("unknown or disabled access key")]
    UnknownAccessKey,
    /// The signature is well formed but wrong, or scoped to another region or service.
    #[error("signature does not match: {0}")]
    SignatureDoesNotMatch(String),
    /// The request's date is too far from now, or a presigned URL has expired.
    #[error("request expired: {0}")]
    RequestExpired(String),
}

/// What a request needs to show for verification; `path` and `query` exactly as on the wire.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Where the signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Header,
    Query,
}

/// What a request claims about its signer, before the secret is known. Borrowed from the
/// `Authorization` header; a presigned URL's values, percent-decoded, are owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<'a> {
    pub location: Location,
    /// `Credential` as sent: `access_key_id/date/region/service/aws4_request`.
    pub credential: Cow<'a, str>,
    /// Where the credential's first four `/` are.
    slashes: [usize; 4],
    /// `X-Amz-Date`, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: Cow<'a, str>,
    /// Lower-case names, `;`-separated, in the order the client listed them.
    pub signed_headers: Cow<'a, str>,
    pub signature: Cow<'a, str>,
}

impl Claim<'_> {
    /// The same claim, owning its text.
    pub fn into_owned(self) -> Claim<'static> {
        Claim {
            location: self.location,
            credential: Cow::Owned(self.credential.into_owned()),
            slashes: self.slashes,
            amz_date: Cow::Owned(self.amz_date.into_owned()),
            signed_headers: Cow::Owned(self.signed_headers.into_owned()),
            signature: Cow::Owned(self.signature.into_owned()),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.credential[..self.slashes[0]]
    }

    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> &str {
        &self.credential[self.slashes[0] + 1..]
    }

    pub fn scope_date(&self) -> &str {
        &self.credential[self.slashes[0] + 1..self.slashes[1]]
    }

    pub fn region(&self) -> &str {
        &self.credential[self.slashes[1] + 1..self.slashes[2]]
    }

    pub fn service(&self) -> &str {
        &self.credential[self.slashes[2] + 1..self.slashes[3]]
    }

    fn signed_header_names(&self) -> impl Iterator<Item = &str> {
        self.signed_headers.split(';')
    }
}

/// What this gateway accepts in a credential scope.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Reads the signature's claims and checks everything that needs no secret: shape, scope,
/// signed headers and time.
pub fn parse<'a>(
    request: &SignedRequest<'a>,
    expected: Expected<'_>,
    now: DateTime<Utc>,
) -> Result<Claim<'a>, AuthError> {
    let authorization = request
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| {
            v.to_str()
                .map_err(|_| incomplete("Authorization header is not ASCII"))
        })
        .transpose()?;

    let claim = match authorization {
        Some(header) => parse_header(header, request.headers)?,
        // Only a request without the header is read for a presigned signature.
        None => {
            let query_pairs = query::parse_pairs(request.query.as_bytes(), Plus::Literal)
                .map_err(|e| incomplete(&e.to_string()))?;
            let query_value = |name: &str| {
                query_pairs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            match query_value("X-Amz-Algorithm") {
                Some(algorithm) => {
                    let claim = parse_presigned(algorithm, &query_value)?;
                    let expires = query_value("X-Amz-Expires").ok_or_else(|| {
                        incomplete("AWS query-string parameters must include 'X-Amz-Expires'.")
                    })?;
                    check_presigned_time(&claim.amz_date, expires, now)?;
                    claim
                }
                None => {
                    if query_value("X-Amz-Signature").is_some()
                        || query_value("X-Amz-Credential").is_some()
                    {
                        return Err(incomplete(
                            "AWS query-string parameters must include 'X-Amz-Algorithm'.",
                        ));
                    }
                    return Err(AuthError::MissingAuthenticationToken);
                }
            }
        }
    };

    if claim.location == Location::Header {
        check_skew(&claim.amz_date, now)?;
    }
    if claim.scope_date() != &claim.amz_date[..8] {
        return Err(AuthError::SignatureDoesNotMatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            claim.scope_date(),
            &claim.amz_date[..8],
            claim.amz_date
        )));
    }
    if claim.region() != expected.region {
        return Err(AuthError::SignatureDoesNotMatch(format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            claim.region()
        )));
    }
    if claim.service() != expected.service {
        return Err(AuthError::SignatureDoesNotMatch(format!(
            "Credential should be scoped to correct service: '{}'. ",
            expected.service
        )));
    }
    check_signed_headers(&claim, request.headers)?;
    Ok(claim)
}

/// Recomputes the signature with `secret` and compares it in constant time.
///
/// botocore presigns EC2 URLs for POST, EC2's method in its model, yet they are fetched with
/// GET; with an empty body the two mean the same call, so a presigned GET may carry either.
pub fn verify(
    request: &SignedRequest<'_>,
    claim: &Claim<'_>,
    secret: &str,
) -> Result<(), AuthError> {
    let key = signing_key(secret, claim.scope_date(), claim.region(), claim.service());
    verify_with_key(request, claim, &key)
}

/// [`verify`] with the signing key of the claim's scope already derived (and cached).
pub fn verify_with_key(
    request: &SignedRequest<'_>,
    claim: &Claim<'_>,
    key: &[u8; 32],
) -> Result<(), AuthError> {
    let mut provided = [0u8; 32];
    hex::decode_to_slice(claim.signature.as_bytes(), &mut provided).map_err(|_| mismatch())?;
    let matches = |request: &SignedRequest<'_>| {
        let mut canonical = Hashing(Sha256::new());
        write_canonical_request(&mut canonical, request, claim);
        let mut mac = new_mac(key);
        write_string_to_sign(
            &mut MacSink(&mut mac),
            &claim.amz_date,
            claim.scope(),
            &canonical.0.finalize().into(),
        );
        mac.verify_slice(&provided).is_ok()
    };
    let presigned_get =
        claim.location == Location::Query && request.method == "GET" && request.body.is_empty();
    if matches(request)
        || presigned_get
            && matches(&SignedRequest {
                method: "POST",
                ..*request
            })
    {
        Ok(())
    } else {
        Err(mismatch())
    }
}

/// Where the canonical request and the string to sign are written: a string (for tests and
/// their messages) or, on the request path, a hash fed as it goes.
trait Sink {
    fn put(&mut self, text: &str);
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }
}

struct Hashing(Sha256);

impl Sink for Hashing {
    fn put(&mut self, text: &str) {
        self.0.update(text.as_bytes());
    }
}

struct MacSink<'m>(&'m mut HmacSha256);

impl Sink for MacSink<'_> {
    fn put(&mut self, text: &str) {
        self.0.update(text.as_bytes());
    }
}

/// Lower-case hex of a SHA-256 digest, on the stack.
fn hex_digest<'o>(digest: &[u8; 32], out: &'o mut [u8; 64]) -> &'o str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    // Hex digits are ASCII.
    std::str::from_utf8(out).unwrap_or_default()
}

fn mismatch() -> AuthError {
    AuthError::SignatureDoesNotMatch(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
    )
}

fn incomplete(detail: &str) -> AuthError {
    AuthError::IncompleteSignature(detail.to_owned())
}

fn parse_header<'a>(header: &'a str, headers: &'a HeaderMap) -> Result<Claim<'a>, AuthError> {
    let Some(rest) = header.strip_prefix(ALGORITHM) else {
        let algorithm = header.split_whitespace().next().unwrap_or_default();
        return Err(incomplete(&format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Authorization={header}"
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok());
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        let mut missing = String::new();
        for (name, value) in [
            ("Credential", credential),
            ("Signature", signature),
            ("SignedHeaders", signed_headers),
        ] {
            if value.is_none() {
                missing.push_str(&format!(
                    "Authorization header requires '{name}' parameter. "
                ));
            }
        }
        if amz_date.is_none() {
            missing.push_str(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
            );
        }
        return Err(incomplete(&format!("{missing}Authorization={header}")));
    };
    build_claim(
        Location::Header,
        Cow::Borrowed(credential),
        Cow::Borrowed(signed_headers),
        Cow::Borrowed(signature),
        Cow::Borrowed(amz_date),
    )
}

fn parse_presigned<'q>(
    algorithm: &str,
    value: &impl Fn(&str) -> Option<&'q str>,
) -> Result<Claim<'static>, AuthError> {
    if algorithm != ALGORITHM {
        return Err(incomplete(&format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let mut missing = Vec::new();
    let mut get = |name: &'static str| {
        let v = value(name);
        if v.is_none() {
            missing.push(format!("'{name}'"));
        }
        Cow::Owned(v.unwrap_or_default().to_owned())
    };
    let credential = get("X-Amz-Credential");
    let signed_headers = get("X-Amz-SignedHeaders");
    let signature = get("X-Amz-Signature");
    let amz_date = get("X-Amz-Date");
    if !missing.is_empty() {
        return Err(incomplete(&format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            missing.join(", ")
        )));
    }
    build_claim(
        Location::Query,
        credential,
        signed_headers,
        signature,
        amz_date,
    )
}

fn build_claim<'a>(
    location: Location,
    credential: Cow<'a, str>,
    signed_headers: Cow<'a, str>,
    signature: Cow<'a, str>,
    amz_date: Cow<'a, str>,
) -> Result<Claim<'a>, AuthError> {
    let mut slashes = [0usize; 4];
    let mut found = 0;
    for (i, b) in credential.bytes().enumerate() {
        if b == b'/' {
            if found == slashes.len() {
                found += 1;
                break;
            }
            slashes[found] = i;
            found += 1;
        }
    }
    if found != slashes.len() {
        return Err(incomplete(&format!(
            "Credential should have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    }
    let terminator = &credential[slashes[3] + 1..];
    if terminator != "aws4_request" {
        return Err(AuthError::SignatureDoesNotMatch(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    if slashes[0] == 0 {
        return Err(incomplete("Credential has an empty access key id"));
    }
    parse_amz_date(&amz_date)?;
    if signature.is_empty() || signed_headers.is_empty() {
        return Err(incomplete("the signature or its signed headers are empty"));
    }
    // SigV4 names signed headers in lower case; a client that does not is read as if it did.
    let signed_headers = if signed_headers.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(signed_headers.to_ascii_lowercase())
    } else {
        signed_headers
    };
    Ok(Claim {
        location,
        credential,
        slashes,
        amz_date,
        signed_headers,
        signature,
    })
}

fn parse_amz_date(amz_date: &str) -> Result<DateTime<Utc>, AuthError> {
    NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| {
            incomplete(&format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn check_skew(amz_date: &str, now: DateTime<Utc>) -> Result<(), AuthError> {
    let signed_at = parse_amz_date(amz_date)?;
    if (now - signed_at).abs() > MAX_SKEW {
        return Err(AuthError::RequestExpired(format!(
            "Request has expired. Timestamp date is {amz_date}, server time is {}",
            now.format("%Y%m%dT%H%M%SZ")
        )));
    }
    Ok(())
}

fn check_presigned_time(
    amz_date: &str,
    expires: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let signed_at = parse_amz_date(amz_date)?;
    let seconds: i64 = expires
        .parse()
        .ok()
        .filter(|s| (1..=MAX_EXPIRES_SECONDS).contains(s))
        .ok_or_else(|| {
            incomplete(&format!(
                "X-Amz-Expires must be an integer from 1 to {MAX_EXPIRES_SECONDS}, got '{expires}'"
            ))
        })?;
    if signed_at - now > MAX_SKEW || now > signed_at + TimeDelta::seconds(seconds) {
        return Err(AuthError::RequestExpired(format!(
            "Request has expired. Signed at {amz_date}, expires after {seconds} seconds, server time is {}",
            now.format("%Y%m%dT%H%M%SZ")
        )));
    }
    Ok(())
}

/// `host` must be signed, and so must every `x-amz-*` header sent, so none can be swapped in
/// transit. `x-amz-user-agent` is exempt: AWS's own SDKs send it unsigned.
fn check_signed_headers(claim: &Claim<'_>, headers: &HeaderMap) -> Result<(), AuthError> {
    let signed = |name: &str| claim.signed_header_names().any(|h| h == name);
    if !signed("host") {
        return Err(incomplete("'Host' must be a signed header field."));
    }
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-") && name != "x-amz-user-agent" && !signed(name) {
            return Err(incomplete(&format!(
                "'{name}' must be a signed header field."
            )));
        }
    }
    Ok(())
}

/// The canonical request of SigV4, step 1.
pub fn canonical_request(request: &SignedRequest<'_>, claim: &Claim<'_>) -> String {
    let mut out = String::with_capacity(256 + request.query.len());
    write_canonical_request(&mut out, request, claim);
    out
}

fn write_canonical_request(out: &mut impl Sink, request: &SignedRequest<'_>, claim: &Claim<'_>) {
    out.put(request.method);
    out.put("\n");
    query::encode_with(request.path, true, |part| out.put(part));
    out.put("\n");
    write_canonical_query(out, request.query, claim.location == Location::Query);
    out.put("\n");
    for name in claim.signed_header_names() {
        out.put(name);
        out.put(":");
        let mut first = true;
        for value in request.headers.get_all(name) {
            if !first {
                out.put(",");
            }
            first = false;
            let value = String::from_utf8_lossy(value.as_bytes());
            let mut words = value.split_whitespace();
            if let Some(word) = words.next() {
                out.put(word);
            }
            for word in words {
                out.put(" ");
                out.put(word);
            }
        }
        out.put("\n");
    }
    out.put("\n");
    out.put(&claim.signed_headers);
    out.put("\n");
    match request
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(declared) => out.put(declared),
        None => {
            let mut hex = [0u8; 64];
            out.put(hex_digest(&Sha256::digest(request.body).into(), &mut hex));
        }
    }
}

/// Query parameters decoded, re-encoded the SigV4 way and sorted; a presigned request's own
/// `X-Amz-Signature` is left out.
fn write_canonical_query(out: &mut impl Sink, raw: &str, presigned: bool) {
    if raw.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for segment in raw.split('&').filter(|s| !s.is_empty()) {
        let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
        let key = query::decode(key.as_bytes(), Plus::Literal).unwrap_or_else(|_| key.to_owned());
        if presigned && key == "X-Amz-Signature" {
            continue;
        }
        let value =
            query::decode(value.as_bytes(), Plus::Literal).unwrap_or_else(|_| value.to_owned());
        let (mut k, mut v) = (String::new(), String::new());
        query::encode_into(&mut k, &key, false);
        query::encode_into(&mut v, &value, false);
        pairs.push((k, v));
    }
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.put("&");
        }
        out.put(k);
        out.put("=");
        out.put(v);
    }
}

/// The string to sign of SigV4, step 2.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(128);
    write_string_to_sign(
        &mut out,
        amz_date,
        scope,
        &Sha256::digest(canonical_request.as_bytes()).into(),
    );
    out
}

fn write_string_to_sign(
    out: &mut impl Sink,
    amz_date: &str,
    scope: &str,
    canonical_hash: &[u8; 32],
) {
    let mut hex = [0u8; 64];
    out.put(ALGORITHM);
    out.put("\n");
    out.put(amz_date);
    out.put("\n");
    out.put(scope);
    out.put("\n");
    out.put(hex_digest(canonical_hash, &mut hex));
}

/// The signing key of SigV4, step 3.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests;
