#!/usr/bin/env python3
"""Starts ComfyUI so that nothing of a job stays in its in-memory log, and without its assets database (contract §12).

    python3 comfyui-launch.py /comfyui/main.py [ComfyUI's flags...]

ComfyUI's app/logger.py copies every write to stdout/stderr into a deque of 300 entries (served at GET /internal/logs
and /internal/logs/raw) and into a per-stream list handed to the `logs` WebSocket feed on each flush. A failed node's
exception text (file names, prompt text) lands there and stays after the job; ComfyUI has no flag or route to empty
it. So as ComfyUI imports that module, this launcher makes both keep nothing; what is written still reaches the
streams (the RAM-disk log file the worker scrubs) as before.

Newer releases also record every upload and output in an assets database (user/comfyui.db) unless started with
--disable-assets: the flag is added when this ComfyUI's own `main.py --help` lists it.

It fails closed: when app/logger.py lacks a name it patches, or `--help` fails, ComfyUI is not started.
"""
import importlib.abc
import importlib.machinery
import os
import runpy
import subprocess
import sys
from collections import deque

LOGGER = "app.logger"
PATCHED_NAMES = ("setup_logger", "get_logs", "LogInterceptor", "logs")


class KeepsNothing(deque):
    """The log deque, keeping no entry. ComfyUI's interceptor reads logs[-1] before dropping an unfinished progress
    line ("\\r..."); it gets a finished line here, so nothing is dropped and nothing fails on an empty log."""

    def __init__(self):
        super().__init__(maxlen=0)

    def __getitem__(self, index):
        return {"t": "", "m": "\n"}


class Discards(list):
    """The per-stream list of entries since the last flush: appending keeps nothing, so the feed sends nothing."""

    def append(self, item):
        pass


def forgetful(interceptor):
    """ComfyUI's interceptor class whose `_logs_since_flush` is always an empty Discards, whatever assigns it."""

    class ForgetfulInterceptor(interceptor):
        @property
        def _logs_since_flush(self):
            return Discards()

        @_logs_since_flush.setter
        def _logs_since_flush(self, value):
            pass

    return ForgetfulInterceptor


class LauncherError(Exception):
    pass


def patch_logger(module):
    missing = [name for name in PATCHED_NAMES if not hasattr(module, name)]
    if missing:
        raise LauncherError(f"ComfyUI's {LOGGER} has no {', '.join(missing)}: this release keeps its log differently; "
                            "check docker/comfyui-launch.py against it before running jobs")
    module.LogInterceptor = forgetful(module.LogInterceptor)
    setup_logger = module.setup_logger

    def setup_logger_keeping_nothing(*args, **kwargs):
        result = setup_logger(*args, **kwargs)
        module.logs = KeepsNothing()
        return result

    module.setup_logger = setup_logger_keeping_nothing
    if module.logs is not None:  # a release that makes its deque at import time
        module.logs = KeepsNothing()


class PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        patch_logger(module)

    def __getattr__(self, name):  # get_source and the like, for tracebacks
        return getattr(self.inner, name)


class PatchLoggerOnImport(importlib.abc.MetaPathFinder):
    """Patches app.logger when ComfyUI itself imports it, so ComfyUI's own import order (arguments first) holds."""

    def find_spec(self, fullname, path, target=None):
        if fullname != LOGGER:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = PatchingLoader(spec.loader)
        return spec


def knows_flag(main, flag):
    """Whether this ComfyUI's argument parser lists `flag` (main.py --help exits once the arguments are parsed)."""
    help_run = subprocess.run([sys.executable, main, "--help"], capture_output=True, text=True, timeout=300,
                              cwd=os.path.dirname(main))
    if help_run.returncode != 0:
        raise LauncherError(f"`main.py --help` failed (exit {help_run.returncode}): cannot tell which flags it takes")
    return flag in help_run.stdout


def main(argv):
    if not argv or not argv[0].endswith(".py"):
        raise LauncherError("usage: comfyui-launch.py /path/to/ComfyUI/main.py [ComfyUI's flags...]")
    script, flags = os.path.abspath(argv[0]), list(argv[1:])
    if "--disable-assets" not in flags and knows_flag(script, "--disable-assets"):
        flags.append("--disable-assets")
    sys.meta_path.insert(0, PatchLoggerOnImport())
    # As `python3 main.py` would: the script's dir first on the path, its name and flags in argv.
    sys.path[0] = os.path.dirname(script)
    sys.argv = [script, *flags]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except LauncherError as error:
        sys.stderr.write(f"comfyui-launch: {error}\n")
        sys.exit(2)
