"""The report's verdict table and summary line, and the circuit version read from a run's config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from analysis.ablation_report import circuit_version, render_report, summary_line, verdict_table
from analysis.findings import Data, Finding, all_findings
from analysis.tables import NOISE_OFF

SEEDS = [0, 1, 2, 3, 4]
OFFSETS = (0.0, 1 / 64, -1 / 64, 1 / 32, -1 / 32)
EXPERT = range(8, 10)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _doubling(circuits: frozenset[int] = frozenset()) -> Data:
    """Intact noise-off success 0.25 -> 0.55 (finding 1 holds); nothing else measured."""
    evaluation = {"intact": {seed: {0: {NOISE_OFF: 0.25 + o}, 7: {NOISE_OFF: 0.55 + o}}
                             for seed, o in zip(SEEDS, OFFSETS, strict=True)}}
    return Data(SEEDS, {}, {}, evaluation, circuits=circuits)


def _finding(number: int, holds: bool | None, construction: str = "") -> Finding:
    f = Finding(number, f"claim {number}", "rule", key=f"key {number}", construction=construction)
    f.decide(holds)
    return f


def test_every_row_ends_with_the_verdict_and_labels_come_before_it():
    findings = all_findings(_doubling(), 7, 10, EXPERT)
    header, rule, *rows = verdict_table(findings)
    assert _cells(header) == ["finding", "claim", "key numbers", "labels", "verdict"]
    assert len(rows) == 9 and [_cells(r)[0] for r in rows] == [str(n) for n in range(1, 10)]
    assert _cells(rows[0])[-1] == "reproduced" and _cells(rows[0])[-2] == "-"
    for row in rows[1:]:  # nothing else measured: not tested, and the last cell still says so in two words
        assert _cells(row)[-2:] == ["not tested", "not reproduced"]


@pytest.mark.parametrize("holds, construction, labels, verdict", [
    (True, "", "-", "reproduced"),
    (False, "", "-", "not reproduced"),
    (None, "", "not tested", "not reproduced"),
    (True, "the circuit makes it so", "by construction", "not reproduced"),
])
def test_the_last_cell_is_reproduced_or_not(holds, construction, labels, verdict):
    row = verdict_table([_finding(4, holds, construction)])[-1]
    assert _cells(row) == ["4", "claim 4", "key 4", labels, verdict]


def test_summary_line_counts_reproduced_findings_only():
    findings = [_finding(1, True), _finding(2, False), _finding(4, True, "v1"), _finding(5, None)]
    expected = "1 of 4 findings reproduced (finding 4 also held, by construction: not counted)."
    assert summary_line(findings) == expected
    assert summary_line(all_findings(_doubling(), 7, 10, EXPERT)) == "1 of 9 findings reproduced."


def test_circuit_version_of_a_run(tmp_path):
    assert circuit_version(tmp_path) is None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"agent": {"policy_lr": 0.01}}))
    assert circuit_version(tmp_path) == 1  # v1 runs have no circuit field
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"agent": {"circuit": 2}}))
    assert circuit_version(tmp_path) == 2


def test_report_carries_the_table_the_summary_and_every_rule(tmp_path: Path):
    config = SimpleNamespace(seed_list=SEEDS, sessions=10, trials_per_session=64, partial_gain=0.5,
                             expert_after=7, expert_sessions=2)
    data = _doubling(frozenset({1}))
    findings = all_findings(data, 7, 10, EXPERT)
    report = render_report(config, [], {}, [], data, findings, [], [], tmp_path, [])
    assert "| 1 | " in report and report.count("| not reproduced |") == 8
    assert "\n1 of 9 findings reproduced.\n" in report
    assert report.count("Rule: ") == 9
    assert "## Finding 9: not reproduced (not tested, by construction)" in report
    assert "Holm-adjusted" in report
