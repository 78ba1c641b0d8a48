"""Pictures that scale: `--dot` lays many findings out in a grid of clusters (and `--dot-dir`
writes one file per finding); the replay swimlane wraps long labels instead of cutting them."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from qlint.replay import html
from qlint.replay.machine import Entry
from qlint.report import dot
from qlint.report.model import Finding, Related, Step, finalize


def finding(i: int, steps: int = 3, related: int = 0) -> Finding:
    trace = [Step(f"fn{i}_{k}", "/src/a.c", 10 * i + k, f"calls fn{i}_{k + 1}()") for k in range(steps)]
    return Finding("QL101", "lock-required", "/src/a.c", 10 * i + steps, 5, f"fn{i}_{steps - 1}",
                   f"finding {i}", trace=trace,
                   related=[Related("/src/a.c", 500 + k, f"also reached from r{k}()") for k in range(related)])


def test_many_findings_are_a_grid_of_clusters():
    found = finalize([finding(i, related=2 if i == 2 else 0) for i in range(1, 6)], "/src")
    text = dot.findings(found)
    assert text.count("subgraph cluster_") == 5
    # Four columns here: the rows' first nodes on one rank, each cluster below the one four
    # before it, from its bottom node (finding 1's violation; finding 2's related locations,
    # which are one node).
    assert re.findall(r"\{ rank=same; [^}]*\}", text) == ["{ rank=same; f1_0 f2_0 f3_0 f4_0 }",
                                                         "{ rank=same; f5_0 }"]
    assert re.findall(r"  (\S+) -> (\S+) \[style=invis\];", text) == [("f1_2", "f5_0")]
    assert text.count("f2_r [label=") == 1 and "also reached from r1()" in text


@pytest.mark.parametrize("sizes, columns", [
    ([(1.0, 4.0)] * 36, 12),           # tall boxes: many columns
    ([(4.0, 1.0)] * 36, 3),            # wide boxes: few
    ([(2.0, 2.0)] * 36, 6),
    ([(2.0, 2.0)], 1),
    ([(6.0, 1.0)] + [(1.0, 1.0)] * 8, 2),    # a wide box widens its whole column
])
def test_the_grid_is_as_wide_as_tall(sizes, columns):
    assert dot.grid_columns(sizes) == columns


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
def test_thirty_five_findings_lay_out_about_square():
    """The layout dot computes (-Tplain: the graph's width and height in inches): 35 findings
    in one row were 35 clusters wide; in a grid they are about as wide as tall."""
    found = finalize([finding(i, steps=2 + i % 4, related=i % 3) for i in range(1, 36)], "/src")
    plain = subprocess.run(["dot", "-Tplain"], input=dot.findings(found), capture_output=True,
                           text=True, check=True).stdout
    _graph, _scale, width, height = plain.splitlines()[0].split()[:4]
    assert 0.5 < float(width) / float(height) < 2, (width, height)


def test_swimlane_labels_wrap_instead_of_being_cut():
    long = ("io_getevents_advance_and_peek(s, &events, s->event_idx) = 2 (advanced by 0: ring "
            "head 0, tail 2) and then some more text to make it wrap twice over")
    entries = [Entry("iothread", "/src/linux-aio.c", 34, "f", long, step=1),
               Entry("main", "/src/linux-aio.c", 35, "f", "short", violation=True, step=2)]
    svg = html._svg(entries, ["iothread", "main"])
    lines = [m.replace("&amp;", "&").replace("&gt;", ">")
             for m in re.findall(r"<tspan[^>]*>([^<]*)</tspan>", svg)]
    assert " ".join(lines[:-1]) == f"linux-aio.c:34 {long}"          # every word, in order
    assert lines[-1] == "linux-aio.c:35 short"
    assert len(lines) == 4 and max(len(line) for line in lines) <= html.CHARS
    # The wrapped event's box is three lines tall; the next event starts below it.
    heights = [int(h) for h in re.findall(r'<rect x="\d+" y="\d+" width="\d+" height="(\d+)" rx', svg)]
    assert heights == [html.ROW + 2 * html.LINE - 3, html.ROW - 3]
    assert f'height="{html.HEAD + html.ROW + 2 * html.LINE + html.ROW + 4}"' in svg
