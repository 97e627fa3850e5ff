//! NextToken: an opaque, tamper-evident position in a listing. It names the last row sent
//! (keyset pagination), so rows added between pages neither repeat nor shift what follows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::EngineError;

/// A page request: at most `max_results` rows after `next_token`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// Seals and opens tokens with a key shared by every gateway on the database.
#[derive(Clone)]
pub struct Pager {
    key: [u8; 32],
}

impl Pager {
    pub fn new(key: [u8; 32]) -> Pager {
        Pager { key }
    }

    fn mac(&self, scope: &str, position: &str) -> Hmac<Sha256> {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(position.as_bytes());
        mac
    }

    /// A token for `position` in the listing `scope` (e.g. the action and account).
    pub fn seal(&self, scope: &str, position: &str) -> String {
        let tag = self.mac(scope, position).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(position),
            URL_SAFE_NO_PAD.encode(&tag[..16])
        )
    }

    /// The position a token names, if this gateway sealed it for this scope.
    pub fn open(&self, scope: &str, token: &str) -> Result<String, EngineError> {
        let invalid = || EngineError::InvalidNextToken;
        let (position, tag) = token.split_once('.').ok_or_else(invalid)?;
        let position = URL_SAFE_NO_PAD.decode(position).map_err(|_| invalid())?;
        let position = String::from_utf8(position).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        self.mac(scope, &position)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        Ok(position)
    }

    /// Where to start, and how many rows to fetch: one more than asked, to learn whether a
    /// next page exists.
    pub fn start(
        &self,
        scope: &str,
        page: &Page,
    ) -> Result<(Option<String>, Option<i64>), EngineError> {
        let after = page
            .next_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| self.open(scope, t))
            .transpose()?;
        Ok((after, page.max_results.map(|n| n + 1)))
    }

    /// Trims `rows` to the page and gives the token for the next one, if any.
    pub fn finish<T>(
        &self,
        scope: &str,
        page: &Page,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        match page.max_results {
            Some(n) if rows.len() as i64 > n => {
                rows.truncate(usize::try_from(n).unwrap_or(0));
                let token = rows.last().map(|last| self.seal(scope, &position(last)));
                (rows, token)
            }
            _ => (rows, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let pager = Pager::new([7; 32]);
        let token = pager.seal("DescribeImages/123", "ami-0123456789abcdef0");
        assert_eq!(
            pager.open("DescribeImages/123", &token).unwrap(),
            "ami-0123456789abcdef0"
        );
        assert!(
            pager.open("DescribeImages/999", &token).is_err(),
            "another account's token"
        );
        let forged = pager.seal("DescribeImages/123", "ami-1");
        let (_, tag) = forged.split_once('.').unwrap();
        let (position, _) = token.split_once('.').unwrap();
        assert!(pager
            .open("DescribeImages/123", &format!("{position}.{tag}"))
            .is_err());
        assert!(pager.open("DescribeImages/123", "garbage").is_err());
        assert!(Pager::new([8; 32])
            .open("DescribeImages/123", &token)
            .is_err());
    }

    #[test]
    fn pages_end_without_a_token() {
        let pager = Pager::new([1; 32]);
        let page = Page {
            max_results: Some(2),
            next_token: None,
        };
        let (rows, token) = pager.finish("s", &page, vec![1, 2, 3], |n| n.to_string());
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(pager.open("s", &token.unwrap()).unwrap(), "2");
        let (rows, token) = pager.finish("s", &page, vec![3], |n| n.to_string());
        assert_eq!((rows, token), (vec![3], None));
    }
}
