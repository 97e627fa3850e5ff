//! Wire formats at the edge of the gateway: the EC2 Query request encoding and EC2's XML answers.
//! Everything here is pure: bytes in, values out.

pub mod query;
pub mod xml;
