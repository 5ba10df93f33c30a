"""The one error type the spec raises: its message is meant for the user, as is."""


class SpecError(ValueError):
    """A spec, recipe or data set that cannot be valid; the message names what is wrong."""


ECHO_LIMIT = 80  # characters of a user's own text echoed back in a message
#: printable text (a path, above all) shown bare: a path cut short no longer names its file
SHOWN_LIMIT = 300


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


def shown(text: object, limit: int = SHOWN_LIMIT) -> str:
    """A path or name echoed bare when it is printable and at most ``limit`` characters, else
    :func:`quoted` (cut to ECHO_LIMIT when ``limit`` is the default)."""
    value = str(text)
    if value.isprintable() and len(value) <= limit:
        return value
    return quoted(value, ECHO_LIMIT if limit == SHOWN_LIMIT else limit)
