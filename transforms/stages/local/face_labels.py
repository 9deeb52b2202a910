"""Labels of the whole photo from the faces found in it: "Face", and "Person" when the
object detector saw none (ImageNet has no class for people)."""
from __future__ import annotations

from collections.abc import Sequence


def face_label_score(face: dict, size: tuple[int, int]) -> float:
    """How sure "Face" is as a label of the whole photo: the detector's confidence times
    how much of the photo the face takes, 0.6 for a tiny face up to 0.95 for a face at
    least a quarter of the photo's height. A face in a crowd is not what the photo is of,
    and a face detector's 0.99 is not a 0.99 that the photo is "about" a face."""
    height = (face["box"][3] - face["box"][1]) / max(size[1], 1)
    return float(face["confidence"]) * (0.6 + 0.35 * min(1.0, max(height, 0.0) / 0.25))


def face_labels(faces: list[dict], size: tuple[int, int] = (1, 1), detected: Sequence[dict] = ()) -> list[dict]:
    """"Face" and "Person" labels: ImageNet has no class for people, so without these a
    portrait would be labelled by its clothes. "Person" comes from the object detector
    (see `detector_labels`); when the detector saw no person, from the faces (a face
    implies a person), scored a little below "Face"."""
    if not faces:
        return []
    score = max(face_label_score(f, size) for f in faces)
    labels = [{"mid": "local:face", "description": "Face", "score": score, "topicality": score * 0.9}]
    if not any(d["name"] == "Person" for d in detected):
        labels.append({"mid": "local:person", "description": "Person", "score": score * 0.97,
                       "topicality": score * 0.97})
    return labels
