"""Errors the CLI turns into one-line messages and exit codes."""


class UsageError(Exception):
    """Bad option or filter: exit status 2."""


class RuntimeFailure(Exception):
    """Anything that went wrong while running (files, devices, permissions): exit status 1."""
