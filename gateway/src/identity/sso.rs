//! Single sign-on through identity providers that organizations configure
//! at run time. The gateway knows no protocol here: each provider is an
//! instance of an auth-provider plugin (OIDC, SAML, …) driven through the
//! same login steps as any other. What the gateway owns is the account
//! rule set:
//!
//! - an SSO identity is keyed by (provider, subject), never by email;
//! - the first login creates the directory user (just-in-time), and links
//!   an existing account of the organization only when the organization
//!   has verified the email's domain and the provider asserts the email as
//!   verified;
//! - the provider's groups are namespaced by provider (`{provider_id}/{group}`,
//!   a form no local group can take), replaced at every login, so grants
//!   from groups the user has lost disappear at the next login.

use super::certificates::{self, CertificateFacts};
use super::sessions::NewSession;
use super::{Identity, IdentityError, from_guest, now};
use crate::plugin::{
    Attribute, AuthProviderPlugin, LoginInput, LoginStep, Principal, RequestInfo, ServiceEndpoints,
    sso_instance_name,
};
use crate::store::{
    IdentityProviderRecord, ProviderSettings, SsoIdentityRecord, UserChanges, UserRecord,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Characters of a login flow id.
const FLOW_ID_LEN: usize = 32;
/// Most groups taken from one login.
const MAX_GROUPS: usize = 1_000;
/// Longest group name taken from a provider.
const MAX_GROUP_LEN: usize = 256;

/// The group name a provider's group `group` has in the directory.
pub fn provider_group(provider_id: &str, group: &str) -> String {
    format!("{provider_id}/{group}")
}

/// What the gateway keeps of an SSO login between the redirect and the
/// callback, around the plugin's own state.
#[derive(Serialize, Deserialize)]
struct FlowState {
    return_to: String,
    plugin_state: String,
}

/// A started SSO login.
#[derive(Debug)]
pub struct SsoStart {
    /// The flow, to bind to the browser (a cookie).
    pub flow_id: String,
    /// Where to send the browser.
    pub location: String,
}

/// A finished SSO login.
pub struct SsoSignIn {
    /// The session.
    pub session: NewSession,
    /// Where the browser goes next.
    pub return_to: String,
}

/// The media types a provider's metadata document may be served as:
/// documents, never a page a browser would run.
const METADATA_MEDIA_TYPES: &[&str] = &[
    "application/samlmetadata+xml",
    "application/xml",
    "application/json",
];

/// What an identity provider says about itself.
#[derive(Debug, Clone)]
pub struct SsoDescription {
    /// A document for the provider's administrator: (media type, body).
    pub metadata: Option<(String, String)>,
    /// The certificates it trusts to sign logins now.
    pub certificates: Vec<CertificateFacts>,
}

/// The gateway's addresses for provider `id` when served as `host`.
pub fn service_endpoints(host: &str, id: &str) -> ServiceEndpoints {
    let base = format!("https://{host}/auth/sso/{id}");
    ServiceEndpoints {
        callback_url: format!("{base}/callback"),
        metadata_url: format!("{base}/metadata"),
        login_url: base,
    }
}

/// The login fields only the gateway sets: where the provider's callback
/// and metadata are.
const GATEWAY_FIELDS: &[&str] = &["redirect_uri", "metadata_url"];

/// The fields named in [`GATEWAY_FIELDS`], for `endpoints`.
fn gateway_fields(endpoints: &ServiceEndpoints) -> Vec<Attribute> {
    let values = [&endpoints.callback_url, &endpoints.metadata_url];
    GATEWAY_FIELDS
        .iter()
        .zip(values)
        .map(|(name, value)| Attribute {
            name: (*name).to_string(),
            value: value.clone(),
        })
        .collect()
}

/// The host named in the endpoints the gateway's own upkeep describes
/// providers with; what it reads (certificates) does not depend on it.
const UPKEEP_HOST: &str = "localhost";

/// A new or changed identity provider.
#[derive(Debug, Clone)]
pub struct ProviderDraft {
    /// Unique name in the organization.
    pub name: String,
    /// The configured auth-provider plugin it instantiates.
    pub plugin: String,
    /// Its settings.
    pub settings: ProviderSettings,
}

/// `return_to` if it is a path on this gateway: it starts with one `/`,
/// and holds no backslash, control character or scheme, so it can never
/// send the browser elsewhere (no open redirect).
pub fn safe_return_to(return_to: Option<&str>) -> Result<String, IdentityError> {
    let Some(path) = return_to.filter(|p| !p.is_empty()) else {
        return Ok("/".into());
    };
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    if safe {
        Ok(path.to_string())
    } else {
        Err(IdentityError::InvalidInput(
            "`return_to` must be a path on this gateway (starting with a single `/`)".into(),
        ))
    }
}

fn refused(code: &'static str, message: impl Into<String>) -> IdentityError {
    IdentityError::SsoRefused {
        code,
        message: message.into(),
    }
}

fn attribute<'a>(principal: &'a Principal, name: &str) -> Option<&'a str> {
    principal
        .attributes
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

impl Identity {
    /// The identity provider `id` and its running plugin.
    async fn sso_plugin(
        &self,
        id: &str,
    ) -> Result<(IdentityProviderRecord, Arc<AuthProviderPlugin>), IdentityError> {
        let Some(record) = self.store.identity_provider(id).await? else {
            self.plugins.forget_sso_provider(id);
            return Err(IdentityError::NotFound("identity provider"));
        };
        let plugin = self.plugins.sso_provider(&record).await.map_err(|error| {
            tracing::error!(provider = %id, %error, "identity provider cannot start");
            IdentityError::ProviderUnavailable
        })?;
        Ok((record, plugin))
    }

    /// Starts a login with identity provider `id`; the provider sends the
    /// browser back to the callback of `endpoints`, then to `return_to`.
    pub async fn begin_sso(
        &self,
        id: &str,
        endpoints: &ServiceEndpoints,
        return_to: Option<&str>,
        request: &RequestInfo,
    ) -> Result<SsoStart, IdentityError> {
        let return_to = safe_return_to(return_to)?;
        let (_, plugin) = self.sso_plugin(id).await?;
        let name = sso_instance_name(id);
        let input = LoginInput {
            request: request.clone(),
            fields: gateway_fields(endpoints),
        };
        let step = from_guest(&name, plugin.begin_login(&input).await)?;
        let LoginStep::Redirect(location) = step.step else {
            tracing::error!(provider = %id, "identity provider did not start with a redirect");
            return Err(IdentityError::ProviderUnavailable);
        };
        let flow_id = self
            .session_hasher
            .random(FLOW_ID_LEN)
            .map_err(|_| IdentityError::Internal)?;
        let state = FlowState {
            return_to,
            plugin_state: hex::encode(&step.state),
        };
        let state = serde_json::to_vec(&state).map_err(|_| IdentityError::Internal)?;
        self.flows.start(&flow_id, &name, &state, now()).await?;
        Ok(SsoStart { flow_id, location })
    }

    /// Finishes the login `flow_id` with identity provider `id` from the
    /// callback's `fields`. The flow ends here whatever the outcome, so a
    /// callback (its `state`, its code or assertion) works once. Without a
    /// flow, only a provider that accepts unsolicited answers (a SAML
    /// login the IdP started, when enabled) is asked, with the gateway's
    /// `endpoints`.
    pub async fn finish_sso(
        &self,
        id: &str,
        endpoints: Option<&ServiceEndpoints>,
        flow_id: Option<&str>,
        fields: &[(String, String)],
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<SsoSignIn, IdentityError> {
        let result = self
            .finish_sso_flow(id, endpoints, flow_id, fields, request, user_agent)
            .await;
        let name = sso_instance_name(id);
        match &result {
            Ok(sign_in) => {
                let session = &sign_in.session.session;
                self.events.emit(crate::audit::Event::AuthSucceeded {
                    method: session.principal.amr.join("+"),
                    provider: name,
                    subject: session.principal.subject.clone(),
                    org: session.org_id.clone(),
                });
            }
            Err(error) => {
                tracing::warn!(provider = %id, %error, "single sign-on refused");
                self.events.emit(crate::audit::Event::AuthFailed {
                    method: "sso".into(),
                    provider: Some(name),
                    reason: error.audit_reason().into(),
                    org: None,
                });
            }
        }
        result
    }

    async fn finish_sso_flow(
        &self,
        id: &str,
        endpoints: Option<&ServiceEndpoints>,
        flow_id: Option<&str>,
        fields: &[(String, String)],
        request: &RequestInfo,
        user_agent: &str,
    ) -> Result<SsoSignIn, IdentityError> {
        let no_flow = || {
            refused(
                "login_flow_unknown",
                "this sign-in is not in progress in this browser (it finished, expired or was started elsewhere): start again",
            )
        };
        let name = sso_instance_name(id);
        // What only the gateway sets; a client's field of that name is
        // dropped.
        let mut input_fields = Vec::with_capacity(fields.len() + 2);
        // The flow ends before the provider is looked up, so a failure
        // there cannot leave it usable.
        let (plugin_state, return_to, provider) = match (flow_id, endpoints) {
            (Some(flow_id), _) => {
                let flow = self.flows.get(flow_id, now()).await?.ok_or_else(no_flow)?;
                self.flows.finish(flow_id).await?;
                if flow.provider != name {
                    return Err(no_flow());
                }
                let state: FlowState =
                    serde_json::from_slice(&flow.state).map_err(|_| IdentityError::Internal)?;
                let plugin_state =
                    hex::decode(&state.plugin_state).map_err(|_| IdentityError::Internal)?;
                (plugin_state, state.return_to, None)
            }
            (None, Some(endpoints)) => {
                let provider = self.sso_plugin(id).await?;
                let described = from_guest(&name, provider.1.describe(endpoints).await)?;
                if !described.accepts_unsolicited {
                    return Err(no_flow());
                }
                input_fields.extend(gateway_fields(endpoints));
                (Vec::new(), "/".to_string(), Some(provider))
            }
            (None, None) => return Err(no_flow()),
        };
        let (record, plugin) = match provider {
            Some(provider) => provider,
            None => self.sso_plugin(id).await?,
        };
        input_fields.extend(
            fields
                .iter()
                .filter(|(name, _)| !GATEWAY_FIELDS.contains(&name.as_str()))
                .map(|(name, value)| Attribute {
                    name: name.clone(),
                    value: value.clone(),
                }),
        );
        let input = LoginInput {
            request: request.clone(),
            fields: input_fields,
        };
        let step = from_guest(&name, plugin.continue_login(&plugin_state, &input).await)?;
        let LoginStep::Authenticated(mut principal) = step.step else {
            tracing::error!(provider = %id, "identity provider asked for another step after its callback");
            return Err(IdentityError::ProviderUnavailable);
        };
        principal.issuer = record.id.clone();
        let user = self.sso_account(&record, &principal).await?;
        principal.groups = user.groups.clone();
        let session = self
            .establish_session(&name, principal, Some(user), &request.client_ip, user_agent)
            .await?;
        if !step.state.is_empty()
            && let Err(error) = self
                .store
                .insert_sso_session(&session.session.id, &record.id, &step.state)
                .await
        {
            // The session stands; only signing out at the provider too
            // will not be offered for it.
            tracing::error!(provider = %id, %error, "the provider's session state cannot be kept");
        }
        Ok(SsoSignIn { session, return_to })
    }

    /// The directory user `principal` (vouched for by `provider`) signs in
    /// as, linked or created by the rules above, with its groups refreshed.
    async fn sso_account(
        &self,
        provider: &IdentityProviderRecord,
        principal: &Principal,
    ) -> Result<Arc<UserRecord>, IdentityError> {
        let subject = principal.subject.as_str();
        if subject.is_empty() || subject.len() > 512 || subject.chars().any(char::is_control) {
            tracing::error!(provider = %provider.id, "identity provider returned an unusable subject");
            return Err(IdentityError::ProviderUnavailable);
        }
        let issuer = attribute(principal, "issuer").unwrap_or(&provider.id);
        let user = match self.store.sso_identity(&provider.id, subject).await? {
            Some(linked) => self
                .store
                .user(&linked.user_id)
                .await?
                .ok_or(IdentityError::InvalidCredentials)?,
            None => self.first_sso_login(provider, principal, issuer).await?,
        };
        if user.org_id != provider.org_id {
            return Err(IdentityError::Internal);
        }
        if user.disabled {
            return Err(IdentityError::AccountDisabled);
        }
        let groups = refreshed_groups(&user.groups, &provider.id, &principal.groups);
        let user = if groups == user.groups {
            user
        } else {
            let changes = UserChanges {
                groups: Some(groups),
                ..UserChanges::default()
            };
            self.store
                .update_user(&user.id, &changes)
                .await?
                .ok_or(IdentityError::InvalidCredentials)?
        };
        let user = Arc::new(user);
        self.users.insert(&user.id, user.clone());
        Ok(user)
    }

    /// Links or creates the account of a provider identity seen for the
    /// first time.
    async fn first_sso_login(
        &self,
        provider: &IdentityProviderRecord,
        principal: &Principal,
        issuer: &str,
    ) -> Result<UserRecord, IdentityError> {
        let verified_email = principal
            .email
            .as_deref()
            .filter(|_| attribute(principal, "email_verified") == Some("true"));
        let Some(email) = verified_email else {
            return Err(refused(
                "email_not_verified",
                "the identity provider did not assert a verified email address, so no account can be created or linked for this sign-in",
            ));
        };
        let user = match self.store.user_by_email(email).await? {
            Some(existing) if existing.org_id == provider.org_id => {
                let domain = email.rsplit_once('@').map_or("", |(_, d)| d);
                let verified_here = self.store.org_of_domain(domain).await?.as_deref()
                    == Some(provider.org_id.as_str());
                if !verified_here {
                    return Err(refused(
                        "account_link_refused",
                        format!(
                            "an account with this email already exists; it is linked to a single sign-on identity only once the organization has verified the domain `{domain}`"
                        ),
                    ));
                }
                existing
            }
            Some(_) => {
                return Err(refused(
                    "account_link_refused",
                    "this identity cannot sign in to this organization: its email belongs to another account; ask your administrator",
                ));
            }
            None => {
                let user = UserRecord {
                    id: self.new_id("usr_")?,
                    org_id: provider.org_id.clone(),
                    email: email.to_string(),
                    display_name: principal
                        .display_name
                        .as_ref()
                        .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect()),
                    groups: Vec::new(),
                    disabled: false,
                    password_must_change: false,
                    platform_operator: false,
                    created_at: now(),
                };
                if !self.store.insert_user(&user).await? {
                    return Err(refused(
                        "account_link_refused",
                        "this identity cannot sign in to this organization: its email belongs to another account; ask your administrator",
                    ));
                }
                tracing::info!(user = %user.id, provider = %provider.id, "user created at first single sign-on");
                user
            }
        };
        let identity = SsoIdentityRecord {
            provider_id: provider.id.clone(),
            subject: principal.subject.clone(),
            issuer: issuer.to_string(),
            user_id: user.id.clone(),
        };
        if !self
            .store
            .link_sso_identity(&identity, &provider.org_id, now())
            .await?
        {
            // Another login of the same identity linked it meanwhile.
            let linked = self
                .store
                .sso_identity(&provider.id, &principal.subject)
                .await?
                .ok_or(IdentityError::Internal)?;
            return self
                .store
                .user(&linked.user_id)
                .await?
                .ok_or(IdentityError::InvalidCredentials);
        }
        Ok(user)
    }

    /// The identity provider that the organization owning `email`'s domain
    /// signs in with (its first), if any. Depends only on the domain, so it
    /// says nothing about whether such a user exists.
    pub async fn discover_sso(
        &self,
        email: &str,
    ) -> Result<Option<IdentityProviderRecord>, IdentityError> {
        let domain = match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && email.chars().count() <= 254 =>
            {
                domain
            }
            _ => {
                return Err(IdentityError::InvalidInput(
                    "`email` must be an address like name@example.com".into(),
                ));
            }
        };
        let Some(org) = self.store.org_of_domain(domain).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .identity_providers_of(&org)
            .await?
            .into_iter()
            .next())
    }

    /// Where to send the browser so that session `session_id` also ends at
    /// the identity provider it was signed in with (which sends it back to
    /// `post_logout_url`); `None` for other sessions and providers without
    /// such a logout. Call before revoking the session.
    pub async fn end_sso_session(
        &self,
        session_id: &str,
        post_logout_url: &str,
    ) -> Result<Option<String>, IdentityError> {
        let Some((provider_id, state)) = self.store.sso_session(session_id).await? else {
            return Ok(None);
        };
        let (_, plugin) = self.sso_plugin(&provider_id).await?;
        let name = sso_instance_name(&provider_id);
        from_guest(&name, plugin.end_session(&state, post_logout_url).await)
    }

    /// What identity provider `id` says about itself for `endpoints`; its
    /// certificates are also recorded for the expiry gauge. A document of
    /// a media type other than XML or JSON is refused (it would be served
    /// from the gateway's origin).
    pub async fn describe_sso(
        &self,
        id: &str,
        endpoints: &ServiceEndpoints,
    ) -> Result<SsoDescription, IdentityError> {
        let (record, plugin) = self.sso_plugin(id).await?;
        let name = sso_instance_name(id);
        let described = from_guest(&name, plugin.describe(endpoints).await)?;
        if let Some((media_type, _)) = &described.metadata
            && !METADATA_MEDIA_TYPES.contains(&media_type.as_str())
        {
            tracing::error!(provider = %id, %media_type, "identity provider described itself with a document of a refused media type");
            return Err(IdentityError::ProviderUnavailable);
        }
        let mut facts = Vec::with_capacity(described.trusted_certificates.len());
        for pem in &described.trusted_certificates {
            match certificates::facts(pem) {
                Ok(certificate) => facts.push(certificate),
                Err(error) => {
                    tracing::warn!(provider = %record.id, %error, "a trusted certificate cannot be read for its expiry");
                }
            }
        }
        self.sso_certificates.record(&record.id, &facts);
        Ok(SsoDescription {
            metadata: described.metadata,
            certificates: facts,
        })
    }

    /// Describes every identity provider again, so the expiry gauge
    /// follows certificates that changed (a provider reading its IdP's
    /// metadata picks up a rotation). Providers that cannot start are
    /// logged and skipped.
    pub async fn watch_sso_certificates(&self) {
        let providers = match self.store.all_identity_providers().await {
            Ok(providers) => providers,
            Err(error) => {
                tracing::warn!(%error, "identity providers cannot be listed for the certificate watch");
                return;
            }
        };
        for provider in providers {
            self.sso_certificates(&provider.id).await;
        }
    }

    /// The certificates identity provider `id` trusts to sign logins now;
    /// `None` when it cannot say (logged).
    pub async fn sso_certificates(&self, id: &str) -> Option<Vec<CertificateFacts>> {
        let endpoints = service_endpoints(UPKEEP_HOST, id);
        match self.describe_sso(id, &endpoints).await {
            Ok(described) => Some(described.certificates),
            Err(error) => {
                tracing::warn!(provider = %id, %error, "identity provider cannot describe its certificates");
                None
            }
        }
    }

    /// How many certificates trusted by identity providers expire within
    /// 30 days of `now` (or have expired).
    pub fn sso_certificates_expiring(&self, now: i64) -> usize {
        self.sso_certificates.expiring(now)
    }

    /// The identity providers of `org_id`.
    pub async fn identity_providers(
        &self,
        org_id: &str,
    ) -> Result<Vec<IdentityProviderRecord>, IdentityError> {
        Ok(self.store.identity_providers_of(org_id).await?)
    }

    /// Identity provider `id` of `org_id`.
    pub async fn identity_provider(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<IdentityProviderRecord, IdentityError> {
        self.store
            .identity_provider(id)
            .await?
            .filter(|r| r.org_id == org_id)
            .ok_or(IdentityError::NotFound("identity provider"))
    }

    /// Checks `record` by starting its plugin (which runs the plugin's own
    /// checks of its settings); the plugin's refusal is the error.
    async fn check_provider(&self, record: &IdentityProviderRecord) -> Result<(), IdentityError> {
        check_provider_name(&record.name)?;
        match self.plugins.check_sso_provider(record).await {
            Ok(_) => Ok(()),
            Err(crate::plugin::PluginLoadError::Incompatible { plugin, .. }) => {
                Err(IdentityError::InvalidInput(format!(
                    "`plugin`: no auth-provider plugin `{plugin}` is configured on this gateway"
                )))
            }
            Err(crate::plugin::PluginLoadError::Start { message, .. }) => {
                Err(IdentityError::InvalidInput(format!(
                    "the provider's settings were refused: {message}"
                )))
            }
            Err(error) => {
                tracing::error!(%error, "identity provider plugin cannot start");
                Err(IdentityError::ProviderUnavailable)
            }
        }
    }

    /// Creates an identity provider in `org_id`; its settings are checked
    /// by its plugin first.
    pub async fn create_identity_provider(
        &self,
        org_id: &str,
        draft: ProviderDraft,
    ) -> Result<IdentityProviderRecord, IdentityError> {
        let now = now();
        let record = IdentityProviderRecord {
            id: self.new_id("idp_")?,
            org_id: org_id.to_string(),
            name: draft.name,
            plugin: draft.plugin,
            settings: draft.settings,
            revision: 1,
            created_at: now,
            updated_at: now,
        };
        self.check_provider(&record).await?;
        match self.store.insert_identity_provider(&record).await {
            Ok(()) => Ok(record),
            Err(error) => {
                self.plugins.forget_sso_provider(&record.id);
                Err(error.into())
            }
        }
    }

    /// Creates or changes the identity providers the configuration file
    /// declares, each checked by its plugin; from then on the API cannot
    /// change or delete them. One its plugin refuses keeps its previous
    /// settings (if it had any) and the others are still applied; the
    /// first refused is the error, with its index.
    pub async fn apply_declared_providers(
        &self,
        declared: &[crate::config::IdentityProviderConfig],
    ) -> Result<(), (usize, IdentityError)> {
        *self
            .declared_providers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            declared.iter().map(|p| p.id.clone()).collect();
        let mut first_refused = None;
        for (i, provider) in declared.iter().enumerate() {
            if let Err(error) = self.apply_declared_provider(provider).await {
                tracing::error!(provider = %provider.id, %error, "declared identity provider refused");
                first_refused.get_or_insert((i, error));
            }
        }
        first_refused.map_or(Ok(()), Err)
    }

    async fn apply_declared_provider(
        &self,
        declared: &crate::config::IdentityProviderConfig,
    ) -> Result<(), IdentityError> {
        let object = |table: &toml::Table, key: &str| match serde_json::to_value(table) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(IdentityError::InvalidInput(format!(
                "`{key}` must be a table of plain values"
            ))),
        };
        let settings = ProviderSettings {
            config: object(&declared.config, "config")?,
            secrets: object(&declared.secrets, "secrets")?,
        };
        let now = now();
        match self.store.identity_provider(&declared.id).await? {
            Some(existing) if existing.org_id != declared.org => {
                Err(IdentityError::InvalidInput(format!(
                    "the id `{}` is an identity provider of another organization",
                    declared.id
                )))
            }
            Some(existing) if existing.plugin != declared.plugin => {
                Err(IdentityError::InvalidInput(format!(
                    "`plugin` of the existing identity provider `{}` is `{}`; it cannot change (declare a new id)",
                    declared.id, existing.plugin
                )))
            }
            Some(existing) if existing.name == declared.name && existing.settings == settings => {
                Ok(())
            }
            Some(mut existing) => {
                existing.name.clone_from(&declared.name);
                existing.settings = settings;
                existing.revision += 1;
                existing.updated_at = now;
                self.check_provider(&existing).await?;
                self.store.update_identity_provider(&existing).await?;
                tracing::info!(provider = %existing.id, "identity provider changed from the configuration file");
                Ok(())
            }
            None => {
                if self.store.org(&declared.org).await?.is_none() {
                    return Err(IdentityError::InvalidInput(format!(
                        "`org`: no organization `{}`",
                        declared.org
                    )));
                }
                let record = IdentityProviderRecord {
                    id: declared.id.clone(),
                    org_id: declared.org.clone(),
                    name: declared.name.clone(),
                    plugin: declared.plugin.clone(),
                    settings,
                    revision: 1,
                    created_at: now,
                    updated_at: now,
                };
                self.check_provider(&record).await?;
                if let Err(error) = self.store.insert_identity_provider(&record).await {
                    self.plugins.forget_sso_provider(&record.id);
                    return Err(error.into());
                }
                tracing::info!(provider = %record.id, "identity provider created from the configuration file");
                Ok(())
            }
        }
    }

    /// Refuses a change through the API to a provider the configuration
    /// file declares.
    fn refuse_if_declared(&self, id: &str) -> Result<(), IdentityError> {
        let declared = self
            .declared_providers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id);
        if declared {
            return Err(IdentityError::Conflict(format!(
                "identity provider `{id}` is declared in the configuration file; change it there"
            )));
        }
        Ok(())
    }

    /// Replaces identity provider `id`'s name and settings (`None` secrets
    /// keep the stored ones); checked by its plugin first.
    pub async fn update_identity_provider(
        &self,
        org_id: &str,
        id: &str,
        name: Option<String>,
        config: Option<serde_json::Map<String, serde_json::Value>>,
        secrets: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<IdentityProviderRecord, IdentityError> {
        let mut record = self.identity_provider(org_id, id).await?;
        self.refuse_if_declared(id)?;
        if let Some(name) = name {
            record.name = name;
        }
        if let Some(config) = config {
            record.settings.config = config;
        }
        if let Some(secrets) = secrets {
            record.settings.secrets = secrets;
        }
        record.revision += 1;
        record.updated_at = now();
        self.check_provider(&record).await?;
        if !self.store.update_identity_provider(&record).await? {
            return Err(IdentityError::NotFound("identity provider"));
        }
        Ok(record)
    }

    /// Deletes identity provider `id` with the identities linked through it
    /// (the users stay).
    pub async fn delete_identity_provider(
        &self,
        org_id: &str,
        id: &str,
    ) -> Result<(), IdentityError> {
        self.identity_provider(org_id, id).await?;
        self.refuse_if_declared(id)?;
        if !self.store.delete_identity_provider(id, org_id).await? {
            return Err(IdentityError::NotFound("identity provider"));
        }
        self.plugins.forget_sso_provider(id);
        self.sso_certificates.forget(id);
        Ok(())
    }

    /// The domains `org_id` has verified.
    pub async fn verified_domains(&self, org_id: &str) -> Result<Vec<String>, IdentityError> {
        Ok(self.store.org_domains(org_id).await?)
    }

    /// Replaces the domains `org_id` has verified (lower-cased, sorted).
    pub async fn set_verified_domains(
        &self,
        org_id: &str,
        domains: &[String],
    ) -> Result<Vec<String>, IdentityError> {
        let mut clean = Vec::with_capacity(domains.len());
        for domain in domains {
            let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
            let valid = domain.contains('.')
                && domain.len() <= 253
                && domain.split('.').all(|label| {
                    (1..=63).contains(&label.len())
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                });
            if !valid {
                return Err(IdentityError::InvalidInput(format!(
                    "`verified_domains`: `{}` is not a domain name",
                    domain.chars().take(64).collect::<String>()
                )));
            }
            clean.push(domain);
        }
        clean.sort();
        clean.dedup();
        self.store.set_org_domains(org_id, &clean, now()).await?;
        Ok(clean)
    }
}

fn check_provider_name(name: &str) -> Result<(), IdentityError> {
    if (1..=100).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(
            "`name` must be 1–100 characters without control characters".into(),
        ))
    }
}

/// `current` with provider `provider_id`'s groups replaced by `asserted`.
fn refreshed_groups(current: &[String], provider_id: &str, asserted: &[String]) -> Vec<String> {
    let prefix = provider_group(provider_id, "");
    let mut groups: Vec<String> = current
        .iter()
        .filter(|g| !g.starts_with(&prefix))
        .cloned()
        .collect();
    let mut from_provider: Vec<String> = asserted
        .iter()
        .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_LEN && !g.chars().any(char::is_control))
        .take(MAX_GROUPS)
        .map(|g| provider_group(provider_id, g))
        .collect();
    from_provider.sort();
    from_provider.dedup();
    groups.extend(from_provider);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_gateway() {
        assert_eq!(safe_return_to(None).unwrap(), "/");
        assert_eq!(
            safe_return_to(Some("/console?x=1")).unwrap(),
            "/console?x=1"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil",
            "evil",
            "/a\nb",
            "javascript:alert(1)",
        ] {
            assert!(safe_return_to(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn provider_groups_are_namespaced_and_replaced_at_each_login() {
        let current = vec![
            "admins".to_string(),
            "idp_a/old".to_string(),
            "idp_b/kept".to_string(),
        ];
        let refreshed = refreshed_groups(
            &current,
            "idp_a",
            &["admins".into(), "eng".into(), "bad\u{7}".into()],
        );
        assert_eq!(
            refreshed,
            ["admins", "idp_b/kept", "idp_a/admins", "idp_a/eng"]
        );
        assert!(
            crate::identity::directory::check_groups(&["idp_a/admins".into()]).is_err(),
            "a local group can never take a provider's namespaced form"
        );
    }
}
