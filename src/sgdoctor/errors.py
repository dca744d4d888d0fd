"""Errors are types: the CLI maps each to an exit code and a one-line message."""


class SgdoctorError(Exception):
    """Base of every error sgdoctor raises on purpose."""


class ConfigError(SgdoctorError):
    """Bad options, config file or plugins: nothing was checked (exit code 2)."""


class Interrupted(SgdoctorError):
    """SIGINT or SIGTERM arrived; the exit code is 128 + signum, as a shell reports it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
