"""OCR lines -> Vision's text fields (no model: the shape of the answer)."""
from transforms.stages.local.ocr import text_response
from transforms.stages.parse import _text


def test_full_text_and_line_boxes__two_lines():
    lines = [([(10, 5), (90, 5), (90, 20), (10, 20)], "Hello world", 0.98),
             ([(10, 30), (70, 30), (70, 45), (10, 45)], "Second", 0.9)]
    resp = text_response(lines, (100, 50))
    assert resp["fullTextAnnotation"]["text"] == "Hello world\nSecond\n"
    assert [a["description"] for a in resp["textAnnotations"]] == ["Hello world\nSecond\n", "Hello world", "Second"]
    assert resp["textAnnotations"][0]["boundingPoly"]["vertices"][0] == {"x": 10, "y": 5}
    assert len(resp["fullTextAnnotation"]["pages"][0]["blocks"]) == 2
    assert _text(resp) == "Hello world\nSecond\n"


def test_nothing_when_no_text__no_lines():
    assert text_response([], (10, 10)) == {}
