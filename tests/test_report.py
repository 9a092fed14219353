import pytest

from clothlib import report


def test_render_fills_the_course_map_and_is_idempotent():
    text = "intro\n<!-- begin: course-map -->\nstale table\n<!-- end: course-map -->\noutro\n"
    once = report.render(text)
    assert "stale table" not in once and "01_ccp_dataset_and_relabeling.ipynb" in once
    assert once.startswith("intro\n") and once.endswith("outro\n")
    assert report.render(once) == once


def test_render_names_a_missing_section():
    with pytest.raises(ValueError, match="course-map"):
        report.render("no markers here")


def test_committed_readme_is_up_to_date():
    assert report.render(report.README.read_text()) == report.README.read_text(), \
        "README.md is stale: run `python -m clothlib.report`"
