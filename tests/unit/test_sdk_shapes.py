"""The SDK models az 2.91 ships (azure-mgmt-storage 25: mapping-style models) read right."""

from azext_aitk.azure.storage_account import file_endpoint, first_key
from azure.mgmt.storage.models import StorageAccount, StorageAccountListKeysResult


def test_first_key_from_list_keys_result():
    result = StorageAccountListKeysResult(
        {
            "keys": [
                {"keyName": "key1", "value": "k1", "permissions": "FULL"},
                {"keyName": "key2", "value": "k2", "permissions": "FULL"},
            ]
        }
    )
    assert first_key(result) == "k1"
    assert first_key(StorageAccountListKeysResult({"keys": []})) is None


def test_file_endpoint_from_storage_account():
    account = StorageAccount(
        {
            "name": "a",
            "location": "eastus",
            "properties": {
                "primaryEndpoints": {
                    "file": "https://a.file.core.windows.net/",
                    "blob": "https://a.blob.core.windows.net/",
                }
            },
        }
    )
    assert file_endpoint(account) == "https://a.file.core.windows.net/"
    assert file_endpoint(StorageAccount({"name": "a", "location": "eastus", "properties": {}})) is None
