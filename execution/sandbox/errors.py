"""Exceptions raised by the sandbox (as opposed to outcomes, which are reported in SandboxResult)."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of the sandbox's exceptions."""


class DockerUnavailable(SandboxError):
    """The Docker engine could not be reached or did not answer; the caller may retry later."""


class RuntimeImageMissing(SandboxError):
    """The runtime image is not present on this engine (build it with ``build_runtime_images``)."""


class InvalidJob(SandboxError, ValueError):
    """The job itself is unacceptable (unsafe path, bad evidence id, missing entrypoint...)."""


class ImageBuildError(SandboxError):
    """A runtime image could not be built."""
