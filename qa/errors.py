"""Errors a user can act on. Anything else is a bug."""


class QAError(Exception):
    """Base for every error the library raises on purpose."""


class InvalidQuestion(QAError, ValueError):
    """The question is empty, too long, or has nothing to search for."""


class NoMatchingDocuments(QAError, ValueError):
    """A search filter (doc / city / year) that matches no indexed document."""


class IngestError(QAError):
    """A document could not be added; the corpus and index are unchanged."""


class ModelError(QAError):
    """The embedding model could not be prepared."""
