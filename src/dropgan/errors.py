"""Exceptions raised for bad input; the CLI turns them into one error line and exit status 2."""


class DropganError(Exception):
    """Base class of the errors dropgan reports to users as a single line."""


class InputError(DropganError, ValueError):
    """An input image, mask or parameter that cannot be used."""


class OutputError(DropganError, OSError):
    """An output that cannot be written (unwritable folder, existing file without ``force``)."""
