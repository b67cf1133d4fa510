"""Print exhaustive (--tear) and --sample runs of the default suite side by
side, from their JSON (make bench).  Figures only; it never fails on time."""
import json
import sys

ex, sa = (json.load(open(p)) for p in sys.argv[1:3])
rows = [
    ("mode", "exhaustive, --tear", "--sample, no tear"),
    ("cut points", ex["cut_points"], sa["cut_points"]),
    ("states_total (model)", "2^%.2f (%d digits)" % (ex["states_total_log2"],
                                                    len(ex["states_total"])), "-"),
    ("states_covered", "2^%.2f (%s)" % (ex["states_covered_log2"],
                                         "all" if ex["covered_all"] else "NOT ALL"),
     "%d states checked" % sa["states"]),
    ("leaves / states", ex["states"], sa["states"]),
    ("recoveries run", ex["recoveries"], "-"),
    ("--sample count (tear)", ex["states_sampled"], sa["states"]),
    ("violations", len(ex["violations"]), len(sa["violations"])),
    ("seconds", "%.2f" % ex["seconds"], "%.2f" % sa["seconds"]),
]
for r in rows:
    print("  %-24s %-34s %s" % r)
print("  time ratio exhaustive+tear / sample: %.2f" %
      (ex["seconds"] / sa["seconds"] if sa["seconds"] else float("nan")))
