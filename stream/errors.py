"""One exception base for the service, a subclass per area; library errors wrapped with `from`."""


class EmsMlError(Exception):
    """Base of every error the service raises on purpose."""


class StorageError(EmsMlError):
    """PostgreSQL could not be reached or refused a write; transient, retried by the caller."""


class PublishError(EmsMlError):
    """A Kafka message could not be delivered; transient, retried by the caller."""


class StackError(EmsMlError):
    """A local service (Kafka, PostgreSQL, EMS Core stand-in) could not be installed or started."""
