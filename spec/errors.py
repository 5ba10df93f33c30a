"""The one error type the spec raises: its message is meant for the user, as is."""


class SpecError(ValueError):
    """A spec, recipe or data set that cannot be valid; the message names what is wrong."""
