"""Features no local model serves stop the job before it starts, with a one-line reason."""
import pytest

from pipeline.options import OptionsError
from pipeline.settings import resolve


@pytest.mark.parametrize("feature", ["LANDMARK_DETECTION", "LOGO_DETECTION"])
def test_refused_naming_feature_and_backend__local_backend(tmp_path, feature):
    with pytest.raises(OptionsError) as err:
        resolve([f"--input={tmp_path}", "--backend=local", f"--features=LABEL_DETECTION,{feature}"])
    message = str(err.value)
    assert "\n" not in message and feature in message and "--backend=vision" in message


def test_accepted__all_six_local_features(tmp_path):
    feats = ("LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION,FACE_DETECTION,"
             "TEXT_DETECTION,DOCUMENT_TEXT_DETECTION,IMAGE_PROPERTIES")
    settings, _ = resolve([f"--input={tmp_path}", "--backend=local", f"--features={feats}"])
    assert len(settings.features) == 7


def test_accepted__landmarks_on_the_vision_backend(tmp_path):
    settings, _ = resolve([f"--input={tmp_path}", "--backend=vision", "--features=LANDMARK_DETECTION"])
    assert settings.features == ("LANDMARK_DETECTION",)
