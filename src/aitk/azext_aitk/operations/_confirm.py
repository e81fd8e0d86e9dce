"""Asking the user before a change they may not expect, in knack's way (azure-cli's
`user_confirmation`: prompt_y_n, --yes skips it, no terminal is a refusal)."""

from knack.log import get_logger

from ..core.errors import ConfirmationRequiredError, DeclinedError

logger = get_logger(__name__)


def confirm(lines, question, yes, refusal):
    """Show `lines` and ask `question`; go on when the user says yes or passed --yes (the lines
    are shown then too). refusal: the one line said, without a terminal to ask, before anything
    else is printed. Raises DeclinedError (nothing was changed) on no."""
    if not lines:
        return
    if yes:
        for line in lines:
            logger.warning("%s", line)
        return
    from knack.prompting import NoTTYException, prompt_y_n, verify_is_a_tty

    try:
        verify_is_a_tty()
    except NoTTYException:
        raise ConfirmationRequiredError(refusal, "Add --yes to go on without asking.") from None
    for line in lines:
        logger.warning("%s", line)
    try:
        answer = prompt_y_n(question, default="n")
    except NoTTYException:
        raise ConfirmationRequiredError(refusal, "Add --yes to go on without asking.") from None
    if not answer:
        raise DeclinedError("Nothing was changed: you answered no.", "Run provision again when you want it.")
