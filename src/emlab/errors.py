"""The one exception type the CLI turns into a single-line error and a non-zero exit."""


class EmlabError(Exception):
    """A user-facing error: bad input, bad config, an unreachable server.

    The message is one line that names the file, row or field at fault and, where it
    helps, how to fix it. The CLI prints it as `emlab: error: <message>` and exits 2.
    """
