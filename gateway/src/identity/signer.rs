//! The gateway's access-token signer: Ed25519 keys kept sealed in the
//! store, rotated on a schedule with overlap, published as a JWKS.
//!
//! The newest key signs. A key stops verifying (is retired) once its
//! successor has been signing longer than an access token lives, so no
//! valid token ever loses its key. Every gateway reloads the key set from
//! the store when it maintains it, so gateways sharing a store agree.

use super::IdentityError;
use super::access_token::{Claims, SigningKeys, TokenError, generate_key, key_id};
use crate::store::Store;
use arc_swap::ArcSwap;
use ring::signature::{Ed25519KeyPair, KeyPair};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Extra seconds a retiring key keeps verifying, for clock skew.
const OVERLAP_LEEWAY_SECS: i64 = 60;

/// Signs and verifies access tokens.
pub struct TokenSigner {
    keys: ArcSwap<SigningKeys>,
    store: Store,
    issuer: String,
    audience: String,
    rotation_secs: i64,
    token_ttl_secs: i64,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kids", &self.keys.load().kids())
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Loads the stored keys, making or rotating one if due.
    pub async fn load(
        store: Store,
        issuer: &str,
        audience: &str,
        rotation_secs: u64,
        token_ttl_secs: u64,
        now: i64,
    ) -> Result<Self, IdentityError> {
        let signer = Self {
            keys: ArcSwap::from_pointee(SigningKeys::new(issuer, audience)),
            store,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            rotation_secs: i64::try_from(rotation_secs).unwrap_or(i64::MAX),
            token_ttl_secs: i64::try_from(token_ttl_secs).unwrap_or(i64::MAX),
        };
        signer.maintain(now).await?;
        Ok(signer)
    }

    /// Rotates if the signing key is due, retires keys no token can need,
    /// and reloads the key set from the store.
    pub async fn maintain(&self, now: i64) -> Result<(), IdentityError> {
        let stored = self.store.active_signing_keys().await?;
        let newest_age = stored.last().map(|k| now - k.created_at);
        if newest_age.is_none_or(|age| age >= self.rotation_secs) {
            let pkcs8 = generate_key().map_err(|_| IdentityError::Internal)?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.expose_secret())
                .map_err(|_| IdentityError::Internal)?;
            let kid = key_id(pair.public_key().as_ref());
            self.store
                .insert_signing_key(&kid, pkcs8.expose_secret(), now)
                .await?;
            tracing::info!(%kid, "new access-token signing key");
        }
        let stored = self.store.active_signing_keys().await?;
        // A key may retire once its successor has signed for a full token
        // lifetime (plus leeway): every token it signed has expired.
        let mut keep = Vec::with_capacity(stored.len());
        for (i, key) in stored.iter().enumerate() {
            let retire = stored.get(i + 1).is_some_and(|successor| {
                now - successor.created_at > self.token_ttl_secs + OVERLAP_LEEWAY_SECS
            });
            if retire {
                self.store.retire_signing_key(&key.kid, now).await?;
                tracing::info!(kid = %key.kid, "retired access-token signing key");
            } else {
                keep.push(key);
            }
        }
        let mut keys = SigningKeys::new(&self.issuer, &self.audience);
        for key in keep {
            keys.add(key.pkcs8.expose_secret())
                .map_err(|_| IdentityError::Internal)?;
        }
        let unchanged = keys.kids() == self.keys.load().kids();
        if !unchanged {
            self.keys.store(Arc::new(keys));
        }
        Ok(())
    }

    /// Signs `claims` with the newest key.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        self.keys.load().issue(claims)
    }

    /// Verifies `token` at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        self.keys.load().verify(token, now)
    }

    /// The verifying keys as a JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.load().jwks()
    }

    /// The `iss` of the tokens this signer issues.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of the tokens this signer issues.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Lifetime of issued tokens, in seconds.
    pub fn token_ttl_secs(&self) -> i64 {
        self.token_ttl_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::access_token::TokenError;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "iss".into(),
            aud: "aud".into(),
            sub: "u".into(),
            sid: "s".into(),
            amr: vec!["pwd".into()],
            iat: now,
            exp: now + 10,
        }
    }

    #[tokio::test]
    async fn keys_rotate_on_schedule_overlap_then_retire_and_persist() {
        let store = Store::open_in_memory().await.unwrap();
        let t0 = 1_000_000;
        let signer = TokenSigner::load(store.clone(), "iss", "aud", 100, 10, t0)
            .await
            .unwrap();
        assert_eq!(signer.jwks()["keys"].as_array().unwrap().len(), 1);
        let first = signer.issue(&claims(t0)).unwrap();

        // Not due yet: same key.
        signer.maintain(t0 + 50).await.unwrap();
        assert_eq!(signer.jwks()["keys"].as_array().unwrap().len(), 1);

        // Due: a new key signs, the old one still verifies (overlap).
        signer.maintain(t0 + 100).await.unwrap();
        assert_eq!(signer.jwks()["keys"].as_array().unwrap().len(), 2);
        let second = signer.issue(&claims(t0 + 100)).unwrap();
        assert_ne!(
            first.split('.').next(),
            second.split('.').next(),
            "a different kid signs"
        );
        assert!(signer.verify(&first, t0 + 5).is_ok());

        // Another gateway on the same store loads the same keys.
        let other = TokenSigner::load(store.clone(), "iss", "aud", 100, 10, t0 + 101)
            .await
            .unwrap();
        assert!(other.verify(&second, t0 + 101).is_ok());

        // Once every token of the old key has expired, it retires.
        signer.maintain(t0 + 100 + 10 + 61).await.unwrap();
        assert_eq!(signer.jwks()["keys"].as_array().unwrap().len(), 1);
        assert_eq!(signer.verify(&first, t0 + 5), Err(TokenError::UnknownKey));
        assert!(signer.verify(&second, t0 + 105).is_ok());
        // Retired keys are no longer loaded from the store.
        assert_eq!(store.active_signing_keys().await.unwrap().len(), 1);
    }
}
