"""Volume archives: a tar stream of host directories, compressed with zstd or gzip, and its safe extraction.

An archive is one tar stream (GNU format, numeric owners) whose first member is ``rivetr-backup.json`` (the
manifest: format ``rivetr-volumes``, version 1, creation time, codec, and per source its name, regular-file count
and bytes), followed by each source's tree under ``<name>/``. A plain ``zstd -dc A | tar -xf -`` reads it.

Creating: GNU ``tar`` (a subprocess) reads the files, because it is measurably faster than Python's tarfile and
runs on its own core while this process compresses (the same split as ``tar | zstd`` by hand). The file list comes
from our own walk, which is how sockets and device nodes are left out (tar has no option for that) and how the
manifest knows the counts before the first byte is written. Each source is its own ``tar`` run; a
:class:`TarScanner` finds where each run's end-of-archive marker begins so the runs join into one archive.

Extracting: the decompressed stream goes through a :class:`TarScanner` that checks every member before ``tar``
sees a byte of it (no absolute names, no ``..``, hard links only inside their own source, only the member types we
write) and routes each source's members to its own ``tar -x`` process writing into the staging directory, as root,
so owners, modes, times, symlinks and hard links come back as they were. GNU tar's own guards stay on as well: it
creates symlinks that point outside (absolute or with ``..``) only after every other member, so nothing can be
written through them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from rivetr_core.backup.runner import BackupFailed

FORMAT = "rivetr-volumes"
VERSION = 1
MANIFEST = "rivetr-backup.json"
CODECS = ("zst", "gz")
ZSTD_LEVEL = 3
GZIP_LEVEL = 6  # gzip's own default: the peer a gz archive is measured against
BLOCK = 512
READ_SIZE = 1 << 20
#: Names a source (and so a top-level directory of the archive) may have: safe in paths and in tar's --transform.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: Our own working directories inside a live target: never archived.
RESERVED_PREFIXES = (".rivetr-restore-", ".rivetr-pre-restore-")
TAR = "tar"


def corrupted(message: str, **details: Any) -> BackupFailed:
    return BackupFailed("corrupted_archive", message, details)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or name == MANIFEST:
        raise BackupFailed(
            "invalid_request",
            f"invalid source/target name {name!r}: letters, digits, '.', '_' and '-' only",
            {"name": name},
        )
    return name


# -- codecs ------------------------------------------------------------------------------------------------


def compressor(codec: str) -> Any:
    """An object with ``compress(bytes) -> bytes`` and ``flush() -> bytes``."""
    if codec == "zst":
        import zstandard

        # threads=1: libzstd compresses in its own thread while this one reads tar's output and writes ours,
        # so reading and compressing overlap as they do in `tar | zstd` by hand (single-threaded compression).
        # write_checksum: a damaged archive must fail to decompress, as it does with the zstd CLI's default
        return zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=1, write_checksum=True).compressobj()
    if codec == "gz":
        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    raise BackupFailed("invalid_request", f"unknown codec {codec!r}: use one of {', '.join(CODECS)}", {})


class Decompressor:
    """Detects zstd or gzip from the first bytes; :meth:`finish` fails on a stream that ends early."""

    def __init__(self) -> None:
        self._obj: Any = None
        self._head = b""
        self.codec: str | None = None

    def update(self, data: bytes) -> bytes:
        if self._obj is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            if self._head.startswith(b"\x28\xb5\x2f\xfd"):
                import zstandard

                self._obj, self.codec = zstandard.ZstdDecompressor().decompressobj(), "zst"
            elif self._head.startswith(b"\x1f\x8b"):
                self._obj, self.codec = zlib.decompressobj(31), "gz"
            else:
                raise corrupted("the archive is neither zstd nor gzip compressed")
            data, self._head = self._head, b""
        try:
            return self._obj.decompress(data)
        except Exception as exc:  # zstd.ZstdError, zlib.error: both mean damaged data
            raise corrupted(f"the archive does not decompress ({exc})") from None

    def finish(self) -> None:
        if self._obj is None or not getattr(self._obj, "eof", False):
            raise corrupted("the archive is truncated (its compressed stream ends early)")
        if self._obj.unused_data:
            raise corrupted("the archive has trailing data after its compressed stream")


# -- the tar stream scanner --------------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    type: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: str = ""

    @property
    def is_file(self) -> bool:
        return self.type in (b"0", b"\0", b"7")


def _num(field_: bytes) -> int:
    if field_[:1] and field_[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        value = int.from_bytes(field_[1:], "big")
        return value - (1 << (8 * len(field_) - 8)) if field_[0] & 0x40 else value
    text = field_.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _str(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


_DATA_TYPES = (b"0", b"\0", b"7")
_NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")
_META_TYPES = (b"L", b"K", b"x")
_MAX_META = 1 << 20

Route = Any  # an opaque destination chosen by the caller's router; None drops the member


class TarScanner:
    """Splits a tar stream, fed in chunks of any size, into members.

    ``router(member)`` is called with each member (long names and pax ``path``/``linkpath``/``size`` applied) and
    returns where its bytes go; :meth:`feed` yields ``(route, bytes)`` pieces in stream order, each member's own
    header blocks included (its GNU long-name or pax blocks first). Nothing of a member is yielded before the
    router has accepted it, so a router that raises stops a bad member before anyone sees it. The end-of-archive
    zero block, and everything after it, is not yielded: :attr:`ended` turns True instead.
    """

    def __init__(self, router: Callable[[Member], Route]) -> None:
        self._router = router
        self._hdr = bytearray()
        self._skip = 0  # payload bytes (with padding) of the current member still to pass through
        self._route: Route = None
        self._meta_left = 0
        self._meta_raw = bytearray()  # long-name / pax blocks waiting for the member they describe
        self._meta_data = bytearray()
        self._meta_type = b""
        self._meta_size = 0
        self._long: dict[str, str] = {}
        self.ended = False
        self.members = 0

    def feed(self, data: bytes) -> Iterator[tuple[Route, memoryview | bytes]]:
        mv, pos, n = memoryview(data), 0, len(data)
        while pos < n and not self.ended:
            if self._skip:
                take = min(self._skip, n - pos)
                if self._route is not None:
                    yield self._route, mv[pos : pos + take]
                self._skip -= take
                pos += take
                continue
            if self._meta_left:
                take = min(self._meta_left, n - pos)
                self._meta_raw += mv[pos : pos + take]
                self._meta_data += mv[pos : pos + take]
                self._meta_left -= take
                pos += take
                if not self._meta_left:
                    self._end_meta()
                continue
            take = min(BLOCK - len(self._hdr), n - pos)
            self._hdr += mv[pos : pos + take]
            pos += take
            if len(self._hdr) == BLOCK:
                header = bytes(self._hdr)
                self._hdr.clear()
                out = self._header(header)
                if out is not None:
                    yield out

    @property
    def mid_member(self) -> bool:
        return bool(self._skip or self._meta_left or self._hdr or self._meta_raw)

    def _header(self, block: bytes) -> tuple[Route, bytes] | None:
        if block == b"\0" * BLOCK:
            if self._meta_raw:
                raise corrupted("the archive ends right after a long-name header")
            self.ended = True
            return None
        try:
            stored = _num(block[148:156])
        except ValueError:
            raise corrupted("a tar header is damaged (unreadable checksum)") from None
        if stored != sum(block[:148]) + 256 + sum(block[156:]):
            raise corrupted("a tar header is damaged (checksum mismatch)")
        try:
            size = _num(block[124:136])
            typ = block[156:157]
            if typ in _META_TYPES:
                if size > _MAX_META:
                    raise corrupted("a long-name header is implausibly large")
                self._meta_raw += block
                self._meta_type, self._meta_size = typ, size
                self._meta_data.clear()
                self._meta_left = -(-size // BLOCK) * BLOCK
                if not self._meta_left:
                    self._end_meta()
                return None
            name = _str(block[0:100])
            if block[257:263] == b"ustar\x00" and block[345:500].strip(b"\0"):
                name = _str(block[345:500]) + "/" + name
            member = Member(
                name=self._long.pop("path", name),
                type=typ,
                size=int(self._long.pop("size", size)),
                mode=_num(block[100:108]),
                uid=int(self._long.pop("uid", _num(block[108:116]))),
                gid=int(self._long.pop("gid", _num(block[116:124]))),
                mtime=_num(block[136:148]),
                linkname=self._long.pop("linkpath", _str(block[157:257])),
            )
        except ValueError:
            raise corrupted("a tar header is damaged (unreadable number)") from None
        self._long.clear()
        if typ in _DATA_TYPES:
            payload = -(-member.size // BLOCK) * BLOCK
        elif typ in _NO_DATA_TYPES:
            if member.size:
                raise corrupted(f"the archive member {member.name!r} has data where none belongs")
            payload = 0
        else:
            raise corrupted(f"the archive member {member.name!r} has a type ({typ!r}) Rivetr never writes")
        if member.size < 0:
            raise corrupted("a tar header is damaged (negative size)")
        self.members += 1
        self._route = self._router(member)
        self._skip = payload
        raw = bytes(self._meta_raw) + block
        self._meta_raw.clear()
        return (self._route, raw) if self._route is not None else None

    def _end_meta(self) -> None:
        data = bytes(self._meta_data[: self._meta_size])
        if self._meta_type == b"L":
            self._long["path"] = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
        elif self._meta_type == b"K":
            self._long["linkpath"] = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
        else:
            self._long.update(_pax_records(data))


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            raise corrupted("a pax header is damaged")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise corrupted("a pax header is damaged") from None
        if length <= space - pos or pos + length > len(data):
            raise corrupted("a pax header is damaged")
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        k = key.decode("utf-8", "surrogateescape")
        if k in ("path", "linkpath", "size", "uid", "gid"):
            records[k] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def check_member_path(path: str) -> list[str]:
    """The path's components, or corrupted_archive when it could land outside the target."""
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or not path or "\0" in path:
        raise corrupted(f"the archive member {path!r} would land outside its directory; refusing the archive")
    return [p for p in parts if p not in ("", ".")]


# -- creating ----------------------------------------------------------------------------------------------


@dataclass
class SourceList:
    name: str
    path: str
    list_file: IO[bytes]
    files: int = 0
    total: int = 0  # bytes of regular files
    skipped: int = 0


def walk_source(name: str, path: str) -> SourceList:
    """Every entry under ``path`` tar should archive (a NUL-separated list in a temp file), with counts.

    Sockets and device nodes are skipped (they are recreated by whatever made them, and tar cannot restore a
    socket anyway); symlinks are listed, never followed; our own staging directories are left out."""
    if not os.path.isdir(path) or os.path.islink(path):
        raise BackupFailed(
            "source_missing", f"the source directory {path} of {name!r} does not exist", {"name": name}
        )
    out = tempfile.TemporaryFile()
    src = SourceList(name, path, out)
    out.write(b".\0")
    linked: set[tuple[int, int]] = set()

    def visit(rel: str, full: str, top: bool) -> None:
        # Pre-order, each directory's whole subtree right after it: GNU tar sets a directory's mtime as soon as
        # it extracts a member outside it, so a child listed later would leave the directory's mtime wrong.
        try:
            with os.scandir(full) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise BackupFailed(
                "source_unreadable", f"cannot read {full}: {exc.strerror}", {"name": name}
            ) from None
        for entry in entries:
            if top and entry.name.startswith(RESERVED_PREFIXES):
                continue
            st = entry.stat(follow_symlinks=False)
            mode = st.st_mode
            if stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                src.skipped += 1
                continue
            child = rel + entry.name
            out.write(os.fsencode(child) + b"\0")
            if stat.S_ISDIR(mode):
                visit(child + "/", entry.path, False)
            elif stat.S_ISREG(mode):
                # tar stores further links to one inode as links: count its data once, as a restore does
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in linked:
                        continue
                    linked.add((st.st_dev, st.st_ino))
                src.files += 1
                src.total += st.st_size

    visit("./", path, True)
    out.seek(0)
    return src


def manifest_member(codec: str, sources: list[SourceList]) -> bytes:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "codec": codec,
        "sources": [{"name": s.name, "files": s.files, "bytes": s.total} for s in sources],
    }
    body = json.dumps(doc, indent=2).encode()
    info = tarfile.TarInfo(MANIFEST)
    info.size, info.mode, info.mtime = len(body), 0o644, int(time.time())
    return info.tobuf(tarfile.GNU_FORMAT) + body + b"\0" * (-len(body) % BLOCK)


def tar_stream(codec: str, sources: list[SourceList]) -> Iterator[bytes]:
    """The uncompressed archive, in pieces: manifest, each source's tar run without its end marker, the end."""
    yield manifest_member(codec, sources)
    for i, src in enumerate(sources):
        # The last run's own end marker ends the archive: its output passes through unparsed (no scan, no copy;
        # with one volume, the usual case, that is all of it). Earlier runs lose theirs to the scanner.
        yield from _tar_source(src, last=i == len(sources) - 1)
    if not sources:
        yield b"\0" * (2 * BLOCK)


def _tar_source(src: SourceList, *, last: bool = False) -> Iterator[bytes]:
    stderr = tempfile.TemporaryFile()
    cmd = [
        TAR, "--create", "--file=-", "--format=gnu", f"--directory={src.path}", "--numeric-owner",
        "--no-recursion", "--null", "--verbatim-files-from", "--files-from=-",
        # './x' -> '<name>/x' for member names and hard-link targets, never for symlink targets (flag S)
        f"--transform=s,^\\.,{src.name},S", "--warning=no-file-changed", "--warning=no-file-removed",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=src.list_file, stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
    scanner = TarScanner(lambda member: True)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    try:
        while True:
            data = os.read(fd, READ_SIZE)
            if not data:
                break
            if last:
                yield data
            elif not scanner.ended:
                yield b"".join(piece for _route, piece in scanner.feed(data))
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        src.list_file.close()
    # 1 = "some files changed while being read": the archive is still whole (the app was paused or chose not to be)
    if code not in (0, 1) or not (last or scanner.ended):
        stderr.seek(0)
        tail = stderr.read()[-2000:].decode(errors="replace").strip()
        raise BackupFailed(
            "source_unreadable",
            f"archiving {src.path} failed: {tail or f'tar exited {code}'}",
            {"name": src.name},
        )


# -- extracting --------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    path: str
    staging: str
    files: int = 0
    total: int = 0  # bytes of regular files
    root: Member | None = None
    proc: subprocess.Popen[bytes] | None = None
    stderr: IO[bytes] | None = None


@dataclass
class Extractor:
    """Routes a decompressed archive's members to one ``tar -x`` per requested target (see the module doc)."""

    targets: dict[str, Target]
    manifest: dict[str, Any] | None = None
    _manifest_buf: bytearray = field(default_factory=bytearray)
    _first: bool = True

    def __post_init__(self) -> None:
        self._scanner = TarScanner(self._route)

    def _route(self, member: Member) -> Route:
        first = self._first
        self._first = False
        if first:
            if member.name != MANIFEST or not member.is_file or member.size > _MAX_META:
                raise corrupted("not a Rivetr volume archive (its first member is not rivetr-backup.json)")
            return "manifest"
        parts = check_member_path(member.name)
        if not parts:
            raise corrupted(f"the archive member {member.name!r} has no name")
        target = self.targets.get(parts[0])
        if target is None:
            return None  # another source of the archive: not restored this time
        if member.type in (b"3", b"4"):  # never written by us; a device node in a volume is a way out of it
            raise corrupted(f"the archive member {member.name!r} is a device node; refusing the archive")
        if member.type == b"1":
            link = check_member_path(member.linkname)
            if not link or link[0] != parts[0] or len(link) < 2:
                raise corrupted(
                    f"the hard link {member.name!r} points outside its volume; refusing the archive"
                )
        if len(parts) == 1:
            if member.type != b"5":
                raise corrupted(f"the archive member {member.name!r} should be a directory")
            target.root = member
        elif member.is_file:
            target.files += 1
            target.total += member.size
        if target.proc is None:
            self._start(target)
        return target

    def _start(self, target: Target) -> None:
        target.stderr = tempfile.TemporaryFile()
        cmd = [
            TAR, "--extract", "--file=-", f"--directory={target.staging}", "--strip-components=1",
            "--numeric-owner", "--same-owner", "--same-permissions", "--warning=no-timestamp",
        ]  # fmt: skip
        target.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=target.stderr, bufsize=0)

    def feed(self, data: bytes) -> None:
        if self._scanner.ended:
            if data.strip(b"\0"):
                raise corrupted("the archive has data after its end")
            return
        for route, piece in self._scanner.feed(data):
            if isinstance(route, str):  # the manifest
                self._manifest_buf += piece
            else:
                self._write(route, piece)

    def _write(self, target: Target, piece: bytes | memoryview) -> None:
        assert target.proc is not None and target.proc.stdin is not None
        try:
            target.proc.stdin.write(piece)
        except BrokenPipeError:
            raise self._tar_failed(target) from None

    def _tar_failed(self, target: Target) -> BackupFailed:
        assert target.proc is not None and target.stderr is not None
        code = target.proc.wait()
        target.stderr.seek(0)
        tail = target.stderr.read()[-2000:].decode(errors="replace").strip()
        if "No space left" in tail:
            return BackupFailed("disk_full", f"the disk under {target.path} is full", {"name": target.name})
        return BackupFailed(
            "extract_failed", f"extracting {target.name!r} failed: {tail or f'tar exited {code}'}",
            {"name": target.name},
        )  # fmt: skip

    def finish(self) -> None:
        if not self._scanner.ended or self._scanner.mid_member:
            raise corrupted("the archive is truncated (the tar stream ends inside a member)")
        try:
            doc = json.loads(bytes(self._manifest_buf[BLOCK:]).rstrip(b"\0"))  # after its header block
        except ValueError:
            raise corrupted("the archive's rivetr-backup.json is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise corrupted("not a Rivetr volume archive of a format this version reads")
        self.manifest = doc
        missing = [t.name for t in self.targets.values() if t.proc is None]
        if missing:
            raise BackupFailed(
                "missing_in_archive",
                f"the archive has no {', '.join(repr(m) for m in missing)} "
                f"(it holds: {', '.join(s.get('name', '?') for s in doc.get('sources', [])) or 'nothing'})",
                {"missing": missing},
            )
        for target in self.targets.values():
            self._write(target, b"\0" * (2 * BLOCK))
            assert target.proc is not None and target.proc.stdin is not None
            target.proc.stdin.close()
            if target.proc.wait() != 0:
                raise self._tar_failed(target)
            if target.root is not None:  # the volume's own directory: owner and mode as archived
                os.chown(target.staging, target.root.uid, target.root.gid)
                os.chmod(target.staging, stat.S_IMODE(target.root.mode))
                os.utime(target.staging, (target.root.mtime, target.root.mtime))

    def abort(self) -> None:
        for target in self.targets.values():
            if target.proc is not None and target.proc.poll() is None:
                target.proc.kill()
                target.proc.wait()
