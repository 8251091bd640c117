"""The one exception type for bad input: the CLI prints its message as one line and exits 2."""


class LflError(Exception):
    """A user-facing error: bad input, bad config, a database of another schema version."""


class ConfigError(LflError):
    """config.yaml broke a rule of the JSON schema (the message names the key and the rule)."""


class DataError(LflError):
    """A data file is malformed: NaN values, wrong shapes, wrong labels, unreadable format."""
