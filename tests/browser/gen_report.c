/* gen_report.c — writes an EDA report.html (and analysis_results.json) for a synthetic
 * fixture, for the headless-browser check (report_chromium.sh).
 * Usage: gen_report OUT_DIR N_USERS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/eda.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/eda_report.h"
#include "util/mem.h"

static uint64_t rng = 88172645463325252ull;
static double uniform(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double normal(void) { return sqrt(-2 * log(uniform() + 1e-300)) * cos(6.283185307179586 * uniform()); }

int main(int argc, char **argv)
{
    if (argc != 3) return fprintf(stderr, "usage: gen_report OUT_DIR N_USERS\n"), 2;
    int nusers = atoi(argv[2]);
    static const char *keys[] = {"a", "e", "t", "o", "Key.space", "Key.shift", "n", "<b>&", "Key.backspace", "s"};
    kx_eda *e = kx_eda_new();
    for (int u = 0; u < nusers; u++) {
        kx_user_keypairs up;
        kx_user_keypairs_init(&up);
        snprintf(up.user_id, sizeof up.user_id, "%08x%024d", (unsigned)(u * 2654435761u), u);
        up.device_type = kx_strdup("desktop");
        int rows = 200 + (int)(uniform() * 1500);
        double bad = 0.002 + 0.05 * uniform() * uniform();
        for (int i = 0; i < rows; i++) {
            kx_keypair *r = kx_user_keypairs_push(&up);
            memset(r, 0, sizeof *r);
            r->platform_id = 1 + i % 3, r->video_id = 1 + (i / 3) % 3, r->session_id = 1 + i % 2;
            r->sequence_id = i;
            const char *k1 = keys[(size_t)(uniform() * 10)], *k2 = keys[(size_t)(uniform() * 10)];
            r->key1 = kx_keytab_intern(&up.keys, k1, strlen(k1));
            r->key2 = kx_keytab_intern(&up.keys, k2, strlen(k2));
            r->hl = round(exp(4.5 + 0.35 * normal()));
            if (uniform() < 0.002) r->hl = 5000 + round(uniform() * 20000);
            r->il = round(60 + 90 * normal());
            r->pl = fmax(0, r->hl + r->il);
            r->rl = round(r->il + 30 * normal());
            r->valid = uniform() > bad;
            r->outlier = r->valid && (r->hl > 2000 || r->hl < 30 || fabs(r->il) > 1000);
            if (!r->valid) r->hl = r->il = r->pl = r->rl = NAN;
        }
        kx_eda_add_user(e, &up);
        char name[64], uid[KX_UID_LEN + 1];
        snprintf(uid, sizeof uid, "%s", up.user_id);
        snprintf(name, sizeof name, "1_1_1_%s.csv", uid);
        kx_user_keypairs_free(&up);
        kx_eda_event ev[4] = {{"a", 1, true, 10}, {"a", 1, true, 20}, {"<b>&", 4, true, 30}, {"z", 1, false, 40}};
        kx_eda_scan_file(e, uid, name, ev, u % 4 == 0 ? 4 : 1);
        kx_eda_set_consent(e, uid, "2025-08-01T07:49:13.940Z");
    }
    kx_eda_meta meta = {"2025-09-07_00-27-43_fixture", "2025-09-07 00:30:00",
                        "artifacts/V/keypairs/keypairs.parquet", "artifacts/V/cleaned_data/desktop/metadata/metadata.csv",
                        "artifacts/V/cleaned_data", "artifacts/V/eda_reports/data_quality/analysis_results.json"};
    json_t *doc = kx_eda_results(e, &meta);
    kx_buf h = KX_BUF_INIT;
    kx_eda_report_opts o = {"2025-09-07 00:30:01", false, 0};
    kx_eda_report_html(&h, doc, e, &o);
    char *p1 = kx_path_join(argv[1], "report.html"), *p2 = kx_path_join(argv[1], "analysis_results.json");
    kx_err err;
    int rc = kx_write_file_atomic(p1, h.data, h.len, &err);
    if (rc == 0) rc = kx_json_write_file(p2, doc, &err);
    if (rc < 0) fprintf(stderr, "gen_report: %s\n", err.msg);
    free(p1);
    free(p2);
    kx_buf_free(&h);
    json_decref(doc);
    kx_eda_free(e);
    return rc < 0;
}
