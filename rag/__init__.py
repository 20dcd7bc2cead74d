"""Question answering over Chinese government policy documents, with citations."""

__version__ = "0.1.0"
