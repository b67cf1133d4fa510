/* harness/engine/report.c - the run summary: text, JSON, and the report files
 * (summary.md, summary.json, index.html with an SVG plot of outcomes along
 * the op log).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_outcomes(FILE *f, const uint64_t *o)
{
	fprintf(f, "{");
	for (int k = 0; k < OUT_NR; k++)
		fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "",
			outcome_name((enum outcome)k), o[k]);
	fprintf(f, "}");
}

/* A count of crash states: "exact decimal", and its log2. */
static void json_bn(FILE *f, const char *key, const struct bignum *b)
{
	char *d = bn_to_dec(b);

	fprintf(f, ", \"%s\": \"%s\", \"%s_log2\": %.3f", key, d ? d : "?",
		key, bn_is_zero(b) ? 0.0 : bn_log2(b));
	free(d);
}

/* The coverage fields of exhaustive mode (README: coverage). */
static void json_cover(FILE *f, const struct bignum *total,
		       const struct bignum *covered, uint64_t recoveries,
		       uint64_t sampled, uint64_t incomplete)
{
	json_bn(f, "states_total", total);
	json_bn(f, "states_covered", covered);
	fprintf(f, ", \"covered_all\": %s, \"incomplete_cuts\": %" PRIu64
		", \"recoveries\": %" PRIu64 ", \"states_sampled\": %" PRIu64,
		bn_cmp(total, covered) ? "false" : "true", incomplete,
		recoveries, sampled);
}

static unsigned alloc_depth(const struct run_opts *o)
{
	return o->alloc_depth ? o->alloc_depth : ALLOC_DEPTH_DEFAULT;
}

static const char *alloc_site(const struct run_opts *o)
{
	return alloc_site_names[o->alloc_site ? o->alloc_site - 1 :
				ALLOC_SITE_DEFAULT];
}

/* What besides the frames makes a site, for the sentence below. */
static const char *alloc_site_more(const struct run_opts *o)
{
	static const char *const more[ALLOC_SITE_NR] = {
		[ALLOC_SITE_FRAMES] = "",
		[ALLOC_SITE_OP] = " and the kind of the op running",
		[ALLOC_SITE_LINE] = " and the op's line and kind",
		[ALLOC_SITE_EACH_OP] = " and the op itself",
	};

	return more[o->alloc_site ? o->alloc_site - 1 : ALLOC_SITE_DEFAULT];
}

/* The allocation sweep in one sentence (text and markdown). */
static void print_alloc(const struct run_opts *o, const struct run_summary *s,
			FILE *f)
{
	fprintf(f, "allocation faults: %" PRIu64 " allocations and %" PRIu64
		" space-map new_block calls in the fault-free runs; the first "
		"of each call site (its innermost %u frames%s) failed, a run "
		"each: %" PRIu64 " -ENOMEM runs and %" PRIu64 " -ENOSPC runs; "
		"%" PRIu64 " fired, in %" PRIu64 " an op or the abort after it "
		"failed with it (the rest absorbed it)\n", s->alloc_hits[0], s->alloc_hits[1],
		alloc_depth(o), alloc_site_more(o), s->alloc_runs[0], s->alloc_runs[1],
		s->alloc_fired, s->alloc_failed);
}

void report_print_json(const struct run_opts *o, const struct run_summary *s,
		       FILE *f)
{
	fprintf(f, "{\"scenarios\": %zu, \"variants\": %zu, \"cut_points\": %" PRIu64
		", \"states\": %" PRIu64 ", \"outcomes\": ",
		o->nr_scenarios, s->nr_variants, s->cut_points, s->states);
	json_outcomes(f, s->outcomes);
	fprintf(f, ", \"seconds\": %.3f, \"states_per_second\": %.1f, \"jobs\": %u"
		", \"seed\": %" PRIu64 ", \"tear\": %s, \"io_errors\": %s"
		", \"injected_errors\": %" PRIu64 ", ",
		s->seconds, s->seconds > 0 ? s->states / s->seconds : 0.0,
		s->jobs, o->seed, o->tear ? "true" : "false",
		o->io_errors ? "true" : "false", s->injected);
	if (o->io_errors)
		fprintf(f, "\"data_faults\": {\"runs\": %" PRIu64 ", \"fired\": %"
			PRIu64 "}, ", s->data_runs, s->data_fired);
	if (o->media_faults)
		fprintf(f, "\"media_faults\": {\"runs\": %" PRIu64 ", \"fired\": %"
			PRIu64 ", \"refused\": %" PRIu64 "}, ", s->media_runs,
			s->media_fired, s->media_refused);
	if (o->alloc_faults)
		fprintf(f, "\"alloc_faults\": {\"depth\": %u, \"site\": \"%s\", \"alloc_calls\": %"
			PRIu64 ", \"new_block_calls\": %" PRIu64 ", \"nomem_runs\": %"
			PRIu64 ", \"nospace_runs\": %" PRIu64 ", \"fired\": %" PRIu64
			", \"failed_ops\": %" PRIu64 "}, ", alloc_depth(o), alloc_site(o),
			s->alloc_hits[0], s->alloc_hits[1], s->alloc_runs[0],
			s->alloc_runs[1], s->alloc_fired, s->alloc_failed);
	fprintf(f, "\"mode\": \"%s\"", o->sample ? "sample" : "exhaustive");
	fprintf(f, ", \"writes_checked\": %" PRIu64 ", \"write_violations\": %"
		PRIu64, s->writes_checked, s->write_violations);
	if (!o->sample)
		json_cover(f, &s->states_total, &s->states_covered,
			   s->recoveries, s->sampled, s->incomplete_cuts);
	fprintf(f, ", \"shard\": ");
	if (o->shard_n)
		fprintf(f, "\"%u/%u\"", o->shard_k, o->shard_n);
	else
		fprintf(f, "null");
	fprintf(f, ", \"mutant\": ");
	if (o->mutant)
		json_str(f, o->mutant);
	else
		fprintf(f, "null");
	fprintf(f, ", \"violations\": [");
	for (size_t i = 0; i < s->nr_violations; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, s->violations[i].id);
	}
	fprintf(f, "], \"violation_messages\": {");
	for (size_t i = 0; i < s->nr_violations; i++) {
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, s->violations[i].id);
		fprintf(f, ": ");
		json_str(f, s->violations[i].msg);
	}
	fprintf(f, "}, \"per_variant\": [");
	for (size_t v = 0; v < s->nr_variants; v++) {
		const struct variant_stats *vs = &s->variants[v];

		fprintf(f, "%s{\"name\": ", v ? ", " : "");
		json_str(f, vs->name);
		fprintf(f, ", \"cut_points\": %" PRIu64 ", \"states\": %" PRIu64
			", \"log_ops\": %" PRIu64 ", \"commits\": %" PRIu64
			", \"outcomes\": ", vs->cut_points, vs->states,
			vs->log_ops, vs->commits);
		json_outcomes(f, vs->outcomes);
		fprintf(f, ", \"writes_checked\": %" PRIu64 ", \"write_walks\": %"
			PRIu64 ", \"write_violations\": %" PRIu64,
			vs->writes_checked, vs->write_walks,
			vs->write_violations);
		fprintf(f, ", \"runs\": %" PRIu64, vs->runs);
		if (vs->has_setup && vs->setup_io[0] == UINT64_MAX) {
			fprintf(f, ", \"setup_io\": null");	/* never ended */
		} else if (vs->has_setup) {
			fprintf(f, ", \"setup_io\": [");
			for (int k = 0; k < 5; k++)
				fprintf(f, "%s%" PRIu64, k ? ", " : "",
					vs->setup_io[k]);
			fprintf(f, "]");
		}
		if (!o->sample) {
			json_cover(f, &vs->states_total, &vs->states_covered,
				   vs->recoveries, vs->sampled,
				   vs->incomplete_cuts);
			if (vs->incomplete_cuts) {
				fprintf(f, ", \"first_incomplete\": ");
				json_str(f, vs->first_incomplete);
			}
		}
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
}

/* What the sweeps left out: each variant's setup (driver.h SW1). */
static void print_setups(const struct run_summary *s,
			 const struct run_opts *o, FILE *f, const char *before)
{
	if (!o->io_errors && !o->media_faults && !o->alloc_faults)
		return;
	for (size_t v = 0; v < s->nr_variants; v++) {
		const struct variant_stats *vs = &s->variants[v];

		if (!vs->has_setup)
			continue;
		if (vs->setup_io[0] == UINT64_MAX) {
			fprintf(f, "%s%s: its setup never ended (setup-done "
				"not reached): no fault planned\n", before,
				vs->name);
			continue;
		}
		fprintf(f, "%s%s: no fault planned in its setup (setup-done): "
			"%" PRIu64 " reads, %" PRIu64 " writes, %" PRIu64
			" flushes", before, vs->name, vs->setup_io[0],
			vs->setup_io[1], vs->setup_io[2]);
		if (vs->setup_io[3] || vs->setup_io[4])
			fprintf(f, ", %" PRIu64 " data-device writes, %" PRIu64
				" data-device flushes", vs->setup_io[3],
				vs->setup_io[4]);
		fprintf(f, ", and its allocations\n");
	}
}

/* Exact when it is short, else 2^x and the digits count. */
static void text_bn(FILE *f, const struct bignum *b)
{
	char *d = bn_to_dec(b);

	if (d && strlen(d) <= 24)
		fprintf(f, "%s", d);
	else if (d)
		fprintf(f, "2^%.2f (%zu digits, exact in the JSON)",
			bn_log2(b), strlen(d));
	free(d);
}

static void report_print_cover(const struct run_summary *s, FILE *f)
{
	fprintf(f, "coverage: states_total ");
	text_bn(f, &s->states_total);
	fprintf(f, ", states_covered ");
	text_bn(f, &s->states_covered);
	fprintf(f, " (%s), %" PRIu64 " leaves, %" PRIu64 " recoveries run; "
		"--sample would check %" PRIu64 "\n",
		bn_cmp(&s->states_total, &s->states_covered) ? "NOT ALL" : "all",
		s->states, s->recoveries, s->sampled);
	for (size_t v = 0; v < s->nr_variants; v++)
		if (s->variants[v].incomplete_cuts)
			fprintf(f, "not covered in full: %" PRIu64 " cut%s of %s, "
				"first %s\n", s->variants[v].incomplete_cuts,
				s->variants[v].incomplete_cuts == 1 ? "" : "s",
				s->variants[v].name, s->variants[v].first_incomplete);
}

/* The write-time invariants (writecheck.h): counted apart from the crash
 * states' outcomes; their ids (NAME:sSEED:wSEQ:eFAULT) are in the list. */
static void report_print_writes(const struct run_summary *s, FILE *f)
{
	fprintf(f, "write-time invariants: %" PRIu64 " writes checked, %" PRIu64
		" write violation%s\n", s->writes_checked, s->write_violations,
		s->write_violations == 1 ? "" : "s");
}

void report_print_text(const struct run_opts *o, const struct run_summary *s,
		       FILE *f)
{
	fprintf(f, "%-36s %10s %10s %10s %11s %9s %9s\n", "scenario", "cuts",
		"states", "rollback", "rollforward", "detected", "violation");
	for (size_t v = 0; v < s->nr_variants; v++) {
		const struct variant_stats *vs = &s->variants[v];

		fprintf(f, "%-36s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %11"
			PRIu64 " %9" PRIu64 " %9" PRIu64 "\n", vs->name,
			vs->cut_points, vs->states, vs->outcomes[OUT_ROLLBACK],
			vs->outcomes[OUT_ROLLFORWARD], vs->outcomes[OUT_DETECTED],
			vs->outcomes[OUT_VIOLATION]);
	}
	fprintf(f, "total: %zu scenarios, %" PRIu64 " cut points, %" PRIu64
		" crash states in %.1f s (%.0f states/s with %u jobs)%s\n",
		o->nr_scenarios, s->cut_points, s->states, s->seconds,
		s->seconds > 0 ? s->states / s->seconds : 0.0, s->jobs,
		o->tear ? ", torn writes on" : "");
	if (!o->sample)
		report_print_cover(s, f);
	report_print_writes(s, f);
	for (size_t v = 0; v < s->nr_variants; v++)
		if (s->variants[v].reads_sampled)
			fprintf(f, "%s: %" PRIu64 " reads; %d of them, spread evenly, "
				"were failed in turn (every write and flush was)\n",
				s->variants[v].name, s->variants[v].reads_sampled,
				MAX_READ_FAULTS);
	print_setups(s, o, f, "");
	if (o->io_errors && s->data_runs)
		fprintf(f, "data device: %" PRIu64 " runs with a data write or "
			"flush failed, an op met the error in %" PRIu64 "\n",
			s->data_runs, s->data_fired);
	if (o->media_faults)
		fprintf(f, "media faults: %" PRIu64 " runs, %" PRIu64 " hit the "
			"media, the core refused %" PRIu64 " (EILSEQ/EIO); "
			"%" PRIu64 " crash states detected\n", s->media_runs,
			s->media_fired, s->media_refused, s->outcomes[OUT_DETECTED]);
	if (o->alloc_faults)
		print_alloc(o, s, f);
	if (!s->nr_violations) {
		fprintf(f, "no violation: every crash state rolled back or "
			"forward, every write kept the write-time rules\n");
		return;
	}
	fprintf(f, "%zu violation%s (replay with: pdcrash replay ID):\n",
		s->nr_violations, s->nr_violations == 1 ? "" : "s");
	for (size_t i = 0; i < s->nr_violations && i < 20; i++)
		fprintf(f, "  %s  %s\n", s->violations[i].id, s->violations[i].msg);
	if (s->nr_violations > 20)
		fprintf(f, "  ... and %zu more (see the report)\n",
			s->nr_violations - 20);
}

static void write_md(const struct run_opts *o, const struct run_summary *s,
		     FILE *f)
{
	fprintf(f, "# pdcrash run\n\n");
	fprintf(f, "- seed %" PRIu64 ", %u jobs%s%s\n", o->seed, s->jobs,
		o->tear ? ", torn writes" : "", o->io_errors ? ", IO errors" : "");
	if (o->media_faults)
		fprintf(f, "- media faults (bit rot at each read, a lost sector at "
			"each write)\n");
	if (o->alloc_faults)
		fprintf(f, "- allocation faults (-ENOMEM and -ENOSPC at the first "
			"hit of each call site)\n");
	fprintf(f, "- %zu scenarios, %zu variants, %" PRIu64 " cut points, %"
		PRIu64 " crash states in %.1f s (%.0f states/s)\n\n",
		o->nr_scenarios, s->nr_variants, s->cut_points, s->states,
		s->seconds, s->seconds > 0 ? s->states / s->seconds : 0.0);
	fprintf(f, "| scenario | log ops | commits | cuts | states | rollback | "
		"rollforward | detected | violation |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (size_t v = 0; v < s->nr_variants; v++) {
		const struct variant_stats *vs = &s->variants[v];

		fprintf(f, "| %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %"
			PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %"
			PRIu64 " |\n", vs->name, vs->log_ops, vs->commits,
			vs->cut_points, vs->states, vs->outcomes[OUT_ROLLBACK],
			vs->outcomes[OUT_ROLLFORWARD], vs->outcomes[OUT_DETECTED],
			vs->outcomes[OUT_VIOLATION]);
	}
	if (!o->sample)
		report_print_cover(s, f);
	report_print_writes(s, f);
	for (size_t v = 0; v < s->nr_variants; v++)
		if (s->variants[v].reads_sampled)
			fprintf(f, "\n%s: %" PRIu64 " reads; %d of them, spread "
				"evenly, were failed in turn (every write and flush "
				"was).\n", s->variants[v].name,
				s->variants[v].reads_sampled, MAX_READ_FAULTS);
	print_setups(s, o, f, "\n");
	if (o->io_errors && s->data_runs)
		fprintf(f, "\nData device: %" PRIu64 " runs with a data write or "
			"flush failed, an op met the error in %" PRIu64 ".\n",
			s->data_runs, s->data_fired);
	if (o->media_faults)
		fprintf(f, "\nMedia faults: %" PRIu64 " runs, %" PRIu64 " hit the "
			"media, the core refused %" PRIu64 " (EILSEQ/EIO); %"
			PRIu64 " crash states detected.\n", s->media_runs,
			s->media_fired, s->media_refused, s->outcomes[OUT_DETECTED]);
	if (o->alloc_faults) {
		fprintf(f, "\n");
		print_alloc(o, s, f);
	}
	fprintf(f, "\n## Violations\n\n");
	if (!s->nr_violations)
		fprintf(f, "None.\n");
	for (size_t i = 0; i < s->nr_violations; i++)
		fprintf(f, "- `%s`: %s\n", s->violations[i].id,
			s->violations[i].msg);
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			fputs("&lt;", f);
		else if (*s == '>')
			fputs("&gt;", f);
		else if (*s == '&')
			fputs("&amp;", f);
		else
			fputc(*s, f);
	}
}

/* One stacked bar chart per variant: outcomes along the op log. */
static void write_svg(FILE *f, const struct variant_stats *vs)
{
	static const char *const colour[OUT_NR] = {
		"#4e79a7", "#59a14f", "#edc948", "#e15759"
	};
	const int w = 600, h = 120, bw = w / PLOT_BINS;
	uint64_t max = 1;

	for (int b = 0; b < PLOT_BINS; b++) {
		uint64_t t = 0;
		for (int k = 0; k < OUT_NR; k++)
			t += vs->plot[b][k];
		if (t > max)
			max = t;
	}
	fprintf(f, "<svg width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		w, h + 20);
	for (int b = 0; b < PLOT_BINS; b++) {
		double y = h;

		for (int k = 0; k < OUT_NR; k++) {
			double bh = (double)vs->plot[b][k] * h / max;

			if (vs->plot[b][k] == 0)
				continue;
			if (bh < 1)
				bh = 1;
			y -= bh;
			fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
				"fill=\"%s\"><title>%s: %" PRIu64 "</title></rect>\n",
				b * bw, y, bw, bh, colour[k],
				outcome_name((enum outcome)k), vs->plot[b][k]);
		}
	}
	fprintf(f, "<text x=\"0\" y=\"%d\" font-size=\"11\">start of log</text>"
		"<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">end "
		"(%" PRIu64 " ops)</text>\n</svg>\n", h + 15, w, h + 15,
		vs->log_ops);
}

static void write_html(const struct run_opts *o, const struct run_summary *s,
		       FILE *f)
{
	fprintf(f, "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
		"<title>pdcrash report</title><style>body{font-family:sans-serif;"
		"margin:2em}table{border-collapse:collapse}td,th{border:1px solid "
		"#ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
		".bad{color:#c00}</style></head><body>\n<h1>pdcrash run</h1>\n");
	fprintf(f, "<p>seed %" PRIu64 ", %u jobs%s. %" PRIu64 " crash states at %"
		PRIu64 " cut points in %.1f s (%.0f states/s).</p>\n", o->seed,
		s->jobs, o->tear ? ", torn writes" : "", s->states, s->cut_points,
		s->seconds, s->seconds > 0 ? s->states / s->seconds : 0.0);
	fprintf(f, "<p>Colours: <span style=\"color:#4e79a7\">rollback</span>, "
		"<span style=\"color:#59a14f\">rollforward</span>, "
		"<span style=\"color:#edc948\">detected</span>, "
		"<span style=\"color:#e15759\">violation</span>.</p>\n");
	fprintf(f, "<table><tr><th>scenario</th><th>cuts</th><th>states</th>"
		"<th>rollback</th><th>rollforward</th><th>detected</th>"
		"<th>violation</th></tr>\n");
	for (size_t v = 0; v < s->nr_variants; v++) {
		const struct variant_stats *vs = &s->variants[v];

		fprintf(f, "<tr><td>");
		html_escape(f, vs->name);
		fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
			"</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td%s>%" PRIu64
			"</td></tr>\n", vs->cut_points, vs->states,
			vs->outcomes[OUT_ROLLBACK], vs->outcomes[OUT_ROLLFORWARD],
			vs->outcomes[OUT_DETECTED],
			vs->outcomes[OUT_VIOLATION] ? " class=\"bad\"" : "",
			vs->outcomes[OUT_VIOLATION]);
	}
	fprintf(f, "</table>\n");
	for (size_t v = 0; v < s->nr_variants; v++) {
		fprintf(f, "<h3>");
		html_escape(f, s->variants[v].name);
		fprintf(f, ": outcomes along the op log</h3>\n");
		write_svg(f, &s->variants[v]);
	}
	fprintf(f, "<h2>Violations</h2>\n");
	if (!s->nr_violations)
		fprintf(f, "<p>None.</p>\n");
	else
		fprintf(f, "<ul>\n");
	for (size_t i = 0; i < s->nr_violations; i++) {
		fprintf(f, "<li><code>");
		html_escape(f, s->violations[i].id);
		fprintf(f, "</code>: ");
		html_escape(f, s->violations[i].msg);
		fprintf(f, "</li>\n");
	}
	if (s->nr_violations)
		fprintf(f, "</ul>\n");
	fprintf(f, "</body></html>\n");
}

static int mkdir_p(const char *dir)
{
	char path[1024];

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0777) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0777) && errno != EEXIST)
		return -errno;
	return 0;
}

int report_write(const struct run_opts *o, const struct run_summary *s,
		 const char *dir)
{
	static const char *const names[] = {
		"summary.md", "summary.json", "index.html"
	};
	int r = mkdir_p(dir);

	if (r)
		return r;
	for (int i = 0; i < 3; i++) {
		char path[1100];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "w");
		if (!f)
			return -errno;
		if (i == 0)
			write_md(o, s, f);
		else if (i == 1)
			report_print_json(o, s, f);
		else
			write_html(o, s, f);
		if (fclose(f))
			return -errno;
	}
	return 0;
}
