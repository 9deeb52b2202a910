"""The job-wide Vision limit's options (--vision_rate_limit_service, _domain, _descriptor) are checked
before any job starts, and nothing is contacted to check them."""
import pytest

from pipeline.options import OptionsError
from pipeline.settings import resolve
from transforms.stages.vision.job_limit import JobLimit

VISION = ["--input=gs://b", "--backend=vision"]


def test_no_job_wide_limit__by_default():
    s, _ = resolve(VISION)
    assert s.vision_rate_limit is None


@pytest.mark.parametrize("service", ["10.128.0.5:8081", "ratelimit.internal:8081", "[::1]:8081", "localhost:1"])
def test_service_taken_with_default_domain_and_descriptor__host_port_forms(service):
    s, _ = resolve([*VISION, f"--vision_rate_limit_service={service}"])
    assert s.vision_rate_limit == JobLimit(service, "image-classifier", (("quota", "vision-images"),))


def test_domain_and_nested_descriptor_taken__as_given():
    s, _ = resolve([*VISION, "--vision_rate_limit_service=10.0.0.2:8081", "--vision_rate_limit_domain=vision_quota",
                    "--vision_rate_limit_descriptor=project=photos-prod,quota=label-images"])
    assert s.vision_rate_limit == JobLimit("10.0.0.2:8081", "vision_quota",
                                           (("project", "photos-prod"), ("quota", "label-images")))


@pytest.mark.parametrize("extra,fragment", [
    (["--vision_rate_limit_service=ratelimit"], "must be HOST:PORT"),
    (["--vision_rate_limit_service=http://ratelimit:8081"], "must be HOST:PORT"),
    (["--vision_rate_limit_service=ratelimit:70000"], "must be HOST:PORT"),
    (["--vision_rate_limit_service=ratelimit:0"], "must be HOST:PORT"),
    (["--vision_rate_limit_service=rate limit:8081"], "must be HOST:PORT"),
    (["--vision_rate_limit_service=rls:8081", "--vision_rate_limit_domain=my domain"], "--vision_rate_limit_domain"),
    (["--vision_rate_limit_service=rls:8081", "--vision_rate_limit_domain="], "--vision_rate_limit_domain"),
    (["--vision_rate_limit_service=rls:8081", "--vision_rate_limit_descriptor=quota"], "'quota' is not key=value"),
    (["--vision_rate_limit_service=rls:8081", "--vision_rate_limit_descriptor=a=1,a=2"], "a key appears twice"),
    (["--vision_rate_limit_service=rls:8081", "--vision_rate_limit_descriptor==x"], "is not key=value"),
])
def test_bad_rate_limit_option_is_refused__one_line_message(extra, fragment):
    with pytest.raises(OptionsError) as e:
        resolve([*VISION, *extra])
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_service_refused__local_backend():
    with pytest.raises(OptionsError, match="needs --backend=vision"):
        resolve(["--input=gs://b", "--vision_rate_limit_service=10.0.0.2:8081"])
