"""Proves the Key Vault and Entra ID double faithful: Microsoft's own Python
SDK (azure-identity, azure-keyvault-secrets, azure-keyvault-keys) reads a
secret, meets a missing one as ResourceNotFoundError, and wraps and unwraps
a key with RSA-OAEP-256 against it, exactly as it would against Azure.

Usage: official_sdk_check.py VAULT_URL CONTROL_URL CA_FILE TENANT CLIENT_ID CLIENT_SECRET
Prints `ok` and exits 0, or raises.
"""

import json
import os
import sys
import urllib.request


def steer(control: str, what: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{control}/__test/{what}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def main() -> None:
    vault_url, control, ca_file, tenant, client_id, client_secret = sys.argv[1:7]
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    from azure.core.exceptions import ResourceNotFoundError
    from azure.identity import ClientSecretCredential
    from azure.keyvault.keys import KeyClient
    from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
    from azure.keyvault.secrets import SecretClient

    credential = ClientSecretCredential(
        tenant,
        client_id,
        client_secret,
        authority=vault_url,
        disable_instance_discovery=True,
        connection_verify=ca_file,
    )
    secrets = SecretClient(vault_url, credential, verify_challenge_resource=False, connection_verify=ca_file)
    version = steer(control, "secret", {"name": "sdk-check", "value": "read-by-the-official-sdk"})["version"]
    secret = secrets.get_secret("sdk-check")
    assert secret.value == "read-by-the-official-sdk", secret.value
    assert secret.properties.version == version, secret.properties.version
    try:
        secrets.get_secret("sdk-check-missing")
        raise AssertionError("a missing secret was found")
    except ResourceNotFoundError:
        pass

    key_version = steer(control, "key", {"name": "sdk-kek"})["version"]
    key_id = f"{vault_url}/keys/sdk-kek/{key_version}"
    crypto = CryptographyClient(key_id, credential, verify_challenge_resource=False, connection_verify=ca_file)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    assert wrapped.key_id == key_id, wrapped.key_id
    unwrapped = crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    assert unwrapped.key == b"k" * 32
    print("ok")


if __name__ == "__main__":
    main()
