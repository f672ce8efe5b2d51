"""Bob hub: the live chat hub behind Bob, the AI front-office assistant."""

__version__ = "0.1.0"
