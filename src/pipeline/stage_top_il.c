/* stage_top_il.c — the top_il stage (spec 03 §8, §9.6, §9.7, §9.8).
 *
 * For each level, the ID columns and the IL columns of the selected digrams are read back
 * from the statistical table this version's features stage wrote and written again
 * unchanged: values are copied, never recomputed, so they are bit-identical (the CSV
 * reader parses the shortest round-trip text back to the same double). The digram list
 * comes from etl_metadata/statistical_features/digram_selection.json (absent = none
 * selected); the source shape comes from the source table's feature_summary.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/features.h"
#include "io/fs.h"
#include "io/json.h"
#include "io/table_read.h"
#include "pipeline/features_run.h"
#include "pipeline/runner.h"
#include "util/mem.h"

#define COMPONENT "top_il"

/* ---- the stage's table loader: the table reader ----------------------------------------------- */
static int tr_load(const char *dir, const kx_colspec *want, size_t nwant, kx_ftable *out, kx_err *err)
{
    kx_table_reader *r = kx_tr_open(dir, "features", want, nwant, err);
    if (!r) return -1;
    size_t nid = kx_flevel_nid(out->level);
    kx_column *cols = kx_calloc(nwant, sizeof *cols);
    int rc = 0;
    for (;;) {
        long n = kx_tr_next(r, cols, err);
        if (n <= 0) {
            rc = n < 0 ? -1 : 0;
            break;
        }
        for (long i = 0; i < n && rc == 0; i++) {
            const kx_strref *u = &((const kx_strref *)cols[0].values)[i];
            int64_t id[4] = {0, 0, 0, 0};
            for (size_t c = 1; c < nid; c++) id[c] = ((const int64_t *)cols[c].values)[i];
            bool null_id = !cols[0].valid[i];
            for (size_t c = 1; c < nid; c++) null_id |= !cols[c].valid[i];
            if (null_id || u->len > KX_UID_LEN) {
                rc = kx_fail(err, "%s: row %ld has a null or malformed ID column", kx_tr_path(r), i);
                break;
            }
            char uid[KX_UID_LEN + 1];
            memcpy(uid, u->ptr, u->len);
            uid[u->len] = 0;
            size_t row = kx_ftable_add_row(out, uid, id[1], id[2], id[3]);
            for (size_t c = nid; c < nwant; c++)
                if (cols[c].valid[i]) out->cols[c - nid][row] = ((const double *)cols[c].values)[i];
        }
        if (rc) break;
    }
    free(cols);
    kx_tr_close(r);
    return rc;
}

/* ---- inputs ---------------------------------------------------------------------------------- */
/* The selected digrams (array of strings, new reference); empty array when none. */
static json_t *load_digrams(const char *version_dir, kx_err *err)
{
    char *p = kx_path_join3(version_dir, "etl_metadata/statistical_features", "digram_selection.json");
    json_t *out = NULL;
    if (!kx_exists(p)) {
        out = json_array();
    } else {
        json_error_t je;
        json_t *doc = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
        json_t *d = doc ? json_object_get(doc, "selected_digrams") : NULL;
        if (!doc) kx_fail(err, "cannot read %s: %s (line %d)", p, je.text, je.line);
        else if (!json_is_array(d)) kx_fail(err, "%s: no selected_digrams list", p);
        else out = json_incref(d);
        json_decref(doc);
    }
    free(p);
    return out;
}

typedef struct level_out {
    bool ok;
    double seconds;
    int64_t src_rows, src_cols, rows, cols;
    char **il_names;
    size_t n_il;
} level_out;


/* Builds one top-k table. */
static int do_level(kx_stage_ctx *ctx, int l, json_t *digrams, kx_ftable_loader load, const char *out_root,
                    level_out *lo, kx_err *err)
{
    double t0 = kx_monotonic_seconds();
    const kx_config *cfg = ctx->cfg;
    size_t nd = json_array_size(digrams), nid = kx_flevel_nid((kx_flevel)l), nil = nd * KX_ST_COUNT;
    lo->il_names = kx_calloc(nil ? nil : 1, sizeof *lo->il_names);
    lo->n_il = nil;
    for (size_t j = 0; j < nd; j++)
        for (int s = 0; s < KX_ST_COUNT; s++)
            lo->il_names[j * KX_ST_COUNT + (size_t)s] =
                kx_asprintf("IL_%s_%s", json_string_value(json_array_get(digrams, j)), kx_stat_names[s]);

    char *src_dir = kx_path_join3(ctx->version_dir, "statistical_features", kx_feature_type_names[l]);
    char *sum_path = kx_path_join(src_dir, "feature_summary.json");
    json_error_t je;
    json_t *summary = json_load_file(sum_path, JSON_REJECT_DUPLICATES, &je);
    json_t *shape = summary ? json_object_get(summary, "shape") : NULL;
    int rc = 0;
    if (!summary) rc = kx_fail(err, "cannot read %s: %s", sum_path, je.text);
    else if (!json_is_array(shape) || json_array_size(shape) != 2) rc = kx_fail(err, "%s: no shape", sum_path);
    else {
        lo->src_rows = json_integer_value(json_array_get(shape, 0));
        lo->src_cols = json_integer_value(json_array_get(shape, 1));
    }
    json_decref(summary);
    free(sum_path);

    kx_ftable t;
    kx_ftable_init(&t, (kx_flevel)l, nil);
    if (rc == 0) {
        kx_colspec *want = kx_malloc((nid + nil) * sizeof *want);
        want[0] = (kx_colspec){kx_feature_id_cols[0], KX_COL_STRING};
        for (size_t i = 1; i < nid; i++) want[i] = (kx_colspec){kx_feature_id_cols[i], KX_COL_INT64};
        for (size_t c = 0; c < nil; c++) want[nid + c] = (kx_colspec){lo->il_names[c], KX_COL_DOUBLE};
        rc = load(src_dir, want, nid + nil, &t, err);
        free(want);
    }
    free(src_dir);
    if (rc == 0) {
        char name[96];
        snprintf(name, sizeof name, "statistical_IL_top_%d_%s", cfg->top_k, kx_feature_level_names[l]);
        char *dir = kx_path_join(out_root, name);
        rc = kx_write_ftable(dir, name, &t, (const double *const *)t.cols, lo->il_names, nil, cfg, err);
        lo->rows = (int64_t)t.nrows;
        lo->cols = (int64_t)(nid + nil);
        if (rc == 0) {
            json_t *o = json_object();
            json_object_set_new(o, "feature_type", json_string(name));
            char *desc = kx_asprintf("Statistical features (mean, median, q1, q3, std) for top %d most frequent digrams",
                                     cfg->top_k);
            json_object_set_new(o, "description", json_string(desc));
            free(desc);
            json_object_set_new(o, "k", json_integer(cfg->top_k));
            json_object_set_new(o, "shape", kx_json_int_pair(lo->rows, lo->cols));
            json_t *cols = json_array();
            for (size_t i = 0; i < nid; i++) json_array_append_new(cols, json_string(kx_feature_id_cols[i]));
            json_t *il = kx_json_str_array((const char *const *)lo->il_names, nil);
            json_array_extend(cols, il);
            json_object_set_new(o, "columns", cols);
            json_object_set_new(o, "il_features", il);
            json_object_set_new(o, "top_digrams", json_deep_copy(digrams));
            json_object_set_new(o, "expected_features", json_integer((json_int_t)cfg->top_k * KX_ST_COUNT));
            json_object_set_new(o, "actual_features", json_integer((json_int_t)nil));
            lo->seconds = kx_monotonic_seconds() - t0;
            json_object_set_new(o, "extraction_time", kx_json_seconds(lo->seconds));
            json_object_set_new(o, "units", json_string("ms"));
            char *p = kx_path_join(dir, "feature_summary.json");
            rc = kx_json_write_file(p, o, err);
            free(p);
            json_decref(o);
        }
        free(dir);
    }
    kx_ftable_free(&t);
    return rc;
}

/* ---- the stage ------------------------------------------------------------------------------- */
static json_t *features_processed(const level_out lo[3], json_t *digrams)
{
    json_t *o = json_object();
    for (int l = 0; l < 3; l++) {
        if (!lo[l].ok) continue;
        json_t *e = json_object();
        json_object_set_new(e, "original_shape", kx_json_int_pair(lo[l].src_rows, lo[l].src_cols));
        json_object_set_new(e, "filtered_shape", kx_json_int_pair(lo[l].rows, lo[l].cols));
        json_object_set_new(e, "il_features_selected", json_integer((json_int_t)lo[l].n_il));
        json_object_set_new(e, "digrams_used", json_integer((json_int_t)json_array_size(digrams)));
        json_object_set_new(o, kx_feature_level_names[l], e);
    }
    return o;
}

static int write_report(kx_stage_ctx *ctx, const level_out lo[3], json_t *digrams, json_t *errors, kx_err *err)
{
    int k = ctx->cfg->top_k;
    char sub[96];
    snprintf(sub, sizeof sub, "statistical_IL_top_%d_features", k);
    char *meta_dir = kx_path_join3(ctx->version_dir, "etl_metadata", sub);
    char *in_dir = kx_path_join(ctx->version_dir, "statistical_features");
    char *out_dir = kx_path_join(ctx->version_dir, sub);
    json_t *o = json_object();
    json_object_set_new(o, "version_id", json_string(ctx->version_id));
    json_object_set_new(o, "timestamp", kx_json_timestamp_now());
    json_object_set_new(o, "k", json_integer(k));
    json_object_set_new(o, "input_dir", kx_json_str(in_dir));
    json_object_set_new(o, "output_dir", kx_json_str(out_dir));
    json_object_set_new(o, "top_digrams", json_deep_copy(digrams));
    json_object_set_new(o, "features_processed", features_processed(lo, digrams));
    json_t *sel = json_object(), *times = json_object();
    double total = 0;
    for (int l = 0; l < 3; l++) {
        if (lo[l].ok)
            json_object_set_new(sel, kx_feature_level_names[l],
                                kx_json_str_array((const char *const *)lo[l].il_names, lo[l].n_il));
        json_object_set_new(times, kx_feature_level_names[l], kx_json_seconds(lo[l].seconds));
        total += lo[l].seconds;
    }
    json_object_set_new(o, "top_features_selected", sel);
    json_object_set_new(o, "processing_time", times);
    json_object_set_new(o, "total_time", kx_json_seconds(total));
    json_object_set_new(o, "errors", json_deep_copy(errors));
    int rc = kx_mkdirs(meta_dir, err);
    if (rc == 0) {
        char *p = kx_path_join(meta_dir, "selection_report.json");
        rc = kx_json_write_file(p, o, err);
        free(p);
    }
    json_decref(o);
    free(meta_dir);
    free(in_dir);
    free(out_dir);
    return rc;
}

int kx_top_il_run(kx_stage_ctx *ctx, kx_ftable_loader load)
{
    kx_err err;
    json_t *digrams = load_digrams(ctx->version_dir, &err);
    if (!digrams) return kx_fail(&ctx->err, "%s", err.msg);
    char sub[96];
    snprintf(sub, sizeof sub, "statistical_IL_top_%d_features", ctx->cfg->top_k);
    char *out_root = kx_path_join(ctx->version_dir, sub);
    level_out lo[3];
    memset(lo, 0, sizeof lo);
    json_t *errors = json_array();
    for (int l = 0; l < 3; l++) {
        kx_err e;
        double t0 = kx_monotonic_seconds();
        if (do_level(ctx, l, digrams, load, out_root, &lo[l], &e) == 0) {
            lo[l].ok = true;
            kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "%s_%s: %lld rows x %lld columns", sub, kx_feature_level_names[l],
                    (long long)lo[l].rows, (long long)lo[l].cols);
        } else {
            lo[l].seconds = kx_monotonic_seconds() - t0;
            char *msg = kx_asprintf("%s: %s", kx_feature_level_names[l], e.msg);
            kx_logf(ctx->log, KX_LOG_ERROR, COMPONENT, "%s", msg);
            json_array_append_new(errors, kx_json_str(msg));
            free(msg);
        }
    }
    int rc = write_report(ctx, lo, digrams, errors, &err);
    ctx->stats = features_processed(lo, digrams);
    if (json_array_size(errors) > 0)
        rc = kx_fail(&ctx->err, "%zu of 3 top-k tables failed; first: %s", json_array_size(errors),
                     json_string_value(json_array_get(errors, 0)));
    else if (rc)
        rc = kx_fail(&ctx->err, "%s", err.msg);
    for (int l = 0; l < 3; l++) {
        for (size_t i = 0; i < lo[l].n_il; i++) free(lo[l].il_names[i]);
        free(lo[l].il_names);
    }
    json_decref(errors);
    json_decref(digrams);
    free(out_root);
    return rc;
}

int kx_stage_top_il(kx_stage_ctx *ctx) { return kx_top_il_run(ctx, tr_load); }
