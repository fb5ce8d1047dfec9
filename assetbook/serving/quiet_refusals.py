"""A refused request is the client's error, not the server's: BentoML logs each one as an
`[ERROR] Exception on /predict` with a traceback (~25 lines of pydantic's), so a server's log
held dozens of them for a client sending bad rows, and a real server error drowned among them.
The refusal itself is answered (400, with its reason) and recorded (recording.py); only its
traceback leaves the log. Server errors (5xx) are logged as BentoML logs them."""

from __future__ import annotations

import logging

from bentoml.exceptions import BentoMLException
from pydantic import ValidationError

# where BentoML's `log_exception` logs every failed request
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"


class ClientErrorTracebacks(logging.Filter):
    """Drops the records of requests BentoML answered with a 4xx."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):  # answered 400
            return False
        return not (isinstance(error, BentoMLException) and error.error_code < 500)


def quiet_refusals() -> None:
    """Once a process: the filter on BentoML's request logger."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, ClientErrorTracebacks) for f in logger.filters):
        logger.addFilter(ClientErrorTracebacks())
