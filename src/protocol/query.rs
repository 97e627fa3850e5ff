//! The EC2 Query encoding: `key=value&key=value`, from a GET query string or a POST form body.

/// A query string or form body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in {0:?}")]
    BadPercentEncoding(String),
    /// Bytes that do not decode to UTF-8.
    #[error("parameter is not valid UTF-8")]
    NotUtf8,
}

/// How `+` is read: a space in HTML form bodies, itself in RFC 3986 query strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    Space,
    Literal,
}

/// Splits `a=1&b=&c` into decoded pairs, in order. Empty segments are skipped; a key without
/// `=` has an empty value, as AWS reads it.
pub fn parse_pairs(input: &[u8], plus: Plus) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs = Vec::new();
    for segment in input.split(|&b| b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let (key, value) = match segment.iter().position(|&b| b == b'=') {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &b""[..]),
        };
        pairs.push((decode(key, plus)?, decode(value, plus)?));
    }
    Ok(pairs)
}

/// Percent-decodes one component (RFC 3986), reading `+` as `plus` says.
pub fn decode(input: &[u8], plus: Plus) -> Result<String, QueryError> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return std::str::from_utf8(input)
            .map(str::to_owned)
            .map_err(|_| QueryError::NotUtf8);
    }
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let hi = input.get(i + 1).and_then(|&b| hex_value(b));
                let lo = input.get(i + 2).and_then(|&b| hex_value(b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => {
                        return Err(QueryError::BadPercentEncoding(
                            String::from_utf8_lossy(input).into_owned(),
                        ))
                    }
                }
                i += 3;
            }
            b'+' if plus == Plus::Space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as SigV4 canonical forms
/// require; with `keep_slash`, `/` stays as it is (for paths).
pub fn encode_into(out: &mut String, input: &str, keep_slash: bool) {
    encode_with(input, keep_slash, |part| out.push_str(part));
}

/// [`encode_into`], handing each run of kept characters and each escape to `put`, for a
/// caller that hashes what it writes rather than keeping it.
pub fn encode_with(input: &str, keep_slash: bool, mut put: impl FnMut(&str)) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let kept = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
    };
    // Kept characters are ASCII: a run of them is always valid UTF-8.
    let bytes = input.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if kept(b) {
            continue;
        }
        if run_start < i {
            put(std::str::from_utf8(&bytes[run_start..i]).unwrap_or_default());
        }
        let escape = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
        put(std::str::from_utf8(&escape).unwrap_or_default());
        run_start = i + 1;
    }
    if run_start < bytes.len() {
        put(std::str::from_utf8(&bytes[run_start..]).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str, plus: Plus) -> Vec<(String, String)> {
        parse_pairs(s.as_bytes(), plus).unwrap()
    }

    #[test]
    fn splits_and_decodes_a_botocore_body() {
        assert_eq!(
            pairs(
                "Action=DescribeRegions&Version=2016-11-15&RegionName.1=us-east-1",
                Plus::Space
            ),
            vec![
                ("Action".into(), "DescribeRegions".into()),
                ("Version".into(), "2016-11-15".into()),
                ("RegionName.1".into(), "us-east-1".into()),
            ]
        );
    }

    #[test]
    fn keeps_empty_values_and_bare_keys() {
        assert_eq!(
            pairs("Placement.AvailabilityZone=&DryRun&&X=1", Plus::Space),
            vec![
                ("Placement.AvailabilityZone".into(), "".into()),
                ("DryRun".into(), "".into()),
                ("X".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn plus_is_a_space_only_in_form_bodies() {
        assert_eq!(
            pairs("Name=a+b%2Bc", Plus::Space),
            vec![("Name".into(), "a b+c".into())]
        );
        assert_eq!(
            pairs("Name=a+b%2Bc", Plus::Literal),
            vec![("Name".into(), "a+b+c".into())]
        );
    }

    #[test]
    fn decodes_utf8_and_rejects_bad_escapes() {
        assert_eq!(
            pairs("k=%E1%88%B4%3d", Plus::Literal),
            vec![("k".into(), "ሴ=".into())]
        );
        assert_eq!(
            parse_pairs(b"k=%zz", Plus::Space),
            Err(QueryError::BadPercentEncoding("%zz".into()))
        );
        assert_eq!(
            parse_pairs(b"k=%4", Plus::Space),
            Err(QueryError::BadPercentEncoding("%4".into()))
        );
        assert_eq!(parse_pairs(b"k=%FF", Plus::Space), Err(QueryError::NotUtf8));
    }

    #[test]
    fn encodes_like_sigv4() {
        let mut out = String::new();
        encode_into(&mut out, "a b/c~d=ሴ*", false);
        assert_eq!(out, "a%20b%2Fc~d%3D%E1%88%B4%2A");
        out.clear();
        encode_into(&mut out, "/a b/%41", true);
        assert_eq!(out, "/a%20b/%2541");
    }
}
