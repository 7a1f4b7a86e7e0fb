"""Old import path of :mod:`rivetr_core.contract.repofiles` (reading a repository's files safely), kept working."""

from rivetr_core.contract.repofiles import (
    MAX_REPO_FILE_BYTES,
    UnsafeRepoFile,
    read_repo_file,
    read_repo_text,
)

__all__ = ["MAX_REPO_FILE_BYTES", "UnsafeRepoFile", "read_repo_file", "read_repo_text"]
