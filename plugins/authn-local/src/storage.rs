//! The plugin's records in the host's key-value store. Every value is
//! sealed by the host; updates go through compare-and-swap so that two
//! instances never both win a race (a code used twice, a counter lost).

use portcullis_sdk::PluginError;
use portcullis_sdk::kv;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The credentials of one user.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Account {
    /// Login name, as given at creation.
    pub email: String,
    /// argon2id PHC string.
    pub password: String,
    /// Confirmed TOTP secret, base32.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// TOTP secret awaiting its first code, base32.
    #[serde(default)]
    pub pending_totp_secret: Option<String>,
    /// SHA-256 digests (hex) of unused recovery codes.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

/// Key of a user's account record.
pub fn account_key(user_id: &str) -> String {
    format!("account/{user_id}")
}

/// Key of the login-name index entry for `email`.
pub fn email_key(email: &str) -> String {
    format!("email/{}", email.trim().to_lowercase())
}

/// Key of the last TOTP step a user has used.
pub fn totp_step_key(user_id: &str) -> String {
    format!("totp-step/{user_id}")
}

/// Key of the account-wide failure record of a login name.
pub fn account_throttle_key(email: &str) -> String {
    format!("throttle/account/{}", email.trim().to_lowercase())
}

/// Prefix of the failure records of a login name at each address.
pub fn pair_throttle_prefix(email: &str) -> String {
    format!("throttle/pair/{}/", email.trim().to_lowercase())
}

/// Key of the failure record of a login name at one address unit.
pub fn pair_throttle_key(email: &str, address: &str) -> String {
    format!("{}{address}", pair_throttle_prefix(email))
}

/// Key of the failure record of an address unit.
pub fn address_throttle_key(address: &str) -> String {
    format!("throttle/address/{address}")
}

/// Prefix of the addresses a login name signed in from.
pub fn known_address_prefix(email: &str) -> String {
    format!("known-address/{}/", email.trim().to_lowercase())
}

/// Key marking an address unit a login name signed in from.
pub fn known_address_key(email: &str, address: &str) -> String {
    format!("{}{address}", known_address_prefix(email))
}

fn kv_failed(error: kv::KvError) -> PluginError {
    PluginError::Unavailable(format!("key-value store: {error:?}"))
}

/// Reads and decodes `key`.
pub fn load<T: DeserializeOwned>(key: &str) -> Result<Option<T>, PluginError> {
    Ok(load_raw::<T>(key)?.map(|(value, _)| value))
}

fn load_raw<T: DeserializeOwned>(key: &str) -> Result<Option<(T, Vec<u8>)>, PluginError> {
    let Some(bytes) = kv::get(key).map_err(kv_failed)? else {
        return Ok(None);
    };
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| PluginError::Internal(format!("stored record `{key}` is corrupt: {e}")))?;
    Ok(Some((value, bytes)))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value).map_err(|e| PluginError::Internal(e.to_string()))
}

/// Atomically replaces the value at `key` with what `change` makes of the
/// current one (`None` = absent, returning `None` deletes). Retries when
/// another instance wrote in between. Returns what `change` returned
/// alongside the new value.
pub fn update<T, R>(
    key: &str,
    change: impl FnMut(Option<T>) -> Result<(Option<T>, R), PluginError>,
) -> Result<R, PluginError>
where
    T: Serialize + DeserializeOwned,
{
    swap_loop(key, None::<fn(&T) -> u64>, change)
}

/// [`update`], with the new value expiring at what `expires_at` says for
/// it (Unix seconds); the gateway deletes it then.
pub fn update_expiring<T, R>(
    key: &str,
    expires_at: impl Fn(&T) -> u64,
    change: impl FnMut(Option<T>) -> Result<(Option<T>, R), PluginError>,
) -> Result<R, PluginError>
where
    T: Serialize + DeserializeOwned,
{
    swap_loop(key, Some(expires_at), change)
}

fn swap_loop<T, R>(
    key: &str,
    expires_at: Option<impl Fn(&T) -> u64>,
    mut change: impl FnMut(Option<T>) -> Result<(Option<T>, R), PluginError>,
) -> Result<R, PluginError>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..16 {
        let current = load_raw::<T>(key)?;
        let (old_value, old_bytes) = match current {
            Some((value, bytes)) => (Some(value), Some(bytes)),
            None => (None, None),
        };
        let (new_value, result) = change(old_value)?;
        let expected = old_bytes.as_deref();
        let swapped = match (&new_value, &expires_at) {
            (Some(value), Some(expires_at)) => kv::compare_and_swap_expiring(
                key,
                expected,
                Some(&encode(value)?),
                expires_at(value),
            ),
            (Some(value), None) => kv::compare_and_swap(key, expected, Some(&encode(value)?)),
            (None, _) => kv::compare_and_swap(key, expected, None),
        }
        .map_err(kv_failed)?;
        if swapped {
            return Ok(result);
        }
    }
    Err(PluginError::Unavailable(format!(
        "`{key}` kept changing under concurrent updates"
    )))
}

/// Deletes every key starting with `prefix`.
pub fn delete_prefix(prefix: &str) -> Result<(), PluginError> {
    for key in kv::list_keys(prefix).map_err(kv_failed)? {
        delete(&key)?;
    }
    Ok(())
}

/// Writes `value` at `key` only if the key is absent; `false` if present.
pub fn insert_new<T: Serialize>(key: &str, value: &T) -> Result<bool, PluginError> {
    kv::compare_and_swap(key, None, Some(&encode(value)?)).map_err(kv_failed)
}

/// Deletes `key`.
pub fn delete(key: &str) -> Result<(), PluginError> {
    kv::delete(key).map_err(kv_failed)
}
