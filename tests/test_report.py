import pytest

from clothlib import report


def test_render_fills_the_course_map_and_is_idempotent():
    text = "intro\n<!-- begin: course-map -->\nstale table\n<!-- end: course-map -->\noutro\n"
    once = report.render(text, ["course-map"])
    assert "stale table" not in once and "01_ccp_dataset_and_relabeling.ipynb" in once
    assert once.startswith("intro\n") and once.endswith("outro\n")
    assert report.render(once, ["course-map"]) == once


def test_render_names_a_missing_section():
    with pytest.raises(ValueError, match="course-map"):
        report.render("no markers here", ["course-map"])


def test_parsing_results_set_ours_beside_the_papers():
    table = report.parsing_results()
    assert "| net1 (paper, Caffe lr 1e-06) | 93.19 | 59.70 | 49.95 |" in table


@pytest.mark.parametrize("path", sorted({target for target, _ in report.SECTIONS.values()}), ids=lambda p: p.name)
def test_committed_documents_are_up_to_date(path):
    text = path.read_text()
    assert report.render(text, report.sections_of(path)) == text, \
        f"{path} is stale: run `python -m clothlib.report`"
