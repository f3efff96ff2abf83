//! The bearer token a non-loopback `serve` requires. Why digests: comparing the sha256 of
//! what was sent with the sha256 of the token takes the same time whatever the two hold
//! and however long either is, so timing tells an attacker nothing about the token.
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Token([u8; 32]);

impl Token {
    pub fn new(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// Constant-time: every byte of both digests is looked at.
    pub fn matches(&self, offered: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        d.iter().zip(&self.0).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// The token a request offers: `Authorization: Bearer T`, or `?token=T` (a browser
    /// cannot set headers on a WebSocket or an `<img>`).
    pub fn offered<'a>(authorization: Option<&'a str>, query: Option<&'a str>) -> Option<String> {
        if let Some(t) = authorization.and_then(|h| h.strip_prefix("Bearer ")) {
            return Some(t.trim().to_string());
        }
        query?.split('&').find_map(|kv| kv.strip_prefix("token=")).map(percent_decode)
    }
}

/// `%XX` escapes and `+` of a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_matches() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret "));
        assert!(!t.matches(""));
    }

    #[test]
    fn header_first_then_query() {
        assert_eq!(Token::offered(Some("Bearer abc"), Some("token=zzz")).as_deref(), Some("abc"));
        assert_eq!(Token::offered(None, Some("a=1&token=a%2Bb+c")).as_deref(), Some("a+b c"));
        assert_eq!(Token::offered(Some("Basic x"), None), None);
        assert_eq!(Token::offered(None, Some("token=%zz")).as_deref(), Some("%zz"));
        assert_eq!(Token::offered(None, Some("token=ab%2")).as_deref(), Some("ab%2"));
    }
}
