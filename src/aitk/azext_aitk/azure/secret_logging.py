"""Keep secrets (the API key, storage account keys) out of az's log, `--debug` included.

Three means: SDK calls whose answer is a secret (listSecrets, listKeys) pass `logging_enable=False`,
which az's SafeNetworkTraceLoggingPolicy and azure-core's logging policies honour per request
(azure/cli/core/sdk/policies.py, azure/core/pipeline/policies/_universal.py); raw calls whose answer
is a secret (getAuthToken, the log stream's credential) run inside `answer_unlogged()`, since az's
send_raw_request logs every answer's body under --debug (azure/cli/core/util.py, _log_response) and
has no per-request switch; a request that has
to carry a secret we know (the ARM deployment's `apiKey` parameter, sent by az's own deployment
code) runs inside `redacted(secret)`, which rewrites any log record that contains it.
"""

import logging
from contextlib import contextmanager

NO_LOGGING = {"logging_enable": False}  # kwargs for an SDK call whose request or answer is a secret
MASK = "***"


class _RedactSecrets(logging.Filter):  # pylint: disable=too-few-public-methods
    def __init__(self, secrets):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record):
        try:
            text = record.getMessage()
        except Exception:  # pylint: disable=broad-except
            return True
        if any(s in text for s in self.secrets):
            for s in self.secrets:
                text = text.replace(s, MASK)
            record.msg, record.args = text, ()
        return True


def _all_handlers():
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    return {h for lg in loggers for h in lg.handlers}


@contextmanager
def answer_unlogged():
    """While inside, az's send_raw_request logs neither the request nor the answer: both are
    guarded by `logger.isEnabledFor(DEBUG)` on azure.cli.core.util's logger, raised here to INFO."""
    from azure.cli.core import util  # pylint: disable=import-outside-toplevel

    before = util.logger.level
    util.logger.setLevel(max(before, logging.INFO))
    try:
        yield
    finally:
        util.logger.setLevel(before)


@contextmanager
def redacted(*secrets):
    """While inside, no handler of any logger writes one of `secrets`."""
    redactor = _RedactSecrets(secrets)
    handlers = _all_handlers()
    for h in handlers:
        h.addFilter(redactor)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(redactor)
