/* pq_sink.h — the Parquet side of a table writer (private to src/io): table.c drives it,
 * table_parquet.c implements it on the Parquet writer (kx_pqw), converting kx_column values
 * (04 §1 rules for strings and nulls) into Parquet values. The calls mirror kx_pqw's: whole
 * batches (write), or the segment protocol for the parallel path (segment_rows, put_column
 * per column on distinct slots, end_segment). */
#ifndef KX_IO_PQ_SINK_H
#define KX_IO_PQ_SINK_H

#include <stddef.h>

#include "io/table.h"

struct kx_pq_sink;
struct kx_pq_sink *kx_pq_sink_open(const char *path, const kx_colspec *cols, size_t ncols,
                                   const kx_table_opts *opts, kx_err *err);
int kx_pq_sink_write(struct kx_pq_sink *s, size_t nrows, const kx_column *cols, kx_err *err);
/* Room for a batch of nrows rows (conversion buffers), before the segments of that batch. */
void kx_pq_sink_reserve(struct kx_pq_sink *s, size_t nrows);
size_t kx_pq_sink_segment_rows(const struct kx_pq_sink *s, size_t nrows);
int kx_pq_sink_put_column(struct kx_pq_sink *s, size_t j, size_t from, size_t n, const kx_column *cols, int slot,
                          kx_err *err);
int kx_pq_sink_end_segment(struct kx_pq_sink *s, size_t n, kx_err *err);
int kx_pq_sink_commit(struct kx_pq_sink *s, kx_err *err);
void kx_pq_sink_abort(struct kx_pq_sink *s);

#endif
