"""JUnit XML for CI: one test suite per domain, one test case per check area.

A case fails when a finding of its area is at or above the `--fail-on` level; lower
findings are listed in the case's system-out, so the CI page still shows them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .findings import DomainReport, Finding, Severity

AREAS = ("dns", "mx", "spf", "dmarc", "dkim", "mta_sts", "tlsrpt", "bimi", "ptr", "dnssec",
         "smtp", "dane", "dnsbl")


def _text(f: Finding) -> str:
    lines = [f"[{f.severity.value}] {f.code}: {f.message}"]
    lines += [f"  seen: {e}" for e in f.evidence]
    if f.fix:
        lines.append(f"  fix: {f.fix}")
    return "\n".join(lines)


def junit_xml(reports: list[DomainReport], fail_on: Severity) -> bytes:
    """The JUnit document for these reports."""
    root = ET.Element("testsuites", name="mailops audit")
    total = failed = 0
    for report in reports:
        suite = ET.SubElement(root, "testsuite", name=report.domain)
        cases = fails = 0
        for area in AREAS:
            found = [f for f in report.findings if f.code.split(".", 1)[0] == area]
            case = ET.SubElement(suite, "testcase", classname=report.domain, name=area)
            cases += 1
            bad = [f for f in found if f.severity.rank >= fail_on.rank]
            for f in bad:
                failure = ET.SubElement(case, "failure", type=f.code,
                                        message=f"{f.code}: {f.message}")
                failure.text = _text(f)
            if bad:
                fails += 1
            rest = [f for f in found if f.severity.rank < fail_on.rank]
            if rest:
                ET.SubElement(case, "system-out").text = "\n".join(_text(f) for f in rest)
        suite.set("tests", str(cases))
        suite.set("failures", str(fails))
        total += cases
        failed += fails
    root.set("tests", str(total))
    root.set("failures", str(failed))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(path: Path, reports: list[DomainReport], fail_on: Severity) -> None:
    """Write the JUnit file (the CLI maps OSError to a one-line error)."""
    path.write_bytes(junit_xml(reports, fail_on))
