/* cmd_inspect.c — `keyetl inspect schema|meta|head [-n N]|cat FILE.parquet`: the
 * parquet-tools jobs on top of the native reader (src/parquet). head/cat print CSV rows
 * (header + rows, the rules of spec 04 §3). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/table.h"
#include "io/table_read_parquet.h"
#include "io/text.h"
#include "parquet/parquet.h"
#include "util/buf.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: keyetl inspect schema FILE.parquet   column names, types, repetition, logical types\n"
            "       keyetl inspect meta FILE.parquet     row groups, column chunks, codecs, encodings,\n"
            "                                            sizes, statistics, created_by, key/value metadata\n"
            "       keyetl inspect head [-n N] FILE.parquet   first N rows (default 10) as CSV\n"
            "       keyetl inspect cat FILE.parquet      every row as CSV\n");
}

static const char *annotation(const kx_pq_column *c, char *tmp, size_t n)
{
    if (c->logical_type == 1) return " (STRING)";
    if (c->logical_type == 10) {
        snprintf(tmp, n, " (INTEGER(%d,%s))", c->int_bits, c->int_signed ? "true" : "false");
        return tmp;
    }
    if (c->converted_type == 0) return " (UTF8)";
    if (c->logical_type >= 0) {
        snprintf(tmp, n, " (logical type %d)", c->logical_type);
        return tmp;
    }
    return "";
}

static const char *type_word(int t)
{
    static const char *const w[] = {"boolean", "int32", "int64", "int96", "float", "double", "binary", "fixed_len_byte_array"};
    return t >= 0 && t < 8 ? w[t] : "unknown";
}

static int do_schema(const kx_pq_meta *m)
{
    printf("message schema {\n");
    for (size_t j = 0; j < m->ncolumns; j++) {
        const kx_pq_column *c = &m->columns[j];
        char tmp[64];
        const char *rep = c->repetition == 0 ? "required" : c->repetition == 1 ? "optional" : "repeated";
        kx_buf name = KX_BUF_INIT;
        kx_utf8_append_sanitized(&name, c->name, strlen(c->name));
        printf("  %s %s %s%s;\n", rep, type_word(c->type), name.data ? name.data : "", annotation(c, tmp, sizeof tmp));
        kx_buf_free(&name);
    }
    printf("}\n");
    return 0;
}

/* Prints a statistics value decoded by physical type. */
static void put_stat(kx_buf *o, int type, kx_pq_bytes v)
{
    if (type == KX_PQ_INT64 && v.len == 8) {
        int64_t x;
        memcpy(&x, v.ptr, 8);
        kx_buf_put_i64(o, x);
    } else if (type == KX_PQ_INT32 && v.len == 4) {
        int32_t x;
        memcpy(&x, v.ptr, 4);
        kx_buf_put_i64(o, x);
    } else if (type == KX_PQ_DOUBLE && v.len == 8) {
        double x;
        memcpy(&x, v.ptr, 8);
        kx_csv_put_double(o, x);
        if (x != x) kx_buf_puts(o, "nan");
    } else if (type == KX_PQ_BOOLEAN && v.len == 1) {
        kx_buf_puts(o, v.ptr[0] ? "true" : "false");
    } else {
        size_t n = v.len > 40 ? 40 : v.len;
        kx_buf_putc(o, '"');
        kx_utf8_append_sanitized(o, v.ptr, n);
        kx_buf_puts(o, v.len > n ? "...\"" : "\"");
    }
}

static int do_meta(const char *path, const kx_pq_meta *m)
{
    kx_buf o = KX_BUF_INIT;
    kx_buf_printf(&o, "file:        %s\nfile size:   %" PRIu64 " bytes (footer %u)\n", path, m->file_size, m->footer_len);
    kx_buf_printf(&o, "created_by:  ");
    if (m->created_by) kx_utf8_append_sanitized(&o, m->created_by, strlen(m->created_by));
    kx_buf_printf(&o, "\nversion:     %d\nnum_rows:    %" PRId64 "\ncolumns:     %zu\nrow groups:  %zu\n",
                  (int)m->version, m->num_rows, m->ncolumns, m->nrowgroups);
    kx_buf_printf(&o, "column_orders: %s\n", m->has_column_orders ? "yes" : "no");
    kx_buf_printf(&o, "key/value metadata: %zu\n", m->nkv);
    for (size_t i = 0; i < m->nkv; i++) {
        kx_buf_puts(&o, "  ");
        kx_utf8_append_sanitized(&o, m->keys[i], strlen(m->keys[i]));
        kx_buf_puts(&o, " = ");
        if (m->values[i]) {
            size_t n = strlen(m->values[i]);
            kx_utf8_append_sanitized(&o, m->values[i], n > 200 ? 200 : n);
            if (n > 200) kx_buf_puts(&o, "...");
        }
        kx_buf_putc(&o, '\n');
    }
    for (size_t g = 0; g < m->nrowgroups; g++) {
        const kx_pq_rowgroup *rg = &m->rowgroups[g];
        kx_buf_printf(&o, "row group %zu: rows=%" PRId64 " total_byte_size=%" PRId64 "\n", g, rg->num_rows, rg->total_byte_size);
        for (size_t j = 0; j < m->ncolumns; j++) {
            const kx_pq_chunk *c = &rg->chunks[j];
            kx_buf_puts(&o, "  ");
            kx_utf8_append_sanitized(&o, m->columns[j].name, strlen(m->columns[j].name));
            kx_buf_printf(&o, ": %s %s encodings=", kx_pq_type_name(c->type), kx_pq_codec_name(c->codec));
            for (int k = 0; k < c->nencodings; k++)
                kx_buf_printf(&o, "%s%s", k ? "," : "", kx_pq_encoding_name(c->encodings[k]));
            kx_buf_printf(&o, " values=%" PRId64 " compressed=%" PRId64 " uncompressed=%" PRId64 " data_page_offset=%" PRId64,
                          c->num_values, c->total_compressed, c->total_uncompressed, c->data_page_offset);
            if (c->dictionary_page_offset >= 0) kx_buf_printf(&o, " dictionary_page_offset=%" PRId64, c->dictionary_page_offset);
            if (c->stats.has_null_count) kx_buf_printf(&o, " nulls=%" PRId64, c->stats.null_count);
            if (c->stats.has_min) {
                kx_buf_puts(&o, " min=");
                put_stat(&o, c->type, c->stats.min);
            }
            if (c->stats.has_max) {
                kx_buf_puts(&o, " max=");
                put_stat(&o, c->type, c->stats.max);
            }
            kx_buf_putc(&o, '\n');
        }
    }
    fwrite(o.data, 1, o.len, stdout);
    kx_buf_free(&o);
    return 0;
}

/* head/cat: rows as CSV; limit < 0 = all. */
static int do_rows(const char *path, long limit)
{
    kx_err err;
    kx_colspec *cols = NULL;
    size_t ncols = 0;
    if (kx_pq_table_columns(path, &cols, &ncols, &err) != 0) {
        fprintf(stderr, "keyetl inspect: %s\n", err.msg);
        return 1;
    }
    kx_pq_source *s = kx_pq_source_open(path, cols, ncols, &err);
    int rc = s ? 0 : 1;
    kx_column *data = calloc(ncols ? ncols : 1, sizeof *data);
    kx_buf o = KX_BUF_INIT;
    kx_csv_put_header(&o, cols, ncols);
    long printed = 0;
    while (s && (limit < 0 || printed < limit)) {
        long n = kx_pq_source_next(s, data, &err);
        if (n < 0) rc = 1;
        if (n <= 0) break;
        if (limit >= 0 && n > limit - printed) n = limit - printed;
        kx_csv_put_rows(&o, cols, ncols, (size_t)n, data);
        printed += n;
        fwrite(o.data, 1, o.len, stdout);
        kx_buf_reset(&o);
    }
    fwrite(o.data, 1, o.len, stdout);
    if (rc) fprintf(stderr, "keyetl inspect: %s\n", err.msg);
    kx_buf_free(&o);
    free(data);
    kx_pq_source_close(s);
    kx_pq_colspecs_free(cols, ncols);
    return rc;
}

int kx_cmd_inspect(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    const char *what = argv[1];
    long limit = -1;
    int i = 2;
    if (!strcmp(what, "head")) {
        limit = 10;
        if (i + 1 < argc && !strcmp(argv[i], "-n")) {
            char *end;
            limit = strtol(argv[i + 1], &end, 10);
            if (*end || limit < 0) {
                fprintf(stderr, "keyetl inspect: -n needs a non-negative number\n");
                return 2;
            }
            i += 2;
        }
    } else if (strcmp(what, "schema") && strcmp(what, "meta") && strcmp(what, "cat")) {
        fprintf(stderr, "keyetl inspect: unknown subcommand '%s'\n", what);
        usage(stderr);
        return 2;
    }
    if (i != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[i];
    if (!strcmp(what, "head") || !strcmp(what, "cat")) return do_rows(path, limit);
    kx_err err;
    kx_pqr *r = kx_pqr_open(path, &err);
    if (!r) {
        fprintf(stderr, "keyetl inspect: %s\n", err.msg);
        return 1;
    }
    int rc = !strcmp(what, "schema") ? do_schema(kx_pqr_meta(r)) : do_meta(path, kx_pqr_meta(r));
    kx_pqr_close(r);
    return rc;
}
