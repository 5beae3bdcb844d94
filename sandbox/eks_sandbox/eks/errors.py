"""EKS errors as the service answers them: an HTTP status, ``x-amzn-ErrorType`` and ``{"message": ...}``."""

from __future__ import annotations


class EksError(Exception):
    """An EKS API error; botocore turns it into ``ClientError`` with ``code`` and ``message``."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def invalid_parameter(message: str) -> EksError:
    return EksError("InvalidParameterException", 400, message)


def invalid_request(message: str) -> EksError:
    return EksError("InvalidRequestException", 400, message)


def resource_in_use(message: str) -> EksError:
    return EksError("ResourceInUseException", 409, message)


def not_found(message: str) -> EksError:
    return EksError("ResourceNotFoundException", 404, message)


def limit_exceeded(message: str) -> EksError:
    return EksError("ResourceLimitExceededException", 400, message)
