//! Bead ids: `gt-` and 4 to 8 lowercase base36 characters. Short enough to say out
//! loud and type in a comment (`/gt retry gt-k3x9`), long enough once the store grows
//! them on collision.

use rand::RngExt;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A random candidate id with `len` base36 characters.
pub fn random_bead_id(len: usize) -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("gt-{suffix}")
}

pub fn is_bead_id(s: &str) -> bool {
    s.strip_prefix("gt-").is_some_and(|rest| {
        (4..=8).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

/// Mint an agent's tool token: what the agent gets, and the digest the database keeps.
pub fn mint_token() -> (String, String) {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    let token = format!(
        "gta_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let digest = token_digest(&token);
    (token, digest)
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_have_the_documented_shape() {
        for len in 4..=8 {
            let id = random_bead_id(len);
            assert!(is_bead_id(&id), "{id}");
            assert_eq!(id.len(), 3 + len);
        }
        for bad in ["gt-abc", "gt-ABCD", "gx-abcd", "gt-abcdefghi", "gt-ab_d"] {
            assert!(!is_bead_id(bad), "{bad}");
        }
    }
}
