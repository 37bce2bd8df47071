import socket

from celery import shared_task


@shared_task(name="core.ping", acks_late=True, soft_time_limit=10, time_limit=15)
def ping(token: str) -> dict[str, str]:
    """Health probe proving a worker consumes from the broker: echoes the token and names the worker."""
    return {"pong": token, "worker": socket.gethostname()}
