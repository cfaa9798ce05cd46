/* cmd_convert.c — `keyetl convert IN.parquet OUT.csv`: a Parquet table to CSV with the
 * rules of spec 04 §3, row group by row group, written atomically (kx_afile). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/fs.h"
#include "io/table.h"
#include "io/table_read_parquet.h"
#include "util/buf.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: keyetl convert IN.parquet OUT.csv\n"
               "Writes the Parquet table IN as CSV (spec 04 §3: header line, nulls as empty fields,\n"
               "doubles in shortest round-trip form, booleans True/False). OUT appears atomically.\n");
}

static int convert(const char *in, const char *out, kx_err *err)
{
    kx_colspec *cols = NULL;
    size_t ncols = 0;
    if (kx_pq_table_columns(in, &cols, &ncols, err) != 0) return -1;
    kx_pq_source *s = kx_pq_source_open(in, cols, ncols, err);
    if (!s) {
        kx_pq_colspecs_free(cols, ncols);
        return -1;
    }
    kx_afile f;
    int rc = kx_afile_open(&f, out, err);
    kx_column *data = calloc(ncols ? ncols : 1, sizeof *data);
    kx_buf b = KX_BUF_INIT;
    if (rc == 0) {
        kx_csv_put_header(&b, cols, ncols);
        for (;;) {
            long n = kx_pq_source_next(s, data, err);
            if (n < 0) rc = -1;
            if (n <= 0) break;
            kx_csv_put_rows(&b, cols, ncols, (size_t)n, data);
            if ((rc = kx_afile_write(&f, b.data, b.len, err)) != 0) break;
            kx_buf_reset(&b);
        }
        if (rc == 0 && b.len) rc = kx_afile_write(&f, b.data, b.len, err);
        if (rc == 0) rc = kx_afile_commit(&f, err);
        else kx_afile_abort(&f);
    }
    kx_buf_free(&b);
    free(data);
    kx_pq_source_close(s);
    kx_pq_colspecs_free(cols, ncols);
    return rc;
}

int kx_cmd_convert(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 3) {
        usage(stderr);
        return 2;
    }
    kx_err err;
    if (convert(argv[1], argv[2], &err) != 0) {
        fprintf(stderr, "keyetl convert: %s\n", err.msg);
        return 1;
    }
    return 0;
}
