"""The one place that handles tenant data keys and plaintext secrets."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.keyring import KeyUnavailable, MasterKeyring, new_data_key
from portal.crypto.sealing import SealedPlace, Undecryptable, open_sealed, open_sealed_with, seal


class Vault:
    def __init__(self, keyring: MasterKeyring) -> None:
        self.keyring = keyring

    @classmethod
    def of_keys(cls, primary: str, previous: tuple[str, ...] | list[str] = ()) -> Vault:
        """The vault over ENCRYPTION_KEY (wraps) and ENCRYPTION_KEY_PREVIOUS (still unwrap)."""
        return cls(MasterKeyring(primary, previous))

    def new_wrapped_data_key(self) -> tuple[str, str]:
        """A fresh tenant data key, wrapped; and the id of the master key that wrapped it."""
        return self.keyring.wrap(new_data_key()), self.keyring.primary_id

    def _data_key(self, wrapped_data_key: str) -> bytes:
        try:
            return self.keyring.unwrap(wrapped_data_key)
        except KeyUnavailable as exc:
            raise Undecryptable(str(exc)) from exc

    def seal_fields(
        self,
        wrapped_data_key: str,
        *,
        tenant_id: uuid.UUID,
        table: str,
        row_id: uuid.UUID,
        values: Mapping[str, str],
    ) -> dict[str, str]:
        data_key = self._data_key(wrapped_data_key)
        return {
            name: seal(data_key, value, SealedPlace(tenant_id, table, row_id, name))
            for name, value in values.items()
        }

    def open_fields(
        self,
        wrapped_data_key: str,
        *,
        tenant_id: uuid.UUID,
        table: str,
        row_id: uuid.UUID,
        sealed: Mapping[str, str],
    ) -> dict[str, str]:
        """Every field opened, or Undecryptable with the reason of the first that does not."""
        data_key = self._data_key(wrapped_data_key)
        opened = {}
        for name, value in sealed.items():
            try:
                opened[name] = open_sealed(data_key, value, SealedPlace(tenant_id, table, row_id, name))
            except Undecryptable as exc:
                raise Undecryptable(f"{name}: {exc}") from exc
        return opened

    def opener(self, wrapped_data_key: str, tenant_id: uuid.UUID) -> TenantOpener:
        """The tenant's data key unwrapped once, held inside a TenantOpener (for the resolve hot path)."""
        try:
            return TenantOpener(tenant_id, AESGCM(self._data_key(wrapped_data_key)), None)
        except Undecryptable as exc:
            return TenantOpener(tenant_id, None, str(exc))

    def wrap_platform_secret(self, value: str, *, bound_to: str) -> str:
        """A platform-level secret (a platform admin's TOTP seed) under the master keyring, bound to
        its owner: copied onto another row it does not open."""
        return self.keyring.wrap(f"{bound_to}\n{value}".encode())

    def open_platform_secret(self, wrapped: str, *, bound_to: str) -> str:
        try:
            owner, _, value = self.keyring.unwrap(wrapped).decode().partition("\n")
        except (KeyUnavailable, UnicodeDecodeError) as exc:
            raise Undecryptable("it does not open with ENCRYPTION_KEY or ENCRYPTION_KEY_PREVIOUS") from exc
        if owner != bound_to:
            raise Undecryptable("it belongs to another account")
        return value

    def check_fields(self, wrapped_data_key: str, **place: object) -> str | None:
        """None when every field opens; otherwise the reason it does not."""
        try:
            self.open_fields(wrapped_data_key, **place)  # type: ignore[arg-type]
        except Undecryptable as exc:
            return str(exc)
        return None


class TenantOpener:
    """Opens one tenant's sealed fields with AES-GCM (microseconds), without unwrapping its data key
    (Fernet) each time. It holds the unwrapped key, never a plaintext secret: secrets stay sealed
    until `open_fields` is called for the one use case that needs them, and are not kept."""

    __slots__ = ("_aad", "_aead", "_problem", "tenant_id")

    def __init__(self, tenant_id: uuid.UUID, aead: AESGCM | None, problem: str | None) -> None:
        self.tenant_id = tenant_id
        self._aead = aead
        self._problem = problem
        # Each field's place and its encoded associated data, made once (they never change).
        self._aad: dict[tuple[str, uuid.UUID, str], tuple[SealedPlace, bytes]] = {}

    def open_fields(self, *, table: str, row_id: uuid.UUID, sealed: Mapping[str, str]) -> dict[str, str]:
        if self._aead is None:
            raise Undecryptable(self._problem or "the tenant data key cannot be opened")
        opened = {}
        for name, value in sealed.items():
            where = self._aad.get((table, row_id, name))
            if where is None:
                place = SealedPlace(self.tenant_id, table, row_id, name)
                where = self._aad[(table, row_id, name)] = (place, place.associated_data())
            try:
                opened[name] = open_sealed_with(self._aead, value, *where)
            except Undecryptable as exc:
                raise Undecryptable(f"{name}: {exc}") from exc
        return opened

    def __repr__(self) -> str:  # never the key
        return f"TenantOpener(tenant_id={self.tenant_id}, usable={self._aead is not None})"
