"""JUnit XML for CI systems: one testcase per (feature, rule) that was checked.

A finding at or above the ``--fail-on`` severity is a ``<failure>`` (``type`` = its severity);
a finding below it leaves the testcase passing with the message in ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlfail.quality import SEVERITY_ORDER, QualityReport
from mlfail.report.quality import show_value


def quality_junit(report: QualityReport, *, fail_on: str = "error") -> str:
    threshold = SEVERITY_ORDER.get(fail_on, 99)  # "never": nothing fails
    by_check = {(f.feature, f.rule): f for f in report.findings}
    cases: list[ET.Element] = []
    failures = 0
    for feature, rule in report.checks:
        case = ET.Element(
            "testcase", {"classname": f"mlfail.quality.{rule}", "name": feature, "time": "0"}
        )
        f = by_check.get((feature, rule))
        if f is not None:
            detail = (
                f"{f.message}\nreference: {show_value(f.rule, f.reference, side='reference')}\n"
                f"live: {show_value(f.rule, f.live, side='live')}"
            )
            if SEVERITY_ORDER[f.severity] >= threshold:
                failures += 1
                fail = ET.SubElement(case, "failure", {"type": f.severity, "message": f.message})
                fail.text = detail
            else:
                out = ET.SubElement(case, "system-out")
                out.text = f"{f.severity}: {detail}"
        cases.append(case)
    attrs = {
        "name": "mlfail check quality",
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": "0",
    }
    root = ET.Element("testsuites", dict(attrs))
    suite = ET.SubElement(
        root,
        "testsuite",
        {**attrs, "name": "mlfail.quality", "timestamp": "", "hostname": ""},
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("reference", report.reference), ("live", report.live)):
        ET.SubElement(props, "property", {"name": name, "value": value})
    suite.extend(cases)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
