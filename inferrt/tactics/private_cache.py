"""inferrt's private per-user cache directories and the only way inferrt writes files into them.

Layout: ``$INFERRT_CACHE`` (default ``~/.cache/inferrt``) / ``<area>-<uid>``, for example ``kernels-1000`` (kernel
binaries of loaded plans) and ``triton_src-1000`` (generated Triton sources). An area is created with mode 0700 and,
on every use, opened without following links and checked to be a directory owned by this user that no one else can
read or write. Inside it, directories are opened relative to their parent's descriptor with ``O_NOFOLLOW`` and files
are written under a random temporary name opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``, then renamed into place:
a link planted at any name is never followed, and a reader never sees a half-written file.
"""
from __future__ import annotations

import os
import secrets
import stat

from ..errors import InferrtError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class CacheDirError(InferrtError):
    """inferrt's private cache directory is missing, unsafe (a link, another owner, open to others) or unwritable."""


def root() -> str:
    return os.path.abspath(os.environ.get("INFERRT_CACHE") or os.path.expanduser("~/.cache/inferrt"))


def area_path(area: str) -> str:
    return os.path.join(root(), f"{area}-{os.getuid()}")


def _check_dir(fd: int, where: str) -> None:
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise CacheDirError(f"inferrt's private cache {where} is not a directory; remove it")
    if st.st_uid != os.getuid():
        raise CacheDirError(f"inferrt's private cache {where} belongs to user {st.st_uid}, not to this user "
                            f"({os.getuid()}); remove it or set INFERRT_CACHE to a directory of your own")
    if st.st_mode & 0o077:
        raise CacheDirError(f"inferrt's private cache {where} has mode {oct(st.st_mode & 0o777)}: others can use "
                            f"it; run `chmod 700 {where}` (or remove it) and try again")


def open_area(area: str) -> int:
    """A descriptor of the checked area directory (created if missing); the caller closes it."""
    path = area_path(area)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as e:
        if os.path.islink(path):
            raise CacheDirError(f"inferrt's private cache {path} is a symbolic link; remove it (inferrt never "
                                f"follows links there)") from None
        raise CacheDirError(f"cannot open inferrt's private cache {path} ({e.strerror or e}); set INFERRT_CACHE "
                            f"to a writable directory") from None
    try:
        _check_dir(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_subdir(parent_fd: int, name: str, where: str) -> int:
    """Descriptor of directory ``name`` inside ``parent_fd`` (created 0700 if missing), never through a link."""
    _check_name(name)
    try:
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    except FileExistsError:
        pass
    except OSError as e:
        raise CacheDirError(f"cannot create {where}/{name} ({e.strerror or e})") from None
    try:
        fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=parent_fd)
    except OSError as e:
        raise CacheDirError(f"{where}/{name} is not a directory inferrt can use ({e.strerror or e}; a link is "
                            f"never followed); remove it") from None
    try:
        _check_dir(fd, f"{where}/{name}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_name(name: str) -> None:
    if not (isinstance(name, str) and name and name.isascii() and "/" not in name and "\x00" not in name
            and name not in (".", "..")):
        raise CacheDirError(f"refusing the file name {name!r} in inferrt's private cache")


def read_file(dir_fd: int, name: str, limit: int) -> bytes | None:
    """Contents of regular file ``name`` (at most ``limit`` bytes), or None if it is missing, a link or larger."""
    _check_name(name)
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, left = [], st.st_size + 1
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    finally:
        os.close(fd)


def write_file(dir_fd: int, name: str, data: bytes) -> None:
    """Atomically make ``name`` hold ``data``: a fresh random temporary file (never an existing file or link),
    written fully, then renamed over ``name`` (a link at ``name`` is replaced, not followed)."""
    _check_name(name)
    for _ in range(8):
        tmp = f".tmp-{secrets.token_hex(12)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise CacheDirError("cannot create a temporary file in inferrt's private cache")
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def ensure_file(dir_fd: int, name: str, data: bytes) -> bool:
    """Make ``name`` hold exactly ``data``; returns True if it had to be written (missing or different)."""
    if read_file(dir_fd, name, len(data)) == data:
        return False
    write_file(dir_fd, name, data)
    return True
