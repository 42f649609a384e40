#!/usr/bin/env python3
"""A comfy-seal client in Python: seal a workflow and its images, run it on the endpoint, open and write the results.

Needs the standard library and `cryptography` (pip install cryptography). The wire format is in docs/protocol.md.

    export RUNPOD_API_KEY=... RUNPOD_ENDPOINT_ID=... ENCRYPTION_KEY=...
    python3 comfy_seal_client.py run --workflow wf.json --image photo.png --out results
    python3 comfy_seal_client.py open-webhook < body.json     # a webhook's body: checked and opened

`run` prints one JSON object on stdout: {"status": "COMPLETED", "job_id", "files"} or {"status": "FAILED", "code",
"message", "job_id"} (exit 1). Progress goes to stderr. Against `comfy-seal worker --local`, add
--api-url http://127.0.0.1:8000 (any --endpoint works there).
"""
import argparse
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

DEFAULT_API_URL = "https://api.runpod.ai/v2"
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


class JobFailed(Exception):
    """The job failed: `code` is one of the worker's codes (docs/protocol.md), `details` came sealed."""

    def __init__(self, code, message, job_id=None, details=None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.job_id, self.details = code, message, job_id, details


class BadAnswer(Exception):
    """A payload that is not what this job's worker would send (another job's, unsealed, or malformed)."""


def load_keys(text):
    """ENCRYPTION_KEY: one key, or several separated by commas (the first seals, all open)."""
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise ValueError("no key: set ENCRYPTION_KEY or pass --key")
    return MultiFernet([Fernet(k.encode("ascii")) for k in keys])


def seal_request(fernet, workflow, images=(), options=None, reply=None, webhook=None):
    """The body of POST /run: the bundle (workflow, images as base64, options) sealed into one token."""
    bundle = {"workflow": workflow, "images": [{"name": name, "image": base64.b64encode(data).decode("ascii")} for name, data in images]}
    if options:
        bundle["options"] = options
    if reply:
        bundle["reply"] = reply  # {"put": presigned PUT URL, "get": presigned GET URL}: where a large result goes
    body = {"input": {"encrypted_input": fernet.encrypt(json.dumps(bundle).encode("utf-8")).decode("ascii")}}
    if webhook:
        body["webhook"] = webhook
    return body


def open_token(fernet, token, what):
    """A sealed payload's JSON object; BadAnswer when it does not open with these keys (forged, or another key's)."""
    try:
        payload = json.loads(fernet.decrypt(token.encode("ascii") if isinstance(token, str) else token))
    except (InvalidToken, UnicodeEncodeError, ValueError) as error:
        raise BadAnswer(f"the {what} does not open with this key") from error
    if not isinstance(payload, dict):
        raise BadAnswer(f"the {what} is not a JSON object")
    return payload


def open_sealed(fernet, token, job_id, what):
    """A sealed payload, refused unless it names this job (a valid token of another job is not this job's answer)."""
    payload = open_token(fernet, token, what)
    if payload.get("job_id") != job_id:
        raise BadAnswer(f"the {what} does not name job {job_id}")
    return payload


def fetch_blob(fernet, pointer, job_id, reply_get):
    """A result too large to travel inline: fetched only from the GET URL this client issued, size and sha256 checked."""
    blob = pointer["blob"]
    if reply_get is None or blob.get("url") != reply_get:
        raise BadAnswer("the result points to a URL this client did not issue")
    with urllib.request.urlopen(reply_get, timeout=300) as answer:
        data = answer.read(blob["size"] + 1)
    if len(data) != blob["size"] or hashlib.sha256(data).hexdigest() != blob["sha256"]:
        raise BadAnswer("the result blob's size or sha256 does not match its pointer")
    return open_sealed(fernet, data, job_id, "result blob")


def open_status(status, fernet, job_id, reply_get=None):
    """A final /status (or webhook) body → the opened result; raises JobFailed for a failed, cancelled or timed-out job."""
    if status.get("id") != job_id:
        raise BadAnswer(f"the status is for job {status.get('id')}, not {job_id}")
    state = status.get("status")
    if state == "COMPLETED":
        output = status.get("output")
        if not isinstance(output, dict) or "encrypted_output" not in output:
            raise BadAnswer("the result is not sealed")
        result = open_token(fernet, output["encrypted_output"], "result")
        # A result, or a pointer to one in your storage: either must name this job (and so must the result it leads to).
        if result.get("job_id") != job_id:
            raise BadAnswer(f"the result does not name job {job_id}")
        return fetch_blob(fernet, result, job_id, reply_get) if "blob" in result else result
    if state == "FAILED":
        try:
            error = json.loads(status.get("error") or "")
        except ValueError:
            raise JobFailed("UNKNOWN", str(status.get("error")), job_id) from None
        if "encrypted_error" in error:
            sealed = open_sealed(fernet, error["encrypted_error"], job_id, "error")
            raise JobFailed(error.get("code"), sealed.get("message", ""), job_id, sealed.get("details"))
        raise JobFailed(error.get("code"), error.get("message", ""), job_id)
    raise JobFailed(state, f"the job ended {state}", job_id)


def open_progress(status, fernet, job_id):
    """The sealed progress of an IN_PROGRESS /status, or None when the worker has posted none yet."""
    output = status.get("output")
    if isinstance(output, dict) and "encrypted_progress" in output:
        return open_sealed(fernet, output["encrypted_progress"], job_id, "progress")
    return None


def open_webhook(body, fernet):
    """A webhook's body (RunPod POSTs the final /status): checked against its own id. Returns (job_id, result)."""
    status = json.loads(body)
    if not isinstance(status, dict) or not isinstance(status.get("id"), str):
        raise BadAnswer("the webhook body is not a job status")
    return status["id"], open_status(status, fernet, status["id"])


class Endpoint:
    """RunPod's endpoint API (or `comfy-seal worker --local`): submit, status, cancel."""

    def __init__(self, endpoint_id, api_key, api_url=DEFAULT_API_URL):
        self.base = f"{api_url.rstrip('/')}/{endpoint_id}"
        self.api_key = api_key

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(f"{self.base}/{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.api_key}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def submit(self, body):
        return self._call("POST", "run", body)["id"]

    def status(self, job_id):
        return self._call("GET", f"status/{job_id}")

    def cancel(self, job_id):
        return self._call("POST", f"cancel/{job_id}")

    def wait(self, job_id, fernet, on_progress=None, poll_s=1.0, timeout_s=None):
        """Polls /status until the job ends; each new sealed progress goes to on_progress. Returns the final status."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            status = self.status(job_id)
            if status.get("status") in TERMINAL:
                return status
            progress = open_progress(status, fernet, job_id)
            if on_progress and progress and progress != last:
                on_progress(progress)
            last = progress
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status.get('status')} after {timeout_s} s (it goes on)")
            time.sleep(poll_s)


def write_files(result, out_dir):
    """Writes every output under its name (never over a file: name-2.png), readable by the user only. Returns the paths."""
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    paths = []
    for output in result.get("outputs", []):
        name = output["filename"]
        if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
            raise BadAnswer("an output's file name is not a plain name")
        data = base64.b64decode(output["data"], validate=True)
        stem, ext = os.path.splitext(name)
        for n in range(1, 1000):
            path = os.path.join(out_dir, name if n == 1 else f"{stem}-{n}{ext}")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            paths.append(path)
            break
    return paths


def _run(args):
    fernet = load_keys(args.key or os.environ.get("ENCRYPTION_KEY", ""))
    endpoint_id = args.endpoint or os.environ.get("RUNPOD_ENDPOINT_ID")
    if not endpoint_id:
        raise ValueError("no endpoint: set RUNPOD_ENDPOINT_ID or pass --endpoint")
    api_url = args.api_url or os.environ.get("RUNPOD_API_URL") or DEFAULT_API_URL
    endpoint = Endpoint(endpoint_id, os.environ.get("RUNPOD_API_KEY", ""), api_url)
    with open(args.workflow, encoding="utf-8") as file:
        workflow = json.load(file)
    images = []
    for path in args.image:
        with open(path, "rb") as file:
            images.append((os.path.basename(path), file.read()))
    options = {"timeout_s": args.timeout} if args.timeout else None
    job_id = endpoint.submit(seal_request(fernet, workflow, images, options))
    print(f"job {job_id} submitted", file=sys.stderr)

    def show(progress):
        percent = progress.get("percent")
        print(f"  {progress.get('state')}" + (f" {percent:.0f}%" if isinstance(percent, (int, float)) else ""), file=sys.stderr)

    try:
        result = open_status(endpoint.wait(job_id, fernet, show), fernet, job_id)
    except JobFailed as failure:
        print(json.dumps({"status": "FAILED", "code": failure.code, "message": failure.message, "job_id": job_id}))
        return 1
    files = write_files(result, args.out)
    print(json.dumps({"status": "COMPLETED", "job_id": job_id, "files": files}))
    return 0


def _open_webhook(args):
    fernet = load_keys(args.key or os.environ.get("ENCRYPTION_KEY", ""))
    body = sys.stdin.buffer.read()
    try:
        job_id, result = open_webhook(body, fernet)
    except JobFailed as failure:
        print(json.dumps({"status": "FAILED", "code": failure.code, "message": failure.message, "job_id": failure.job_id}))
        return 1
    files = write_files(result, args.out) if args.out else []
    print(json.dumps({"status": "COMPLETED", "job_id": job_id, "outputs": [o["filename"] for o in result.get("outputs", [])], "files": files}))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run ComfyUI workflows on a comfy-seal endpoint, sealed.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="seal, submit, wait, open and write the results")
    run.add_argument("--workflow", required=True, help="an API-format workflow (ComfyUI: Export (API))")
    run.add_argument("--image", action="append", default=[], help="a file a LoadImage node names (repeatable)")
    run.add_argument("--out", default="results", help="where result files go (default: results)")
    run.add_argument("--endpoint", help="endpoint id (default: $RUNPOD_ENDPOINT_ID)")
    run.add_argument("--api-url", help=f"endpoint API (default: $RUNPOD_API_URL, else {DEFAULT_API_URL})")
    run.add_argument("--key", help="Fernet key(s) (default: $ENCRYPTION_KEY)")
    run.add_argument("--timeout", type=float, help="seconds the job may run (lowers the worker's limit)")
    hook = commands.add_parser("open-webhook", help="check and open a webhook body read from stdin")
    hook.add_argument("--out", help="also write the result files here")
    hook.add_argument("--key", help="Fernet key(s) (default: $ENCRYPTION_KEY)")
    args = parser.parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _open_webhook(args)
    except (BadAnswer, ValueError, OSError, urllib.error.URLError) as error:
        print(f"comfy_seal_client: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
