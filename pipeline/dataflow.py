"""What is different when the job runs on Dataflow rather than on this machine.

The launcher (a Flex Template launch, or `python -m pipeline --runner=DataflowRunner`)
only builds the graph and hands it to the service; it never waits for the job.
The workers must run the very image the launcher runs in, so nothing is
installed or downloaded when a worker starts; and results must go somewhere
that outlives a worker (BigQuery, gs:// folders), not to a local file.
"""
from __future__ import annotations

import os

from pipeline.options import OPTIONS, OptionsError

# The Dockerfile sets this to the image's own name, so a launch that does not
# name a worker image still runs its workers on the launcher's image.
WORKER_IMAGE_ENV = "IMAGE_CLASSIFIER_WORKER_IMAGE"
CONSOLE = "https://console.cloud.google.com/dataflow/jobs"


def is_dataflow(runner: str | None) -> bool:
    name = (runner or "").split(".")[-1].lower()
    return name in ("dataflowrunner", "dataflow")


def runner_of(argv: list[str]) -> str | None:
    runner = None
    for i, arg in enumerate(argv):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(argv):
            runner = argv[i + 1]
    return runner


def with_worker_image(argv: list[str]) -> list[str]:
    """Add --sdk_container_image=<this image> when the launch names none."""
    image = os.environ.get(WORKER_IMAGE_ENV)
    named = any(a.startswith(("--sdk_container_image", "--worker_harness_container_image")) for a in argv)
    if image and not named:
        return [*argv, f"--sdk_container_image={image}"]
    return argv


def check_options(given) -> None:
    """Refuse a Dataflow job whose inputs or outputs would live on one worker's disk.

    `given` holds the options as given (None when left out); the rules are the
    options' own `on_dataflow` fields (pipeline/options.py).
    """
    for o in OPTIONS:
        value = getattr(given, o.name, None)
        if o.on_dataflow == "gcs" and value and not str(value).startswith("gs://"):
            raise OptionsError(f"on Dataflow --{o.name} must be a gs:// path, got {value}")
        if o.on_dataflow == "required" and not value:
            raise OptionsError(f"on Dataflow --{o.name} is required: {o.dataflow_why}")
        if o.on_dataflow == "refused" and value:
            raise OptionsError(f"--{o.name} cannot be used on Dataflow: {o.dataflow_why}")


def console_url(project: str | None, region: str | None, job_id: str | None = None) -> str:
    """The job's page in the Cloud console (the job list when the id is not known yet)."""
    if job_id and region:
        return f"{CONSOLE}/{region}/{job_id}?project={project}"
    return f"{CONSOLE}?project={project}"


def submission_report(result, options) -> str:
    """What the launcher prints once the job is handed to the service."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions
    cloud = options.view_as(GoogleCloudOptions)
    job_id = result.job_id() if getattr(result, "has_job", False) else None
    if job_id:
        return f"Submitted Dataflow job {job_id}: {console_url(cloud.project, cloud.region, job_id)}"
    if cloud.template_location:
        # A Flex Template launch: the service creates the job from this description.
        return (f"Wrote the job description to {cloud.template_location}; the Dataflow service "
                f"starts the job from it: {console_url(cloud.project, cloud.region)}")
    return f"Submitted the Dataflow job: {console_url(cloud.project, cloud.region)}"
