#!/usr/bin/env python3
"""Regenerates the Office documents the OOXML store tests label.

Each file is written by the library people use to produce such documents from scripts
(python-docx, openpyxl, python-pptx), so the tests see packages shaped like real ones
rather than only the minimal packages the tests build themselves.

    pip install python-docx openpyxl python-pptx
    python3 make_fixtures.py        # writes the files next to this script
"""

import os

import docx
import openpyxl
from openpyxl.packaging.custom import StringProperty
import pptx

HERE = os.path.dirname(os.path.abspath(__file__))


def make_docx(path):
    d = docx.Document()
    d.add_heading("設計仕様書", level=1)
    d.add_paragraph("社外秘: this drawing specification is internal.")
    d.core_properties.author = "fuda tests"
    d.save(path)


def make_xlsx(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "台帳"
    ws["A1"] = "情報資産名称"
    ws["A2"] = "設計図面"
    # A custom property of the author's own, which labeling must keep.
    wb.custom_doc_props.append(StringProperty(name="Project", value="R&D <42>"))
    wb.save(path)


def make_pptx(path):
    p = pptx.Presentation()
    slide = p.slides.add_slide(p.slide_layouts[0])
    slide.shapes.title.text = "極秘: roadmap"
    p.save(path)


if __name__ == "__main__":
    make_docx(os.path.join(HERE, "python-docx.docx"))
    make_xlsx(os.path.join(HERE, "openpyxl.xlsx"))
    make_pptx(os.path.join(HERE, "python-pptx.pptx"))
