//! The AWS SDK client, driven to completion on the guest's `wstd` runtime
//! (each plugin call is synchronous to the host).

use aws_guest::{AwsSettings, error_chain};
use aws_sdk_secretsmanager::error::SdkError;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use portcullis_sdk::{PluginError, Secret};

/// Which version of a secret to read.
pub enum Version {
    /// `AWSCURRENT`.
    Current,
    /// A version id.
    Id(String),
    /// A staging label.
    Stage(String),
}

/// Whether `text` is shaped like a Secrets Manager version id (a UUID).
pub fn is_version_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A Secrets Manager client.
pub struct Client {
    inner: aws_sdk_secretsmanager::Client,
}

impl Client {
    pub fn new(settings: &AwsSettings) -> Self {
        Self {
            inner: aws_sdk_secretsmanager::Client::new(&settings.sdk_config()),
        }
    }

    /// GetSecretValue; a refusal says which, and a secret marked for
    /// deletion says so (read with DescribeSecret).
    pub fn get_secret(&self, name: &str, version: &Version) -> Result<Secret, PluginError> {
        let mut request = self.inner.get_secret_value().secret_id(name);
        request = match version {
            Version::Current => request,
            Version::Id(id) => request.version_id(id),
            Version::Stage(stage) => request.version_stage(stage),
        };
        let answer = wstd::runtime::block_on(request.send());
        let output = match answer {
            Ok(output) => output,
            Err(error) => return Err(self.explain(name, error)),
        };
        let value = match (output.secret_string, output.secret_binary) {
            (Some(text), _) => text.into_bytes(),
            (None, Some(blob)) => blob.into_inner(),
            (None, None) => {
                return Err(PluginError::Internal(format!(
                    "Secrets Manager returned no value for `{name}`"
                )));
            }
        };
        Ok(Secret {
            value,
            version: output.version_id.unwrap_or_default(),
        })
    }

    fn explain(&self, name: &str, error: SdkError<GetSecretValueError>) -> PluginError {
        let service = match &error {
            SdkError::ServiceError(service) => service.err(),
            other => {
                return PluginError::Unavailable(format!(
                    "Secrets Manager could not be reached: {}",
                    error_chain(other)
                ));
            }
        };
        match service {
            GetSecretValueError::ResourceNotFoundException(_) => PluginError::NotFound,
            GetSecretValueError::InvalidRequestException(e) => match self.deletion_date(name) {
                Some(date) => PluginError::InvalidInput(format!(
                    "secret `{name}` is marked for deletion (on {date}); restore it or use another"
                )),
                None => PluginError::InvalidInput(format!(
                    "Secrets Manager refused the request: {}",
                    e.message().unwrap_or("invalid request")
                )),
            },
            GetSecretValueError::InvalidParameterException(e) => PluginError::InvalidInput(
                format!("Secrets Manager refused a parameter: {}", e.message().unwrap_or("")),
            ),
            GetSecretValueError::DecryptionFailure(_) => PluginError::Unavailable(
                "Secrets Manager could not decrypt the secret with its KMS key (check the key policy)"
                    .into(),
            ),
            other => {
                let code = other.meta().code().unwrap_or("unknown");
                match code {
                    "AccessDeniedException" | "UnrecognizedClientException"
                    | "InvalidSignatureException" => PluginError::Unavailable(format!(
                        "Secrets Manager denied access ({code}): check the credentials and the IAM policy"
                    )),
                    "ThrottlingException" | "TooManyRequestsException" => {
                        PluginError::Unavailable(format!(
                            "Secrets Manager throttled the request ({code}) after retries"
                        ))
                    }
                    _ => PluginError::Unavailable(format!(
                        "Secrets Manager failed ({code}): {}",
                        other.meta().message().unwrap_or("")
                    )),
                }
            }
        }
    }

    /// DescribeSecret's deletion date, if the secret is marked for deletion.
    fn deletion_date(&self, name: &str) -> Option<String> {
        let answer = wstd::runtime::block_on(self.inner.describe_secret().secret_id(name).send());
        match answer {
            Ok(output) => output.deleted_date.map(|d| d.to_string()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DescribeSecretError::ResourceNotFoundException(_)) =>
            {
                None
            }
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_version_id;

    #[test]
    fn version_ids_are_uuids_and_anything_else_is_a_stage() {
        assert!(!is_version_id("01234567-89ab-cdef-0123-456789abcdeg"));
        assert!(is_version_id("01234567-89ab-cdef-0123-456789abcdef"));
        for stage in [
            "AWSCURRENT",
            "AWSPREVIOUS",
            "blue",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_version_id(stage), "{stage}");
        }
    }
}
