//! The AWS KMS client, driven on the guest's `wstd` runtime.

use aws_guest::{AwsSettings, error_chain};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use portcullis_sdk::{Attribute, GeneratedKey, PluginError, WrappedKey};
use std::collections::HashMap;

/// A KMS client.
pub struct Client {
    inner: aws_sdk_kms::Client,
}

/// The encryption context KMS binds a key to.
fn encryption_context(context: &[Attribute]) -> Result<HashMap<String, String>, PluginError> {
    let mut map = HashMap::with_capacity(context.len());
    for attribute in context {
        if map
            .insert(attribute.name.clone(), attribute.value.clone())
            .is_some()
        {
            return Err(PluginError::InvalidInput(format!(
                "context names `{}` twice",
                attribute.name
            )));
        }
    }
    Ok(map)
}

/// A failed KMS call, as the gateway should see it.
fn failed<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &str,
    error: SdkError<E>,
) -> PluginError {
    let SdkError::ServiceError(service) = &error else {
        return PluginError::Unavailable(format!(
            "KMS could not be reached ({operation}): {}",
            error_chain(&error)
        ));
    };
    let code = service.err().code().unwrap_or("unknown");
    match code {
        // A wrong context, a tampered blob or another key's ciphertext.
        "InvalidCiphertextException" | "IncorrectKeyException" => {
            PluginError::InvalidInput(format!(
                "KMS refused to {operation}: the wrapped key does not match its context or key ({code})"
            ))
        }
        "NotFoundException" => PluginError::NotFound,
        "DisabledException" | "KMSInvalidStateException" => PluginError::Unavailable(format!(
            "KMS refused to {operation}: the key is disabled or pending deletion ({code})"
        )),
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
            PluginError::Unavailable(format!(
                "KMS denied {operation} ({code}): check the credentials and the key policy"
            ))
        }
        "ThrottlingException" => {
            PluginError::Unavailable(format!("KMS throttled {operation} ({code}) after retries"))
        }
        _ => PluginError::Unavailable(format!(
            "KMS failed to {operation} ({code}): {}",
            service.err().message().unwrap_or("")
        )),
    }
}

impl Client {
    pub fn new(settings: &AwsSettings) -> Self {
        Self {
            inner: aws_sdk_kms::Client::new(&settings.sdk_config()),
        }
    }

    /// GenerateDataKey: a 256-bit key from KMS, in the clear and wrapped.
    pub fn generate_data_key(
        &self,
        key_id: &str,
        context: &[Attribute],
    ) -> Result<GeneratedKey, PluginError> {
        let request = self
            .inner
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(encryption_context(context)?));
        let output = wstd::runtime::block_on(request.send())
            .map_err(|e| failed("generate a data key", e))?;
        let (Some(plaintext), Some(ciphertext)) = (output.plaintext, output.ciphertext_blob) else {
            return Err(PluginError::Internal("KMS returned no data key".into()));
        };
        if plaintext.as_ref().len() != 32 {
            return Err(PluginError::Internal(
                "KMS returned a data key that is not 256 bits".into(),
            ));
        }
        Ok(GeneratedKey {
            plaintext: plaintext.into_inner(),
            wrapped: WrappedKey {
                key_id: output.key_id.unwrap_or_else(|| key_id.to_string()),
                ciphertext: ciphertext.into_inner(),
            },
        })
    }

    /// Encrypt: wraps a data key the gateway made.
    pub fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &[Attribute],
    ) -> Result<WrappedKey, PluginError> {
        let request = self
            .inner
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(encryption_context(context)?));
        let output =
            wstd::runtime::block_on(request.send()).map_err(|e| failed("wrap a data key", e))?;
        let ciphertext = output
            .ciphertext_blob
            .ok_or_else(|| PluginError::Internal("KMS returned no ciphertext".into()))?;
        Ok(WrappedKey {
            key_id: output.key_id.unwrap_or_else(|| key_id.to_string()),
            ciphertext: ciphertext.into_inner(),
        })
    }

    /// Decrypt, with the key that wrapped it and the same context.
    pub fn decrypt(
        &self,
        wrapped: &WrappedKey,
        context: &[Attribute],
    ) -> Result<Vec<u8>, PluginError> {
        let request = self
            .inner
            .decrypt()
            .key_id(&wrapped.key_id)
            .ciphertext_blob(Blob::new(wrapped.ciphertext.clone()))
            .set_encryption_context(Some(encryption_context(context)?));
        let output =
            wstd::runtime::block_on(request.send()).map_err(|e| failed("unwrap a data key", e))?;
        output
            .plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| PluginError::Internal("KMS returned no plaintext".into()))
    }
}
