"""A ComfyUI client as ComfyUI's script_examples/websockets_api_example.py works: POST /prompt with a client_id, follow
/ws until `executing` says node None for the prompt, then read /history and fetch each output with /view. It uses
`websocket-client` and urllib only, so it is a client nobody in this project wrote the protocol side of.

Run: python3 comfy_ws_client.py --server 127.0.0.1:8188 --prompt prompt.json --out DIR [options]
Prints one JSON report on stdout: what was uploaded, POST /prompt's answer (status and body), every /ws message (binary
frames as their header), the history entry, and the files fetched through /view (written under --out).
"""
import argparse
import json
import os
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import websocket  # websocket-client (Debian: python3-websocket)


def post(server, route, payload):
    # As the example: a JSON body with urllib's default content type.
    req = urllib.request.Request(f"http://{server}{route}", data=json.dumps(payload).encode("utf-8"))
    try:
        with urllib.request.urlopen(req) as res:
            body = res.read()
            return res.status, json.loads(body) if body else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def get_json(server, route):
    with urllib.request.urlopen(f"http://{server}{route}") as res:
        return json.loads(res.read())


def upload(server, path, name):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
        f"Content-Type: image/png\r\n\r\n"
    ).encode("utf-8") + data + f"\r\n--{boundary}--\r\n".encode("utf-8")
    req = urllib.request.Request(
        f"http://{server}/upload/image", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def frame_header(data):
    """Binary frames: a 4-byte big-endian type; type 1 is a preview (then its format), type 4 a preview with metadata."""
    kind = struct.unpack(">I", data[:4])[0]
    header = {"binary": kind, "bytes": len(data)}
    if kind == 1:
        header["format"] = struct.unpack(">I", data[4:8])[0]
        header["jpeg"] = data[8:10] == b"\xff\xd8"
    elif kind == 4:
        size = struct.unpack(">I", data[4:8])[0]
        header["metadata"] = json.loads(data[8 : 8 + size])
    return header


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--prompt", required=True, help="a file holding the API-format prompt")
    parser.add_argument("--out", required=True, help="where /view's files are written")
    parser.add_argument("--upload", nargs=2, metavar=("FILE", "NAME"), help="POST /upload/image first")
    parser.add_argument("--feature-flags", action="store_true", help="ask for previews with metadata (type 4)")
    parser.add_argument("--interrupt", action="store_true", help="POST /interrupt at the first progress message")
    parser.add_argument("--queue-and-delete", metavar="FILE", help="queue this prompt second, delete it while pending")
    args = parser.parse_args()

    report = {"messages": []}
    client_id = str(uuid.uuid4())
    ws = websocket.WebSocket()
    ws.connect(f"ws://{args.server}/ws?clientId={client_id}", timeout=120)
    if args.feature_flags:
        ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
    if args.upload:
        report["uploaded"] = upload(args.server, args.upload[0], args.upload[1])
    with open(args.prompt) as f:
        prompt = json.load(f)
    status, answer = post(args.server, "/prompt", {"prompt": prompt, "client_id": client_id})
    report["queued"] = {"status": status, "body": answer}
    if status != 200:
        print(json.dumps(report))
        return
    prompt_id = answer["prompt_id"]
    if args.queue_and_delete:
        with open(args.queue_and_delete) as f:
            second = json.load(f)
        _, queued = post(args.server, "/prompt", {"prompt": second, "client_id": client_id})
        report["deleted_id"] = queued["prompt_id"]
        report["queue_before"] = get_json(args.server, "/queue")
        post(args.server, "/queue", {"delete": [report["deleted_id"]]})
        report["queue_after"] = get_json(args.server, "/queue")

    interrupted = False
    while True:
        out = ws.recv()
        if isinstance(out, str):
            message = json.loads(out)
            report["messages"].append(message)
            data = message.get("data", {})
            if message["type"] == "progress" and args.interrupt and not interrupted:
                interrupted = True
                post(args.server, "/interrupt", {})
            if message["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                break  # the prompt is done
        else:
            report["messages"].append(frame_header(out))
    ws.close()

    history = get_json(args.server, f"/history/{prompt_id}")[prompt_id]
    report["history"] = history
    if args.queue_and_delete:
        report["deleted_history"] = get_json(args.server, f"/history/{report['deleted_id']}")
    report["files"] = []
    for node_id, node_output in history["outputs"].items():
        for image in node_output.get("images", []):
            query = urllib.parse.urlencode({k: image[k] for k in ("filename", "subfolder", "type")})
            with urllib.request.urlopen(f"http://{args.server}/view?{query}") as res:
                target = os.path.join(args.out, f"{node_id}-{len(report['files'])}.bin")
                with open(target, "wb") as f:
                    f.write(res.read())
            report["files"].append({"node": node_id, "image": image, "path": target})
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
