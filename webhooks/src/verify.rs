//! Webhook authenticity. Both checks are constant-time in the secret so a forger
//! learns nothing from response timing.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing signature header {0}")]
    Missing(&'static str),
    #[error("malformed signature header {0}: expected `sha256=<64 hex digits>`")]
    Malformed(&'static str),
    #[error("signature does not match any configured secret")]
    Mismatch,
    #[error("no secret configured")]
    NoSecret,
}

const GITHUB_SIGNATURE: &str = "X-Hub-Signature-256";
const GITLAB_TOKEN: &str = "X-Gitlab-Token";

/// Check GitHub's `X-Hub-Signature-256: sha256=<hex>` against every configured secret
/// (several are allowed so a secret can be rotated without dropping deliveries).
pub fn verify_github(
    secrets: &[impl AsRef<[u8]>],
    signature: Option<&[u8]>,
    body: &[u8],
) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let signature = signature.ok_or(VerifyError::Missing(GITHUB_SIGNATURE))?;
    let hex_digest = signature
        .strip_prefix(b"sha256=")
        .ok_or(VerifyError::Malformed(GITHUB_SIGNATURE))?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut expected)
        .map_err(|_| VerifyError::Malformed(GITHUB_SIGNATURE))?;
    // Check every secret, not just until the first match, so timing does not reveal
    // which secret matched.
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_ref())
            .expect("HMAC accepts keys of any length");
        mac.update(body);
        matched |= mac.finalize().into_bytes().as_slice().ct_eq(&expected);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Check GitLab's `X-Gitlab-Token`, which is the configured secret sent verbatim.
pub fn verify_gitlab(tokens: &[impl AsRef<[u8]>], token: Option<&[u8]>) -> Result<(), VerifyError> {
    if tokens.is_empty() {
        return Err(VerifyError::NoSecret);
    }
    let token = token.ok_or(VerifyError::Missing(GITLAB_TOKEN))?;
    let mut matched = subtle::Choice::from(0);
    for expected in tokens {
        // `ct_eq` on slices of different lengths returns false without comparing the
        // bytes; the length of the secret is the only thing that can leak.
        matched |= expected.as_ref().ct_eq(token);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Sign a body the way GitHub does. Used by the forge simulator, tests and benches.
pub fn sign_github(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signature_accepts_any_configured_secret_and_rejects_others() {
        let body = br#"{"zen":"hi"}"#;
        let sig = sign_github(b"new", body);
        assert_eq!(
            verify_github(&["old", "new"], Some(sig.as_bytes()), body),
            Ok(())
        );
        assert_eq!(
            verify_github(&["old"], Some(sig.as_bytes()), body),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_github(&["new"], Some(sig.as_bytes()), b"{\"zen\":\"ho\"}"),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn github_signature_header_must_be_well_formed() {
        let body = b"{}";
        for bad in [&b"sha1=00"[..], b"sha256=zz", b"sha256=abcd", b""] {
            assert_eq!(
                verify_github(&["s"], Some(bad), body),
                Err(VerifyError::Malformed(GITHUB_SIGNATURE))
            );
        }
        assert_eq!(
            verify_github(&["s"], None, body),
            Err(VerifyError::Missing(GITHUB_SIGNATURE))
        );
        let none: [&str; 0] = [];
        assert_eq!(verify_github(&none, None, body), Err(VerifyError::NoSecret));
    }

    #[test]
    fn gitlab_token_is_compared_verbatim() {
        assert_eq!(verify_gitlab(&["a", "tok"], Some(b"tok")), Ok(()));
        assert_eq!(
            verify_gitlab(&["tok"], Some(b"to")),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_gitlab(&["tok"], Some(b"tok ")),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_gitlab(&["tok"], None),
            Err(VerifyError::Missing(GITLAB_TOKEN))
        );
    }
}
