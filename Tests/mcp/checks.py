"""What both MCP client tests (stdio and streamable HTTP) check of a Countersign session."""


def text(result):
    return "".join(getattr(part, "text", "") for part in result.content)


async def check_session(session, transport: str) -> None:
    """Lists the tools, calls a Low one, a denied one and a held one, and asks for its status.

    The server must be set to wait only a few seconds for a human, and its workspace must hold
    notes.txt with "hello".
    """
    initialized = await session.initialize()
    print("negotiated protocol", initialized.protocol_version)
    names = {tool.name for tool in (await session.list_tools()).tools}
    assert {"files.read", "files.write", "shell.run", "countersign_status"} <= names, names

    low = await session.call_tool("files.read", {"path": "notes.txt"})
    assert not low.is_error and "hello" in text(low), text(low)

    denied = await session.call_tool("shell.run", {"program": "sudo", "arguments": ["ls"]})
    assert denied.is_error and "do not retry" in text(denied), text(denied)

    progress = []

    async def on_progress(value, total, message):
        progress.append(message)

    held = await session.call_tool(
        "files.write", {"path": f"mcp-{transport}.txt", "content": "hi"}, progress_callback=on_progress
    )
    assert not held.is_error and "countersign_status" in text(held), text(held)
    assert any(m and m.startswith("waiting for approval by a human, Medium") for m in progress), progress
    request = held.structured_content["id"]
    assert held.structured_content.get("approvalURL", "").endswith(f"/approvals/{request}"), held.structured_content
    assert held.structured_content.get("resource") == f"countersign://requests/{request}", held.structured_content
    status = await session.call_tool("countersign_status", {"id": request})
    assert "Waiting for a human" in text(status), text(status)
    print(f"MCP over {transport}: OK")
