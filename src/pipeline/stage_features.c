/* stage_features.c — the features stage (spec 03 §1–§7, §9.1–§9.5, §9.8).
 *
 * Flow: pass 1 over the users (selection), pass 2 in batches of BATCH_SIZE users
 * aggregated in parallel (kx_features_user, results appended in user order, so output
 * does not depend on PARALLEL_WORKERS or BATCH_SIZE), then per table: sort, impute,
 * write features.{parquet,csv} + feature_summary.json. Each table is written
 * independently; a failed table is listed in `errors` and the stage fails at the end,
 * after the metadata files are written (§9.8).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/features.h"
#include "io/fs.h"
#include "io/json.h"
#include "io/table.h"
#include "io/text.h"
#include "pipeline/features_run.h"
#include "pipeline/kptable.h"
#include "pipeline/runner.h"
#include "util/mem.h"
#include "util/pool.h"

const char *const kx_feature_type_names[3] = {"statistical_platform", "statistical_session", "statistical_video"};
const char *const kx_feature_level_names[3] = {"platform", "session", "video"};
const char *const kx_feature_id_cols[4] = {"user_id", "platform_id", "session_id", "video_id"};

static const char *const aggregation_levels[3] = {"user_platform", "session", "video"};
static const char *const descriptions[3] = {
    "Statistical features aggregated by user and platform",
    "Statistical features aggregated by user, platform, and session",
    "Statistical features aggregated by user, platform, session, and video (most granular)",
};

#define COMPONENT "features"

/* ---- column names ------------------------------------------------------------------------ */
/* "<prefix><key>_<stat>" with the key's bytes made valid UTF-8 (04 §1), so the names are the
 * same in CSV, Parquet and JSON (where they are also object keys). */
static char *feature_name(const char *prefix, const kx_key *k, int stat)
{
    kx_buf b = KX_BUF_INIT;
    kx_buf_puts(&b, prefix);
    kx_utf8_append_sanitized(&b, k->bytes, k->len);
    kx_buf_putc(&b, '_');
    kx_buf_puts(&b, kx_stat_names[stat]);
    return kx_buf_steal(&b);
}

static char **feature_names(const kx_feat_selection *sel)
{
    size_t n = kx_feat_ncols(sel);
    char **names = kx_calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < sel->n_unigrams; i++)
        for (int s = 0; s < KX_ST_COUNT; s++) names[kx_fcol_unigram(i, s)] = feature_name("HL_", &sel->unigrams[i], s);
    for (size_t j = 0; j < sel->n_digrams; j++)
        for (int s = 0; s < KX_ST_COUNT; s++) names[kx_fcol_digram(sel, j, s)] = feature_name("IL_", &sel->digrams[j], s);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ---- writing one table --------------------------------------------------------------------- */
static int remove_stale(const char *dir, const kx_config *cfg, kx_err *err)
{
    /* A format not written this run must not survive from an earlier run of the stage. */
    const char *files[2] = {cfg->out_parquet ? NULL : "features.parquet", cfg->out_csv ? NULL : "features.csv"};
    for (int i = 0; i < 2; i++) {
        if (!files[i]) continue;
        char *p = kx_path_join(dir, files[i]);
        int rc = kx_exists(p) ? kx_rmtree(p, err) : 0;
        free(p);
        if (rc) return -1;
    }
    return 0;
}

int kx_write_ftable(const char *dir, const char *table_name, const kx_ftable *t, const double *const *cols,
                    char *const *feat_names, size_t nfeat, const kx_config *cfg, kx_err *err)
{
    size_t nid = kx_flevel_nid(t->level), ncols = nid + nfeat;
    kx_colspec *spec = kx_malloc(ncols * sizeof *spec);
    spec[0] = (kx_colspec){kx_feature_id_cols[0], KX_COL_STRING};
    for (size_t i = 1; i < nid; i++) spec[i] = (kx_colspec){kx_feature_id_cols[i], KX_COL_INT64};
    for (size_t c = 0; c < nfeat; c++) spec[nid + c] = (kx_colspec){feat_names[c], KX_COL_DOUBLE};
    kx_table_opts opts = {cfg->out_parquet, cfg->out_csv, cfg->parquet_compression, cfg->parquet_row_group_rows,
                          table_name, cfg->parallel_workers};
    int rc = -1;
    kx_column *data = kx_calloc(ncols, sizeof *data);
    kx_strref *uid = NULL;
    if (kx_mkdirs(dir, err) || remove_stale(dir, cfg, err)) goto out;
    kx_tw *w = kx_tw_open(dir, "features", spec, ncols, &opts, err);
    if (!w) goto out;
    const size_t chunk = 65536;
    uid = kx_malloc(chunk * sizeof *uid);
    const int64_t *ids[4] = {NULL, t->platform, t->session, t->video};
    for (size_t a = 0; a < t->nrows; a += chunk) {
        size_t n = t->nrows - a < chunk ? t->nrows - a : chunk;
        for (size_t r = 0; r < n; r++) uid[r] = (kx_strref){t->uids[a + r], (uint32_t)strlen(t->uids[a + r])};
        data[0] = (kx_column){uid, NULL, false};
        for (size_t i = 1; i < nid; i++) data[i] = (kx_column){ids[i] + a, NULL, false};
        for (size_t c = 0; c < nfeat; c++) data[nid + c] = (kx_column){cols[c] + a, NULL, true};
        if (kx_tw_write(w, n, data, err)) {
            kx_tw_abort(w);
            goto out;
        }
    }
    rc = kx_tw_commit(w, err);
out:
    free(uid);
    free(data);
    free(spec);
    return rc;
}

/* ---- JSON pieces ---------------------------------------------------------------------------- */
static json_t *feature_config(int l, const kx_config *cfg)
{
    json_t *c = json_object();
    json_object_set_new(c, "name", json_string(kx_feature_type_names[l]));
    json_object_set_new(c, "description", json_string(descriptions[l]));
    json_object_set_new(c, "top_n_digrams", json_integer(cfg->top_k));
    json_object_set_new(c, "use_all_unigrams", json_true());
    json_object_set_new(c, "imputation_strategy", json_string("user"));
    json_object_set_new(c, "aggregation_level", json_string(aggregation_levels[l]));
    json_object_set_new(c, "keep_outliers", json_boolean(cfg->keep_outliers));
    json_object_set_new(c, "use_coverage_based_selection", json_true());
    return c;
}


static json_t *feature_summary(int l, const kx_ftable *t, char *const *feat_names, size_t nfeat,
                               const kx_config *cfg, double seconds)
{
    size_t nid = kx_flevel_nid(t->level);
    json_t *o = json_object();
    json_object_set_new(o, "feature_type", json_string(kx_feature_type_names[l]));
    json_object_set_new(o, "description", json_string(descriptions[l]));
    json_object_set_new(o, "config", feature_config(l, cfg));
    json_object_set_new(o, "shape", kx_json_int_pair((int64_t)t->nrows, (int64_t)(nid + nfeat)));
    json_t *cols = kx_json_str_array(kx_feature_id_cols, nid);
    json_t *fn = kx_json_str_array((const char *const *)feat_names, nfeat);
    json_array_extend(cols, fn);
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "feature_names", fn);
    json_object_set_new(o, "extraction_time", kx_json_seconds(seconds));
    json_object_set_new(o, "units", json_string("ms"));
    return o;
}

static json_t *imputation_json(const kx_ftable *t, const kx_impute_summary *s, char *const *feat_names)
{
    json_t *o = json_object();
    json_object_set_new(o, "total_imputations", json_integer(s->total));
    json_t *bs = json_object();
    for (size_t i = 0; i < s->n_strategies; i++)
        json_object_set_new(bs, kx_istrategy_names[s->strategy_order[i]], json_integer(s->by_strategy[s->strategy_order[i]]));
    json_object_set_new(o, "by_strategy", bs);
    json_t *bu = json_object(), *users = json_array();
    for (size_t i = 0; i < s->n_users; i++) {
        json_t *uid = kx_json_str(s->users[i]);
        json_object_set_new(bu, json_string_value(uid), json_integer(s->user_counts[i]));
        json_array_append_new(users, uid);
    }
    json_object_set_new(o, "by_user", bu);
    json_t *bf = json_object();
    for (size_t c = 0; c < t->nfeat; c++)
        if (s->by_feature[c]) json_object_set_new(bf, feat_names[c], json_integer(s->by_feature[c]));
    json_object_set_new(o, "by_feature", bf);
    json_t *det = json_array();
    for (size_t i = 0; i < s->n_details; i++) {
        const kx_irecord *r = &s->details[i];
        char level[80];
        kx_ftable_level_text(t, r->row, level);
        json_t *d = json_object();
        json_object_set_new(d, "user_id", kx_json_str(t->uids[r->row]));
        json_object_set_new(d, "feature", kx_json_str(feat_names[r->col]));
        json_object_set_new(d, "level", json_string(level));
        json_object_set_new(d, "strategy", json_string(kx_istrategy_names[r->strategy]));
        json_object_set_new(d, "imputed_value", kx_json_num(r->value));
        json_object_set_new(d, "reason", json_string(kx_istrategy_reasons[r->strategy]));
        json_array_append_new(det, d);
    }
    json_object_set_new(o, "details", det);
    json_object_set_new(o, "users_with_imputation", users);
    return o;
}

/* ---- pass 1 and pass 2 ---------------------------------------------------------------------- */
static int select_pass(const kx_user_source *src, bool keep_outliers, int top_k, kx_feat_selection *sel, kx_err *err)
{
    kx_fsel *fs = kx_fsel_new(keep_outliers);
    if (src->select) {
        int src_rc = src->select(src->arg, fs, err);
        kx_fsel_finish(fs, top_k, sel);
        return src_rc;
    }
    if (src->rewind(src->arg, err)) {
        kx_fsel_finish(fs, top_k, sel);
        return -1;
    }
    int rc;
    for (;;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        rc = src->next(src->arg, &u, err);
        if (rc == 1) kx_fsel_add_user(fs, &u);
        kx_user_keypairs_free(&u);
        if (rc != 1) break;
    }
    kx_fsel_finish(fs, top_k, sel);
    return rc;
}

/* Pass 2 is pipelined: while one batch of users is aggregated, the next batch is read. One
 * kx_parallel_for per batch runs item 0 = read the next batch into the other buffer, items
 * 1..n = aggregate user i-1 of the current batch (one result slot each). Results are
 * appended in user order after the loop, so tables do not depend on the worker count or on
 * which thread did what. Two batches of users are held at once (05 §6.2 batches). */
typedef struct agg_batch {
    kx_user_keypairs *users;
    size_t n;
} agg_batch;

typedef struct agg_pipe {
    const kx_user_source *src;
    const kx_feat_selection *sel;
    bool keep_outliers;
    size_t cap;
    agg_batch *cur, *next; /* aggregated now / being read */
    kx_fuser *out;         /* cap slots, for cur */
    int read_rc;           /* of the last read: 1 more users may follow, 0 end, -1 error */
    kx_err *err;
} agg_pipe;

/* Reads up to cap users into b; returns 1 if the source may have more, 0 at its end, -1 on
 * an error (users read so far stay in b). */
static int read_batch(agg_pipe *p, agg_batch *b)
{
    b->n = 0;
    while (b->n < p->cap) {
        kx_user_keypairs_init(&b->users[b->n]);
        int rc = p->src->next(p->src->arg, &b->users[b->n], p->err);
        if (rc != 1) {
            kx_user_keypairs_free(&b->users[b->n]);
            return rc;
        }
        b->n++;
    }
    return 1;
}

static void agg_item(void *arg, size_t i)
{
    agg_pipe *p = arg;
    if (i == 0) {
        if (p->read_rc == 1) p->read_rc = read_batch(p, p->next);
        else p->next->n = 0;
        return;
    }
    kx_features_user(p->sel, p->keep_outliers, &p->cur->users[i - 1], &p->out[i - 1]);
}

static void free_batch(agg_batch *b)
{
    for (size_t i = 0; i < b->n; i++) kx_user_keypairs_free(&b->users[i]);
    b->n = 0;
}

static int aggregate_pass(const kx_user_source *src, const kx_config *cfg, const kx_feat_selection *sel,
                          kx_ftable tables[KX_FL_COUNT], kx_err *err)
{
    if (src->rewind(src->arg, err)) return -1;
    size_t cap = cfg->batch_size > 0 ? (size_t)cfg->batch_size : 1;
    agg_batch bufs[2];
    for (int k = 0; k < 2; k++) bufs[k] = (agg_batch){kx_calloc(cap, sizeof(kx_user_keypairs)), 0};
    agg_pipe p = {src, sel, cfg->keep_outliers, cap, &bufs[0], &bufs[1], kx_calloc(cap, sizeof(kx_fuser)), 1, err};
    p.read_rc = read_batch(&p, p.cur);
    while (p.read_rc >= 0 && p.cur->n > 0) {
        kx_parallel_for(cfg->parallel_workers, p.cur->n + 1, agg_item, &p);
        for (size_t i = 0; i < p.cur->n; i++) {
            for (int l = 0; l < KX_FL_COUNT; l++) kx_ftable_append(&tables[l], &p.out[i].t[l]);
            kx_fuser_free(&p.out[i]);
        }
        free_batch(p.cur);
        agg_batch *t = p.cur;
        p.cur = p.next;
        p.next = t;
    }
    int rc = p.read_rc < 0 ? -1 : 0;
    for (int k = 0; k < 2; k++) {
        free_batch(&bufs[k]);
        free(bufs[k].users);
    }
    free(p.out);
    return rc;
}

/* ---- metadata files -------------------------------------------------------------------------- */
typedef struct run_state {
    kx_stage_ctx *ctx;
    kx_feat_selection sel;
    char **names;
    size_t nfeat;
    kx_ftable tables[KX_FL_COUNT];
    kx_impute_summary imp[KX_FL_COUNT];
    bool imputed[KX_FL_COUNT]; /* imp[] is filled */
    bool ok[KX_FL_COUNT];      /* table written */
    double seconds[KX_FL_COUNT];
    json_t *errors;            /* "<type>: <message>" */
} run_state;

static json_t *features_extracted(const run_state *st)
{
    json_t *o = json_object();
    for (int l = 0; l < KX_FL_COUNT; l++) {
        if (!st->ok[l]) continue;
        json_t *e = json_object();
        json_object_set_new(e, "records", json_integer((json_int_t)st->tables[l].nrows));
        json_object_set_new(e, "features", json_integer((json_int_t)st->nfeat));
        json_object_set_new(o, kx_feature_type_names[l], e);
    }
    return o;
}

static json_t *processing_times(const run_state *st)
{
    json_t *o = json_object();
    for (int l = 0; l < KX_FL_COUNT; l++) json_object_set_new(o, kx_feature_type_names[l], kx_json_seconds(st->seconds[l]));
    return o;
}

static int write_json(const char *dir, const char *file, json_t *doc, kx_err *err)
{
    char *p = kx_path_join(dir, file);
    int rc = kx_json_write_file(p, doc, err);
    free(p);
    json_decref(doc);
    return rc;
}

static int write_metadata(run_state *st, const char *meta_dir, kx_err *err)
{
    kx_stage_ctx *ctx = st->ctx;
    if (kx_mkdirs(meta_dir, err)) return -1;
    int rc = 0;

    json_t *reg = json_object();
    json_object_set_new(reg, "version_id", json_string(ctx->version_id));
    json_object_set_new(reg, "timestamp", kx_json_timestamp_now());
    json_t *avail = json_array(), *configs = json_object(), *counts = json_object();
    for (int l = 0; l < KX_FL_COUNT; l++) {
        json_object_set_new(configs, kx_feature_type_names[l], feature_config(l, ctx->cfg));
        if (!st->ok[l]) continue;
        json_array_append_new(avail, json_string(kx_feature_type_names[l]));
        int64_t ncols = (int64_t)(kx_flevel_nid((kx_flevel)l) + st->nfeat);
        json_object_set_new(counts, kx_feature_type_names[l], kx_json_int_pair((int64_t)st->tables[l].nrows, ncols));
    }
    json_object_set_new(reg, "features_available", avail);
    json_object_set_new(reg, "feature_configs", configs);
    json_t *sum = json_object();
    json_object_set_new(sum, "features_extracted", features_extracted(st));
    json_object_set_new(sum, "processing_time", processing_times(st));
    json_object_set_new(sum, "feature_counts", counts);
    json_object_set_new(sum, "errors", json_deep_copy(st->errors));
    json_object_set_new(reg, "extraction_summary", sum);
    rc |= write_json(meta_dir, "feature_registry.json", reg, err);

    json_t *ex = json_object();
    char *in_dir = kx_path_join(ctx->version_dir, "keypairs");
    char *out_dir = kx_path_join(ctx->version_dir, "statistical_features");
    double total = 0;
    for (int l = 0; l < KX_FL_COUNT; l++) total += st->seconds[l];
    json_object_set_new(ex, "version_id", json_string(ctx->version_id));
    json_object_set_new(ex, "timestamp", kx_json_timestamp_now());
    json_object_set_new(ex, "input_dir", kx_json_str(in_dir));
    json_object_set_new(ex, "output_dir", kx_json_str(out_dir));
    json_object_set_new(ex, "features_extracted", features_extracted(st));
    json_object_set_new(ex, "processing_time", processing_times(st));
    json_object_set_new(ex, "total_time", kx_json_seconds(total));
    json_object_set_new(ex, "errors", json_deep_copy(st->errors));
    free(in_dir);
    free(out_dir);
    if (!rc) rc |= write_json(meta_dir, "extraction_stats.json", ex, err);
    else json_decref(ex);

    /* Conditional files: remove a stale copy when the condition no longer holds. */
    char *dsel_path = kx_path_join(meta_dir, "digram_selection.json");
    if (st->sel.n_digrams > 0) {
        json_t *d = json_object();
        json_object_set_new(d, "method", json_string("user_intersection_top_k"));
        json_object_set_new(d, "k", json_integer(ctx->cfg->top_k));
        json_object_set_new(d, "intersection_size", json_integer((json_int_t)st->sel.intersection_size));
        json_t *dg = json_array(), *dc = json_array();
        for (size_t j = 0; j < st->sel.n_digrams; j++) {
            json_array_append_new(dg, kx_json_strn(st->sel.digrams[j].bytes, st->sel.digrams[j].len));
            json_array_append_new(dc, json_integer(st->sel.digram_counts[j]));
        }
        json_object_set_new(d, "selected_digrams", dg);
        json_object_set_new(d, "counts", dc);
        if (!rc) rc |= write_json(meta_dir, "digram_selection.json", d, err);
        else json_decref(d);
    } else if (!rc && kx_exists(dsel_path)) {
        rc |= kx_rmtree(dsel_path, err);
    }
    free(dsel_path);

    char *imp_path = kx_path_join(meta_dir, "imputation_tracking.json");
    bool any = false;
    for (int l = 0; l < KX_FL_COUNT; l++) any |= st->ok[l] && st->imp[l].total > 0;
    if (any) {
        json_t *it = json_object();
        for (int l = 0; l < KX_FL_COUNT; l++)
            if (st->ok[l]) json_object_set_new(it, kx_feature_type_names[l], imputation_json(&st->tables[l], &st->imp[l], st->names));
        if (!rc) rc |= write_json(meta_dir, "imputation_tracking.json", it, err);
        else json_decref(it);
    } else if (!rc && kx_exists(imp_path)) {
        rc |= kx_rmtree(imp_path, err);
    }
    free(imp_path);
    return rc ? -1 : 0;
}

/* ---- one table ------------------------------------------------------------------------------- */
static int finish_table(run_state *st, int l, const char *out_root, double shared_seconds, kx_err *err)
{
    double t0 = kx_monotonic_seconds();
    kx_ftable *t = &st->tables[l];
    kx_ftable_sort(t);
    kx_ftable_impute(t, &st->imp[l]);
    st->imputed[l] = true;
    char *dir = kx_path_join(out_root, kx_feature_type_names[l]);
    int rc = kx_write_ftable(dir, kx_feature_type_names[l], t, (const double *const *)t->cols, st->names, st->nfeat,
                             st->ctx->cfg, err);
    st->seconds[l] = shared_seconds + (kx_monotonic_seconds() - t0);
    if (rc == 0) {
        json_t *fs = feature_summary(l, t, st->names, st->nfeat, st->ctx->cfg, st->seconds[l]);
        rc = write_json(dir, "feature_summary.json", fs, err);
    }
    free(dir);
    return rc;
}

/* The three tables are sorted, imputed and written independently (their own files, their
 * own summaries): on up to three threads, results in per-table slots; logging and the
 * error list follow in table order. */
typedef struct finish_job {
    run_state *st;
    const char *out_root;
    double shared;
    int rc[KX_FL_COUNT];
    kx_err err[KX_FL_COUNT];
} finish_job;

static void finish_one(void *arg, size_t l)
{
    finish_job *j = arg;
    j->err[l].msg[0] = 0;
    j->rc[l] = finish_table(j->st, (int)l, j->out_root, j->shared, &j->err[l]);
}

int kx_features_run(kx_stage_ctx *ctx, const kx_user_source *src)
{
    const kx_config *cfg = ctx->cfg;
    double t0 = kx_monotonic_seconds();
    run_state st;
    memset(&st, 0, sizeof st);
    st.ctx = ctx;
    st.errors = json_array();
    kx_err rerr;
    rerr.msg[0] = 0;

    int read_rc = select_pass(src, cfg->keep_outliers, cfg->top_k, &st.sel, &rerr);
    st.nfeat = kx_feat_ncols(&st.sel);
    st.names = feature_names(&st.sel);
    for (int l = 0; l < KX_FL_COUNT; l++) kx_ftable_init(&st.tables[l], (kx_flevel)l, st.nfeat);
    if (read_rc == 0) {
        kx_logf(ctx->log, KX_LOG_INFO, COMPONENT,
                "Selection: %lld rows in V, %lld in F, %zu unigrams, |I| = %zu, %zu digrams selected",
                (long long)st.sel.rows_v, (long long)st.sel.rows_f, st.sel.n_unigrams, st.sel.intersection_size,
                st.sel.n_digrams);
        read_rc = aggregate_pass(src, cfg, &st.sel, st.tables, &rerr);
    }
    /* Selection and aggregation serve all three tables; each gets a third of that time. */
    double shared = (kx_monotonic_seconds() - t0) / 3.0;

    char *out_root = kx_path_join(ctx->version_dir, "statistical_features");
    finish_job fj = {&st, out_root, shared, {0}, {{{0}}}};
    if (read_rc == 0) kx_parallel_for(cfg->parallel_workers < KX_FL_COUNT ? cfg->parallel_workers : KX_FL_COUNT,
                                      KX_FL_COUNT, finish_one, &fj);
    for (int l = 0; l < KX_FL_COUNT; l++) {
        kx_err e = fj.err[l];
        if (read_rc != 0) {
            st.seconds[l] = shared;
            snprintf(e.msg, sizeof e.msg, "%s", rerr.msg);
        } else if (fj.rc[l] == 0) {
            st.ok[l] = true;
            kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "%s: %zu rows x %zu columns, %lld cells imputed",
                    kx_feature_type_names[l], st.tables[l].nrows, kx_flevel_nid((kx_flevel)l) + st.nfeat,
                    (long long)st.imp[l].total);
            continue;
        }
        char *msg = kx_asprintf("%s: %s", kx_feature_type_names[l], e.msg);
        kx_logf(ctx->log, KX_LOG_ERROR, COMPONENT, "%s", msg);
        json_array_append_new(st.errors, kx_json_str(msg));
        free(msg);
    }
    free(out_root);

    char *meta_dir = kx_path_join3(ctx->version_dir, "etl_metadata", "statistical_features");
    kx_err merr;
    int meta_rc = write_metadata(&st, meta_dir, &merr);
    free(meta_dir);
    ctx->stats = features_extracted(&st);

    int rc = 0;
    if (json_array_size(st.errors) > 0)
        rc = kx_fail(&ctx->err, "%zu of 3 feature tables failed; first: %s", json_array_size(st.errors),
                     json_string_value(json_array_get(st.errors, 0)));
    else if (meta_rc)
        rc = kx_fail(&ctx->err, "%s", merr.msg);

    for (int l = 0; l < KX_FL_COUNT; l++) {
        kx_ftable_free(&st.tables[l]);
        if (st.imputed[l]) kx_impute_summary_free(&st.imp[l]);
    }
    free_names(st.names, st.nfeat);
    kx_feat_selection_free(&st.sel);
    json_decref(st.errors);
    return rc;
}

/* ---- the stage over the keypairs table ------------------------------------------------------- */
typedef struct kp_source {
    const char *version_dir;
    int workers; /* PARALLEL_WORKERS: threads decoding a row group's columns */
    int rewinds; /* passes started: 1 selection, 2 aggregation */
    kx_kptable *t;
} kp_source;

/* Columns each pass reads (kx_fsel_add_user: keys, valid, outlier via kx_row_in_f;
 * kx_features_user: also the platform/session/video ids and HL/IL). Decoding only these
 * skips 14 resp. 9 of the 20 columns; user_id and device_type are always read. */
#define SELECT_COLS (KX_KP_COL_KEY1 | KX_KP_COL_KEY2 | KX_KP_COL_VALID | KX_KP_COL_OUTLIER)
#define AGGREGATE_COLS                                                                          \
    (SELECT_COLS | KX_KP_COL_PLATFORM | KX_KP_COL_SESSION | KX_KP_COL_VIDEO | KX_KP_COL_HL | \
     KX_KP_COL_IL)

static int kp_rewind(void *arg, kx_err *err)
{
    kp_source *s = arg;
    if (s->t) kx_kptable_close(s->t);
    uint32_t cols = s->rewinds++ == 0 ? SELECT_COLS : AGGREGATE_COLS;
    s->t = kx_kptable_open_workers(s->version_dir, cols, s->workers, err);
    return s->t ? 0 : -1;
}

/* The selection pass over column runs (no per-row structs; key ids table-wide). */
static int kp_select(void *arg, kx_fsel *fs, kx_err *err)
{
    kp_source *s = arg;
    s->rewinds = 1; /* the next rewind starts the aggregation pass */
    kx_kpscan *scan = kx_kpscan_open(s->version_dir, SELECT_COLS, s->workers, err);
    if (!scan) return -1;
    kx_kp_run r;
    int rc;
    bool open = false;
    while ((rc = kx_kpscan_next(scan, &r, err)) > 0) {
        if (r.new_group && open) kx_fsel_group_end(fs, kx_kpscan_keys(scan));
        open = true;
        kx_fsel_group_rows(fs, r.n, r.col[KX_KPI_KEY1], r.col[KX_KPI_KEY2], r.col[KX_KPI_VALID],
                           r.col[KX_KPI_OUTLIER]);
    }
    if (rc == 0 && open) kx_fsel_group_end(fs, kx_kpscan_keys(scan));
    kx_kpscan_close(scan);
    return rc;
}

static int kp_next(void *arg, kx_user_keypairs *out, kx_err *err)
{
    kp_source *s = arg;
    return kx_kptable_next_user(s->t, out, err);
}

int kx_stage_features(kx_stage_ctx *ctx)
{
    kp_source ks = {ctx->version_dir, ctx->cfg->parallel_workers, 0, NULL};
    kx_user_source src = {&ks, kp_rewind, kp_next, "keypairs table", kp_select};
    int rc = kx_features_run(ctx, &src);
    if (ks.t) kx_kptable_close(ks.t);
    return rc;
}
