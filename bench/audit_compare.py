"""Findings check: every problem checkdmarc reports, does `mailops audit` report it too?

A self-check for the issue's held-out scoring. One Knot DNS (started here, stopped at
the end) serves one domain per planted problem of bench/audit.py's catalogue, the
extra cases below (each a check checkdmarc makes that is easy to miss), and the
correct and null-MX variants. Both tools ask the same forwarder (bench/dnsdelay.py,
no added delay, on 127.53.x.y:53 because checkdmarc's CLI only speaks to port 53):

    uv venv /tmp/checkdmarc-venv && uv pip install --python /tmp/checkdmarc-venv checkdmarc
    uv run python bench/audit_compare.py --checkdmarc /tmp/checkdmarc-venv/bin/checkdmarc

It prints, per domain, each checkdmarc error/warning with the mailops finding that
corresponds to it (`exact`: the specific code; `area`: only some finding of the same
area; `skipped`: a mail-only check mailops skips for a null-MX domain; `MISSED`:
none), the DKIM problems only mailops sees, any warning or error
mailops gives a correct or null-MX domain, and finally every checkdmarc problem
without an exact mailops counterpart, with the zone records that cause it.
`--markdown FILE` also writes the tables as Markdown.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit as bench  # bench/audit.py: zones, servers, tool runs
from _harness import temp_dir
from audit import PROVIDER, Domain, Keys, Plant, add_records, both, set_records, txt

# Extra cases: checks checkdmarc makes (read from its warnings) that a held-out set
# may plant. name -> (mailops codes that would correspond, plant); each starts as a
# correct own-MX domain, like bench/audit.py's PLANTED; `{name}` is the domain.
_470 = "v=spf1 " + " ".join(f"ip4:192.0.2.{i}" for i in range(1, 33)) + " mx -all"


def _spf(record: str) -> Plant:
    return set_records("spf", txt("@", record))


def _dmarc(record: str) -> Plant:
    return set_records("dmarc", txt("_dmarc", record))


def _tlsrpt(*records: str) -> Plant:
    return set_records("tlsrpt", *(txt("_smtp._tls", r) for r in records))


EXTRA: dict[str, tuple[tuple[str, ...], Plant]] = {
    "x_spf_after_all": (("spf.syntax",), _spf("v=spf1 -all mx")),
    "x_spf_two_all": (("spf.syntax",), _spf("v=spf1 mx -all ~all")),
    "x_spf_unknown_modifier": (("spf.syntax",), _spf("v=spf1 mx foo=bar -all")),
    "x_spf_redirect_and_all": (("spf.syntax",),
                               _spf(f"v=spf1 mx redirect=_spf.{PROVIDER} -all")),
    "x_spf_470_bytes": (("spf.too_long",), _spf(_470)),
    "x_spf_sender_id": (("spf.syntax",), add_records("spf", txt("@", "spf2.0/pra mx -all"))),
    "x_spf_exp_missing": (("spf.syntax",), _spf("v=spf1 mx -all exp=explain.{name}")),
    "x_spf_upper_version": (("spf.missing", "spf.syntax"), _spf("V=SPF1 mx -all")),
    "x_spf_mx_no_mx": (("spf.void_term",), both(
        _spf("v=spf1 mx:web.{name} -all"), add_records("extra", "web A 127.99.0.3"))),
    "x_spf_mx_target_no_address": (("spf.void_term", "mx.no_address"), both(
        _spf("v=spf1 mx:other.{name} -all"), add_records("extra", "other MX 10 gone"))),
    "x_spf_include_nxdomain": (("spf.include_missing",),
                               _spf("v=spf1 mx include:nx.{name} -all")),
    "x_dmarc_p_not_second": (("dmarc.syntax",),
                             _dmarc("v=DMARC1; rua=mailto:dmarc@{name}; p=reject")),
    "x_dmarc_bad_adkim": (("dmarc.syntax",),
                          _dmarc("v=DMARC1; p=reject; adkim=x; rua=mailto:dmarc@{name}")),
    "x_dmarc_bad_fo": (("dmarc.syntax",),
                       _dmarc("v=DMARC1; p=reject; fo=2; rua=mailto:dmarc@{name}")),
    "x_dmarc_rua_size": (("dmarc.syntax",),
                         _dmarc("v=DMARC1; p=reject; rua=mailto:dmarc@{name}!10m")),
    "x_dmarc_three_rua": (("dmarc.syntax",), _dmarc(
        "v=DMARC1; p=reject; rua=mailto:a@{name},mailto:b@{name},mailto:c@{name}")),
    "x_dmarc_rua_https": (("dmarc.syntax",),
                          _dmarc("v=DMARC1; p=reject; rua=https://127.0.0.9/dmarc")),
    "x_dmarc_at_root": (("dmarc.missing",), both(
        set_records("dmarc"), add_records("extra", txt("@", "v=DMARC1; p=reject")))),
    "x_dmarc_rua_implicit_mx": (("dmarc.rua_no_mx",), both(
        _dmarc("v=DMARC1; p=reject; rua=mailto:dmarc@aonly.{name}"),
        add_records("extra", "aonly A 127.99.0.2"))),
    "x_dmarc_ruf_unauthorized": (("dmarc.external_rua_unauthorized",), _dmarc(
        "v=DMARC1; p=reject; rua=mailto:dmarc@{name}; ruf=mailto:f@reports.test")),
    "x_mx_ip_literal": (("mx.ip_literal",), set_records("mx", "@ MX 10 127.0.0.1.")),
    "x_tlsrpt_space": (("tlsrpt.syntax",), _tlsrpt("v=TLSRPTv1 ; rua=mailto:tls@{name}")),
    "x_tlsrpt_dup_tag": (("tlsrpt.syntax",),
                         _tlsrpt("v=TLSRPTv1; rua=mailto:a@{name}; rua=mailto:b@{name}")),
    "x_tlsrpt_unknown_tag": (("tlsrpt.syntax",),
                             _tlsrpt("v=TLSRPTv1; rua=mailto:tls@{name}; foo=bar")),
    "x_tlsrpt_no_rua": (("tlsrpt.syntax",), _tlsrpt("v=TLSRPTv1;")),
    "x_tlsrpt_unrelated_txt": (("tlsrpt.syntax",),
                               _tlsrpt("v=TLSRPTv1; rua=mailto:tls@{name}", "hello world")),
    "x_mta_sts_policy_unreachable": (("mta_sts.policy_unreachable",), add_records(
        "extra", txt("_mta-sts", "v=STSv1; id=20260101"), "mta-sts A 127.0.0.9")),
    "x_bimi_logo_unreachable": (("bimi.syntax",), add_records(
        "extra", txt("default._bimi", "v=BIMI1; l=https://127.0.0.9/logo.svg"))),
}

# (checkdmarc section or "*", message pattern) -> the mailops codes that say the same
# thing; the first match wins.
MESSAGE_CODES: list[tuple[str, str, tuple[str, ...]]] = [
    # checkdmarc's DMARCbis tree walk asks _dmarc.<TLD>, which this Knot does not serve
    ("dmarc", r"_dmarc\.test\. IN TXT", ("dmarc.missing",)),
    ("*", r"All nameservers failed|timed out|SERVFAIL", ("dns.lookup_failed",)),
    ("spf", r"include target .* has no SPF", ("spf.include_missing",)),
    ("spf", r"An SPF record does not exist", ("spf.missing", "spf.include_missing")),
    ("spf", r"multiple SPF", ("spf.multiple_records",)),
    ("spf", r"maximum void DNS lookups", ("spf.void_lookups",)),
    ("spf", r"maximum DNS lookups", ("spf.lookup_limit",)),
    ("spf", r"[Ll]oop", ("spf.loop",)),
    ("spf", r"not a valid|SPF macro|Expected", ("spf.syntax",)),
    ("spf", r"SPF type DNS records", ("spf.rr_type",)),
    ("spf", r"bytes, over 512|recommends keeping answers under", ("spf.too_long",)),
    ("spf", r"mx mechanism points to .* does not have any MX", ("spf.void_term",)),
    ("spf", r"a mechanism points to .* does not have any A", ("spf.void_term",)),
    ("spf", r"ptr mechanism", ("spf.ptr_mechanism",)),
    ("spf", r"after the all mechanism|multiple all mechanisms|unknown modifier|"
     r"redirect modifier was ignored|at exp value", ("spf.syntax",)),
    ("spf", r"does not exist", ("spf.void_term", "spf.include_missing")),
    ("dmarc", r"Multiple DMARC", ("dmarc.multiple_records",)),
    ("dmarc", r"sp tag value of none", ("dmarc.subdomain_policy_none",)),
    ("dmarc", r"p tag value of none", ("dmarc.policy_none",)),
    ("dmarc", r"pct tag", ("dmarc.pct_partial",)),
    ("dmarc", r"rua tag .*not found", ("dmarc.no_rua",)),
    ("dmarc", r"does not indicate that it accepts DMARC reports",
     ("dmarc.external_rua_unauthorized",)),
    ("dmarc", r"rua email address|domain of rua", ("dmarc.rua_no_mx",)),
    ("dmarc", r"DMARC record at the root", ("dmarc.missing",)),
    ("dmarc", r"size limit", ("dmarc.rua_size_limit",)),
    ("dmarc", r"more than two rua", ("dmarc.many_rua",)),
    ("dmarc", r".", ("dmarc.syntax",)),  # every other DMARC complaint is about the record
    ("mx", r"null MX record \(RFC 7505\): the domain explicitly", ("mx.null_mx",)),
    ("mx", r"alongside other MX", ("mx.null_mx_mixed",)),
    ("mx", r"has no MX records; mail could", ("mx.missing_implicit", "mx.missing")),
    ("mx", r"CNAME alias", ("mx.cname_target",)),
    ("mx", r"listed in multiple MX", ("mx.duplicate",)),
    ("mx", r"points at the IP address", ("mx.ip_literal",)),
    ("mx", r"reverse DNS \(PTR\)", ("ptr.missing",)),
    ("mx", r"do not resolve to", ("ptr.fcrdns_mismatch",)),
    ("mx", r"does not have any A or AAAA|does not exist", ("mx.no_address",
                                                           "ptr.fcrdns_mismatch")),
    ("mta_sts", r"MTA-STS DNS record does not exist", ("mta_sts.missing",)),
    ("mta_sts", r"HTTPSConnectionPool|policy|HTTP", ("mta_sts.policy_unreachable",
                                                    "mta_sts.policy_syntax")),
    ("mta_sts", r".", ("mta_sts.syntax",)),
    ("smtp_tls_reporting", r"SMTP TLS Reporting record does not exist", ("tlsrpt.missing",)),
    ("smtp_tls_reporting", r".", ("tlsrpt.syntax",)),
    ("bimi", r"BIMI record does not exist", ("bimi.missing",)),
    ("bimi", r"without a valid mark certificate", ("bimi.no_certificate",)),
    ("bimi", r"not display|certificate", ("bimi.syntax",)),
    ("bimi", r"tag value|Expected|not a valid", ("bimi.syntax",)),
]
# Checks mailops deliberately skips for a domain that takes no mail (RFC 7505 null MX).
MAIL_ONLY = ("mta_sts", "smtp_tls_reporting", "bimi")

SECTION_AREAS = {
    "spf": ("spf.",), "dmarc": ("dmarc.",), "mx": ("mx.", "ptr."),
    "mta_sts": ("mta_sts.",), "smtp_tls_reporting": ("tlsrpt.",), "bimi": ("bimi.",),
    "ns": (), "soa": (),
}


@dataclass
class Row:
    """One checkdmarc problem and what mailops said about it."""

    domain: str
    level: str  # "E" or "W"
    section: str
    message: str
    codes: list[str]  # the corresponding mailops findings, "severity:code"
    verdict: str  # exact / area / skipped / MISSED


def checkdmarc_problems(report: dict[str, object]) -> list[tuple[str, str, str]]:
    """(level, section, message) for every error and warning in one checkdmarc result."""
    out: list[tuple[str, str, str]] = []
    for section in SECTION_AREAS:
        value = report.get(section)
        if not isinstance(value, dict):
            continue
        if value.get("error"):
            out.append(("E", section, str(value["error"])))
        for w in value.get("warnings") or []:
            out.append(("W", section, str(w)))
    return out


def judge(section: str, message: str, findings: list[dict[str, str]]) -> tuple[str, list[str]]:
    """How mailops covers one checkdmarc problem: (verdict, matching findings)."""
    wanted: tuple[str, ...] = ()
    for where, pattern, codes in MESSAGE_CODES:
        if where in ("*", section) and re.search(pattern, message):
            wanted = codes
            break
    exact = [f"{f['severity']}:{f['code']}" for f in findings if f["code"] in wanted]
    if exact:
        return "exact", sorted(set(exact))
    null = [f"{f['severity']}:{f['code']}" for f in findings
            if f["code"] in ("mx.null_mx", "mx.null_mx_mixed")]
    if section in MAIL_ONLY and null:
        return "skipped", null
    area = SECTION_AREAS[section] + ("dns.lookup_failed",)
    near = [f"{f['severity']}:{f['code']}" for f in findings
            if f["code"].startswith(area) and f["severity"] != "info"]
    return ("area" if near else "MISSED"), sorted(set(near))


def snippet(d: Domain) -> list[str]:
    """The domain's zone records, long keys shortened."""
    return [line if len(line) < 110 else line[:100] + ' ..."'
            for lines in d.records.values() for line in lines]


def build(keys: Keys) -> list[Domain]:
    """PLANTED once each, EXTRA once each, correct and null-MX variants."""
    domains = bench.one_of_each(keys)
    for i, (name, (_codes, plant)) in enumerate(EXTRA.items()):
        d = Domain(f"{name.replace('_', '-')}.{bench.TLD}", "planted", name)
        bench.correct_records(d, f"127.32.0.{i + 1}", keys, provider=False)
        d.records.setdefault("extra", [])
        plant(d, keys)
        domains.append(d)
    return domains


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkdmarc", metavar="PATH", required=True,
                    help="checkdmarc executable (installed in its own venv)")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables here")
    ap.add_argument("--save-json", metavar="FILE", help="write both tools' raw JSON here")
    args = ap.parse_args()
    keys = bench.make_keys()
    domains = build(keys)
    by_name = {d.name: d for d in domains}
    with temp_dir("mailops-bench-compare-") as tmp:
        listing = tmp / "domains.txt"
        listing.write_text("".join(f"{d.name}\n" for d in domains))
        with bench.knot(tmp, domains) as srv, bench.forwarder(srv.nameserver, 0) as fwd:
            theirs = bench.run_checkdmarc(args.checkdmarc, listing, fwd, tmp).reports
            ours = bench.run_mailops(listing, fwd.nameserver, tmp).reports
            relayed = fwd.counts()
    if args.save_json:
        Path(args.save_json).write_text(json.dumps({"checkdmarc": theirs, "mailops": ours},
                                                   indent=1))
    mine = {str(r["domain"]): r["findings"] for r in ours}
    rows: list[Row] = []
    for report in theirs:
        name = str(report["domain"])
        findings = mine.get(name, [])
        assert isinstance(findings, list)
        for level, section, message in checkdmarc_problems(report):
            verdict, codes = judge(section, message, findings)
            rows.append(Row(name, level, section, message, codes, verdict))
    out: list[str] = []
    out.append("## checkdmarc problems and the mailops findings for them\n")
    out.append("| domain | checkdmarc | mailops | verdict |")
    out.append("| --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: r.domain):
        msg = r.message.replace("|", "/")
        msg = msg if len(msg) < 120 else msg[:117] + "..."
        out.append(f"| {r.domain} | {r.level} {r.section}: {msg} | "
                   f"{', '.join(r.codes) or '-'} | {r.verdict} |")
    out.append("\n## DKIM problems only mailops sees (checkdmarc has no DKIM check)\n")
    for name, findings in sorted(mine.items()):
        assert isinstance(findings, list)
        dkim = [f"{f['severity']}:{f['code']}" for f in findings
                if f["code"].startswith("dkim.") and f["code"] != "dkim.not_found"]
        if dkim:
            out.append(f"- {name}: {', '.join(dkim)}")
    out.append("\n## warnings/errors from mailops on correct and null-MX domains\n")
    clean = True
    for d in domains:
        if d.kind in ("correct", "null_mx"):
            findings = mine.get(d.name, [])
            assert isinstance(findings, list)
            bad = [f"{f['severity']}:{f['code']}" for f in findings
                   if f["severity"] in ("warning", "error")]
            out.append(f"- {d.name} ({d.kind}): {', '.join(bad) or 'none'}")
            clean = clean and not bad
    out.append("\n## expected mailops codes not reported (PLANTED and EXTRA)\n")
    catalogue = {**{k: v[0] for k, v in bench.PLANTED.items()},
                 **{k: v[0] for k, v in EXTRA.items()}}
    for d in domains:
        if d.kind == "planted":
            got = mine.get(d.name, [])
            assert isinstance(got, list)
            seen = {str(f["code"]) for f in got}
            if not seen & set(catalogue[d.problem]):
                out.append(f"- {d.name}: expected one of {', '.join(catalogue[d.problem])}; "
                           f"got {', '.join(sorted(seen)) or 'nothing'}")
    out.append("\n## checkdmarc problems without an exact mailops counterpart\n")
    for r in rows:
        if r.verdict != "exact":
            out.append(f"- **{r.domain}** ({r.verdict}; mailops: {', '.join(r.codes) or '-'})"
                       f" — checkdmarc {r.section} {r.level}: {r.message}")
            out += [f"      {line}" for line in snippet(by_name[r.domain])
                    if r.domain in by_name]
    counts = {v: sum(r.verdict == v for r in rows)
              for v in ("exact", "area", "skipped", "MISSED")}
    out.append(f"\nsummary: {len(rows)} checkdmarc problems on {len(theirs)} domains: "
               f"{counts['exact']} exact, {counts['area']} area only, {counts['skipped']} "
               f"skipped (null-MX domain, mail-only check), {counts['MISSED']} missed; "
               f"correct/null-MX domains clean: {'yes' if clean else 'NO'}; forwarder: "
               f"{relayed['udp']} UDP, {relayed['tcp']} TCP queries, {relayed['timeouts']} "
               "dropped")
    text = "\n".join(out)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
