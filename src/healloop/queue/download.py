"""Sending an opened artifact (``blobs.Opened``) as an HTTP response: a local file as a file (the
server can use sendfile), an S3 object as a stream, read chunk by chunk as the client takes it."""

from __future__ import annotations

from starlette.responses import FileResponse, Response, StreamingResponse

from healloop.queue.blobs import Opened


def artifact_response(opened: Opened, media_type: str, headers: dict[str, str]) -> Response:
    if opened.path is not None:
        return FileResponse(opened.path, media_type=media_type, headers=headers)
    assert opened.chunks is not None
    # A sync iterator: Starlette reads it in a worker thread, so a slow store never blocks the loop.
    return StreamingResponse(opened.chunks, media_type=media_type,
                             headers={**headers, "Content-Length": str(opened.size)})
