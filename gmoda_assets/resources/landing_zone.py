"""The landing zone: where partners drop files, one folder per partner, and where rejected files go.

Sensors, ``gmoda ingest`` and the raw loaders reach files only through this resource, so the local folder used
now can be swapped for SFTP or object storage by another implementation of the same few methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from dagster import ConfigurableResource

from gmoda_assets.lib import settings

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    partner: str
    name: str
    size: int
    # Changes whenever the content may have changed (size, mtime, ctime and inode locally), so a cached hash
    # is reused only for an untouched file; it is never compared as a time, so clock skew cannot hide a file.
    version: str


class LandingZone(ConfigurableResource, ABC):
    """Partner file drops: list, read, and quarantine with a reason."""

    @abstractmethod
    def list_files(self, partner: str) -> list[LandedFile]: ...

    @abstractmethod
    def open(self, partner: str, name: str) -> BinaryIO: ...

    @abstractmethod
    def quarantine(self, partner: str, name: str, drop_id: str, reason: dict) -> str:
        """Move the file out of the landing zone beside a JSON file holding ``reason``; return where it went."""

    def iter_chunks(self, partner: str, name: str) -> Iterator[bytes]:
        with self.open(partner, name) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    def sha256(self, partner: str, name: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.iter_chunks(partner, name):
            digest.update(chunk)
        return digest.hexdigest()


class LocalLandingZone(LandingZone):
    """A landing zone on the local file system: ``<root>/<partner>/<file>``; rejects go to
    ``<quarantine_root>/<partner>/<file>`` beside ``<file>.reason.json``."""

    root: str
    quarantine_root: str

    @classmethod
    def from_settings(cls) -> LocalLandingZone:
        return cls(root=str(settings.landing_dir()), quarantine_root=str(settings.quarantine_dir()))

    def _path(self, partner: str, name: str) -> Path:
        return Path(self.root) / partner / name

    def list_files(self, partner: str) -> list[LandedFile]:
        folder = Path(self.root) / partner
        if not folder.is_dir():
            return []
        found = []
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            # Hidden and partial files are still being written by the partner's transfer.
            if not entry.is_file() or entry.name.startswith(".") or entry.name.endswith((".part", ".tmp")):
                continue
            st = entry.stat()
            version = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
            found.append(LandedFile(partner, entry.name, st.st_size, version))
        return found

    def open(self, partner: str, name: str) -> BinaryIO:
        return self._path(partner, name).open("rb")

    def quarantine(self, partner: str, name: str, drop_id: str, reason: dict) -> str:
        source = self._path(partner, name)
        folder = Path(self.quarantine_root) / partner
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.exists():  # an earlier rejected file of the same name: keep both
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            target = folder / f"{stamp}__{name}"
        reason_path = target.with_name(target.name + ".reason.json")
        reason_path.write_text(json.dumps({"drop_id": drop_id, **reason}, indent=2, default=str), encoding="utf-8")
        if source.exists():
            shutil.move(source, target)
        return str(target)
