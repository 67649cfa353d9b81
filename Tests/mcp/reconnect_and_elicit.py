"""A request outlives the connection that made it, and a client with elicitation is offered the decision.

Usage: COUNTERSIGN_AGENT_KEY=csk_... COUNTERSIGN_TOKEN=cst_... \
       python3 reconnect_and_elicit.py COUNTERSIGN_BINARY SERVER_URL

Over streamable HTTP with the official MCP Python SDK:
1. A held call's connection is dropped while it waits; an approver approves it with the CLI; a new
   session finds the request among its resources and gets the result with `countersign_status`.
2. A client that supports elicitation is offered the approval page (URL mode) for a Medium request
   that only an approver may decide; the approver denies it and the open call returns the denial.
3. For a request the server's policy lets the principal approve in the client (`client_approval`),
   the client is shown a form with the impact and the digest, approves, and the call returns the result.
"""

import asyncio
import json
import os
import re
import subprocess
import sys

from checks import text
from mcp import ClientSession, types
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


def approvals(binary: str, server: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, COUNTERSIGN_SERVER=server)
    return subprocess.run([binary, "approvals", *arguments], env=environment, capture_output=True, text=True)


async def pending_id(binary: str, server: str, path: str) -> str:
    """The id of the pending files.write request for `path`, as an approver finds it."""
    for _ in range(100):
        listed = approvals(binary, server, "list", "--json")
        if listed.returncode == 0:
            for request in json.loads(listed.stdout)["requests"]:
                if request.get("arguments", {}).get("path") == path:
                    return request["id"]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no pending request for {path}")


class Session:
    """An MCP session over streamable HTTP with the agent's key."""

    def __init__(self, server: str, **options):
        self.url = f"{server}/mcp?onBehalfOf=ana@acme.test&maxWait=60"
        self.options = options

    async def __aenter__(self) -> ClientSession:
        headers = {"Authorization": f"Bearer {os.environ['COUNTERSIGN_AGENT_KEY']}"}
        self.http = create_mcp_http_client(headers=headers)
        client = await self.http.__aenter__()
        self.transport = streamable_http_client(self.url, http_client=client)
        read, write, *_ = await self.transport.__aenter__()
        self.session = ClientSession(read, write, **self.options)
        await self.session.__aenter__()
        await self.session.initialize()
        return self.session

    async def __aexit__(self, *exc):
        await self.session.__aexit__(*exc)
        await self.transport.__aexit__(*exc)
        await self.http.__aexit__(*exc)


async def dropped_connection(binary: str, server: str) -> None:
    waiting = asyncio.Event()

    async def on_progress(value, total, message):
        waiting.set()

    async def call_and_drop():
        async with Session(server) as session:
            call = asyncio.create_task(
                session.call_tool("files.write", {"path": "dropped.txt", "content": "hi"}, progress_callback=on_progress)
            )
            await asyncio.wait_for(waiting.wait(), 20)
            call.cancel()  # The client goes away mid-call, its session with it.

    try:
        await call_and_drop()
    except (asyncio.CancelledError, Exception):
        pass
    request = await pending_id(binary, server, "dropped.txt")
    approved = approvals(binary, server, "approve", request)
    assert approved.returncode == 0, approved

    async with Session(server) as session:
        resources = (await session.list_resources()).resources
        uri = f"countersign://requests/{request}"
        assert any(str(resource.uri) == uri for resource in resources), resources
        status = await session.call_tool("countersign_status", {"id": request, "waitSeconds": 20})
        if "Waiting" in text(status) or "approved" in text(status):
            status = await session.call_tool("countersign_status", {"id": request, "waitSeconds": 20})
        assert not status.is_error and "dropped.txt" in text(status), text(status)
        read = await session.read_resource(uri)
        assert json.loads(read.contents[0].text)["state"] == "executed", read
    print(f"MCP: request {request} outlived its dropped connection; a new session got the result: OK")


async def url_elicitation(binary: str, server: str) -> None:
    offered = []

    async def on_elicit(context, parameters):
        offered.append(parameters)
        return types.ElicitResult(action="accept")

    async with Session(server, elicitation_callback=on_elicit) as session:
        call = asyncio.create_task(session.call_tool("files.write", {"path": "offered.txt", "content": "hi"}))
        request = await pending_id(binary, server, "offered.txt")
        for _ in range(100):
            if offered:
                break
            await asyncio.sleep(0.1)
        assert offered and offered[0].mode == "url", offered
        assert offered[0].url.endswith(f"/approvals/{request}") and offered[0].elicitation_id == request, offered
        denied = approvals(binary, server, "deny", request, "--reason", "not in this sprint")
        assert denied.returncode == 0, denied
        result = await asyncio.wait_for(call, 30)
        assert result.is_error and "not in this sprint" in text(result), text(result)
    print(f"MCP: the client was offered the approval page of {request} (URL elicitation): OK")


async def form_elicitation(server: str) -> None:
    forms = []

    async def on_elicit(context, parameters):
        forms.append(parameters)
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    async with Session(server, elicitation_callback=on_elicit) as session:
        result = await session.call_tool("files.write", {"path": "client-note.txt", "content": "from the client"})
        assert not result.is_error and "client-note.txt" in text(result), text(result)
    assert len(forms) == 1 and forms[0].mode in (None, "form"), forms
    assert "Impact:" in forms[0].message and re.search(r"sha256:[0-9a-f]{64}", forms[0].message), forms[0].message
    print("MCP: a Medium request the policy lets the principal approve in the client was approved in a form: OK")


async def main(binary: str, server: str) -> None:
    await dropped_connection(binary, server)
    await url_elicitation(binary, server)
    await form_elicitation(server)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
