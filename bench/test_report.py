"""Unit test of bench/report.py's table logic (no servers): verdicts against
the targets, and the back-to-back pair count shown as "sshgate ahead"."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import report  # noqa: E402


def row(better, sshd_runs, sshgate_runs, target=None):
    r = {"label": "x", "unit": "u", "better": better, "target": target, "why": "",
         "sshd": sorted(sshd_runs)[len(sshd_runs) // 2],
         "sshgate": sorted(sshgate_runs)[len(sshgate_runs) // 2]}
    r["ratio"] = r["sshgate"] / r["sshd"]
    r["paired"] = report.paired_ratios(sshd_runs, sshgate_runs)
    return report.rows_with_verdict([r])[0]


class Report(unittest.TestCase):
    def test_pairs_count_runs_where_sshgate_did_better(self):
        r = row("higher", [100, 100, 100, 100], [110, 90, 120, 95], ("ratio", ">=", 1.2))
        self.assertEqual(report.ahead_text(r), "2/4")
        self.assertEqual(r["verdict"], "MISS")
        self.assertAlmostEqual(r["paired"][0], 1.1)

    def test_lower_is_better_counts_smaller_values(self):
        r = row("lower", [10, 10, 10], [4, 5, 11], ("ratio", "<=", 0.5))
        self.assertEqual(report.ahead_text(r), "2/3")
        self.assertEqual(r["verdict"], "PASS")

    def test_unequal_run_lists_are_not_paired(self):
        # a failed run shifts the lists: pairing them would compare runs that
        # were not back to back
        self.assertEqual(report.paired_ratios([1, 2, 3], [1, 2]), [])
        self.assertEqual(report.paired_ratios([1], [1]), [])
        r = row("higher", [1, 2, 3], [1, 2])
        self.assertEqual(report.ahead_text(r), "")

    def test_tables_carry_the_column(self):
        r = row("higher", [100, 100], [120, 130], ("ratio", ">=", 1.2))
        self.assertIn("ahead", report.text_table([r]))
        md = report.markdown([r], {"date": "d", "machine": {"cpu": "c", "nproc": 2,
                              "kernel": "k", "mem_gib": 1, "loadavg": "0"},
                              "openssh": "o", "libssh": "l", "commit": "c", "mode": "full",
                              "runs": 2, "size_mib": 1})
        self.assertIn("| 2/2 |", md)
        self.assertIn("Mode: full, 2 runs (A/B alternated", md)

    def test_header_names_the_forward_runs_when_they_differ(self):
        meta = {"date": "d", "machine": {"cpu": "c", "nproc": 2, "kernel": "k", "mem_gib": 1,
                "loadavg": "0"}, "openssh": "o", "libssh": "l", "commit": "c",
                "mode": "full", "runs": 5, "fwd_runs": 15, "size_mib": 1}
        self.assertIn("5 runs (ssh -L figures 15; A/B alternated", report.markdown([], meta))


if __name__ == "__main__":
    unittest.main()
