"""The one error type the spec raises: its message is meant for the user, as is."""


class SpecError(ValueError):
    """A spec, recipe or data set that cannot be valid; the message names what is wrong."""


ECHO_LIMIT = 80  # characters of a user's own text echoed back in a message


def quoted(value: object, limit: int = ECHO_LIMIT) -> str:
    """A user's value as it may appear in a message: ``repr`` (so a newline or an escape code
    cannot start a line of its own) cut to about ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"<an integer of about {value.bit_length() * 0.30103:.0f} digits>"  # type: ignore[attr-defined]
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 16, 16)]}...({len(text):,} characters)"


def shown(text: object, limit: int = ECHO_LIMIT) -> str:
    """A path or name echoed bare when it is short and printable, else :func:`quoted`."""
    value = str(text)
    return value if value.isprintable() and len(value) <= limit else quoted(value, limit)
