"""The floor: msgspec decode of response bodies + msgspec encode of RECORD lines to /dev/null.

Run by ``run.py`` as a subprocess: ``python benchmarks/floor.py requests.json``. The file lists
the requests the tap made (method, URL, headers, body) and where the rows sit in each body.
Fetching is not counted in the floor: only the CPU time of decoding each body and writing one
RECORD line per row. The client-side CPU of fetching the same requests one by one, the way the
tap does (``requests`` plus ``client.read_body``), is measured apart (``fetch_cpu``): the
harness subtracts it from the tap's CPU for the "response body to RECORD line" figure. Prints
one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import msgspec
import requests

from tap_chatbot_reports.client import read_body


def main(path: str) -> None:
    with open(path, encoding="utf-8") as handle:
        spec = json.load(handle)
    session = requests.Session()
    key = spec.get("list_key")
    stream = spec["stream"]
    encoder = msgspec.json.Encoder()
    decoder = msgspec.json.Decoder()
    rows = size = 0
    cpu = fetch_cpu = 0.0
    now = dt.datetime.now(dt.UTC).isoformat()
    with open("/dev/null", "wb") as sink:
        for call in spec["requests"]:
            fetching = time.process_time()
            response = session.request(
                call["method"],
                call["url"],
                headers=call["headers"],
                data=call["body"] or None,
                stream=True,
            )
            read_body(response)  # as the tap reads bodies, so its fetching CPU is comparable
            body = response.content
            fetch_cpu += time.process_time() - fetching
            size += len(body)
            started = time.process_time()
            payload = decoder.decode(body)
            for row in payload[key] if key else payload:
                message = {"type": "RECORD", "stream": stream, "record": row, "time_extracted": now}
                sink.write(encoder.encode(message) + b"\n")
                rows += 1
            cpu += time.process_time() - started
    print(json.dumps({"rows": rows, "bytes": size, "cpu": cpu, "fetch_cpu": fetch_cpu}))


if __name__ == "__main__":
    main(sys.argv[1])
