from __future__ import annotations

from baton.client.sse import SSEDecoder, SSEEvent


def feed_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events


def test_parses_event_and_data_fields() -> None:
    events = feed_all([b'event: task.completed\ndata: {"id":"trn-1"}\n\n'])
    assert events == [SSEEvent(event="task.completed", data='{"id":"trn-1"}')]


def test_multibyte_character_split_across_chunks_survives() -> None:
    body = 'event: task.completed\ndata: {"error":"naïve – 東京"}\n\n'.encode()
    cut = body.index("東".encode()) + 1  # inside the three-byte character
    for chunks in ([body[:cut], body[cut:]], [bytes([b]) for b in body]):
        events = feed_all(chunks)
        assert [e.data for e in events] == ['{"error":"naïve – 東京"}']


def test_line_split_across_chunks_is_joined() -> None:
    events = feed_all([b"eve", b"nt: task.comp", b"leted\nda", b"ta: x\n", b"\n"])
    assert events == [SSEEvent(event="task.completed", data="x")]


def test_comments_are_ignored_and_do_not_end_events() -> None:
    events = feed_all([b": ping\n\nevent: a\n: keep-alive\ndata: 1\n\n"])
    assert events == [SSEEvent(event="a", data="1")]


def test_crlf_line_endings_are_stripped() -> None:
    events = feed_all([b"event: a\r\ndata: 1\r\n\r\nevent: b\r", b"\ndata: 2\r\n\r\n"])
    assert [(e.event, e.data) for e in events] == [("a", "1"), ("b", "2")]


def test_multiple_events_in_one_chunk_keep_their_order() -> None:
    body = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: 3\n\n"
    assert [e.event for e in feed_all([body])] == ["a", "b", "c"]


def test_only_one_leading_space_is_removed_and_first_colon_splits() -> None:
    events = feed_all([b"event:a\ndata:  two spaces: and colon\n\n"])
    assert events == [SSEEvent(event="a", data=" two spaces: and colon")]


def test_multiline_data_is_joined_with_newlines() -> None:
    assert feed_all([b"data: one\ndata: two\n\n"])[0].data == "one\ntwo"


def test_event_without_name_is_a_message_and_without_data_is_dropped() -> None:
    events = feed_all([b"event: lonely\n\ndata: x\n\n"])
    assert events == [SSEEvent(event="message", data="x")]


def test_id_persists_and_retry_is_reported() -> None:
    events = feed_all([b"retry: 2000\nid: 7\nevent: a\ndata: 1\n\nevent: b\ndata: 2\n\n"])
    assert events == [
        SSEEvent(event="a", data="1", id="7", retry=2000),
        SSEEvent(event="b", data="2", id="7"),
    ]


def test_incomplete_event_at_end_of_stream_is_not_dispatched() -> None:
    assert feed_all([b"event: a\ndata: 1\n"]) == []


def test_leading_byte_order_mark_is_ignored() -> None:
    assert feed_all([b"\xef\xbb", b"\xbfevent: a\ndata: 1\n\n"])[0].event == "a"
