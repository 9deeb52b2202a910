"""Write the quality bench's photos to a folder, from packages already on this machine.

Every photo comes out of an installed package or a package file that `make setup`
fetched from its registry into .venv/photo-sources (see the Makefile), so nothing
binary is committed and nothing is downloaded here. Each photo's truth (what a person
sees in it) is in bench/quality_truth.yaml under the same id.

Sources (id prefix: where the bytes come from):
- skimage: scikit-image's data files that its wheel ships (no first-use download);
- sklearn: scikit-learn's sample images;
- darknet: Debian's darknet .deb (data/*.jpg), read without installing it;
- pypi wheels (mahotas demos, ultralytics assets, imgaug's quokka), read from the wheel;
- npm: `@vladmandic/face-api`'s demo photos, read from the packed tarball.

Kept out on purpose, as an independent check of the same rules: Debian opencv-doc's
example images, Pillow's test images, scipy's raccoon face and insightface's samples.

    python -m tools.photo_set OUT_DIR
"""
from __future__ import annotations

import glob
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
SOURCES = os.path.join(VENV, "photo-sources")
# The package files `make setup` fetches into SOURCES (pins kept in step with the Makefile).
WHEELS = {"mahotas": "mahotas-1.4.19-*.whl", "ultralytics": "ultralytics-8.4.190-*.whl",
          "imgaug": "imgaug-0.4.0-*.whl"}
NPM = {"face-api": "vladmandic-face-api-1.7.15.tgz"}


@dataclass(frozen=True)
class Photo:
    id: str
    kind: str  # skimage, sklearn, darknet, wheel, npm
    package: str  # wheel/npm key; '' otherwise
    member: str  # file inside the package (or skimage's file name)


def _p(pid: str, kind: str, member: str, package: str = "") -> Photo:
    return Photo(pid, kind, package, member)


PHOTOS: tuple[Photo, ...] = (
    _p("skimage-astronaut", "skimage", "astronaut.png"),
    _p("skimage-camera", "skimage", "camera.png"),
    _p("skimage-chelsea", "skimage", "chelsea.png"),
    _p("skimage-coffee", "skimage", "coffee.png"),
    _p("skimage-coins", "skimage", "coins.png"),
    _p("skimage-motorcycle", "skimage", "motorcycle_left.png"),
    _p("skimage-rocket", "skimage", "rocket.jpg"),
    _p("skimage-page", "skimage", "page.png"),
    _p("skimage-text", "skimage", "text.png"),
    _p("skimage-brick", "skimage", "brick.png"),
    _p("skimage-gravel", "skimage", "gravel.png"),
    _p("skimage-grass", "skimage", "grass.png"),
    _p("sklearn-china", "sklearn", "china.jpg"),
    _p("sklearn-flower", "sklearn", "flower.jpg"),
    _p("darknet-dog", "darknet", "dog.jpg"),
    _p("darknet-eagle", "darknet", "eagle.jpg"),
    _p("darknet-giraffe", "darknet", "giraffe.jpg"),
    _p("darknet-horses", "darknet", "horses.jpg"),
    _p("darknet-kite", "darknet", "kite.jpg"),
    _p("darknet-person", "darknet", "person.jpg"),
    _p("mahotas-luispedro", "wheel", "mahotas/demos/data/luispedro.jpg", "mahotas"),
    _p("ultralytics-bus", "wheel", "ultralytics/assets/bus.jpg", "ultralytics"),
    _p("ultralytics-zidane", "wheel", "ultralytics/assets/zidane.jpg", "ultralytics"),
    _p("imgaug-quokka", "wheel", "imgaug/quokka.jpg", "imgaug"),
    *(_p(f"faceapi-sample{i}", "npm", f"package/demo/sample{i}.jpg", "face-api") for i in range(1, 7)),
)


class MissingSource(RuntimeError):
    """A package file the photo set needs is not on this machine (run `make setup`)."""


def _one(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    if not found:
        raise MissingSource(f"{pattern} not found: `make setup` fetches it")
    return found[-1]


def _skimage(name: str) -> bytes:
    import skimage.data
    path = os.path.join(os.path.dirname(skimage.data.__file__), name)
    with open(path, "rb") as f:
        return f.read()


def _sklearn(name: str) -> bytes:
    import sklearn.datasets
    with open(os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", name), "rb") as f:
        return f.read()


def _darknet(name: str) -> bytes:
    deb = _one(os.path.join(VENV, "debs", "darknet_*.deb"))
    # dpkg-deb unpacks the .deb's data archive; tarfile reads the one member from it.
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        f = tar.extractfile(f"./usr/share/darknet/data/{name}")
        assert f is not None
        return f.read()


def _wheel(package: str, member: str) -> bytes:
    with zipfile.ZipFile(_one(os.path.join(SOURCES, WHEELS[package]))) as zf:
        return zf.read(member)


def _npm(package: str, member: str) -> bytes:
    with tarfile.open(_one(os.path.join(SOURCES, NPM[package]))) as tar:
        f = tar.extractfile(member)
        assert f is not None
        return f.read()


def photo_bytes(photo: Photo) -> bytes:
    """The photo's file as its package ships it (PNG or JPEG)."""
    if photo.kind == "skimage":
        return _skimage(photo.member)
    if photo.kind == "sklearn":
        return _sklearn(photo.member)
    if photo.kind == "darknet":
        return _darknet(photo.member)
    if photo.kind == "wheel":
        return _wheel(photo.package, photo.member)
    if photo.kind == "npm":
        return _npm(photo.package, photo.member)
    raise ValueError(f"unknown source kind {photo.kind}")


def file_name(photo: Photo) -> str:
    """<id>.<extension of the shipped file>: the name the pipeline's rows carry."""
    return photo.id + os.path.splitext(photo.member)[1].lower()


def write_photo_set(out_dir: str) -> dict[str, str]:
    """Write every photo under out_dir; returns {file name: photo id}."""
    os.makedirs(out_dir, exist_ok=True)
    names = {}
    for photo in PHOTOS:
        name = file_name(photo)
        data = photo_bytes(photo)
        path = os.path.join(out_dir, name)
        if not (os.path.exists(path) and open(path, "rb").read() == data):
            with open(path, "wb") as f:  # unchanged files keep their mtime, so re-runs upsert
                f.write(data)
        names[name] = photo.id
    return names


def main(argv: list[str]) -> int:
    out = argv[0] if argv else "out/photo_set"
    try:
        names = write_photo_set(out)
    except MissingSource as e:
        print(e, file=sys.stderr)
        return 2
    print(f"Wrote {len(names)} photos under {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
