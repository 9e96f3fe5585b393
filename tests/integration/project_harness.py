"""Helpers for the tests that work as a module author does: install the SDK
to a prefix, make a project with `spindle new`, build it with CMake and run
its own test (Python 3 stdlib only).

Every command runs with a bounded timeout; temp folders are the caller's
to remove (each helper takes the folder to work in)."""

import os
import shutil
import subprocess

from spindle_harness import BUILD, SANITIZED

CMD_TIMEOUT = 300


def run(cmd, cwd=None, env=None, timeout=CMD_TIMEOUT, check=True, shell=False):
    """Run cmd; return CompletedProcess with .out (stdout and stderr, text).
    check: raise AssertionError with the output when it fails."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, cwd=cwd, env=e, timeout=timeout, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, shell=shell,
                       executable="/bin/bash" if shell else None)
    p.out = p.stdout.decode("utf-8", "replace")
    if check and p.returncode != 0:
        raise AssertionError("%r exited %d in %s:\n%s" % (cmd, p.returncode, cwd, p.out))
    return p


def install_sdk(prefix):
    """`cmake --install` of the build under test into prefix; the prefix's
    spindle binary (prefix/bin/spindle) is the build's."""
    run(["cmake", "--install", BUILD, "--prefix", prefix])
    return os.path.join(prefix, "bin", "spindle")


def module_env():
    """Environment for building and testing a module project: a sanitized
    spindle reports leaks of its own only, not of cmake or python."""
    if SANITIZED == "address":
        return {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1")}
    return {}


def build_project(project, prefix=None, check=True):
    """Configure and build project in project/build against the SDK at
    prefix (None: the SDK found in the default places)."""
    args = ["cmake", "-S", project, "-B", os.path.join(project, "build")]
    if prefix:
        args.append("-DCMAKE_PREFIX_PATH=" + prefix)
    run(args, env=module_env())
    return run(["cmake", "--build", os.path.join(project, "build")], check=check)


def ctest_project(project):
    return run(["ctest", "--test-dir", os.path.join(project, "build"), "--output-on-failure"],
               env=module_env())


def have_cmake():
    return shutil.which("cmake") is not None
