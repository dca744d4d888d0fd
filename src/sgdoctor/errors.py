"""Errors are types: the CLI maps each to an exit code and a one-line message."""


class SgdoctorError(Exception):
    """Base of every error sgdoctor raises on purpose."""


class ConfigError(SgdoctorError):
    """Bad options, config file or plugins: nothing was checked (exit code 2)."""
