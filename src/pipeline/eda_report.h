/* eda_report.h — the self-contained report.html of the eda stage (spec 05 §7.2).
 *
 * The report is rendered from the analysis_results.json document (the single source of the
 * numbers) plus the per-feature value arrays of the finished accumulator (for charts A and B).
 * Output is one UTF-8 HTML file with inline CSS and inline SVG; no script, no external or
 * relative resource. Long per-user tables are capped (KX_EDA_REPORT_MAX_ROWS: first and last
 * half shown, with a note); the JSON keeps every user.
 */
#ifndef KX_PIPELINE_EDA_REPORT_H
#define KX_PIPELINE_EDA_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/eda.h"
#include "util/buf.h"

#define KX_EDA_REPORT_MAX_ROWS 100

typedef struct kx_eda_report_opts {
    const char *generated;  /* generation time text */
    bool include_pii;       /* consent timestamp column in 8.4 */
    size_t max_table_rows;  /* 0 = KX_EDA_REPORT_MAX_ROWS */
} kx_eda_report_opts;

/* Appends the whole HTML document. doc = kx_eda_results(e, ...). */
void kx_eda_report_html(kx_buf *out, const json_t *doc, const kx_eda *e, const kx_eda_report_opts *opts);

#endif
