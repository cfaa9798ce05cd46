/* Configuration: .env syntax (05 §2.2), layering and provenance (§2.1), redaction. */
#include <stdlib.h>

#include "io/fs.h"
#include "pipeline/config_load.h"
#include "util/mem.h"
#include "test.h"

typedef struct kvs {
    char keys[16][64], vals[16][128];
    int lines[16];
    int n;
} kvs;

static int collect(void *arg, const char *key, const char *value, int line, kx_err *err)
{
    (void)err;
    kvs *k = arg;
    snprintf(k->keys[k->n], 64, "%s", key);
    snprintf(k->vals[k->n], 128, "%s", value);
    k->lines[k->n++] = line;
    return 0;
}

TEST(config_env_syntax)
{
    const char *text = "# comment\n"
                       "\n"
                       "export A=1\n"
                       "  B =  two words  \n"
                       "C='lit # not comment \\n'\n"
                       "D=\"q \\\" b \\\\ \\n\"\n"
                       "E=value # trailing comment\n"
                       "F=a#b\n"
                       "G=\n"
                       "H=\"x\" # ok\r\n"
                       "I=$HOME\n";
    kvs k = {0};
    kx_err err;
    CHECK_EQ_INT(kx_env_parse("t.env", text, collect, &k, &err), 0);
    CHECK_EQ_INT(k.n, 9);
    CHECK_EQ_STR(k.keys[0], "A");
    CHECK_EQ_STR(k.vals[0], "1");
    CHECK_EQ_INT(k.lines[0], 3);
    CHECK_EQ_STR(k.keys[1], "B");
    CHECK_EQ_STR(k.vals[1], "two words");
    CHECK_EQ_STR(k.vals[2], "lit # not comment \\n");
    CHECK_EQ_STR(k.vals[3], "q \" b \\ \\n");
    CHECK_EQ_STR(k.vals[4], "value");
    CHECK_EQ_STR(k.vals[5], "a#b");
    CHECK_EQ_STR(k.vals[6], "");
    CHECK_EQ_STR(k.vals[7], "x");
    CHECK_EQ_STR(k.vals[8], "$HOME"); /* no expansion */
}

TEST(config_env_syntax_errors)
{
    kvs k = {0};
    kx_err err;
    CHECK_EQ_INT(kx_env_parse("x/.env", "A=1\nJUSTTEXT\n", collect, &k, &err), -1);
    CHECK_EQ_STR(err.msg, "x/.env:2: syntax error: expected KEY=VALUE");
    CHECK_EQ_INT(kx_env_parse("x/.env", "A='open\n", collect, &k, &err), -1);
    CHECK_EQ_STR(err.msg, "x/.env:1: syntax error: unterminated quoted value");
    CHECK_EQ_INT(kx_env_parse("x/.env", "=v\n", collect, &k, &err), -1);
}

static void write(const char *dir, const char *name, const char *text)
{
    char *p = kx_path_join(dir, name);
    kx_write_file_atomic(p, text, strlen(text), NULL);
    free(p);
}

TEST(config_layers_and_sources)
{
    const char *d = kx_test_tmpdir();
    write(d, ".env", "TOP_K=2\nBATCH_SIZE=3\nINCLUDE_PII=yes\nKEEP_OUTLIERS=on\nPROJECT_ID=fpd\n");
    write(d, ".env.local", "BATCH_SIZE=4\nKEEP_OUTLIERS=0\n");
    setenv("KEEP_OUTLIERS", "TRUE", 1);
    setenv("PROJECT_ID", "ignored", 1);
    kx_config_overrides ov = {0};
    kx_config_overrides_add(&ov, "TOP_K", "5");
    kx_err err;
    CHECK_EQ_INT(kx_config_overrides_add_kv(&ov, "TOP_K=6", &err), 0);
    CHECK_EQ_INT(kx_config_overrides_add_kv(&ov, "nokey", &err), -1);
    kx_config c;
    kx_config_init(&c);
    kx_config_notes notes = {0};
    int rc = kx_config_load(&c, d, &ov, &notes, &err);
    unsetenv("KEEP_OUTLIERS");
    unsetenv("PROJECT_ID");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.top_k, 6); /* command line, last occurrence wins */
    CHECK_EQ_STR(c.source[kx_setting_index("TOP_K")], "command line");
    CHECK_EQ_INT(c.batch_size, 4);
    char *local = kx_path_join(d, ".env.local"), *env = kx_path_join(d, ".env");
    CHECK_EQ_STR(c.source[kx_setting_index("BATCH_SIZE")], local);
    CHECK(c.include_pii);
    CHECK_EQ_STR(c.source[kx_setting_index("INCLUDE_PII")], env);
    CHECK(c.keep_outliers);
    CHECK_EQ_STR(c.source[kx_setting_index("KEEP_OUTLIERS")], "environment");
    CHECK_EQ_STR(c.source[kx_setting_index("S3_REGION")], "default");
    CHECK_EQ_INT(notes.n, 1); /* unknown key at DEBUG */
    CHECK_EQ_INT(notes.items[0].level, KX_LOG_DEBUG);
    CHECK(strstr(notes.items[0].msg, "PROJECT_ID") != NULL);
    free(local);
    free(env);
    kx_config_notes_free(&notes);
    kx_config_overrides_free(&ov);
    kx_config_free(&c);
}

TEST(config_bad_values_reported)
{
    const char *d = kx_test_tmpdir();
    write(d, ".env", "A=1\nINCLUDE_PII=maybe\n");
    kx_config c;
    kx_config_init(&c);
    kx_err err;
    CHECK_EQ_INT(kx_config_load(&c, d, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "/.env:2: invalid value for INCLUDE_PII: 'maybe'") != NULL);
    kx_config_free(&c);
    kx_config_init(&c);
    kx_config_overrides ov = {0};
    kx_config_overrides_add(&ov, "NOT_A_SETTING", "1");
    const char *empty = kx_test_tmpdir();
    CHECK_EQ_INT(kx_config_load(&c, empty, &ov, NULL, &err), -1);
    CHECK_EQ_STR(err.msg, "unknown setting NOT_A_SETTING");
    kx_config_overrides_free(&ov);
    kx_config_free(&c);
    kx_config_init(&c);
    kx_config_overrides_add(&ov, "TOP_K", "1001");
    CHECK_EQ_INT(kx_config_load(&c, empty, &ov, NULL, &err), -1);
    CHECK(strstr(err.msg, "TOP_K") != NULL);
    kx_config_overrides_free(&ov);
    kx_config_free(&c);
    kx_config_init(&c);
    kx_config_overrides_add(&ov, "OUTLIER_HL_MAX_MS", "10");
    CHECK_EQ_INT(kx_config_load(&c, empty, &ov, NULL, &err), -1); /* max must exceed min (30) */
    kx_config_overrides_free(&ov);
    kx_config_free(&c);
}

TEST(config_secrets_redacted)
{
    kx_config c;
    kx_config_init(&c);
    kx_config_set(&c, "AWS_SECRET_ACCESS_KEY", "abc", "t", NULL);
    kx_config_set(&c, "METADATA_DB_URL", "postgresql://me:pw@db:5432/fpd", "t", NULL);
    char *a = kx_config_get_display(&c, (size_t)kx_setting_index("AWS_SECRET_ACCESS_KEY"));
    char *b = kx_config_get_display(&c, (size_t)kx_setting_index("METADATA_DB_URL"));
    char *e = kx_config_get_display(&c, (size_t)kx_setting_index("AWS_SESSION_TOKEN"));
    CHECK_EQ_STR(a, "***REDACTED***");
    CHECK_EQ_STR(b, "postgresql://me:***REDACTED***@db:5432/fpd");
    CHECK_EQ_STR(e, ""); /* unset secrets show as empty */
    free(a);
    free(b);
    free(e);
    kx_config_free(&c);
}
