"""The error hierarchy. Every error the user can cause or fix is a ``RagError``.

Interfaces (CLI, API, UI) turn these into one-line messages; anything else is a bug.
"""


class RagError(Exception):
    """Base class: the message is shown to the user as one line."""


class InputError(RagError):
    """The user's input (question, file, gold line, option) is not acceptable."""


class NotFoundError(RagError):
    """A document, clause or file the user named does not exist."""


class CorpusError(RagError):
    """A source document cannot be read or parsed."""


class IndexError_(RagError):
    """The search index is missing, damaged or does not match the settings."""


class LLMError(RagError):
    """The generative endpoint failed or returned an unusable answer."""


class BusyError(RagError):
    """Another process is changing the corpus store or the index; try again later."""
