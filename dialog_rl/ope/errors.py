"""The one exception of off-policy evaluation (numpy-free, so the CLI can import it cheaply)."""


class OPEInputError(ValueError):
    """Data that off-policy evaluation cannot use (reported in one line, exit code 2 on the CLI)."""
