//! Who is calling: AWS Signature Version 4, checked against the gateway's stored credentials.

pub mod cache;
pub mod sigv4;
