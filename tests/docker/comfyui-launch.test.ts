/**
 * docker/comfyui-launch.py against a ComfyUI laid out as the real one is (main.py parses its arguments first, then
 * imports app/logger.py, whose setup_logger puts interceptors on stdout/stderr that copy every write into a deque of
 * 300 entries and into a per-stream list for the `logs` feed). The stub's job writes an exception text naming a file,
 * prints, and draws a progress bar the way tqdm does ("\r..."), then reports what ComfyUI would serve.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const LAUNCHER = fileURLToPath(new URL('../../docker/comfyui-launch.py', import.meta.url));
const CANARY = 'canary-launch-8c1e';

/** ComfyUI's logger as app/logger.py has it (v0.3.x to v0.27): the deque, the interceptors, the flush callbacks. */
const LOGGER = `
import io, logging, sys, threading
from collections import deque
from datetime import datetime

logs = None
stdout_interceptor = None
stderr_interceptor = None

class LogInterceptor(io.TextIOWrapper):
    def __init__(self, stream, *args, **kwargs):
        super().__init__(stream.buffer, *args, **kwargs, encoding=stream.encoding, line_buffering=stream.line_buffering)
        self._lock = threading.Lock()
        self._flush_callbacks = []
        self._logs_since_flush = []

    def write(self, data):
        entry = {"t": datetime.now().isoformat(), "m": data}
        with self._lock:
            self._logs_since_flush.append(entry)
            # a progress line replaces the last entry unless that one ended its line
            if isinstance(data, str) and data.startswith("\\r") and not logs[-1]["m"].endswith("\\n"):
                logs.pop()
            logs.append(entry)
        super().write(data)

    def flush(self):
        super().flush()
        for callback in self._flush_callbacks:
            callback(self._logs_since_flush)
            self._logs_since_flush = []

    def on_flush(self, callback):
        self._flush_callbacks.append(callback)

def get_logs():
    return logs

def on_flush(callback):
    for interceptor in (stdout_interceptor, stderr_interceptor):
        if interceptor is not None:
            interceptor.on_flush(callback)

def setup_logger(log_level="INFO", capacity=300, use_stdout=False):
    global logs, stdout_interceptor, stderr_interceptor
    if logs:
        return
    logs = deque(maxlen=capacity)
    stdout_interceptor = sys.stdout = LogInterceptor(sys.stdout)
    stderr_interceptor = sys.stderr = LogInterceptor(sys.stderr)
    root = logging.getLogger()
    root.setLevel(log_level)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
`;

const MAIN = `
import comfy.options
comfy.options.enable_args_parsing()
from comfy.cli_args import args
from app.logger import setup_logger
setup_logger(log_level="INFO")
import json, logging, sys
import app.logger

feed = []
app.logger.on_flush(lambda entries: feed.extend(entries))  # what the logs feed would send
logging.info("got prompt")
try:
    open("/nonexistent/${CANARY}.png")
except OSError as error:
    logging.error(f"!!! Exception during processing !!! {error}")
print("a custom node prints ${CANARY}")
sys.stderr.write("\\r 40%|####      | 2/5")
sys.stderr.write("\\r100%|##########| 5/5\\n")
sys.stdout.flush()
sys.stderr.flush()
with open(args.report, "w") as out:
    json.dump({"logs": list(app.logger.get_logs()), "feed": feed, "argv": sys.argv[1:], "disable_assets": getattr(args, "disable_assets", None)}, out)
`;

const cliArgs = (withAssetsFlag: boolean) => `
import argparse
import comfy.options
parser = argparse.ArgumentParser()
parser.add_argument("--report", required=True)
parser.add_argument("--listen", default="127.0.0.1")
${withAssetsFlag ? 'parser.add_argument("--disable-assets", action="store_true", help="Disable the assets system.")' : ''}
args = parser.parse_args() if comfy.options.args_parsing else parser.parse_args([])
`;

let work: string;
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A ComfyUI dir: main.py, comfy/{options,cli_args}.py, app/logger.py (optionally altered). */
function comfyDir(options: { assetsFlag?: boolean; logger?: string } = {}): string {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-launch-'));
  const dir = path.join(work, 'ComfyUI');
  for (const sub of ['comfy', 'app']) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(path.join(dir, 'main.py'), MAIN);
  writeFileSync(path.join(dir, 'comfy', '__init__.py'), '');
  writeFileSync(path.join(dir, 'comfy', 'options.py'), 'args_parsing = False\n\ndef enable_args_parsing(enable=True):\n    global args_parsing\n    args_parsing = enable\n');
  writeFileSync(path.join(dir, 'comfy', 'cli_args.py'), cliArgs(options.assetsFlag ?? false));
  writeFileSync(path.join(dir, 'app', '__init__.py'), '');
  writeFileSync(path.join(dir, 'app', 'logger.py'), options.logger ?? LOGGER);
  return dir;
}

interface Report {
  logs: Array<{ t: string; m: string }>;
  feed: Array<{ t: string; m: string }>;
  argv: string[];
  disable_assets: boolean | null;
}

function run(dir: string, viaLauncher: boolean, flags: string[] = []) {
  const report = path.join(work, 'report.json');
  const main = path.join(dir, 'main.py');
  const args = [...(viaLauncher ? [LAUNCHER] : []), main, '--report', report, ...flags];
  const r = spawnSync('python3', args, { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, report: existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as Report) : null };
}

describe('docker/comfyui-launch.py', () => {
  it("run plainly, the stub ComfyUI keeps the job's exception text in its log and feed (as ComfyUI does)", () => {
    const r = run(comfyDir(), false);
    expect(r.status).toBe(0);
    expect(r.report!.logs.map((e) => e.m).join('')).toContain(`No such file or directory: '/nonexistent/${CANARY}.png'`);
    expect(r.report!.feed.map((e) => e.m).join('')).toContain(CANARY);
  });

  it('launched, its log and its feed keep nothing, while the streams still get everything (progress lines included)', () => {
    const r = run(comfyDir(), true);
    expect(r.stderr).not.toContain('Traceback');
    expect(r.status).toBe(0);
    expect(r.report!.logs).toEqual([]);
    expect(r.report!.feed).toEqual([]);
    expect(r.stderr).toContain(`!!! Exception during processing !!! [Errno 2] No such file or directory: '/nonexistent/${CANARY}.png'`);
    expect(r.stderr).toContain('100%|##########| 5/5');
    expect(r.stdout).toContain(`a custom node prints ${CANARY}`);
  });

  it("passes ComfyUI's own flags through as given (start.sh chooses them), --help included", () => {
    const r = run(comfyDir({ assetsFlag: true }), true, ['--listen', '0.0.0.0', '--disable-assets']);
    expect(r.status).toBe(0);
    expect(r.report!.argv).toEqual(['--report', expect.any(String), '--listen', '0.0.0.0', '--disable-assets']);
    expect(r.report!.disable_assets).toBe(true);
    rmSync(work, { recursive: true, force: true });
    // start.sh reads the flags a release has from `$COMFY_CMD --help`, which goes through the launcher.
    const help = run(comfyDir({ assetsFlag: true }), true, ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--disable-assets');
  });

  it('fails closed: a logger without the names it patches stops ComfyUI before it runs anything', () => {
    const r = run(comfyDir({ logger: LOGGER.replace('class LogInterceptor', 'class StreamCopier').replaceAll('LogInterceptor(', 'StreamCopier(') }), true);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("comfyui-launch: ComfyUI's app.logger has no LogInterceptor");
    expect(r.report).toBeNull();
  });
});
