"""The mock adds no OpenTelemetry spans to the traces of the process it runs in (FastAPI's native
telemetry is off; the request journal is its record), while a plain FastAPI app in the same
process, with the same tracer provider, does: so the check below can fail."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, json
    import httpx
    from fastapi import FastAPI
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TracerProvider, Tracer

    started = []

    class Recording(Tracer):
        def start_span(self, name, *args, **kwargs):
            started.append(name)
            return NonRecordingSpan(SpanContext(1, 1, False))

        def start_as_current_span(self, name, *args, **kwargs):
            started.append(name)
            return trace.use_span(NonRecordingSpan(SpanContext(1, 1, False)))

    class Provider(TracerProvider):
        def get_tracer(self, *args, **kwargs):
            return Recording()

    trace.set_tracer_provider(Provider())

    from mock_op_auth import create_app

    plain = FastAPI()

    @plain.get("/ping")
    async def ping() -> dict:
        return {}

    async def call(app, method, path, **kwargs):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as client:
            return (await client.request(method, path, **kwargs)).status_code

    async def main():
        counts = {}
        status = await call(create_app(), "POST", "/token", data={"grant_type": "client_credentials"},
                            auth=("demo-client", "demo-secret"))
        counts["mock"] = (status, len(started))
        await call(plain, "GET", "/ping")
        counts["plain"] = len(started) - counts["mock"][1]
        print(json.dumps(counts))

    asyncio.run(main())
""")


def test_the_mock_starts_no_span_where_a_plain_fastapi_app_does() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["mock"] == [200, 0]
    assert counts["plain"] > 0  # the provider is seen by FastAPI's telemetry: the check above can fail
