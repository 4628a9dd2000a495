"""One family of typed errors; cli.py turns them into one-line messages and exit codes."""


class ColorcliError(Exception):
    """Base of every error colorcli raises on purpose. The message is one line for a person."""

    exit_code = 1


class UsageError(ColorcliError):
    """The command line or its arguments are wrong (exit code 2)."""

    exit_code = 2


class ImageError(ColorcliError):
    """An image cannot be read, understood or written."""


class DiskFullError(ImageError):
    """An output cannot be written because its file system is full (ENOSPC, EDQUOT): a run stops on it."""

    def __init__(self, message: str, folder):
        super().__init__(message)
        self.folder = folder


class ModelError(ColorcliError):
    """A model cannot be found, loaded, or does not follow the model contract."""


class ProviderError(ColorcliError):
    """The requested ONNX Runtime execution provider cannot run here."""


class DataError(ColorcliError):
    """A dataset is missing, incomplete or corrupt."""


class DownloadError(ColorcliError):
    """A download failed, was interrupted or did not match its pinned hash."""


class CheckpointError(ColorcliError):
    """A training checkpoint is missing, incomplete or inconsistent."""


class MissingDependencyError(ColorcliError):
    """An optional dependency (an extra) is not installed; the message names the install command."""


class Stopped(ColorcliError):
    """A run stopped by a signal (Ctrl-C, or SIGTERM from a scheduler); the exit code is 128 + the signal."""

    def __init__(self, signum: int, message: str):
        import signal

        super().__init__(f"{signal.Signals(signum).name}: {message}")
        self.exit_code = 128 + int(signum)
