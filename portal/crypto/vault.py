"""The one place that handles tenant data keys and plaintext secrets."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from portal.crypto.keyring import KeyUnavailable, MasterKeyring, new_data_key
from portal.crypto.sealing import SealedPlace, Undecryptable, open_sealed, seal


class Vault:
    def __init__(self, keyring: MasterKeyring) -> None:
        self.keyring = keyring

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

    def check_fields(self, wrapped_data_key: str, **place: object) -> str | None:
        """None when every field opens; otherwise the reason it does not."""
        try:
            self.open_fields(wrapped_data_key, **place)  # type: ignore[arg-type]
        except Undecryptable as exc:
            return str(exc)
        return None
