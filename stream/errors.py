"""One exception base for the service, a subclass per area; library errors wrapped with `from`."""


class EmsMlError(Exception):
    """Base of every error the service raises on purpose."""


class StorageError(EmsMlError):
    """PostgreSQL could not be reached or refused a write; transient, retried by the caller."""


class StorageRefused(EmsMlError):
    """PostgreSQL answers but refuses the write itself (a constraint, a type, a privilege, a
    schema it does not know): retrying cannot help, and going on would skip the batch."""


def storage_failure(error: Exception, what: str) -> EmsMlError:
    """A database failure, classified: `StorageError` (transient: retry) when the database
    cannot be reached or dropped the connection or the transaction, else `StorageRefused`."""
    import psycopg
    from psycopg_pool import PoolTimeout

    if isinstance(error, PoolTimeout | psycopg.OperationalError | psycopg.InterfaceError):
        return StorageError(f"{what} failed: {error}")
    return StorageRefused(f"{what} refused by PostgreSQL: {type(error).__name__}: {error}")


class PublishError(EmsMlError):
    """A Kafka message could not be delivered; transient, retried by the caller."""


class StackError(EmsMlError):
    """A local service (Kafka, PostgreSQL, EMS Core stand-in) could not be installed or started."""
