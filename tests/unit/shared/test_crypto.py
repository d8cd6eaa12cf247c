"""Encryption at rest: AES-256-GCM under root keys with ids."""

import pytest

from shared.errors import ConfigError
from shared.runtime.crypto import WEBHOOK_KEYS, Cipher, DecryptionError, RootKey, check_root_keys

KEY_A = RootKey(id="a", value="first-root-key-value-long-enough", default=True)
KEY_B = RootKey(id="b", value="second-root-key-value-long-enough", default=True)


class TestCipher:
    def test_a_record_does_not_contain_the_plaintext_and_decrypts_back(self):
        cipher = Cipher([KEY_A])
        record = cipher.encrypt(b"gho_secret_token", aad=b"user-1")
        assert b"gho_secret_token" not in record.encode()
        assert cipher.decrypt(record, aad=b"user-1") == b"gho_secret_token"

    def test_a_record_is_bound_to_its_owner(self):
        cipher = Cipher([KEY_A])
        record = cipher.encrypt(b"token", aad=b"alice")
        with pytest.raises(DecryptionError):
            cipher.decrypt(record, aad=b"mallory")

    def test_records_written_under_key_a_read_after_key_b_becomes_the_default(self):
        old = Cipher([KEY_A]).encrypt_json({"access_token": "x"}, aad=b"u")
        rotated = Cipher([RootKey("a", KEY_A.value, default=False), KEY_B])
        assert rotated.decrypt_json(old, aad=b"u") == {"access_token": "x"}
        assert Cipher.key_id_of(rotated.encrypt(b"new", aad=b"u")) == "b"

    def test_a_record_under_a_removed_key_is_refused_with_a_clear_error(self):
        record = Cipher([KEY_A]).encrypt(b"t", aad=b"u")
        with pytest.raises(DecryptionError, match="unknown key id 'a'"):
            Cipher([KEY_B]).decrypt(record, aad=b"u")

    def test_tampering_is_detected(self):
        cipher = Cipher([KEY_A])
        record = cipher.encrypt(b"token", aad=b"u")
        flipped = record[:-2] + ("A" if record[-2] != "A" else "B") + record[-1]
        with pytest.raises(DecryptionError):
            cipher.decrypt(flipped, aad=b"u")

    def test_two_default_keys_are_a_configuration_error(self):
        with pytest.raises(ConfigError, match=r"security\.root_keys"):
            Cipher([KEY_A, RootKey("b", KEY_B.value, default=True)])


class TestRootKeyPolicy:
    def test_the_engine_refuses_to_start_without_a_key_outside_development(self):
        with pytest.raises(ConfigError, match="no root key"):
            check_root_keys([], development=False)

    def test_arcades_shipped_default_key_is_refused_outside_development(self):
        with pytest.raises(ConfigError, match=r"root_keys\[0\]"):
            check_root_keys([RootKey("k", "default-key-value", True)], development=False)

    def test_development_mode_accepts_the_default_key(self):
        check_root_keys([RootKey("k", "default-key-value", True)], development=True)


class TestWebhookKeys:
    SAME = RootKey(id="k", value="one-value-for-both-families-0001", default=True)

    def test_a_webhook_record_and_a_root_record_never_open_as_each_other_even_under_one_id_and_value(self):
        root, webhook = Cipher([self.SAME]), Cipher([self.SAME], WEBHOOK_KEYS)
        sealed = webhook.encrypt(b"whsec", aad=b"e")
        assert sealed.startswith("vkw1.k.") and webhook.decrypt(sealed, aad=b"e") == b"whsec"
        with pytest.raises(DecryptionError, match="another key family"):
            root.decrypt(sealed, aad=b"e")
        with pytest.raises(DecryptionError, match="another key family"):
            webhook.decrypt(root.encrypt(b"token", aad=b"e"), aad=b"e")

    def test_a_record_is_current_only_under_its_familys_default_key(self):
        webhook = Cipher([self.SAME], WEBHOOK_KEYS)
        assert webhook.is_current(webhook.encrypt(b"x", aad=b"e"))
        assert not webhook.is_current(Cipher([self.SAME]).encrypt(b"x", aad=b"e"))

    def test_outside_development_the_webhook_cipher_needs_a_webhook_key_and_names_it(self):
        with pytest.raises(ConfigError, match="no webhook key") as refused:
            check_root_keys([], development=False, family=WEBHOOK_KEYS)
        assert refused.value.key == "security.webhook_keys"
        with pytest.raises(ConfigError) as short:
            check_root_keys([RootKey("w", "short", True)], development=False, family=WEBHOOK_KEYS)
        assert short.value.key == "security.webhook_keys[0].value"
