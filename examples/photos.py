"""Fan-out: process_photo_upload starts one process_image run per photo, in parallel."""

from __future__ import annotations

import asyncio
import hashlib

from baton import Retry, Workflows

app = Workflows(default_retry=Retry(max_retries=2, wait_duration_ms=200))


@app.task(plan="starter", timeout_seconds=60)
def process_image(photo_id: str) -> dict[str, object]:
    """Pretend to make thumbnails: derive stable sizes from the photo id."""
    digest = hashlib.sha256(photo_id.encode()).digest()
    print(f"processing {photo_id}")
    return {
        "photo": photo_id,
        "thumbnails": [f"{photo_id}@{w}px.jpg" for w in (128, 512)],
        "bytes": 40_000 + int.from_bytes(digest[:2], "big"),
    }


@app.task
async def process_photo_upload(photo_ids: list[str]) -> dict[str, object]:
    results = await asyncio.gather(*(process_image(p) for p in photo_ids))
    return {"processed": len(results), "total_bytes": sum(r["bytes"] for r in results)}


if __name__ == "__main__":
    app.start()
