"""The landing zone: where partners drop files, one folder per partner, and where rejected files go.

Sensors, ``gmoda ingest`` and the raw loaders reach files only through this resource, so the local folder used
now can be swapped for SFTP or object storage by another implementation of the same few methods.

Only plain files directly inside ``<landing>/<partner>/``, for a partner in ``partners.yaml``, are ever read or
moved. A symbolic link (even one named like a partner file), a folder, a pipe or a name that would lead out of
the partner's folder is refused with a reason: it could make the platform read, load and echo any file the
process can read. Files are opened without following links, so a link swapped in after a scan is refused too.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from dagster import ConfigurableResource

from gmoda_assets.lib import settings
from gmoda_assets.lib.contracts import partners
from gmoda_assets.lib.digest import sha256_of

CHUNK_BYTES = 1 << 20


class PathRefused(ValueError):
    """A partner, file name or path the landing zone will not read or move."""


def check_partner(partner: str) -> str:
    if partner not in partners():
        raise PathRefused(f"'{partner}' is not a partner in partners.yaml (known: {', '.join(partners())})")
    return partner


def check_file_name(partner: str, name: str) -> str:
    """``name`` if it names an entry directly inside the partner's folder, else PathRefused."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise PathRefused(f"{partner}/{name}: not a plain file name inside the partner's landing folder")
    return name


@dataclass(frozen=True)
class LandedFile:
    partner: str
    name: str
    size: int
    # Changes whenever the content may have changed (size, mtime, ctime and inode locally), so a cached hash
    # is reused only for an untouched file; it is never compared as a time, so clock skew cannot hide a file.
    version: str
    # When the file was last written, truncated or renamed (epoch seconds), by a clock no client can set back
    # (the file's status-change time locally, unlike its modification time); None where the store cannot tell.
    changed_at: float | None = None


@dataclass(frozen=True)
class Refused:
    """An entry of a partner's landing folder that is never read or moved, and why."""

    partner: str
    name: str  # empty when the partner's folder itself is refused
    reason: str

    def __str__(self) -> str:
        return f"{self.partner}/{self.name}: {self.reason}"


@dataclass
class Listing:
    files: list[LandedFile] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


class LandingZone(ConfigurableResource, ABC):
    """Partner file drops: list, read, and quarantine with a reason."""

    @abstractmethod
    def list_files(self, partner: str) -> Listing:
        """The plain files in the partner's folder, and every other entry with the reason it is refused."""

    @abstractmethod
    def open(self, partner: str, name: str) -> BinaryIO:
        """Open a plain file of the partner's folder for reading; PathRefused for anything else."""

    @abstractmethod
    def quarantine(self, partner: str, name: str, drop_id: str, reason: dict) -> str:
        """Move the file out of the landing zone beside a JSON file holding ``reason``; return where it went."""

    def iter_chunks(self, partner: str, name: str) -> Iterator[bytes]:
        with self.open(partner, name) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk

    def sha256(self, partner: str, name: str) -> str:
        return sha256_of(self.iter_chunks(partner, name)).hexdigest()


def _kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (never followed)"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    return "not a regular file (a pipe, socket or device)"


class LocalLandingZone(LandingZone):
    """A landing zone on the local file system: ``<root>/<partner>/<file>``; rejects go to
    ``<quarantine_root>/<partner>/<file>`` beside ``<file>.reason.json``."""

    root: str
    quarantine_root: str

    @classmethod
    def from_settings(cls) -> LocalLandingZone:
        return cls(root=str(settings.landing_dir()), quarantine_root=str(settings.quarantine_dir()))

    def _folder(self, partner: str) -> Path:
        return Path(self.root) / check_partner(partner)

    def _path(self, partner: str, name: str) -> Path:
        folder = self._folder(partner)
        path = folder / check_file_name(partner, name)
        if path.resolve().parent != folder.resolve():
            raise PathRefused(f"{partner}/{name}: resolves outside the partner's landing folder")
        return path

    def list_files(self, partner: str) -> Listing:
        folder = self._folder(partner)
        if folder.is_symlink():
            return Listing(refused=[Refused(partner, "", "the partner's landing folder is a symbolic link; "
                                                         "nothing in it is read")])
        listing = Listing()
        if not folder.is_dir():
            return listing
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            # Hidden and partial files are still being written by the partner's transfer.
            if entry.name.startswith(".") or entry.name.endswith((".part", ".tmp")):
                continue
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                listing.refused.append(Refused(partner, entry.name, _kind_of(st.st_mode)))
                continue
            version = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
            listing.files.append(LandedFile(partner, entry.name, st.st_size, version, changed_at=st.st_ctime))
        return listing

    def open(self, partner: str, name: str) -> BinaryIO:
        path = self._path(partner, name)
        # Neither the partner's folder nor the file may be a link, checked by the kernel as it opens them
        # (no gap between a check and the open); non-blocking, so a pipe cannot stall the open.
        folder_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathRefused(f"{partner}/{name}: {_kind_of(stat.S_IFLNK)}; not read") from None
            raise
        finally:
            os.close(folder_fd)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise PathRefused(f"{partner}/{name}: {_kind_of(mode)}; not read")
        return os.fdopen(fd, "rb")

    def quarantine(self, partner: str, name: str, drop_id: str, reason: dict) -> str:
        source = self._path(partner, name)
        try:
            mode = os.lstat(source).st_mode
        except FileNotFoundError:
            mode = None  # already moved by an earlier attempt: record the reason again
        if mode is not None and not stat.S_ISREG(mode):
            raise PathRefused(f"{partner}/{name}: {_kind_of(mode)}; not moved")
        folder = Path(self.quarantine_root) / partner
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        if target.exists():  # an earlier rejected file of the same name: keep both
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            target = folder / f"{stamp}__{name}"
        reason_path = target.with_name(target.name + ".reason.json")
        reason_path.write_text(json.dumps({"drop_id": drop_id, **reason}, indent=2, default=str), encoding="utf-8")
        if mode is not None:
            shutil.move(source, target)
        return str(target)
