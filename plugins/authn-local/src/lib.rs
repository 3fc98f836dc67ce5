//! `authn-local`: local accounts for the gateway's users.
//!
//! - passwords hashed with argon2id (OWASP parameters), checked against
//!   length, the 10,000 most common passwords and the email's local part;
//! - TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step), each step usable once,
//!   enrolled through an `otpauth://` URI and QR code and confirmed by a
//!   first code;
//! - 10 single-use recovery codes, stored as digests, regenerable;
//! - exponential backoff per login name at each client address, per
//!   client address and per login name overall (see [`throttle`]).
//!
//! The gateway owns the user directory; this plugin keeps only credentials,
//! in its private key-value namespace. Login is two steps: `email` +
//! `password`, then — when TOTP is enrolled — `code` or `recovery_code`.
//!
//! ```toml
//! [plugins.local]
//! path = "authn_local.wasm"
//! [plugins.local.config]
//! totp_issuer = "Portcullis"
//! known_address_days = 30
//! [plugins.local.config.throttle_account]     # one login name at one address
//! free_attempts = 5
//! base_delay_secs = 2
//! max_delay_secs = 900
//! [plugins.local.config.throttle_account_total] # one login name anywhere
//! free_attempts = 50                           # (not at its known addresses)
//! [plugins.local.config.throttle_ip]          # one address, any login name
//! free_attempts = 20
//! ```

pub mod password;
pub mod recovery;
mod storage;
pub mod throttle;
pub mod totp;

use portcullis_sdk::crypto::{self, HashAlgorithm};
use portcullis_sdk::{
    Accounts, AuthProvider, Form, FormField, LoginInput, LoginStep, MfaStatus, PluginError,
    Principal, StepResult, TotpEnrollment,
};
use serde::{Deserialize, Serialize};
use storage::Account;
use throttle::Policy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// Issuer shown in authenticator apps.
    totp_issuer: String,
    /// Seconds between the password step and the second factor.
    login_timeout_secs: u64,
    /// Backoff per login name at one client address.
    throttle_account: Policy,
    /// Backoff per login name at every address but those it signed in
    /// from before: the ceiling against attacks from many addresses.
    throttle_account_total: Policy,
    /// Backoff per client address, any login name (more lenient: many
    /// users share NATs).
    throttle_ip: Policy,
    /// How long an address a login name signed in from stays known-good.
    known_address_days: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            totp_issuer: "Portcullis".into(),
            login_timeout_secs: 300,
            throttle_account: Policy::default(),
            throttle_account_total: Policy {
                free_attempts: 50,
                ..Policy::default()
            },
            throttle_ip: Policy {
                free_attempts: 20,
                ..Policy::default()
            },
            known_address_days: 30,
        }
    }
}

/// What the gateway keeps for us between the password and the second factor.
#[derive(Debug, Serialize, Deserialize)]
struct SecondFactorState {
    user_id: String,
    email: String,
    password_checked_at: u64,
}

struct LocalAccounts {
    config: Config,
    issuer: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Field `name`, unless empty.
fn field<'a>(input: &'a LoginInput, name: &str) -> Option<&'a str> {
    input.field(name).filter(|v| !v.is_empty())
}

fn internal(error: impl std::fmt::Display) -> PluginError {
    PluginError::Internal(error.to_string())
}

fn sha256_hex(text: &str) -> String {
    portcullis_sdk::hex::encode(&crypto::digest(HashAlgorithm::Sha256, text.as_bytes()))
}

impl LocalAccounts {
    fn password_form(error: Option<&str>) -> LoginStep {
        LoginStep::Prompt(Form {
            title: "Sign in".into(),
            fields: vec![
                FormField {
                    name: "email".into(),
                    label: "Email".into(),
                    kind: "email".into(),
                },
                FormField {
                    name: "password".into(),
                    label: "Password".into(),
                    kind: "password".into(),
                },
            ],
            error: error.map(str::to_string),
        })
    }

    fn second_factor_form() -> LoginStep {
        LoginStep::Prompt(Form {
            title: "Two-factor authentication".into(),
            fields: vec![
                FormField {
                    name: "code".into(),
                    label: "Authenticator code".into(),
                    kind: "otp".into(),
                },
                FormField {
                    name: "recovery_code".into(),
                    label: "Or a recovery code".into(),
                    kind: "text".into(),
                },
            ],
            error: None,
        })
    }

    /// The failure records an attempt by `email` from `client_ip` counts
    /// against, with their policies. The account-wide one is left out at
    /// addresses the account signed in from before.
    fn throttle_keys(
        &self,
        email: &str,
        client_ip: &str,
    ) -> Result<Vec<(String, &Policy)>, PluginError> {
        let address = throttle::address_unit(client_ip);
        let mut keys = vec![
            (
                storage::pair_throttle_key(email, &address),
                &self.config.throttle_account,
            ),
            (
                storage::address_throttle_key(&address),
                &self.config.throttle_ip,
            ),
        ];
        let known: Option<u64> = storage::load(&storage::known_address_key(email, &address))?;
        if known.is_none() {
            keys.push((
                storage::account_throttle_key(email),
                &self.config.throttle_account_total,
            ));
        }
        Ok(keys)
    }

    /// Refuses the attempt while any of its records is backing off.
    fn check_throttle(&self, email: &str, client_ip: &str) -> Result<(), PluginError> {
        let now = now();
        let mut wait = None;
        for (key, policy) in self.throttle_keys(email, client_ip)? {
            let record: throttle::Record = storage::load(&key)?.unwrap_or_default();
            wait = wait.max(policy.wait(&record, now));
        }
        match wait {
            Some(seconds) => Err(PluginError::Throttled(seconds.max(1))),
            None => Ok(()),
        }
    }

    fn record_failure(&self, email: &str, client_ip: &str) -> Result<(), PluginError> {
        let now = now();
        for (key, policy) in self.throttle_keys(email, client_ip)? {
            storage::update_expiring(
                &key,
                |record: &throttle::Record| record.expires_at(policy),
                |record: Option<throttle::Record>| {
                    Ok((Some(policy.fail(record.unwrap_or_default(), now)), ()))
                },
            )?;
        }
        portcullis_sdk::log::info("failed login attempt recorded");
        Ok(())
    }

    /// A completed sign-in: the address's failures for this name are
    /// forgiven and the address becomes known-good for it.
    fn record_success(&self, email: &str, client_ip: &str) -> Result<(), PluginError> {
        let address = throttle::address_unit(client_ip);
        storage::delete(&storage::pair_throttle_key(email, &address))?;
        let until = now().saturating_add(self.config.known_address_days.saturating_mul(86_400));
        storage::update_expiring(
            &storage::known_address_key(email, &address),
            |_: &u64| until,
            |_: Option<u64>| Ok((Some(until), ())),
        )
    }

    /// Forgets every failure of `email` (a password set by an administrator).
    fn clear_throttle(&self, email: &str) -> Result<(), PluginError> {
        storage::delete(&storage::account_throttle_key(email))?;
        storage::delete_prefix(&storage::pair_throttle_prefix(email))
    }

    fn account(&self, user_id: &str) -> Result<Account, PluginError> {
        storage::load(&storage::account_key(user_id))?.ok_or(PluginError::NotFound)
    }

    fn update_account<R>(
        &self,
        user_id: &str,
        mut change: impl FnMut(&mut Account) -> Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        storage::update(
            &storage::account_key(user_id),
            |account: Option<Account>| {
                let mut account = account.ok_or(PluginError::NotFound)?;
                let result = change(&mut account)?;
                Ok((Some(account), result))
            },
        )
    }

    fn principal(&self, user_id: &str, email: &str, amr: &[&str]) -> Principal {
        Principal {
            subject: user_id.to_string(),
            issuer: self.issuer.clone(),
            email: Some(email.to_string()),
            display_name: None,
            groups: Vec::new(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            attributes: Vec::new(),
            organization: None,
        }
    }

    fn new_password_hash(password: &str) -> Result<String, PluginError> {
        password::hash(password, portcullis_sdk::random::bytes::<16>()).map_err(internal)
    }

    /// Whether `code` is a valid, unused TOTP code for `secret`; a valid
    /// code's step is recorded atomically so it never works twice.
    fn use_totp_code(&self, user_id: &str, secret: &str, code: &str) -> Result<bool, PluginError> {
        let Some(code) = totp::normalise(code) else {
            return Ok(false);
        };
        let key = totp::base32_decode(secret).ok_or_else(|| internal("stored TOTP secret"))?;
        let hmac = |message: &[u8]| crypto::hmac(HashAlgorithm::Sha1, &key, message);
        let Some(step) = totp::matching_step(
            &code,
            totp::step_at(now()),
            hmac,
            crypto::constant_time_equals,
        ) else {
            return Ok(false);
        };
        storage::update(&storage::totp_step_key(user_id), |last: Option<u64>| {
            if last.is_some_and(|last| step <= last) {
                // Replay of this step (or an older one): refuse, change nothing.
                Ok((last, false))
            } else {
                Ok((Some(step), true))
            }
        })
    }

    fn use_recovery_code(&self, user_id: &str, typed: &str) -> Result<bool, PluginError> {
        let Some(code) = recovery::normalise(typed) else {
            return Ok(false);
        };
        let digest = sha256_hex(&code);
        self.update_account(user_id, |account| {
            let position = account.recovery_codes.iter().position(|stored| {
                crypto::constant_time_equals(stored.as_bytes(), digest.as_bytes())
            });
            Ok(position.map(|i| account.recovery_codes.remove(i)).is_some())
        })
    }

    fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
        let codes: Vec<String> = (0..recovery::COUNT)
            .map(|_| recovery::format(portcullis_sdk::random::bytes::<8>()))
            .collect();
        let digests = codes
            .iter()
            .map(|c| sha256_hex(&recovery::normalise(c).unwrap_or_default()))
            .collect();
        (codes, digests)
    }
}

impl AuthProvider for LocalAccounts {
    fn init() -> Result<Self, PluginError> {
        let config: Config = portcullis_sdk::config::get()?;
        if config.totp_issuer.contains(':') {
            return Err(PluginError::InvalidConfig(
                "totp_issuer: must not contain `:`".into(),
            ));
        }
        Ok(Self {
            config,
            issuer: portcullis_sdk::config::instance_name(),
        })
    }

    fn begin_login(&mut self, input: &LoginInput) -> Result<StepResult, PluginError> {
        let (Some(email), Some(password)) = (field(input, "email"), field(input, "password"))
        else {
            return Ok(StepResult {
                step: Self::password_form(None),
                state: Vec::new(),
            });
        };
        let client_ip = &input.request.client_ip;
        self.check_throttle(email, client_ip)?;
        let user_id: Option<String> = storage::load(&storage::email_key(email))?;
        let account = match &user_id {
            Some(id) => storage::load::<Account>(&storage::account_key(id))?,
            None => None,
        };
        // Unknown names cost one hash too, so timing does not reveal them.
        let stored = account
            .as_ref()
            .map_or(password::decoy_hash(), |a| a.password.as_str());
        let password_ok = password::verify(password, stored);
        let (Some(user_id), Some(account), true) = (user_id, account, password_ok) else {
            self.record_failure(email, client_ip)?;
            return Err(PluginError::InvalidCredentials);
        };
        if account.totp_secret.is_none() {
            self.record_success(email, client_ip)?;
            return Ok(StepResult {
                step: LoginStep::Authenticated(self.principal(&user_id, &account.email, &["pwd"])),
                state: Vec::new(),
            });
        }
        let state = SecondFactorState {
            user_id,
            email: account.email,
            password_checked_at: now(),
        };
        Ok(StepResult {
            step: Self::second_factor_form(),
            state: serde_json::to_vec(&state).map_err(internal)?,
        })
    }

    fn continue_login(
        &mut self,
        state: &[u8],
        input: &LoginInput,
    ) -> Result<StepResult, PluginError> {
        let state: SecondFactorState = serde_json::from_slice(state)
            .map_err(|_| PluginError::InvalidInput("unknown login state".into()))?;
        if now().saturating_sub(state.password_checked_at) > self.config.login_timeout_secs {
            return Err(PluginError::Expired);
        }
        let client_ip = &input.request.client_ip;
        self.check_throttle(&state.email, client_ip)?;
        let account = self.account(&state.user_id)?;
        let amr: &[&str] = match (field(input, "code"), field(input, "recovery_code")) {
            (Some(code), _) => {
                let secret = account
                    .totp_secret
                    .as_deref()
                    .ok_or(PluginError::InvalidCredentials)?;
                if !self.use_totp_code(&state.user_id, secret, code)? {
                    self.record_failure(&state.email, client_ip)?;
                    return Err(PluginError::InvalidCredentials);
                }
                &["pwd", "otp", "mfa"]
            }
            (None, Some(code)) => {
                if !self.use_recovery_code(&state.user_id, code)? {
                    self.record_failure(&state.email, client_ip)?;
                    return Err(PluginError::InvalidCredentials);
                }
                portcullis_sdk::log::warn("recovery code used to sign in");
                &["pwd", "mfa", "recovery"]
            }
            (None, None) => {
                return Err(PluginError::InvalidInput(
                    "`code` or `recovery_code` is required".into(),
                ));
            }
        };
        self.record_success(&state.email, client_ip)?;
        Ok(StepResult {
            step: LoginStep::Authenticated(self.principal(&state.user_id, &account.email, amr)),
            state: Vec::new(),
        })
    }

    fn accounts(&mut self) -> Option<&mut dyn Accounts> {
        Some(self)
    }
}

impl Accounts for LocalAccounts {
    fn create_account(
        &mut self,
        user_id: &str,
        email: &str,
        password: &str,
    ) -> Result<(), PluginError> {
        let email = email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(PluginError::InvalidInput(
                "email must be an address like name@example.com".into(),
            ));
        }
        password::check_strength(password, email)
            .map_err(|weak| PluginError::InvalidInput(weak.to_string()))?;
        let account = Account {
            email: email.to_string(),
            password: Self::new_password_hash(password)?,
            ..Account::default()
        };
        if !storage::insert_new(&storage::email_key(email), &user_id)? {
            return Err(PluginError::InvalidInput(
                "an account with this email already exists".into(),
            ));
        }
        match storage::insert_new(&storage::account_key(user_id), &account) {
            Ok(true) => Ok(()),
            outcome => {
                // Leave nothing half-made behind.
                storage::delete(&storage::email_key(email))?;
                outcome?;
                Err(PluginError::InvalidInput(
                    "an account with this id already exists".into(),
                ))
            }
        }
    }

    fn set_password(&mut self, user_id: &str, password: &str) -> Result<(), PluginError> {
        let email = self.account(user_id)?.email;
        password::check_strength(password, &email)
            .map_err(|weak| PluginError::InvalidInput(weak.to_string()))?;
        let hash = Self::new_password_hash(password)?;
        self.update_account(user_id, |account| {
            account.password = hash.clone();
            Ok(())
        })?;
        self.clear_throttle(&email)
    }

    fn change_password(
        &mut self,
        user_id: &str,
        current: &str,
        new: &str,
        client_ip: &str,
    ) -> Result<(), PluginError> {
        let account = self.account(user_id)?;
        self.check_throttle(&account.email, client_ip)?;
        if !password::verify(current, &account.password) {
            self.record_failure(&account.email, client_ip)?;
            return Err(PluginError::InvalidCredentials);
        }
        if current == new {
            return Err(PluginError::InvalidInput(
                "the new password must differ from the current one".into(),
            ));
        }
        self.set_password(user_id, new)
    }

    fn delete_account(&mut self, user_id: &str) -> Result<(), PluginError> {
        let account = self.account(user_id)?;
        storage::delete(&storage::account_key(user_id))?;
        storage::delete(&storage::email_key(&account.email))?;
        storage::delete(&storage::totp_step_key(user_id))?;
        storage::delete_prefix(&storage::known_address_prefix(&account.email))?;
        self.clear_throttle(&account.email)
    }

    fn begin_totp_enrollment(&mut self, user_id: &str) -> Result<TotpEnrollment, PluginError> {
        let secret =
            totp::base32_encode(&portcullis_sdk::random::bytes::<{ totp::SECRET_BYTES }>());
        let email = self.update_account(user_id, |account| {
            account.pending_totp_secret = Some(secret.clone());
            Ok(account.email.clone())
        })?;
        let uri = totp::uri(&self.config.totp_issuer, &email, &secret);
        let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(internal)?;
        let qr_svg = qr
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build();
        Ok(TotpEnrollment {
            secret,
            uri,
            qr_svg,
        })
    }

    fn confirm_totp_enrollment(
        &mut self,
        user_id: &str,
        code: &str,
    ) -> Result<Vec<String>, PluginError> {
        let account = self.account(user_id)?;
        let pending = account.pending_totp_secret.ok_or_else(|| {
            PluginError::InvalidInput("no TOTP enrollment in progress; start one first".into())
        })?;
        if !self.use_totp_code(user_id, &pending, code)? {
            return Err(PluginError::InvalidCredentials);
        }
        let (codes, digests) = Self::new_recovery_codes();
        self.update_account(user_id, |account| {
            if account.pending_totp_secret.as_deref() != Some(pending.as_str()) {
                return Err(PluginError::InvalidInput(
                    "the enrollment changed meanwhile; start again".into(),
                ));
            }
            account.totp_secret = account.pending_totp_secret.take();
            account.recovery_codes = digests.clone();
            Ok(())
        })?;
        Ok(codes)
    }

    fn regenerate_recovery_codes(&mut self, user_id: &str) -> Result<Vec<String>, PluginError> {
        let (codes, digests) = Self::new_recovery_codes();
        self.update_account(user_id, |account| {
            if account.totp_secret.is_none() {
                return Err(PluginError::InvalidInput(
                    "enroll an authenticator before creating recovery codes".into(),
                ));
            }
            account.recovery_codes = digests.clone();
            Ok(())
        })?;
        Ok(codes)
    }

    fn reset_mfa(&mut self, user_id: &str) -> Result<(), PluginError> {
        self.update_account(user_id, |account| {
            account.totp_secret = None;
            account.pending_totp_secret = None;
            account.recovery_codes.clear();
            Ok(())
        })?;
        storage::delete(&storage::totp_step_key(user_id))
    }

    fn mfa_status(&mut self, user_id: &str) -> Result<MfaStatus, PluginError> {
        let account = self.account(user_id)?;
        Ok(MfaStatus {
            totp: account.totp_secret.is_some(),
            recovery_codes_left: u32::try_from(account.recovery_codes.len()).unwrap_or(u32::MAX),
        })
    }
}

portcullis_sdk::export_auth_provider!(LocalAccounts);
