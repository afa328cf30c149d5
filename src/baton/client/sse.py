"""An incremental parser for ``text/event-stream`` bodies, shared by both clients.

Bytes are buffered until a full line has arrived and only then decoded as UTF-8, so a
multi-byte character split across network chunks survives (the Render SDK decodes each
chunk on its own and loses it).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]

_BOM = "\ufeff"


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched server-sent event.

    Attributes:
        event: the ``event:`` field, or ``"message"`` when the event named none.
        data: the ``data:`` lines joined with ``\\n``.
        id: the last ``id:`` seen on the stream, or ``None``.
        retry: the ``retry:`` reconnection delay in milliseconds, if this event set one.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turns chunks of a ``text/event-stream`` body into events.

    Lines end at ``\\n`` (a trailing ``\\r`` is dropped), a blank line dispatches the
    event, and lines starting with ``:`` are comments. A field splits at its first ``:``
    and one space after it is removed. An event still incomplete when the stream ends is
    discarded, as the SSE specification says.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._first_line = True
        self._event = ""
        self._data: list[str] = []
        self._has_data = False
        self._last_id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Adds a chunk of the body.

        Args:
            chunk: raw bytes as received; may cut lines or characters anywhere.

        Returns:
            The events completed by this chunk, in order.
        """
        self._buffer.extend(chunk)
        events: list[SSEEvent] = []
        start = 0
        while (end := self._buffer.find(b"\n", start)) != -1:
            raw = bytes(self._buffer[start:end])
            start = end + 1
            event = self._line(raw.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)
        del self._buffer[:start]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if line.endswith("\r"):
            line = line[:-1]
        if self._first_line:
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._field(name, value)
        return None

    def _field(self, name: str, value: str) -> None:
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent | None:
        event = None
        if self._has_data:
            event = SSEEvent(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._last_id,
                retry=self._retry,
            )
        self._event = ""
        self._data = []
        self._has_data = False
        self._retry = None
        return event
